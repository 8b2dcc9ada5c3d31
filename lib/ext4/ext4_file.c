/* Streamed regular files: ext4_file_create makes the (empty) inode and
 * installs it, ext4_file_write buffers up to 1 MiB and writes whole blocks
 * straight to freshly allocated block ranges (all-zero 4 KiB blocks become
 * holes), mapping them with an extent handle that extends the last extent
 * when the next run is contiguous; ext4_file_close writes the tail and the
 * inode. ext4_write_file is the same for one buffer. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_BUF_SIZE (1u << 20)

struct ext4_file {
        struct ext4_fs *e;
        ext2_ino_t ino;
        struct ext2_inode_large inode;
        ext2_extent_handle_t handle;
        struct ext2fs_extent last;
        bool have_last;
        uint64_t size;
        blk64_t next_lblk;
        blk64_t goal;
        char *buf; /* e->file_buf, borrowed while the file is open */
        size_t fill;
        char *path;
};

static bool block_is_zero(const char *p, size_t n)
{
        return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static errcode_t extent_append(struct ext4_file *f, blk64_t lblk, blk64_t pblk, blk64_t len)
{
        while (len > 0) {
                blk64_t n = len > EXT_INIT_MAX_LEN ? EXT_INIT_MAX_LEN : len;
                errcode_t r;
                if (f->have_last && f->last.e_lblk + f->last.e_len == lblk &&
                    f->last.e_pblk + f->last.e_len == pblk &&
                    f->last.e_len + n <= EXT_INIT_MAX_LEN) {
                        f->last.e_len += (uint32_t)n;
                        r = ext2fs_extent_replace(f->handle, 0, &f->last);
                } else {
                        struct ext2fs_extent ex = {
                            .e_pblk = pblk, .e_lblk = lblk, .e_len = (uint32_t)n};
                        r = ext2fs_extent_insert(f->handle,
                                                 f->have_last ? EXT2_EXTENT_INSERT_AFTER : 0, &ex);
                        if (!r)
                                r = ext2fs_extent_fix_parents(f->handle);
                        if (!r)
                                r = ext2fs_extent_get(f->handle, EXT2_EXTENT_CURRENT, &f->last);
                        f->have_last = r == 0;
                }
                if (r)
                        return r;
                lblk += n;
                pblk += n;
                len -= n;
        }
        return 0;
}

/* Store nblocks full blocks at the file's current end; zero blocks are holes. */
static int file_put_blocks(struct ext4_file *f, const char *data, size_t nblocks,
                           struct bg_error *err)
{
        ext2_filsys fs = f->e->fs;
        size_t bs = fs->blocksize;
        size_t i = 0;
        while (i < nblocks) {
                if (block_is_zero(data + i * bs, bs)) {
                        i++;
                        continue;
                }
                size_t j = i + 1;
                while (j < nblocks && !block_is_zero(data + j * bs, bs))
                        j++;
                while (i < j) {
                        blk64_t want = j - i, pblk, plen;
                        if (want > EXT_INIT_MAX_LEN)
                                want = EXT_INIT_MAX_LEN;
                        errcode_t er = ext2fs_new_range(fs, 0, f->goal, want, NULL, &pblk, &plen);
                        if (er)
                                return ext4i_fail(err, er, "allocate blocks for '%s'", f->path);
                        ext2fs_block_alloc_stats_range(fs, pblk, plen, +1);
                        er = io_channel_write_blk64(fs->io, pblk, (int)plen, data + i * bs);
                        if (!er)
                                er = extent_append(f, f->next_lblk + i, pblk, plen);
                        if (!er)
                                er = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)&f->inode,
                                                            plen);
                        if (er)
                                return ext4i_fail(err, er, "write '%s'", f->path);
                        f->goal = pblk + plen;
                        i += plen;
                }
        }
        f->next_lblk += nblocks;
        return 0;
}

void ext4i_file_detach(struct ext4_file *f)
{
        if (f->handle)
                ext2fs_extent_free(f->handle);
        f->handle = NULL;
        if (f->e) {
                f->e->file_open = false;
                f->e->open_file = NULL;
        }
        f->e = NULL;
}

static void file_free(struct ext4_file *f)
{
        if (!f)
                return;
        ext4i_file_detach(f);
        free(f->path);
        free(f);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ext4_file *, file_free)

