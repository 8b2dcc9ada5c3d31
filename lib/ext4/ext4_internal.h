/* Shared between the files of lib/ext4; not part of the public API.
 *
 * The first part is used by ext4_tree.c and ext4_copy.c, which work through
 * whole paths like the public API does. The rest (ext4i_ names) is the
 * plumbing the writer's files share: struct ext4_fs itself, the directory
 * cache, inode and directory-entry helpers, path resolution and the libext2fs
 * error mapping. Which file defines what is listed in README.md ("Files"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

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

/* ---- the writer's plumbing ---------------------------------------------- */

#define EXT4I_BLOCK_SIZE 4096u /* block size of images made by ext4_create */
#define EXT4I_MAX_NAME 255u    /* longest name of a directory entry */

/* Directory entries in memory, hashed by (directory inode, name); see
 * ext4_dcache.c. */
struct ext4i_dentry;
struct ext4i_dcache {
        struct ext4i_dentry **buckets;
        size_t nbuckets; /* power of two */
        size_t n;
};

/* A directory with more subdirectories than a link count holds (dir_nlink:
 * its link count is 1): how many it has, counted once, then kept in step. */
struct ext4i_bigdir {
        uint32_t ino;
        uint32_t subdirs;
};

struct ext4_fs {
        ext2_filsys fs;
        char *path;
        struct ext4i_dcache dc;
        bool file_open;
        struct ext4_file *open_file; /* the streamed file, detached by ext4_free */
        char *file_buf; /* its write buffer: one per image, not one per file */
        struct ext4i_bigdir *bigdirs;
        size_t n_bigdirs, cap_bigdirs;
};

/* ext4_file.c: cut a streamed file loose from e (before e is freed). */
void ext4i_file_detach(struct ext4_file *f);

/* ext4_err.c: fill err with "<context>: <libext2fs message>" and return
 * -errno (libext2fs' errcode_t mapped to the closest errno). */
int ext4i_fail(struct bg_error *err, errcode_t e, const char *fmt, ...) _printf_(3, 4);

/* ext4_fs.c: -EINVAL without an image, -EBUSY while a streamed file is open. */
int ext4i_check_writable(struct ext4_fs *e, struct bg_error *err);

/* ext4_dcache.c. An entry with an empty name (len 0) marks directory dir as
 * loaded: all its entries are in the cache. put inserts or updates; lookup
 * loads dir on first use and returns 0, -ENOENT or another error. blk is the
 * directory block the entry was written to, when known (0 = unknown): an
 * unlink or replace then reads that one block instead of scanning the whole
 * directory, so removing N names from a directory of N is O(N), not O(N^2)
 * (a hostile layer's whiteouts). It is a hint, checked before use. */
int ext4i_dcache_put(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len,
                     uint32_t ino, uint8_t ftype, uint64_t blk);
/* The block recorded for dir/name (0 when unknown or not cached). */
uint64_t ext4i_dcache_block(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len);
void ext4i_dcache_del(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len);
void ext4i_dcache_clear(struct ext4i_dcache *dc);
int ext4i_dcache_lookup(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                        ext2_ino_t *ret_ino, int *ret_ftype, struct bg_error *err);

/* ---- ext4_path.c: image paths ---- */

struct ext4i_comp {
        const char *name;
        size_t len;
        size_t end; /* offset in the path just after this component */
};

/* The parent directory of path, the final name and what it names now. */
struct ext4i_target {
        ext2_ino_t parent;
        const char *name; /* NULL: path is the root */
        size_t len;
        ext2_ino_t ino; /* 0: nothing there */
        int ftype;
        bool isdir;
};

/* Split path into components (*ret malloc'ed); "." dropped, ".." and
 * over-long names refused. */
int ext4i_split_path(const char *path, struct ext4i_comp **ret, size_t *ret_n,
                     struct bg_error *err);
/* Resolve path to its parent directory and final entry (t->ino 0 if absent);
 * every intermediate component must be a real directory. */
int ext4i_resolve_target(struct ext4_fs *e, const char *path, struct ext4i_target *t,
                         struct bg_error *err);
/* Like ext4i_resolve_target, -ENOENT if the final entry is missing. */
int ext4i_existing(struct ext4_fs *e, const char *path, struct ext4i_target *t,
                   struct bg_error *err);

/* ---- ext4_inode.c: inodes ---- */

/* Whether the large inode `in` has room for `field` (i_extra_isize). */
#define EXT4I_FITS(in, field)                                                                      \
        ((size_t)(EXT2_GOOD_OLD_INODE_SIZE + (in)->i_extra_isize) >=                               \
         offsetof(struct ext2_inode_large, field) + sizeof((in)->field))

/* Seconds and nanoseconds from an inode's 32-bit time and its _extra word. */
struct timespec ext4i_decode_time(uint32_t lo, uint32_t extra, bool has_extra);
errcode_t ext4i_read_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ext4i_write_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in);
/* Write a brand new inode over the whole on-disk slot. */
errcode_t ext4i_write_new_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in);
/* Make i_block an empty in-inode extent tree (and set EXT4_EXTENTS_FL). */
void ext4i_extent_header_init(struct ext2_inode_large *in);
/* Map logical block 0 to blk in an inode with an empty in-inode extent tree. */
void ext4i_extent_map_one(struct ext2_inode_large *in, blk64_t blk);
/* EXT2_FT_* directory-entry type of a mode's type bits. */
int ext4i_mode_to_ftype(uint32_t mode);
/* Free an inode with no links left: its xattr block, data and the number. */
int ext4i_free_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in,
                     struct bg_error *err);
/* Drop one link of a non-directory; free it with the last. */
int ext4i_drop_link(struct ext4_fs *e, ext2_ino_t ino, struct bg_error *err);
/* Allocate an inode number for a new entry at t (-EEXIST for the root) and
 * fill *in with mode, meta and one link; the caller writes it. */
int ext4i_make_inode(struct ext4_fs *e, const struct ext4i_target *t, uint32_t mode,
                     const struct ext4_meta *meta, struct ext2_inode_large *in, ext2_ino_t *ret,
                     const char *path, struct bg_error *err);
/* Give the existing inode ino type | meta's permission bits, owner and times. */
int ext4i_set_meta(struct ext4_fs *e, ext2_ino_t ino, uint32_t type, const struct ext4_meta *meta,
                   const char *path, struct bg_error *err);

/* ---- ext4_dir.c: directory entries ---- */

/* "." or "..": the entries a directory walk passes over. */
static inline bool ext4i_dirent_is_dot(const struct ext2_dir_entry *de)
{
        int len = ext2fs_dirent_name_len(de);
        return (len == 1 && de->name[0] == '.') ||
               (len == 2 && de->name[0] == '.' && de->name[1] == '.');
}

/* Whether entry (ino, ftype) is a directory; reads the inode when the entry
 * has no file type. */
int ext4i_is_dir_entry(struct ext4_fs *e, ext2_ino_t ino, int ftype, bool *ret,
                       struct bg_error *err);
/* Remove entry name (inode ino) of dir, recursively for a directory. */
int ext4i_remove_entry(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t ino, bool isdir, const char *path, struct bg_error *err);
/* Install the fresh inode ino (link count already 1, or +1 for a hard link)
 * at t, replacing whatever t names. */
int ext4i_install(struct ext4_fs *e, const struct ext4i_target *t, ext2_ino_t ino, int ftype,
                  const char *path, struct bg_error *err);
