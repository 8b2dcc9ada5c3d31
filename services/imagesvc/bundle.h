/* Image bundles: the file `image export` writes and `image import` (and a
 * catalog pull) reads. A bundle is a zstd-compressed ustar archive of
 *
 *   manifest.json   first, at most BUNDLE_MANIFEST_MAX bytes:
 *                   {"format": "banger-image-bundle", "version": 1,
 *                    "name": "...", "ref": "...", "kernel": "...",
 *                    "files": [{"path": "rootfs.ext4", "size": N,
 *                               "sha256": "<64 hex>"}]}
 *   rootfs.ext4     the root file system, exactly as the manifest says
 *
 * Everything in a bundle is hostile: the reader takes regular files only,
 * only the names the manifest lists (each once, no directories, no "..",
 * no links), each exactly its declared size, every declared size within the
 * caller's limit before a byte of it is unpacked, and checks every sha256.
 * It never decompresses more than the manifest declares (plus headers and
 * the end-of-archive blocks), so a zstd bomb stops at the limit. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define BUNDLE_FORMAT "banger-image-bundle"
#define BUNDLE_VERSION 1
#define BUNDLE_MANIFEST "manifest.json"
#define BUNDLE_ROOTFS "rootfs.ext4"
#define BUNDLE_MANIFEST_MAX (64u << 10)
#define BUNDLE_MAX_FILES 4
#define BUNDLE_NAME_MAX 64

struct bundle_file {
        char path[64];
        uint64_t size;
        char sha256[65]; /* lowercase hex */
};

struct bundle_manifest {
        char name[BUNDLE_NAME_MAX + 1];   /* the image's name where it was exported */
        char ref[256];                    /* where that image came from ("" = unknown) */
        char kernel[BUNDLE_NAME_MAX + 1]; /* a kernel it goes with ("" = none) */
        size_t n_files;
        struct bundle_file files[BUNDLE_MAX_FILES];
};

/* Parses and checks a manifest: format and version, a valid name, the files
 * (known names, each once, rootfs.ext4 present, sizes, 64-hex sha256), and
 * the sum of the sizes against max_unpacked (0 = no limit; -EFBIG naming
 * the limit when over). */
int bundle_manifest_parse(const char *text, size_t len, uint64_t max_unpacked,
                          struct bundle_manifest *ret, struct bg_error *err);
/* The manifest as JSON (malloc'ed, caller frees), NULL when out of memory. */
char *bundle_manifest_format(const struct bundle_manifest *m);

struct bundle_io {
        /* Progress over the bytes of the files (done, total); may be NULL. */
        void (*progress)(void *ud, uint64_t done, uint64_t total);
        void *userdata;
        const atomic_bool *cancel; /* may be NULL; -ECANCELED when set */
        uint64_t max_unpacked;     /* reader: most the files may declare together (0 = none) */
        int zstd_level;            /* writer: 0 = 3 */
};

/* Reads the bundle from in_fd and writes its files into the directory
 * out_dir_fd (created O_EXCL, sparse where the file has runs of zero
 * blocks). On success *ret is the verified manifest. On failure the files
 * it created in out_dir_fd are left for the caller to remove (the caller
 * made the directory and removes it whole). -EBADMSG for a malformed or
 * lying bundle, -EFBIG over the limit, -ECANCELED. */
int bundle_read(int in_fd, int out_dir_fd, const struct bundle_io *io,
                struct bundle_manifest *ret, struct bg_error *err);

/* Writes a bundle of m (name, ref, kernel; files are filled in here) whose
 * rootfs.ext4 is rootfs_fd, to out_fd. Hashes the file first (progress
 * 0..50%), then writes (50..100%). */
int bundle_write(int out_fd, struct bundle_manifest *m, int rootfs_fd, const struct bundle_io *io,
                 struct bg_error *err);
