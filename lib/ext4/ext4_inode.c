/* Inodes: ext4's time encoding (32-bit seconds plus an _extra word with the
 * epoch bits and nanoseconds), filling an inode from struct ext4_meta,
 * reading and writing large inodes, the in-inode extent tree of a one-block
 * directory or symlink, and the inode life cycle: allocate and fill one for a
 * new entry, drop a link, free the inode with its xattrs and blocks when the
 * last link goes. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* What an inode can hold of ts: seconds clamped to EXT4_TIME_MIN..MAX
 * (the kernel clamps the same way), nanoseconds 0 unless 0..999999999. */
static struct timespec time_fit(const struct timespec *ts)
{
        int64_t sec = ts->tv_sec;
        if (sec < EXT4_TIME_MIN)
                sec = EXT4_TIME_MIN;
        else if (sec > EXT4_TIME_MAX)
                sec = EXT4_TIME_MAX;
        long nsec = ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 ? ts->tv_nsec : 0;
        return (struct timespec){.tv_sec = sec, .tv_nsec = nsec};
}

/* The _extra word: epoch bits (how many 2^32 s above the signed 32-bit
 * range) and nanoseconds. ts must be time_fit()'s. */
static uint32_t encode_extra(const struct timespec *ts)
{
        int64_t sec = ts->tv_sec;
        uint32_t epoch =
            (uint32_t)(((sec - (int64_t)(int32_t)(uint32_t)sec) >> 32) & EXT4_EPOCH_MASK);
        return epoch | ((uint32_t)ts->tv_nsec << EXT4_EPOCH_BITS);
}

struct timespec ext4i_decode_time(uint32_t lo, uint32_t extra, bool has_extra)
{
        struct timespec ts = {.tv_sec = (int32_t)lo};
        if (has_extra) {
                ts.tv_sec += (int64_t)(extra & EXT4_EPOCH_MASK) << 32;
                ts.tv_nsec = extra >> EXT4_EPOCH_BITS;
        }
        return ts;
}

static void inode_set_meta(struct ext2_inode_large *in, uint32_t mode, const struct ext4_meta *m)
{
        struct timespec at = time_fit(&m->atime), mt = time_fit(&m->mtime),
                        ct = time_fit(&m->ctime);
        in->i_mode = mode;
        in->i_uid = m->uid & 0xffff;
        ext2fs_set_i_uid_high(*in, m->uid >> 16);
        in->i_gid = m->gid & 0xffff;
        ext2fs_set_i_gid_high(*in, m->gid >> 16);
        in->i_atime = (uint32_t)at.tv_sec;
        in->i_mtime = (uint32_t)mt.tv_sec;
        in->i_ctime = (uint32_t)ct.tv_sec;
        if (EXT4I_FITS(in, i_ctime_extra))
                in->i_ctime_extra = encode_extra(&ct);
        if (EXT4I_FITS(in, i_mtime_extra))
                in->i_mtime_extra = encode_extra(&mt);
        if (EXT4I_FITS(in, i_atime_extra))
                in->i_atime_extra = encode_extra(&at);
        if (EXT4I_FITS(in, i_crtime_extra)) {
                in->i_crtime = (uint32_t)ct.tv_sec;
                in->i_crtime_extra = encode_extra(&ct);
        }
}

