/* Build and modify ext4 images in regular files through libext2fs: no mount,
 * no root, no loop device, no mke2fs.
 *
 * Paths are relative to the image root ("a/b", "/a/b" and "a//b/" are the
 * same), at most 255 bytes per component, "." components are ignored and ".."
 * is refused. No operation follows a symlink anywhere in a path: an
 * intermediate symlink fails with -ELOOP, an intermediate non-directory with
 * -ENOTDIR, a missing parent with -ENOENT.
 *
 * Every function returns >= 0 on success or -errno on failure and then fills
 * err (which may be NULL) with a message naming the image path. libext2fs
 * error codes never leave this module. After a failure other than -ENOENT,
 * -EEXIST, -ELOOP, -ENOTDIR, -EISDIR, -EINVAL or -ENAMETOOLONG (which leave the
 * image untouched) the image may be incomplete: abandon it with ext4_free().
 *
 * An ext4_fs is not thread-safe; use one per thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util/error.h"

struct ext4_fs;   /* an open image; owned by the caller until ext4_close/ext4_free */
struct ext4_file; /* a regular file being streamed into an image */

struct ext4_create_opts {
        uint64_t inodes;   /* inode count; 0 = one per 8 KiB of image */
        const char *label; /* volume label (at most 16 bytes) or NULL */
        uint32_t root_uid; /* owner of "/" (mode 0755) */
        uint32_t root_gid;
        bool journal;          /* add a journal (default size for the image size) */
        bool no_metadata_csum; /* leave out metadata_csum (for very old kernels) */
        int64_t timestamp;     /* time stamp of "/", lost+found and the superblock; 0 = now */
};

/* The seconds an inode time can hold: 32 bits plus two epoch bits (years
 * 1901..2446). Times outside are stored clamped to this range, and
 * nanoseconds outside 0..999999999 as 0, as the kernel does. */
#define EXT4_TIME_MIN ((int64_t)INT32_MIN)
#define EXT4_TIME_MAX ((int64_t)INT32_MAX + (3ll << 32))

/* Metadata of an entry. mode carries the type bits (S_IFREG, S_IFDIR, ...) and
 * the permission bits including setuid/setgid/sticky. */
struct ext4_meta {
        uint32_t mode;
        uint32_t uid;
        uint32_t gid;
        struct timespec atime;
        struct timespec mtime;
        struct timespec ctime;
};

struct ext4_stat {
        uint32_t ino;
        uint32_t mode; /* type and permission bits */
        uint32_t uid;
        uint32_t gid;
        uint32_t nlink;
        uint64_t size;
        uint64_t blocks; /* 512-byte units, as st_blocks */
        dev_t rdev;      /* character and block devices */
        struct timespec atime;
        struct timespec mtime;
        struct timespec ctime;
};

struct ext4_usage {
        uint32_t block_size;
        uint64_t blocks_total;
        uint64_t blocks_used;
        uint64_t blocks_free;
        uint64_t inodes_total;
        uint64_t inodes_used;
        uint64_t inodes_free;
};

struct ext4_tree_opts {
        bool override_owner; /* store uid/gid below instead of the host owner */
        uint32_t uid;
        uint32_t gid;
        bool no_xattrs;          /* do not copy extended attributes */
        bool keep_existing_dirs; /* a directory the image already has keeps its owner,
                                    mode, times and xattrs (files still go into it) */
};

/* Create (or truncate) the sparse file `path` of size_bytes and make a fresh
 * ext4 in it: 4 KiB blocks, 256-byte inodes, features extent, 64bit, flex_bg,
 * huge_file, dir_nlink, extra_isize, filetype, sparse_super, large_file,
 * dir_index, metadata_csum (unless opts say otherwise) and has_journal if
 * asked; "/" owned by opts' uid/gid with mode 0755 and /lost+found. opts may
 * be NULL. On success *ret owns the image. */
int ext4_create(const char *path, uint64_t size_bytes, const struct ext4_create_opts *opts,
                struct ext4_fs **ret, struct bg_error *err);

