/* Look inside a flattened root file system: resolve paths the way the guest
 * kernel will (symlinks followed, absolute targets and ".." kept inside the
 * image root, never outside) and find out whether the image can boot (init)
 * and be reached (sshd). Reads only; nothing from the image is executed. */
#pragma once

#include <stdbool.h>

#include "ext4.h"
#include "util/error.h"

/* Resolve `path` inside the image, following symlinks in every component
 * (including the last) with "/" as the image root: ".." at the root stays at
 * the root, absolute targets start again at the image root. At most 40
 * symlinks. On success *ret_path (may be NULL) is the resolved image path
 * (malloc'ed, "" for the root) and *ret_st (may be NULL) its stat.
 * -ENOENT, -ENOTDIR, -ELOOP (too many links) otherwise. */
int oci_rootfs_resolve(struct ext4_fs *fs, const char *path, char **ret_path,
                       struct ext4_stat *ret_st, struct bg_error *err);

struct oci_rootfs_info {
        bool has_init;      /* /sbin/init or /lib/systemd/systemd (or /usr/lib/...) */
        char init_path[64]; /* the first candidate found */
        bool has_systemd;   /* init resolves to a systemd binary */
        bool has_sshd;      /* /usr/sbin/sshd (or /usr/bin/sshd, /sbin/sshd) */
        char sshd_path[64];
};

/* Executable regular files only (any x bit), after resolving symlinks. */
int oci_rootfs_inspect(struct ext4_fs *fs, struct oci_rootfs_info *ret, struct bg_error *err);