errcode_t ext4i_read_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
{
        memset(in, 0, sizeof(*in));
        return ext2fs_read_inode_full(e->fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

errcode_t ext4i_write_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
{
        return ext2fs_write_inode_full(e->fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

/* A zeroed inode with the extra fields sized for this file system. */
static void inode_init(struct ext4_fs *e, struct ext2_inode_large *in)
{
        memset(in, 0, sizeof(*in));
        unsigned int isz = EXT2_INODE_SIZE(e->fs->super);
        if (isz > EXT2_GOOD_OLD_INODE_SIZE) {
                unsigned int extra = sizeof(*in) - EXT2_GOOD_OLD_INODE_SIZE;
                if (extra > isz - EXT2_GOOD_OLD_INODE_SIZE)
                        extra = isz - EXT2_GOOD_OLD_INODE_SIZE;
                in->i_extra_isize = extra;
        }
}

/* Write a brand new inode over the whole on-disk slot, so no stale in-inode
 * xattrs of an earlier user of the number survive. */
errcode_t ext4i_write_new_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
{
        unsigned int isz = EXT2_INODE_SIZE(e->fs->super);
        _cleanup_free_ char *buf = calloc(1, isz > sizeof(*in) ? isz : sizeof(*in));
        if (!buf)
                return EXT2_ET_NO_MEMORY;
        memcpy(buf, in, sizeof(*in) < isz ? sizeof(*in) : isz);
        return ext2fs_write_inode_full(e->fs, ino, (struct ext2_inode *)buf, isz);
}

void ext4i_extent_header_init(struct ext2_inode_large *in)
{
        struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;
        memset(in->i_block, 0, sizeof(in->i_block));
        eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
        eh->eh_max =
            ext2fs_cpu_to_le16((sizeof(in->i_block) - sizeof(*eh)) / sizeof(struct ext3_extent));
        in->i_flags |= EXT4_EXTENTS_FL;
}

/* Map logical block 0 to blk in an inode with an empty in-inode extent tree. */
void ext4i_extent_map_one(struct ext2_inode_large *in, blk64_t blk)
{
        ext4i_extent_header_init(in);
        struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;
        struct ext3_extent *ex = (struct ext3_extent *)(eh + 1);
        eh->eh_entries = ext2fs_cpu_to_le16(1);
        ex->ee_block = 0;
        ex->ee_len = ext2fs_cpu_to_le16(1);
        ex->ee_start_hi = ext2fs_cpu_to_le16((uint16_t)(blk >> 32));
        ex->ee_start = ext2fs_cpu_to_le32((uint32_t)blk);
}

int ext4i_mode_to_ftype(uint32_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFREG:
                return EXT2_FT_REG_FILE;
        case S_IFDIR:
                return EXT2_FT_DIR;
        case S_IFLNK:
                return EXT2_FT_SYMLINK;
        case S_IFCHR:
                return EXT2_FT_CHRDEV;
        case S_IFBLK:
                return EXT2_FT_BLKDEV;
        case S_IFIFO:
                return EXT2_FT_FIFO;
        case S_IFSOCK:
                return EXT2_FT_SOCK;
        default:
                return EXT2_FT_UNKNOWN;
        }
}

static int alloc_inode(struct ext4_fs *e, ext2_ino_t parent, uint32_t mode, ext2_ino_t *ret,
                       const char *path, struct bg_error *err)
{
        ext2_ino_t ino;
        errcode_t r = ext2fs_new_inode(e->fs, parent, mode, NULL, &ino);
        if (r)
                return ext4i_fail(err, r, "allocate inode for '%s'", path);
        ext2fs_inode_alloc_stats2(e->fs, ino, +1, LINUX_S_ISDIR(mode));
        *ret = ino;
        return 0;
}

/* Free an inode with no links left: its xattr block, data and the number. */
int ext4i_free_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in,
                     struct bg_error *err)
{
        errcode_t r = ext2fs_free_ext_attr(e->fs, ino, in);
        if (r)
                return ext4i_fail(err, r, "free xattrs of inode %u", ino);
        if (ext2fs_inode_has_valid_blocks2(e->fs, (struct ext2_inode *)in)) {
                r = ext2fs_punch(e->fs, ino, (struct ext2_inode *)in, NULL, 0, ~0ULL);
                if (r)
                        return ext4i_fail(err, r, "free blocks of inode %u", ino);
        }
        in->i_links_count = 0;
        in->i_dtime = (uint32_t)(e->fs->now ? e->fs->now : time(NULL));
        r = ext4i_write_inode(e, ino, in);
        if (r)
                return ext4i_fail(err, r, "write inode %u", ino);
        ext2fs_inode_alloc_stats2(e->fs, ino, -1, LINUX_S_ISDIR(in->i_mode));
        return 0;
}

/* Drop one link of a non-directory; free it with the last. */
int ext4i_drop_link(struct ext4_fs *e, ext2_ino_t ino, struct bg_error *err)
{
        struct ext2_inode_large in;
        errcode_t r = ext4i_read_inode(e, ino, &in);
        if (r)
                return ext4i_fail(err, r, "read inode %u", ino);
        if (in.i_links_count > 1) {
                in.i_links_count--;
                r = ext4i_write_inode(e, ino, &in);
                return r ? ext4i_fail(err, r, "write inode %u", ino) : 0;
        }
        return ext4i_free_inode(e, ino, &in, err);
}

/* Allocate an inode for path and fill *in (mode, meta, one link); the caller
 * writes it. */
int ext4i_make_inode(struct ext4_fs *e, const struct ext4i_target *t, uint32_t mode,
                     const struct ext4_meta *meta, struct ext2_inode_large *in, ext2_ino_t *ret,
                     const char *path, struct bg_error *err)
{
        if (!t->name)
                return bg_error_set(err, EEXIST, "image path '%s' is the root directory", path);
        int r = alloc_inode(e, t->parent, mode, ret, path, err);
        if (r < 0)
                return r;
        inode_init(e, in);
        inode_set_meta(in, mode, meta);
        in->i_links_count = 1;
        return 0;
}

int ext4i_set_meta(struct ext4_fs *e, ext2_ino_t ino, uint32_t type, const struct ext4_meta *meta,
                   const char *path, struct bg_error *err)
{
        struct ext2_inode_large in;
        errcode_t r = ext4i_read_inode(e, ino, &in);
        if (r)
                return ext4i_fail(err, r, "read inode of '%s'", path);
        inode_set_meta(&in, type | (meta->mode & 07777), meta);
        r = ext4i_write_inode(e, ino, &in);
        return r ? ext4i_fail(err, r, "write inode of '%s'", path) : 0;
}
