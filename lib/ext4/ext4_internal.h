/* Shared between the files of lib/ext4; not part of the public API. */
#pragma once

#include <stdint.h>

#include "ext4.h"

/* Make image `path` another name of inode ino (a non-directory already in
 * the image), replacing whatever `path` is. */
int ext4_link_inode(struct ext4_fs *fs, const char *path, uint32_t ino, struct bg_error *err);

#define EXT4_STREAM_CHUNK (1u << 16)

/* Reads the regular file `path` in chunks of at most EXT4_STREAM_CHUNK bytes,
 * handing each to sink; a sink returning < 0 stops the read. */
typedef int (*ext4_sink_fn)(void *ud, const void *buf, size_t len, struct bg_error *err);
int ext4_stream_file(struct ext4_fs *fs, const char *path, ext4_sink_fn sink, void *ud,
                     struct bg_error *err);

/* Calls fn for every extended attribute of `path` (names with their
 * namespace prefix, "user.x", "security.capability"). */
typedef int (*ext4_xattr_fn)(void *ud, const char *name, const void *value, size_t len,
                             struct bg_error *err);
int ext4_xattrs_each(struct ext4_fs *fs, const char *path, ext4_xattr_fn fn, void *ud,
                     struct bg_error *err);
