/* The image life cycle: ext4_create (a sparse file formatted in place with
 * ext2fs_initialize: features, group tables, "/", lost+found, optional
 * journal), ext4_open (refusing images needing recovery or marked with
 * errors), ext4_close (bitmaps, group descriptors and superblock are written
 * only here) and ext4_free, plus usage and size estimates. */
#include "ext4_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define INODE_SIZE 256u

int ext4i_check_writable(struct ext4_fs *e, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        if (e->file_open)
                return bg_error_set(err, EBUSY, "%s: a streamed file is still open", e->path);
        return 0;
}

static int wrap(ext2_filsys fs, const char *path, struct ext4_fs **ret, struct bg_error *err)
{
        struct ext4_fs *e = calloc(1, sizeof(*e));
        if (e)
                e->path = strdup(path);
        if (!e || !e->path) {
                free(e);
                ext2fs_free(fs);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        e->fs = fs;
        *ret = e;
        return 0;
}

struct ext4_fs *ext4_free(struct ext4_fs *e)
{
        if (!e)
                return NULL;
        if (e->open_file)
                ext4i_file_detach(e->open_file); /* before e->fs goes */
        free(e->bigdirs);
        free(e->file_buf);
        if (e->fs)
                ext2fs_free(e->fs);
        ext4i_dcache_clear(&e->dc);
        free(e->path);
        free(e);
        return NULL;
}

int ext4_close(struct ext4_fs *e, struct bg_error *err)
{
        if (!e)
                return 0;
        int r = 0;
        if (e->file_open) {
                r = bg_error_set(err, EBUSY, "close '%s': a streamed file is still open", e->path);
                ext4_free(e);
                return r;
        }
        ext2fs_mark_super_dirty(e->fs);
        errcode_t er = ext2fs_close2(e->fs, 0);
        if (er)
                r = ext4i_fail(err, er, "write ext4 image '%s'", e->path);
        else
                e->fs = NULL; /* freed by ext2fs_close2 */
        ext4_free(e);
        return r;
}

static void random_uuid(uint8_t u[16])
{
        if (getrandom(u, 16, 0) != 16) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t x =
                    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
                for (int i = 0; i < 16; i++) {
                        x = x * 6364136223846793005ull + 1442695040888963407ull;
                        u[i] = (uint8_t)(x >> 56);
                }
        }
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
}

static int fix_new_dir(struct ext4_fs *e, ext2_ino_t ino, uint32_t perm, uint32_t uid, uint32_t gid,
                       time_t now, struct bg_error *err)
{
        struct ext4_meta m = {.mode = perm,
                              .uid = uid,
                              .gid = gid,
                              .atime = {.tv_sec = now},
                              .mtime = {.tv_sec = now},
                              .ctime = {.tv_sec = now}};
        return ext4i_set_meta(e, ino, LINUX_S_IFDIR, &m, ino == EXT2_ROOT_INO ? "/" : "/lost+found",
                              err);
}