int ext4_file_create(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
                     struct ext4_file **ret, struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        if ((meta->mode & S_IFMT) != 0 && (meta->mode & S_IFMT) != S_IFREG)
                return bg_error_set(err, EINVAL, "file '%s': mode %o is not a regular file", path,
                                    meta->mode);
        struct ext4i_target t;
        r = ext4i_resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        _cleanup_(file_freep) struct ext4_file *f = calloc(1, sizeof(*f));
        if (!f)
                return bg_error_set(err, ENOMEM, "out of memory");
        f->path = strdup(path);
        /* Images hold thousands of small files and one is open at a time:
         * a 1 MiB buffer each was an mmap and munmap per file. */
        if (!e->file_buf)
                e->file_buf = malloc(FILE_BUF_SIZE);
        f->buf = e->file_buf;
        if (!f->path || !f->buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        r = ext4i_make_inode(e, &t, LINUX_S_IFREG | (meta->mode & 07777), meta, &f->inode, &f->ino,
                             path, err);
        if (r < 0)
                return r;
        ext4i_extent_header_init(&f->inode);
        errcode_t er = ext4i_write_new_inode(e, f->ino, &f->inode);
        if (er)
                return ext4i_fail(err, er, "write inode of '%s'", path);
        r = ext4i_install(e, &t, f->ino, EXT2_FT_REG_FILE, path, err);
        if (r < 0)
                return r;
        er = ext2fs_extent_open2(e->fs, f->ino, (struct ext2_inode *)&f->inode, &f->handle);
        if (er)
                return ext4i_fail(err, er, "open extents of '%s'", path);
        f->goal = ext2fs_find_inode_goal(e->fs, f->ino, (struct ext2_inode *)&f->inode, 0);
        f->e = e;
        e->file_open = true;
        e->open_file = f;
        *ret = TAKE_PTR(f);
        return 0;
}

int ext4_file_write(struct ext4_file *f, const void *buf, size_t len, struct bg_error *err)
{
        if (!f)
                return bg_error_set(err, EINVAL, "no open file");
        if (!f->e)
                return bg_error_set(err, EBADF, "write '%s': its image was closed", f->path);
        const char *p = buf;
        size_t bs = f->e->fs->blocksize;
        if (f->size + len < f->size || (f->size + len) / bs >= (1ull << 32) - 1)
                return bg_error_set(err, EFBIG, "write '%s': file too large", f->path);
        f->size += len;
        while (len > 0) {
                int r;
                if (f->fill == 0 && len >= bs) {
                        size_t n = len / bs;
                        r = file_put_blocks(f, p, n, err);
                        if (r < 0)
                                return r;
                        p += n * bs;
                        len -= n * bs;
                        continue;
                }
                size_t take = FILE_BUF_SIZE - f->fill;
                if (take > len)
                        take = len;
                memcpy(f->buf + f->fill, p, take);
                f->fill += take;
                p += take;
                len -= take;
                if (f->fill == FILE_BUF_SIZE) {
                        r = file_put_blocks(f, f->buf, FILE_BUF_SIZE / bs, err);
                        if (r < 0)
                                return r;
                        f->fill = 0;
                }
        }
        return 0;
}

int ext4_file_close(struct ext4_file *f_raw, struct bg_error *err)
{
        _cleanup_(file_freep) struct ext4_file *f = f_raw;
        if (!f)
                return bg_error_set(err, EINVAL, "no open file");
        if (!f->e)
                return bg_error_set(err, EBADF, "close '%s': its image was closed first", f->path);
        size_t bs = f->e->fs->blocksize;
        if (f->fill > 0) {
                size_t n = (f->fill + bs - 1) / bs;
                memset(f->buf + f->fill, 0, n * bs - f->fill);
                int r = file_put_blocks(f, f->buf, n, err);
                if (r < 0)
                        return r;
                f->fill = 0;
        }
        errcode_t er = ext2fs_inode_size_set(f->e->fs, (struct ext2_inode *)&f->inode, f->size);
        if (!er)
                er = ext4i_write_inode(f->e, f->ino, &f->inode);
        return er ? ext4i_fail(err, er, "write inode of '%s'", f->path) : 0;
}

int ext4_write_file(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
                    const void *data, size_t len, struct bg_error *err)
{
        struct ext4_file *f = NULL;
        int r = ext4_file_create(e, path, meta, &f, err);
        if (r < 0)
                return r;
        r = ext4_file_write(f, data, len, err);
        if (r < 0) {
                file_free(f);
                return r;
        }
        return ext4_file_close(f, err);
}
