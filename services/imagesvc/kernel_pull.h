/* Where `kernel pull` gets a kernel: the built-in Debian entry (apt's chain of
 * trust: InRelease signature -> Packages sha256 -> .deb sha256) or a JSON
 * catalog of {name, url, sha256, version?, kind} entries. Both end with a
 * kernel image (and maybe a module tree) on disk for kernel_build. */
#pragma once

#include <stddef.h>

#include "util/error.h"

struct ops_ctx;

#define KERNEL_BUILTIN_DEBIAN "debian-cloud-amd64"
#define KERNEL_DEBIAN_METAPACKAGE "linux-image-cloud-amd64"
#define KERNEL_DEBIAN_DEFAULT_SUITE "bookworm"
#define KERNEL_CATALOG_MAX (4u << 20)

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

/* The built-in entry debian-cloud-amd64: Debian's linux-image-cloud-amd64
 * from the configured mirror (else the host's apt sources, else
 * deb.debian.org), suite from the apt sources (else bookworm). Stages:
 * "release", "index", "download", "extract", "depmod". */
int kernel_pull_debian(const struct kernel_pull_env *env, struct kernel_src *ret,
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