static int format(struct ext4_fs *e, const struct ext4_create_opts *o, struct bg_error *err)
{
        ext2_filsys fs = e->fs;
        time_t now = o->timestamp ? (time_t)o->timestamp : time(NULL);
        fs->now = now;
        random_uuid(fs->super->s_uuid);
        random_uuid((uint8_t *)fs->super->s_hash_seed);
        fs->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
        if (ext2fs_has_feature_metadata_csum(fs->super))
                fs->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
        ext2fs_init_csum_seed(fs);
        if (o->label)
                strncpy((char *)fs->super->s_volume_name, o->label,
                        sizeof(fs->super->s_volume_name));
        fs->super->s_mkfs_time = fs->super->s_wtime = (uint32_t)now;
        fs->super->s_max_mnt_count = -1;
        fs->super->s_kbytes_written = 1;

        errcode_t er = ext2fs_allocate_tables(fs);
        if (er)
                return ext4i_fail(err, er, "allocate group tables");
        /* the file is new and sparse: inode tables read as zeros */
        for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
                ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
                ext2fs_group_desc_csum_set(fs, g);
        }

        fs->umask = 022;
        er = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
        if (er)
                return ext4i_fail(err, er, "create root directory");
        int r = fix_new_dir(e, EXT2_ROOT_INO, 0755, o->root_uid, o->root_gid, now, err);
        if (r < 0)
                return r;

        fs->umask = 077;
        ext2_ino_t lpf;
        er = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
        if (!er)
                er = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf);
        if (er)
                return ext4i_fail(err, er, "create lost+found");
        for (unsigned int size = fs->blocksize; size < 16384; size += fs->blocksize) {
                er = ext2fs_expand_dir(fs, lpf);
                if (er)
                        return ext4i_fail(err, er, "expand lost+found");
        }
        r = fix_new_dir(e, lpf, 0700, 0, 0, now, err);
        if (r < 0)
                return r;
        fs->umask = 022;

        for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(fs->super); i++)
                ext2fs_inode_alloc_stats2(fs, i, +1, 0);
        ext2fs_mark_ib_dirty(fs);
        ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
        ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
        er = ext2fs_update_bb_inode(fs, NULL);
        if (er)
                return ext4i_fail(err, er, "write bad block inode");

        if (o->journal) {
                struct ext2fs_journal_params jp;
                er = ext2fs_get_journal_params(&jp, fs);
                if (!er)
                        er = ext2fs_add_journal_inode3(
                            fs, &jp, ~0ULL, EXT2_MKJOURNAL_NO_MNT_CHECK | EXT2_MKJOURNAL_LAZYINIT);
                if (er)
                        return ext4i_fail(err, er, "create journal");
        }
        return 0;
}

int ext4_create(const char *path, uint64_t size_bytes, const struct ext4_create_opts *opts,
                struct ext4_fs **ret, struct bg_error *err)
{
        static const struct ext4_create_opts defaults = {0};
        const struct ext4_create_opts *o = opts ? opts : &defaults;
        if (size_bytes < (4u << 20))
                return bg_error_set(
                    err, EINVAL, "ext4 image '%s': size %" PRIu64 " is below the minimum of 4 MiB",
                    path, size_bytes);
        uint64_t blocks = size_bytes / EXT4I_BLOCK_SIZE;
        if (blocks > (1ull << 32) * 1024)
                return bg_error_set(err, EFBIG, "ext4 image '%s': size %" PRIu64 " is too large",
                                    path, size_bytes);
        if (o->label && strlen(o->label) > 16)
                return bg_error_set(err, EINVAL,
                                    "ext4 image '%s': label '%s' is longer than 16 bytes", path,
                                    o->label);
        uint64_t inodes = o->inodes ? o->inodes : size_bytes / 8192;
        if (inodes < 64)
                inodes = 64;
        if (inodes > UINT32_MAX - 65536)
                return bg_error_set(err, EINVAL, "ext4 image '%s': %" PRIu64 " inodes is too many",
                                    path, inodes);

        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create ext4 image '%s'", path);
        if (ftruncate(fd, (off_t)size_bytes) < 0)
                return bg_error_errno(err, -errno, "size ext4 image '%s'", path);

        struct ext2_super_block param = {0};
        param.s_rev_level = EXT2_DYNAMIC_REV;
        param.s_log_block_size = 2; /* 4096 */
        ext2fs_blocks_count_set(&param, blocks);
        param.s_inodes_count = (uint32_t)inodes;
        param.s_inode_size = INODE_SIZE;
        param.s_log_groups_per_flex = 4;
        param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
        param.s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
        ext2fs_set_feature_xattr(&param);
        ext2fs_set_feature_dir_index(&param);
        ext2fs_set_feature_filetype(&param);
        ext2fs_set_feature_extents(&param);
        ext2fs_set_feature_64bit(&param);
        ext2fs_set_feature_flex_bg(&param);
        ext2fs_set_feature_sparse_super(&param);
        ext2fs_set_feature_large_file(&param);
        ext2fs_set_feature_huge_file(&param);
        ext2fs_set_feature_dir_nlink(&param);
        ext2fs_set_feature_extra_isize(&param);
        if (!o->no_metadata_csum)
                ext2fs_set_feature_metadata_csum(&param);
        if (o->journal)
                ext2fs_set_feature_journal(&param);

