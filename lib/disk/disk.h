/* Per-VM disks, shared by every VMM driver:
 *  - a copy-on-write root disk over an image: a reflink where the filesystem
 *    supports it (FICLONE), else a sparse copy that keeps holes; or, for QEMU,
 *    a qcow2 overlay backed by the raw image;
 *  - an empty ext4 work disk, made with mkfs.ext4 and then filled by lib/ext4. */
#pragma once

#include <stdint.h>
#include "util/error.h"

enum disk_clone_method {
        DISK_CLONE_REFLINK,     /* FICLONE: shares the source's extents */
        DISK_CLONE_SPARSE_COPY, /* SEEK_DATA/SEEK_HOLE + copy_file_range: holes stay holes */
        DISK_CLONE_QCOW2,       /* a qcow2 overlay over the source (QEMU) */
        _DISK_CLONE_METHOD_MAX,
};

/* "reflink", "sparse-copy", "qcow2-overlay"; what a VM row stores and
 * `vm show` prints. NULL when m is out of range. */
const char *disk_clone_method_to_string(enum disk_clone_method m);
int disk_clone_method_from_string(const char *s); /* -EINVAL if unknown */

/* Makes dst (must not exist) a copy of src: reflink first, sparse copy when
 * the filesystem cannot. The copy is written to a temp name and renamed. */
int disk_clone(const char *src, const char *dst, enum disk_clone_method *ret_method,
               struct bg_error *err);

/* qemu-img create -f qcow2 -F BASE_FORMAT -b BASE DST (BASE must be an
 * absolute path; BASE_FORMAT "raw" or "qcow2"). */
int disk_qcow2_overlay(const char *qemu_img, const char *base, const char *base_format,
                       const char *dst, struct bg_error *err);

/* A fresh ext4 of size bytes at path (sparse), root owned by 0:0:
 * mkfs.ext4 -F -q -E root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1. */
int disk_make_work(const char *mkfs, const char *path, uint64_t size, const char *label,
                   struct bg_error *err);

/* Runs argv (argv[0] absolute or found on PATH) with stdin from /dev/null,
 * capturing up to len-1 bytes of stdout+stderr in out. Returns the exit status
 * (>= 0) or -errno when it could not run. */
int disk_run(char *const argv[], char *out, size_t len);
