/* Where `kernel pull` gets a kernel: the Debian catalog (apt's chain of
 * trust: InRelease signature -> Packages sha256 -> .deb sha256) or a JSON
 * catalog of {name, url, sha256, version?, kind} entries. Both end with a
 * kernel image (and maybe a module tree) on disk for kernel_build. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct ops_ctx;
struct debrepo_packages;

#define KERNEL_BUILTIN_DEBIAN "debian-cloud-amd64"
#define KERNEL_DEBIAN_PREFIX "debian-"
#define KERNEL_DEBIAN_DEFAULT_SUITE "bookworm"
#define KERNEL_CATALOG_MAX (4u << 20)
/* Most entries a Debian catalog lists (a suite has a few dozen). */
#define KERNEL_DEBIAN_CATALOG_MAX 512

/* What a pull produced, inside env->work_dir. */
struct kernel_src {
        char *image;       /* vmlinux or bzImage to import */
        char *modules_dir; /* its lib/modules/<release> tree with modules.dep, or NULL */
        char *release;     /* the kernel release if the source says it, else NULL */
        char *source;      /* for Kernel.source: "debian bookworm linux-image-… 6.1.…" */
};
void kernel_src_done(struct kernel_src *s);

struct kernel_pull_env {
        const char *cache_dir;     /* CACHE/kernels: downloads keyed by sha256 */
        const char *work_dir;      /* scratch space of this operation (exists, empty) */
        const char *debian_mirror; /* config kernel.debian_mirror; "" or NULL = apt sources */
        const char *apt_root;      /* root of the apt config to read; NULL = "/" */
        struct ops_ctx *ctx;       /* stages, progress, cancel; may be NULL */
};

/* The Debian catalog: every bootable linux-image-* package of the suite's
 * main/binary-amd64 index, named for `kernel pull`:
 *   debian-FLAVOUR  (linux-image-FLAVOUR, e.g. debian-cloud-amd64,
 *                    debian-amd64, debian-rt-amd64): a metapackage, followed
 *                    to the newest linux-image-<release> it pins;
 *   debian-RELEASE  (linux-image-RELEASE, e.g. debian-6.1.0-28-cloud-amd64):
 *                    that exact kernel.
 * Debug (-dbg), unsigned twins (-unsigned) and the signing template are not
 * offered. The mirror is config kernel.debian_mirror, else the host's apt
 * sources, else deb.debian.org; the suite comes from the apt sources (else
 * bookworm); everything is verified the way apt does (InRelease signature
 * -> Packages sha256 -> .deb sha256). */
bool kernel_debian_name(const char *name); /* has the shape of a catalog name */

struct kernel_debian_entry {
        char *name;          /* "debian-cloud-amd64" */
        char *package;       /* "linux-image-cloud-amd64" */
        char *image_package; /* the package pulled: "linux-image-6.1.0-28-cloud-amd64" */
        char *version;       /* its Debian version, "6.1.119-1" */
        char *release;       /* the kernel release, "6.1.0-28-cloud-amd64" */
        uint64_t size;       /* bytes of its .deb */
        bool tracks_latest;  /* a flavour's metapackage: moves with the archive */
};
void kernel_debian_entry_done(struct kernel_debian_entry *e);
void kernel_debian_entries_free(struct kernel_debian_entry *v, size_t n);

/* The catalog of an index already loaded: flavours first (by name), then
 * releases, newest package version first (then by name). *ret (n entries, free with
 * kernel_debian_entries_free). At most KERNEL_DEBIAN_CATALOG_MAX. */
int kernel_debian_catalog(const struct debrepo_packages *pk, struct kernel_debian_entry **ret,
                          size_t *ret_n, struct bg_error *err);

/* Fetches and verifies the index (stages "release", "index"; the index is
 * cached by sha256) and lists its catalog. *ret_origin (caller frees) is
 * "debian SUITE (MIRROR)". */
int kernel_catalog_debian(const struct kernel_pull_env *env, struct kernel_debian_entry **ret,
                          size_t *ret_n, char **ret_origin, struct bg_error *err);

/* Pulls the catalog entry name (debian-FLAVOUR or debian-RELEASE): -ENOENT
 * naming `banger kernel catalog` when the index has no such package.
 * Stages: "release", "index", "download", "extract", "depmod". */
int kernel_pull_debian(const struct kernel_pull_env *env, const char *name, struct kernel_src *ret,
                       struct bg_error *err);

struct kernel_catalog_entry {
        char *name;
        char *url;
        char *sha256;  /* lowercase */
        char *version; /* NULL when absent */
        char *kind;    /* "bzimage" or "deb" */
};
void kernel_catalog_entry_done(struct kernel_catalog_entry *e);

/* Parse a catalog (a JSON array of entries, or {"kernels": [...]}) and find
 * `name`. Every entry is checked (name, url http(s)/file, 64-hex sha256,
 * kind), so a broken catalog is refused whole, naming the entry. -ENOENT
 * when name is not in it. */
int kernel_catalog_find(const char *text, size_t len, const char *name,
                        struct kernel_catalog_entry *ret, struct bg_error *err);

/* Fetch the catalog at catalog_url, find name, download its file (verified
 * against the catalog's sha256) and unpack a "deb". Stages: "catalog",
 * "download", "extract", "depmod". */
int kernel_pull_catalog(const struct kernel_pull_env *env, const char *catalog_url,
                        const char *name, struct kernel_src *ret, struct bg_error *err);