        ext2_filsys fs = NULL;
        errcode_t er = ext2fs_initialize(path, EXT2_FLAG_64BITS, &param, unix_io_manager, &fs);
        if (er)
                return ext4i_fail(err, er, "make ext4 in '%s'", path);
        struct ext4_fs *e = NULL;
        int r = wrap(fs, path, &e, err);
        if (r < 0)
                return r;
        r = format(e, o, err);
        if (r < 0) {
                ext4_free(e);
                return bg_error_prefix(err, "make ext4 in '%s'", path);
        }
        *ret = e;
        return 0;
}

/* Geometry libext2fs trusts without checking, so that a corrupted superblock
 * (a guest writes its work disk) cannot make ext2fs_read_bitmaps write past
 * its buffers. What mkfs.ext4 and ext4_create make always passes. */
static int check_geometry(ext2_filsys fs, const char *path, struct bg_error *err)
{
        struct ext2_super_block *sb = fs->super;
        unsigned first = fs->blocksize == 1024 && !ext2fs_has_feature_bigalloc(sb) ? 1 : 0;
        if (sb->s_first_data_block != first)
                return bg_error_set(err, EUCLEAN,
                                    "ext4 image '%s': first data block %u, not %u for %u-byte "
                                    "blocks; run e2fsck",
                                    path, sb->s_first_data_block, first, fs->blocksize);
        return 0;
}

int ext4_open(const char *path, struct ext4_fs **ret, struct bg_error *err)
{
        ext2_filsys fs = NULL;
        errcode_t er =
            ext2fs_open2(path, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
        if (er)
                return ext4i_fail(err, er, "open ext4 image '%s'", path);
        if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
                ext2fs_free(fs);
                return bg_error_set(err, EUCLEAN, "ext4 image '%s': journal needs recovery", path);
        }
        if (fs->super->s_state & EXT2_ERROR_FS) {
                ext2fs_free(fs);
                return bg_error_set(err, EUCLEAN, "ext4 image '%s' has errors; run e2fsck", path);
        }
        int r = check_geometry(fs, path, err);
        if (r < 0) {
                ext2fs_free(fs);
                return r;
        }
        er = ext2fs_read_bitmaps(fs);
        if (er) {
                ext2fs_free(fs);
                return ext4i_fail(err, er, "read bitmaps of ext4 image '%s'", path);
        }
        return wrap(fs, path, ret, err);
}

/* ---- sizing ------------------------------------------------------------- */

void ext4_usage(struct ext4_fs *e, struct ext4_usage *ret)
{
        struct ext2_super_block *sb = e->fs->super;
        /* A guest-written superblock may claim more free than total: clamp,
         * so that "used" never wraps to a huge number. */
        uint64_t bt = ext2fs_blocks_count(sb), bf = ext2fs_free_blocks_count(sb);
        uint64_t it = sb->s_inodes_count, ifree = sb->s_free_inodes_count;
        if (bf > bt)
                bf = bt;
        if (ifree > it)
                ifree = it;
        *ret = (struct ext4_usage){
            .block_size = e->fs->blocksize,
            .blocks_total = bt,
            .blocks_used = bt - bf,
            .blocks_free = bf,
            .inodes_total = it,
            .inodes_used = it - ifree,
            .inodes_free = ifree,
        };
}

uint64_t ext4_estimate_size(uint64_t content_bytes, uint64_t n_inodes)
{
        const uint64_t mib = 1 << 20;
        /* data, a partly used last block and a directory entry per inode */
        uint64_t data = content_bytes + n_inodes * (EXT4I_BLOCK_SIZE + 64);
        /* group tables, extent and directory blocks, slack */
        uint64_t size = data + data / 8 + 16 * mib;
        /* default inode ratio: one inode per 8 KiB, with 25% to spare */
        uint64_t by_inodes = (n_inodes + n_inodes / 4 + 64) * 8192;
        if (size < by_inodes)
                size = by_inodes;
        if (size < 8 * mib)
                size = 8 * mib;
        return (size + mib - 1) / mib * mib;
}
