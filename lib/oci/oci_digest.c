#include "oci_digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct oci_hasher {
        EVP_MD_CTX *ctx;
};

bool oci_digest_valid(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0)
                return false;
        const char *h = d + 7;
        size_t i = 0;
        for (; h[i]; i++) {
                char c = h[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return false;
        }
        return i == 64;
}

int oci_digest_check(const char *d, const char *what, struct bg_error *err)
{
        if (oci_digest_valid(d))
                return 0;
        return bg_error_set(err, EINVAL, "%s '%.80s' is not a sha256:<64 lowercase hex> digest",
                            what, d ? d : "(missing)");
}

struct oci_hasher *oci_hasher_new(void)
{
        struct oci_hasher *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                oci_hasher_free(h);
                return NULL;
        }
        return h;
}

void oci_hasher_free(struct oci_hasher *h)
{
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void oci_hasher_update(struct oci_hasher *h, const void *buf, size_t len)
{
        if (len)
                EVP_DigestUpdate(h->ctx, buf, len);
}

void oci_hasher_final(struct oci_hasher *h, char out[static OCI_DIGEST_LEN + 1])
{
        unsigned char md[32];
        unsigned int n = 0;
        EVP_DigestFinal_ex(h->ctx, md, &n);
        memcpy(out, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
        EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void oci_digest_buf(const void *buf, size_t len, char out[static OCI_DIGEST_LEN + 1])
{
        unsigned char md[32];
        unsigned int n = 0;
        EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
        memcpy(out, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}
