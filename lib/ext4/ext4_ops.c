/* The public write operations on entries: mkdir (and mkdir -p), symlink,
 * mknod, hard links, unlink and remove_tree. Each resolves its path, builds a
 * fresh inode where needed (ext4_inode.c) and installs it, replacing what the
 * path named (ext4_dir.c). Regular files are written by ext4_file.c. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static int create_dir(struct ext4_fs *e, const struct ext4i_target *t, const struct ext4_meta *meta,
                      const char *path, struct bg_error *err)
{
        ext2_filsys fs = e->fs;
        uint32_t mode = LINUX_S_IFDIR | (meta->mode & 07777);
        struct ext2_inode_large in;
        ext2_ino_t ino;
        int r = ext4i_make_inode(e, t, mode, meta, &in, &ino, path, err);
        if (r < 0)
                return r;
        blk64_t blk;
        errcode_t er = ext2fs_new_block2(
            fs, ext2fs_find_inode_goal(fs, ino, (struct ext2_inode *)&in, 0), NULL, &blk);
        if (er)
                return ext4i_fail(err, er, "allocate block for '%s'", path);
        ext2fs_block_alloc_stats2(fs, blk, +1);
        in.i_links_count = 2;
        in.i_size = fs->blocksize;
        ext4i_extent_map_one(&in, blk);
        er = ext2fs_iblk_set(fs, (struct ext2_inode *)&in, 1);
        if (!er)
                er = ext4i_write_new_inode(e, ino, &in);
        if (er)
                return ext4i_fail(err, er, "write inode of '%s'", path);
        char *block = NULL;
        er = ext2fs_new_dir_block(fs, ino, t->parent, &block);
        if (!er)
                er = ext2fs_write_dir_block4(fs, blk, block, 0, ino);
        ext2fs_free_mem(&block);
        if (er)
                return ext4i_fail(err, er, "write directory block of '%s'", path);
        /* an empty new directory: nothing to scan later */
        if (ext4i_dcache_put(&e->dc, ino, "", 0, ino, 0, 0) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return ext4i_install(e, t, ino, EXT2_FT_DIR, path, err);
}

/* The image must be writable; then what path names (ext4i_resolve_target). */
static int writable_target(struct ext4_fs *e, const char *path, struct ext4i_target *t,
                           struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        return r < 0 ? r : ext4i_resolve_target(e, path, t, err);
}

int ext4_mkdir(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
               struct bg_error *err)
{
        struct ext4i_target t;
        int r = writable_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (t.ino && t.isdir)
                return ext4i_set_meta(e, t.ino, LINUX_S_IFDIR, meta, path, err);
        return create_dir(e, &t, meta, path, err);
}

int ext4_mkdir_p(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
                 struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        struct ext4i_comp *c_raw = NULL;
        size_t n;
        r = ext4i_split_path(path, &c_raw, &n, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct ext4i_comp *c = c_raw;
        _cleanup_free_ char *prefix = strdup(path);
        if (!prefix)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                prefix[c[i].end] = '\0';
                struct ext4i_target t;
                r = ext4i_resolve_target(e, prefix, &t, err);
                if (r < 0)
                        return r;
                if (t.ino && t.isdir) {
                        prefix[c[i].end] = path[c[i].end];
                        continue;
                }
                if (t.ino) {
                        if (t.ftype == EXT2_FT_SYMLINK)
                                return bg_error_set(err, ELOOP, "image path '%s' is a symlink",
                                                    prefix);
                        return bg_error_set(err, ENOTDIR, "image path '%s' is not a directory",
                                            prefix);
                }
                r = create_dir(e, &t, meta, prefix, err);
                if (r < 0)
                        return r;
                prefix[c[i].end] = path[c[i].end];
        }
        return 0;
}

