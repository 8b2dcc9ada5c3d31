/* The container's root file system as a banger image. containerd hands the
 * shim its rootfs either as mounts (CreateTaskRequest.rootfs: overlay or
 * bind, from the snapshotter), which the shim mounts at BUNDLE/rootfs as
 * runc's shim does, or as a directory already there (config.json root.path,
 * `ctr run --rootfs DIR`). The directory is fingerprinted by content, turned
 * into an ext4 with lib/ext4 and registered through the gateway
 * (ImageService/Upload + RegisterRootfs, the `image register` path, which
 * installs banger's guest agent), as image "ctr-" + 24 hex of the
 * fingerprint: a second task with the same rootfs finds it and builds
 * nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerd/types/mount.pb-c.h"
#include "util/error.h"

#define ROOTFS_MAX_MOUNTS 8
#define ROOTFS_MAX_ENTRIES (1u << 20) /* files, dirs, links in one rootfs */
#define ROOTFS_IMAGE_PREFIX "ctr-"
/* File data one rootfs may hold (apparent sizes, so a sparse file counts in
 * full), as image.max_unpacked_size's default; BANGER_SHIM_MAX_ROOTFS
 * overrides. */
#define ROOTFS_MAX_BYTES_DEFAULT (64ull << 30)
/* The shim keeps this many of its rootfs images that no VM uses (newest
 * first); BANGER_SHIM_IMAGE_KEEP overrides (0-1000). */
#define ROOTFS_KEEP_DEFAULT 4

struct rootfs_summary {
        char digest[65];  /* sha256 over every entry's path, type, mode, owner,
                             times of non-directories and content */
        uint64_t bytes;   /* file data, rounded up to 4 KiB blocks */
        uint64_t entries; /* inodes needed */
        uint64_t cached;  /* files whose digest came from the cache (rootfs_cache.h) */
        bool has_init, has_sshd;
};

/* Mounts n containerd mounts (type overlay, bind or rbind; options as
 * fstab) one over the other at bundle/rootfs. */
int rootfs_mount(const char *bundle, Containerd__Types__Mount *const *m, size_t n,
                 struct bg_error *err);
/* Unmounts bundle/rootfs if the shim mounted it (lazily; no error when
 * nothing is mounted there). */
void rootfs_unmount(const char *bundle);

uint64_t rootfs_max_bytes(void);

/* Walks dir (never following a symlink) and fills *ret; EFBIG past
 * rootfs_max_bytes() of file data. */
int rootfs_summarize(const char *dir, struct rootfs_summary *ret, struct bg_error *err);

/* Makes path a sparse ext4 holding dir's tree, sized for s plus headroom. */
int rootfs_build_ext4(const char *dir, const struct rootfs_summary *s, const char *path,
                      struct bg_error *err);