/* Open an existing ext4 image for reading and adding files. Refuses an image
 * whose journal needs recovery. */
int ext4_open(const char *path, struct ext4_fs **ret, struct bg_error *err);

/* Write all metadata and close. Frees fs whatever the result; the image then
 * passes `e2fsck -fn`. fs may be NULL. A streamed file still open is
 * abandoned with the image (-EBUSY here): it holds no pointer into fs any
 * more, ext4_file_write fails on it (-EBADF) and ext4_file_close only frees
 * it. */
int ext4_close(struct ext4_fs *fs, struct bg_error *err);

/* Drop fs without writing pending metadata (abandon the image), detaching a
 * streamed file still open as ext4_close does. Returns NULL. */
struct ext4_fs *ext4_free(struct ext4_fs *fs);

static inline void ext4_freep(struct ext4_fs **p)
{
        if (*p)
                ext4_free(*p);
}
#define _cleanup_ext4_ _cleanup_(ext4_freep)

/* Create directory `path` (its parent must exist) with meta (type bits are
 * forced to S_IFDIR). An existing directory keeps its contents and gets meta;
 * any other existing entry is replaced. "/" updates the root's metadata. */
int ext4_mkdir(struct ext4_fs *fs, const char *path, const struct ext4_meta *meta,
               struct bg_error *err);

/* Like ext4_mkdir, creating missing parents with meta too; existing
 * directories along the path (including the last) are left as they are. */
int ext4_mkdir_p(struct ext4_fs *fs, const char *path, const struct ext4_meta *meta,
                 struct bg_error *err);

/* Create or replace the regular file `path` with the len bytes at data. */
int ext4_write_file(struct ext4_fs *fs, const char *path, const struct ext4_meta *meta,
                    const void *data, size_t len, struct bg_error *err);

/* Streaming: create or replace regular file `path` now (empty), then append
 * with ext4_file_write (any chunk size; memory stays bounded; all-zero 4 KiB
 * blocks become holes) and finish with ext4_file_close, which frees f.
 * One open file per fs; do not touch `path` while it is open. */
int ext4_file_create(struct ext4_fs *fs, const char *path, const struct ext4_meta *meta,
                     struct ext4_file **ret, struct bg_error *err);
int ext4_file_write(struct ext4_file *f, const void *buf, size_t len, struct bg_error *err);
int ext4_file_close(struct ext4_file *f, struct bg_error *err);

/* Create or replace symlink `path` pointing to target (1..4095 bytes; fast
 * symlink below 60 bytes). Permission bits of meta->mode, or 0777 if none. */
int ext4_symlink(struct ext4_fs *fs, const char *path, const char *target,
                 const struct ext4_meta *meta, struct bg_error *err);

/* Make `path` another name of the existing non-directory `target` (an image
 * path, final symlink not followed). Replaces an existing `path`. */
int ext4_hardlink(struct ext4_fs *fs, const char *path, const char *target, struct bg_error *err);

/* Create or replace a device node, fifo or socket; meta->mode selects the type
 * (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK); rdev is used for devices. */
int ext4_mknod(struct ext4_fs *fs, const char *path, const struct ext4_meta *meta, dev_t rdev,
               struct bg_error *err);

/* Set (create or replace) extended attribute `name` ("user.x",
 * "security.capability", "trusted.x", "system.posix_acl_access", ...) on
 * `path` (not following a final symlink). value is binary. */
int ext4_set_xattr(struct ext4_fs *fs, const char *path, const char *name, const void *value,
                   size_t size, struct bg_error *err);

/* Read extended attribute `name`; *ret_value is malloc'ed (caller frees).
 * -ENODATA if absent. */
int ext4_get_xattr(struct ext4_fs *fs, const char *path, const char *name, void **ret_value,
                   size_t *ret_size, struct bg_error *err);

/* Remove the non-directory `path` (-EISDIR for a directory). The inode and
 * its blocks are freed when its last link goes. */
int ext4_unlink(struct ext4_fs *fs, const char *path, struct bg_error *err);

/* Remove `path` whatever it is; a directory with everything below it. */
int ext4_remove_tree(struct ext4_fs *fs, const char *path, struct bg_error *err);

