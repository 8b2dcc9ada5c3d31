/* A Debian Packages index: find a package's stanza, follow a kernel
 * metapackage to the real kernel package, and check a downloaded .deb against
 * the size and SHA-256 the index lists. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct debrepo_packages; /* the decompressed index text */

/* Load a Packages file (plain, or .xz/.gz/.zst/.bz2 told by magic). Verify
 * the file against Release (debrepo_release_verify_index) before loading it.
 * Free with debrepo_packages_free. */
int debrepo_packages_load(const char *path, struct debrepo_packages **ret, struct bg_error *err);
/* The same from text already in memory (copied). */
int debrepo_packages_from_text(const char *text, size_t len, struct debrepo_packages **ret,
                               struct bg_error *err);
struct debrepo_packages *debrepo_packages_free(struct debrepo_packages *p);

struct debrepo_package {
        char *package;
        char *version;
        char *architecture;
        char *depends;  /* raw Depends field, NULL when absent */
        char *filename; /* pool path relative to the archive root, checked safe */
        uint64_t size;
        char sha256[65];
};
void debrepo_package_done(struct debrepo_package *p);

/* Compare two Debian version strings the way dpkg does (epoch, upstream,
 * revision; '~' sorts before everything). Returns <0, 0, >0. */
int debrepo_version_compare(const char *a, const char *b);

/* Find package `name`; with version NULL the highest version listed, else
 * exactly that version. The stanza must carry Version, Filename, Size and
 * SHA256. -ENOENT ("package 'x' is not in the Packages index") when absent,
 * -EBADMSG for a malformed stanza. */
int debrepo_packages_find(const struct debrepo_packages *pk, const char *name, const char *version,
                          struct debrepo_package *ret, struct bg_error *err);

/* Calls fn(package, version, ud) for every stanza whose Package starts with
 * prefix, in index order (a package listed in several versions comes once
 * per version). fn returns < 0 to stop; that value is returned. 0, or
 * -ENOMEM. */
int debrepo_packages_each(const struct debrepo_packages *pk, const char *prefix,
                          int (*fn)(const char *package, const char *version, void *ud), void *ud,
                          struct bg_error *err);

struct debrepo_kernel {
        struct debrepo_package meta;  /* e.g. linux-image-cloud-amd64 */
        struct debrepo_package image; /* e.g. linux-image-6.1.0-18-cloud-amd64 */
        char *release;                /* "6.1.0-18-cloud-amd64" */
};
void debrepo_kernel_done(struct debrepo_kernel *k);

/* Follow the metapackage (e.g. "linux-image-cloud-amd64") through its
 * Depends to the linux-image-<release> package it pins, honouring the version
 * relation written there. */
int debrepo_kernel_resolve(const struct debrepo_packages *pk, const char *metapackage,
                           struct debrepo_kernel *ret, struct bg_error *err);

/* Check a downloaded .deb against the package's Size and SHA256. -EBADMSG
 * with ".deb size mismatch ..." / ".deb sha256 mismatch for <file>: Packages
 * says X, got Y". */
int debrepo_deb_verify(const struct debrepo_package *p, const char *deb_path, struct bg_error *err);