int ext4_symlink(struct ext4_fs *e, const char *path, const char *target,
                 const struct ext4_meta *meta, struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        size_t tlen = target ? strlen(target) : 0;
        if (tlen == 0)
                return bg_error_set(err, EINVAL, "symlink '%s': empty target", path);
        if (tlen >= EXT4I_BLOCK_SIZE || tlen >= e->fs->blocksize)
                return bg_error_set(err, ENAMETOOLONG, "symlink '%s': target of %zu bytes (max %u)",
                                    path, tlen, e->fs->blocksize - 1);
        struct ext4i_target t;
        r = ext4i_resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        uint32_t perm = meta->mode & 07777;
        uint32_t mode = LINUX_S_IFLNK | (perm ? perm : 0777);
        struct ext2_inode_large in;
        ext2_ino_t ino;
        r = ext4i_make_inode(e, &t, mode, meta, &in, &ino, path, err);
        if (r < 0)
                return r;
        in.i_size = (uint32_t)tlen;
        errcode_t er;
        if (tlen < sizeof(in.i_block)) {
                memcpy(in.i_block, target, tlen);
        } else {
                ext2_filsys fs = e->fs;
                blk64_t blk;
                er = ext2fs_new_block2(
                    fs, ext2fs_find_inode_goal(fs, ino, (struct ext2_inode *)&in, 0), NULL, &blk);
                if (er)
                        return ext4i_fail(err, er, "allocate block for '%s'", path);
                ext2fs_block_alloc_stats2(fs, blk, +1);
                _cleanup_free_ char *buf = calloc(1, fs->blocksize);
                if (!buf)
                        return bg_error_set(err, ENOMEM, "out of memory");
                memcpy(buf, target, tlen);
                er = io_channel_write_blk64(fs->io, blk, 1, buf);
                if (er)
                        return ext4i_fail(err, er, "write symlink '%s'", path);
                ext4i_extent_map_one(&in, blk);
                er = ext2fs_iblk_set(fs, (struct ext2_inode *)&in, 1);
                if (er)
                        return ext4i_fail(err, er, "write symlink '%s'", path);
        }
        er = ext4i_write_new_inode(e, ino, &in);
        if (er)
                return ext4i_fail(err, er, "write inode of '%s'", path);
        return ext4i_install(e, &t, ino, EXT2_FT_SYMLINK, path, err);
}

int ext4_mknod(struct ext4_fs *e, const char *path, const struct ext4_meta *meta, dev_t rdev,
               struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        uint32_t type = meta->mode & S_IFMT;
        if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK)
                return bg_error_set(err, EINVAL,
                                    "mknod '%s': mode %o is not a device, fifo or socket", path,
                                    meta->mode);
        struct ext4i_target t;
        r = ext4i_resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_inode_large in;
        ext2_ino_t ino;
        r = ext4i_make_inode(e, &t, meta->mode & (S_IFMT | 07777), meta, &in, &ino, path, err);
        if (r < 0)
                return r;
        if (type == S_IFCHR || type == S_IFBLK) {
                unsigned int maj = major(rdev), min = minor(rdev);
                if (maj < 256 && min < 256) {
                        in.i_block[0] = ext2fs_cpu_to_le32(maj << 8 | min);
                } else {
                        in.i_block[1] =
                            ext2fs_cpu_to_le32((min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12));
                }
        }
        errcode_t er = ext4i_write_new_inode(e, ino, &in);
        if (er)
                return ext4i_fail(err, er, "write inode of '%s'", path);
        return ext4i_install(e, &t, ino, ext4i_mode_to_ftype(meta->mode), path, err);
}

int ext4_link_inode(struct ext4_fs *e, const char *path, uint32_t ino, struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        struct ext2_inode_large in;
        errcode_t er = ext4i_read_inode(e, ino, &in);
        if (er)
                return ext4i_fail(err, er, "read inode %u", ino);
        if (LINUX_S_ISDIR(in.i_mode) || in.i_links_count == 0)
                return bg_error_set(err, EPERM, "hard link '%s': inode %u is a directory or free",
                                    path, ino);
        struct ext4i_target t;
        r = ext4i_resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.name)
                return bg_error_set(err, EEXIST, "image path '%s' is the root directory", path);
        if (t.ino == ino)
                return 0;
        if (in.i_links_count >= EXT2_LINK_MAX)
                return bg_error_set(err, EMLINK, "hard link '%s': too many links", path);
        in.i_links_count++;
        er = ext4i_write_inode(e, ino, &in);
        if (er)
                return ext4i_fail(err, er, "write inode of '%s'", path);
        return ext4i_install(e, &t, ino, ext4i_mode_to_ftype(in.i_mode), path, err);
}

int ext4_hardlink(struct ext4_fs *e, const char *path, const char *target, struct bg_error *err)
{
        struct ext4i_target tt;
        int r = writable_target(e, target, &tt, err);
        if (r < 0)
                return r;
        if (!tt.ino)
                return bg_error_set(err, ENOENT, "hard link '%s': target '%s' does not exist", path,
                                    target);
        if (tt.isdir)
                return bg_error_set(err, EPERM, "hard link '%s': target '%s' is a directory", path,
                                    target);
        return ext4_link_inode(e, path, tt.ino, err);
}

int ext4_unlink(struct ext4_fs *e, const char *path, struct bg_error *err)
{
        struct ext4i_target t;
        int r = writable_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        if (t.isdir)
                return bg_error_set(err, EISDIR, "unlink '%s': is a directory", path);
        return ext4i_remove_entry(e, t.parent, t.name, t.len, t.ino, false, path, err);
}

int ext4_remove_tree(struct ext4_fs *e, const char *path, struct bg_error *err)
{
        struct ext4i_target t;
        int r = writable_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.name)
                return bg_error_set(err, EBUSY, "cannot remove the root directory");
        if (!t.ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        return ext4i_remove_entry(e, t.parent, t.name, t.len, t.ino, t.isdir, path, err);
}
