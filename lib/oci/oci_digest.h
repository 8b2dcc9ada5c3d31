/* Content digests: validation before a digest becomes a path, and streaming
 * SHA-256 verification (OpenSSL EVP). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define OCI_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

/* True when d is exactly "sha256:" followed by 64 lowercase hex digits. */
bool oci_digest_valid(const char *d);

/* Like oci_digest_valid, with -EINVAL and a message naming what (e.g. "layer
 * 2 digest") when not. */
int oci_digest_check(const char *d, const char *what, struct bg_error *err);

struct oci_hasher; /* a running SHA-256 */

/* New hasher (NULL on allocation failure); free with oci_hasher_free (NULL ok). */
struct oci_hasher *oci_hasher_new(void);
void oci_hasher_free(struct oci_hasher *h);
void oci_hasher_update(struct oci_hasher *h, const void *buf, size_t len);
/* Finish into "sha256:<hex>" (out holds OCI_DIGEST_LEN + 1). The hasher
 * restarts empty. */
void oci_hasher_final(struct oci_hasher *h, char out[static OCI_DIGEST_LEN + 1]);

static inline void oci_hasher_freep(struct oci_hasher **h)
{
        oci_hasher_free(*h);
}

/* "sha256:<hex>" of a buffer. */
void oci_digest_buf(const void *buf, size_t len, char out[static OCI_DIGEST_LEN + 1]);
