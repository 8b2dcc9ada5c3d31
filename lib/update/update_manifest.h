/* banger's release manifest and its signature.
 *
 * A release server publishes MANIFEST (JSON) and MANIFEST.sig: the base64 of
 * the 64-byte ed25519 signature of MANIFEST's exact bytes. Nothing in the
 * manifest is looked at before the signature checks out against the public
 * key built into banger (update_builtin_public_key). The manifest:
 *
 *   {"releases": [
 *     {"version": "0.3.0",
 *      "binaries": {"banger": {"url": "https://…", "sha256": "…", "size": 123},
 *                   "banger-gateway": {…}, …}}]}
 *
 * Every release lists the six binaries (update_binaries); banger-agent may
 * be listed too. URLs are https://. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define UPDATE_MANIFEST_MAX (1u << 20) /* bytes of a manifest */
#define UPDATE_SIG_MAX 1024            /* bytes of its .sig */
#define UPDATE_MAX_FILES 8
#define UPDATE_URL_MAX 2048

/* The installed binaries an update replaces, in the order they are swapped;
 * the first UPDATE_N_REQUIRED must be in every release. */
#define UPDATE_N_REQUIRED 6
extern const char *const update_binaries[];
extern const size_t update_n_binaries;

struct update_file {
        char name[32];
        char url[UPDATE_URL_MAX];
        char sha256[65]; /* lowercase hex */
        uint64_t size;
};

struct update_release {
        char version[64];
        struct update_file files[UPDATE_MAX_FILES];
        size_t n_files;
};

/* The ed25519 public key built in (-DBANGER_UPDATE_PUBKEY), base64. */
const char *update_builtin_public_key(void);

/* Whether s is base64 of a 32-byte key (44 characters). */
bool update_public_key_valid(const char *s);

/* Checks sig_text (base64 of a 64-byte ed25519 signature; surrounding
 * whitespace is ignored) over msg with pubkey_b64. -EINVAL for a malformed
 * key or signature, -EBADMSG when it does not verify. */
int update_verify(const void *msg, size_t len, const char *sig_text, size_t sig_len,
                  const char *pubkey_b64, struct bg_error *err);

/* "1.2.3" or "1.2.3-rc.1": 1-4 numeric parts, an optional pre-release of
 * [0-9a-z.] after '-'. */
bool update_version_valid(const char *v);
/* Numeric parts compared as numbers; a pre-release sorts before its release. */
int update_version_compare(const char *a, const char *b);

/* From a verified manifest, the release want_version (NULL = the highest).
 * Every release is checked (version, the six binaries, https URLs, 64-hex
 * sha256, size > 0): a broken manifest is refused whole, naming what is
 * wrong. -ENOENT naming the versions it has when want_version is absent. */
int update_manifest_pick(const char *text, size_t len, const char *want_version,
                         struct update_release *ret, struct bg_error *err);