/* Stat `path` without following symlinks anywhere. ret may be NULL (existence
 * check). -ENOENT if missing; -ELOOP / -ENOTDIR if an intermediate component
 * is a symlink / another non-directory (the message names it). */
int ext4_lookup(struct ext4_fs *fs, const char *path, struct ext4_stat *ret, struct bg_error *err);

/* Read the whole regular file `path` into *ret_data (malloc'ed, with one
 * extra NUL byte not counted in *ret_size). A file over EXT4_READ_FILE_MAX
 * bytes is refused (-EFBIG) before anything is allocated: the size is the
 * inode's, and an image a guest wrote may claim any size. */
#define EXT4_READ_FILE_MAX (64u << 20)
int ext4_read_file(struct ext4_fs *fs, const char *path, void **ret_data, size_t *ret_size,
                   struct bg_error *err);
/* The same for a file of at most max bytes: a larger one (its size is the
 * inode's word, which a guest or an image chooses) is -EFBIG with a message
 * naming it, its size and max, before anything is allocated or read. */
int ext4_read_file_max(struct ext4_fs *fs, const char *path, uint64_t max, void **ret_data,
                       size_t *ret_size, struct bg_error *err);

/* Read the target of symlink `path` into *ret (malloc'ed, NUL-terminated).
 * A target over 4095 bytes (which no kernel writes) is refused: -EFBIG. */
int ext4_readlink(struct ext4_fs *fs, const char *path, char **ret, struct bg_error *err);

/* Copy the host directory tree host_dir into image_dir (created with
 * host_dir's metadata, or updated if it exists): regular files, directories,
 * symlinks, device nodes, fifos, sockets, hard links (by st_dev/st_ino),
 * mode, owner, times and, where the host lets us read them, xattrs. opts may
 * be NULL. */
int ext4_add_tree(struct ext4_fs *fs, const char *host_dir, const char *image_dir,
                  const struct ext4_tree_opts *opts, struct bg_error *err);

/* Current block and inode usage. */
void ext4_usage(struct ext4_fs *fs, struct ext4_usage *ret);

/* Calls fn(ud, name, st) for every entry of the directory `path` except "."
 * and "..", in on-disk order (st as ext4_lookup gives it, symlinks not
 * followed); fn returning < 0 stops the walk and that value is returned.
 * -ENOTDIR / -ENOENT for a bad path. */
typedef int (*ext4_readdir_fn)(void *ud, const char *name, const struct ext4_stat *st);
int ext4_readdir(struct ext4_fs *fs, const char *path, ext4_readdir_fn fn, void *ud,
                 struct bg_error *err);

struct ext4_copy_opts {
        uint64_t max_bytes;   /* regular-file bytes over the whole tree; 0 = no limit */
        uint64_t max_entries; /* entries over the whole tree; 0 = no limit */
};
/* Copy the tree at src_path in src (a directory, not followed if it is a
 * symlink: -ENOTDIR) into dst at dst_path: directories, regular files
 * (streamed in bounded chunks), symlinks, device nodes, fifos and sockets,
 * each with owner, mode, times and xattrs; hardlinks inside the tree stay
 * hardlinks. dst_path must be a directory or absent (created, parents must
 * exist) and gets src_path's owner, mode, times and xattrs; what is already
 * in it stays unless the copy replaces it. Over a limit: -EFBIG naming it;
 * what was copied so far stays (the caller discards dst). Depth is capped
 * at 256 (-ELOOP). src and dst must be different images. */
int ext4_copy_tree(struct ext4_fs *src, const char *src_path, struct ext4_fs *dst,
                   const char *dst_path, const struct ext4_copy_opts *opts, struct bg_error *err);

/* Image size in bytes (a multiple of 1 MiB, at least 8 MiB) to hold
 * content_bytes of file data in n_inodes entries with headroom, for a
 * journal-less image made with default opts (one inode per 8 KiB). */
uint64_t ext4_estimate_size(uint64_t content_bytes, uint64_t n_inodes);
