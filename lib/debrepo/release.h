/* A Debian archive's signed InRelease and the Release fields inside it,
 * checked the way apt checks them. No network I/O: everything works on files
 * another component downloaded.
 *
 * The chain of trust: InRelease is clearsigned by a key in the archive
 * keyring (verified by running gpgv); Release lists the size and SHA-256 of
 * every index file (Packages, Packages.xz, ...); Packages lists the size and
 * SHA-256 of every .deb (packages.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"

#define DEBREPO_DEFAULT_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"
/* How far in the future a Release Date may lie (clock skew) before the file is
 * refused as "not valid yet". */
#define DEBREPO_DATE_SKEW_SEC 300

/* Verify the clearsigned InRelease at path with `gpgv --keyring <keyring>`
 * (keyring NULL: DEBREPO_DEFAULT_KEYRING; a binary OpenPGP keyring) and
 * return the signed text (the Release fields, armour and dash-escaping
 * removed) in *ret_text (NUL-terminated, caller frees) with its length.
 * ret_fingerprint (41 bytes, may be NULL) receives the signing key's primary
 * fingerprint. The file must be exactly one clearsigned message: text outside
 * it, a second message or a missing signature is refused. The signature must
 * be good, made by a key in the keyring, not expired or revoked, and not use
 * MD5/SHA-1/RIPEMD-160. Failures say "InRelease signature check failed: ...".
 */
int debrepo_inrelease_verify(const char *path, const char *keyring, char **ret_text,
                             size_t *ret_len, char *ret_fingerprint, struct bg_error *err);

/* The clearsign unwrapping alone (no signature check): the signed text of a
 * clearsigned message in buf. -EBADMSG when buf is not exactly one
 * clearsigned message. */
int debrepo_clearsign_text(const char *buf, size_t len, char **ret_text, size_t *ret_len,
                           struct bg_error *err);

struct debrepo_index_entry {
        char *path; /* relative to dists/<suite>/, e.g. "main/binary-amd64/Packages.xz" */
        uint64_t size;
        char sha256[65];
};

struct debrepo_release {
        char *origin, *label, *suite, *codename; /* NULL when absent */
        char *architectures, *components;        /* space-separated, NULL when absent */
        char *date_str, *valid_until_str;        /* as written */
        time_t date;
        bool has_valid_until;
        time_t valid_until;
        bool acquire_by_hash;
        struct debrepo_index_entry *entries; /* the SHA256 list, in file order */
        size_t n_entries;
};

/* Parse Release text (e.g. from debrepo_inrelease_verify). Requires a Date
 * and a well-formed SHA256 list (MD5Sum/SHA1 alone are refused). Free with
 * debrepo_release_done. */
int debrepo_release_parse(const char *text, size_t len, struct debrepo_release *ret,
                          struct bg_error *err);
void debrepo_release_done(struct debrepo_release *rel);

/* apt's freshness and identity checks at time `now`: refuse a Release whose
 * Valid-Until has passed ("Release expired on ...") or whose Date is in the
 * future, and, when expected_suite is not NULL, one whose Suite and Codename
 * both differ from it. */
int debrepo_release_check(const struct debrepo_release *rel, const char *expected_suite, time_t now,
                          struct bg_error *err);

/* The SHA256 entry for an index path, or NULL. */
const struct debrepo_index_entry *debrepo_release_find(const struct debrepo_release *rel,
                                                       const char *index_path);

/* Check that `file` has the size and SHA-256 that Release lists for
 * index_path. Errors: -ENOENT not listed, -EBADMSG size or sha256 mismatch
 * ("index <path> sha256 mismatch: Release says X, got Y"). */
int debrepo_release_verify_index(const struct debrepo_release *rel, const char *index_path,
                                 const char *file, struct bg_error *err);

/* Parse an RFC 2822 date as Release files write it ("Sat, 10 Feb 2024
 * 09:51:25 UTC"; zones UTC, GMT, Z or +hhmm/-hhmm). -EINVAL if malformed. */
int debrepo_parse_date(const char *s, time_t *ret);
