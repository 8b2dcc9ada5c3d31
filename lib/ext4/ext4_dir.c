/* ext4 image writer on libext2fs. See ext4.h and README.md.
 *
 * Directory entries are cached in memory per directory (loaded by one scan
 * the first time a directory is looked into, kept up to date by every change
 * made here), and new entries are appended to the last block of a linear
 * directory, so adding N entries to one directory costs O(N), not O(N^2).
 * Regular file data is written straight to freshly allocated block ranges and
 * mapped with extents; bitmaps stay in memory and all metadata is written by
 * ext4_close. */
#include "ext4.h"
#include "ext4_internal.h"

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BLOCK_SIZE 4096u
#define INODE_SIZE 256u
#define FILE_BUF_SIZE (1u << 20)
#define MAX_NAME 255u

/* ---- error mapping ------------------------------------------------------ */

static int errcode_to_errno(errcode_t e)
{
        if (e > 0 && e < 4096)
                return (int)e; /* a plain errno from the I/O layer */
        switch (e) {
        case EXT2_ET_NO_MEMORY:
                return ENOMEM;
        case EXT2_ET_BLOCK_ALLOC_FAIL:
        case EXT2_ET_INODE_ALLOC_FAIL:
        case EXT2_ET_DIR_NO_SPACE:
        case EXT2_ET_EA_NO_SPACE:
        case EXT2_ET_TOOSMALL:
        case EXT2_ET_RES_GDT_BLOCKS:
                return ENOSPC;
        case EXT2_ET_FILE_NOT_FOUND:
        case EXT2_ET_EA_KEY_NOT_FOUND:
                return e == EXT2_ET_EA_KEY_NOT_FOUND ? ENODATA : ENOENT;
        case EXT2_ET_FILE_EXISTS:
        case EXT2_ET_DIR_EXISTS:
                return EEXIST;
        case EXT2_ET_UNSUPP_FEATURE:
        case EXT2_ET_RO_UNSUPP_FEATURE:
        case EXT2_ET_EA_BAD_NAME_LEN:
        case EXT2_ET_EA_BAD_VALUE_SIZE:
                return e == EXT2_ET_EA_BAD_VALUE_SIZE ? E2BIG : EOPNOTSUPP;
        case EXT2_ET_INVALID_ARGUMENT:
        case EXT2_ET_BAD_EA_HEADER:
                return e == EXT2_ET_BAD_EA_HEADER ? EUCLEAN : EINVAL;
        case EXT2_ET_RO_FILSYS:
                return EROFS;
        case EXT2_ET_SHORT_READ:
        case EXT2_ET_SHORT_WRITE:
                return EIO;
        case EXT2_ET_BAD_MAGIC:
        case EXT2_ET_SB_CSUM_INVALID:
        case EXT2_ET_BAD_DESC_SIZE:
        case EXT2_ET_CORRUPT_SUPERBLOCK:
        case EXT2_ET_DIR_CORRUPTED:
        case EXT2_ET_DIR_CSUM_INVALID:
        case EXT2_ET_INODE_CSUM_INVALID:
        case EXT2_ET_EXTENT_CSUM_INVALID:
        case EXT2_ET_EXT_ATTR_CSUM_INVALID:
        case EXT2_ET_BLOCK_BITMAP_CSUM_INVALID:
        case EXT2_ET_INODE_BITMAP_CSUM_INVALID:
        case EXT2_ET_BAD_INODE_NUM:
        case EXT2_ET_BAD_BLOCK_NUM:
        case EXT2_ET_EXTENT_HEADER_BAD:
                return EUCLEAN;
        default:
                return EIO;
        }
}

/* Fill err with "<context>: <libext2fs message>" and return -errno. */
static int _printf_(3, 4) fail(struct bg_error *err, errcode_t e, const char *fmt, ...)
{
        int code = errcode_to_errno(e);
        char ctx[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        return bg_error_set(err, code, "%s: %s", ctx, error_message(e));
}

/* ---- the directory cache ------------------------------------------------ */

/* One entry per (directory, name). An entry with an empty name marks its
 * directory as loaded (all its entries are in the cache). */
struct dentry {
        struct dentry *next;
        uint32_t dir;
        uint32_t ino;
        uint32_t hash;
        uint8_t ftype;
        uint8_t len;
        char name[];
};

struct dcache {
        struct dentry **buckets;
        size_t nbuckets; /* power of two */
        size_t n;
};

struct ext4_fs {
        ext2_filsys fs;
        char *path;
        struct dcache dc;
        bool file_open;
};

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
        char *buf;
        size_t fill;
        char *path;
};

static uint32_t dhash(uint32_t dir, const char *name, size_t len)
{
        uint32_t h = 2166136261u ^ dir;
        h *= 16777619u;
        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)name[i];
                h *= 16777619u;
        }
        return h;
}

static void dcache_clear(struct dcache *dc)
{
        for (size_t i = 0; i < dc->nbuckets; i++) {
                struct dentry *d = dc->buckets[i];
                while (d) {
                        struct dentry *next = d->next;
                        free(d);
                        d = next;
                }
        }
        free(dc->buckets);
        *dc = (struct dcache){0};
}

static struct dentry **dcache_slot(struct dcache *dc, uint32_t dir, const char *name, size_t len,
                                   uint32_t h)
{
        struct dentry **p = &dc->buckets[h & (dc->nbuckets - 1)];
        for (; *p; p = &(*p)->next)
                if ((*p)->hash == h && (*p)->dir == dir && (*p)->len == len &&
                    memcmp((*p)->name, name, len) == 0)
                        return p;
        return p;
}

static struct dentry *dcache_find(struct dcache *dc, uint32_t dir, const char *name, size_t len)
{
        if (!dc->nbuckets)
                return NULL;
        return *dcache_slot(dc, dir, name, len, dhash(dir, name, len));
}

static int dcache_grow(struct dcache *dc)
{
        size_t nb = dc->nbuckets ? dc->nbuckets * 2 : 1024;
        struct dentry **b = calloc(nb, sizeof(*b));
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < dc->nbuckets; i++) {
                struct dentry *d = dc->buckets[i];
                while (d) {
                        struct dentry *next = d->next;
                        d->next = b[d->hash & (nb - 1)];
                        b[d->hash & (nb - 1)] = d;
                        d = next;
                }
        }
        free(dc->buckets);
        dc->buckets = b;
        dc->nbuckets = nb;
        return 0;
}

/* Insert or update. */
static int dcache_put(struct dcache *dc, uint32_t dir, const char *name, size_t len, uint32_t ino,
                      uint8_t ftype)
{
        if (dc->n >= dc->nbuckets && dcache_grow(dc) < 0)
                return -ENOMEM;
        uint32_t h = dhash(dir, name, len);
        struct dentry **p = dcache_slot(dc, dir, name, len, h);
        if (*p) {
                (*p)->ino = ino;
                (*p)->ftype = ftype;
                return 0;
        }
        struct dentry *d = malloc(sizeof(*d) + len);
        if (!d)
                return -ENOMEM;
        *d = (struct dentry){.dir = dir, .ino = ino, .hash = h, .ftype = ftype, .len = len};
        memcpy(d->name, name, len);
        *p = d;
        dc->n++;
        return 0;
}

static void dcache_del(struct dcache *dc, uint32_t dir, const char *name, size_t len)
{
        if (!dc->nbuckets)
                return;
        struct dentry **p = dcache_slot(dc, dir, name, len, dhash(dir, name, len));
        if (*p) {
                struct dentry *d = *p;
                *p = d->next;
                free(d);
                dc->n--;
        }
}

struct load_ctx {
        struct ext4_fs *e;
        int r;
};

static int load_proc(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                     int blocksize, char *buf, void *priv)
{
        struct load_ctx *c = priv;
        int len = ext2fs_dirent_name_len(de);
        if (de->inode == 0 || len == 0)
                return 0;
        if ((len == 1 && de->name[0] == '.') ||
            (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
                return 0;
        c->r = dcache_put(&c->e->dc, dir, de->name, len, de->inode, ext2fs_dirent_file_type(de));
        return c->r < 0 ? DIRENT_ABORT : 0;
}

static int dcache_load(struct ext4_fs *e, ext2_ino_t dir, struct bg_error *err)
{
        if (dcache_find(&e->dc, dir, "", 0))
                return 0;
        struct load_ctx c = {.e = e};
        errcode_t r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, load_proc, &c);
        if (r)
                return fail(err, r, "read directory inode %u", dir);
        if (c.r < 0)
                return bg_error_set(err, -c.r, "cache directory inode %u: out of memory", dir);
        if (dcache_put(&e->dc, dir, "", 0, dir, 0) < 0)
                return bg_error_set(err, ENOMEM, "cache directory inode %u: out of memory", dir);
        return 0;
}

/* ---- inode helpers ------------------------------------------------------ */

#define FITS(in, field)                                                                            \
        ((size_t)(EXT2_GOOD_OLD_INODE_SIZE + (in)->i_extra_isize) >=                               \
         offsetof(struct ext2_inode_large, field) + sizeof((in)->field))

static uint32_t encode_extra(const struct timespec *ts)
{
        int64_t sec = ts->tv_sec;
        uint32_t epoch = (uint32_t)(((sec - (int32_t)sec) >> 32) & EXT4_EPOCH_MASK);
        return epoch | ((uint32_t)ts->tv_nsec << EXT4_EPOCH_BITS);
}

static struct timespec decode_time(uint32_t lo, uint32_t extra, bool has_extra)
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
        in->i_mode = mode;
        in->i_uid = m->uid & 0xffff;
        ext2fs_set_i_uid_high(*in, m->uid >> 16);
        in->i_gid = m->gid & 0xffff;
        ext2fs_set_i_gid_high(*in, m->gid >> 16);
        in->i_atime = (uint32_t)m->atime.tv_sec;
        in->i_mtime = (uint32_t)m->mtime.tv_sec;
        in->i_ctime = (uint32_t)m->ctime.tv_sec;
        if (FITS(in, i_ctime_extra))
                in->i_ctime_extra = encode_extra(&m->ctime);
        if (FITS(in, i_mtime_extra))
                in->i_mtime_extra = encode_extra(&m->mtime);
        if (FITS(in, i_atime_extra))
                in->i_atime_extra = encode_extra(&m->atime);
        if (FITS(in, i_crtime_extra)) {
                in->i_crtime = (uint32_t)m->ctime.tv_sec;
                in->i_crtime_extra = encode_extra(&m->ctime);
        }
}

static errcode_t read_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
{
        memset(in, 0, sizeof(*in));
        return ext2fs_read_inode_full(e->fs, ino, (struct ext2_inode *)in, sizeof(*in));
}

static errcode_t write_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
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
static errcode_t write_new_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in)
{
        unsigned int isz = EXT2_INODE_SIZE(e->fs->super);
        _cleanup_free_ char *buf = calloc(1, isz > sizeof(*in) ? isz : sizeof(*in));
        if (!buf)
                return EXT2_ET_NO_MEMORY;
        memcpy(buf, in, sizeof(*in) < isz ? sizeof(*in) : isz);
        return ext2fs_write_inode_full(e->fs, ino, (struct ext2_inode *)buf, isz);
}

static void extent_header_init(struct ext2_inode_large *in)
{
        struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;
        memset(in->i_block, 0, sizeof(in->i_block));
        eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
        eh->eh_max =
            ext2fs_cpu_to_le16((sizeof(in->i_block) - sizeof(*eh)) / sizeof(struct ext3_extent));
        in->i_flags |= EXT4_EXTENTS_FL;
}

/* Map logical block 0 to blk in an inode with an empty in-inode extent tree. */
static void extent_map_one(struct ext2_inode_large *in, blk64_t blk)
{
        extent_header_init(in);
        struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;
        struct ext3_extent *ex = (struct ext3_extent *)(eh + 1);
        eh->eh_entries = ext2fs_cpu_to_le16(1);
        ex->ee_block = 0;
        ex->ee_len = ext2fs_cpu_to_le16(1);
        ex->ee_start_hi = ext2fs_cpu_to_le16((uint16_t)(blk >> 32));
        ex->ee_start = ext2fs_cpu_to_le32((uint32_t)blk);
}

static int mode_to_ftype(uint32_t mode)
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
                return fail(err, r, "allocate inode for '%s'", path);
        ext2fs_inode_alloc_stats2(e->fs, ino, +1, LINUX_S_ISDIR(mode));
        *ret = ino;
        return 0;
}

/* Free an inode with no links left: its xattr block, data and the number. */
static int free_inode(struct ext4_fs *e, ext2_ino_t ino, struct ext2_inode_large *in,
                      struct bg_error *err)
{
        errcode_t r = ext2fs_free_ext_attr(e->fs, ino, in);
        if (r)
                return fail(err, r, "free xattrs of inode %u", ino);
        if (ext2fs_inode_has_valid_blocks2(e->fs, (struct ext2_inode *)in)) {
                r = ext2fs_punch(e->fs, ino, (struct ext2_inode *)in, NULL, 0, ~0ULL);
                if (r)
                        return fail(err, r, "free blocks of inode %u", ino);
        }
        in->i_links_count = 0;
        in->i_dtime = (uint32_t)(e->fs->now ? e->fs->now : time(NULL));
        r = write_inode(e, ino, in);
        if (r)
                return fail(err, r, "write inode %u", ino);
        ext2fs_inode_alloc_stats2(e->fs, ino, -1, LINUX_S_ISDIR(in->i_mode));
        return 0;
}

/* Drop one link of a non-directory; free it with the last. */
static int drop_link(struct ext4_fs *e, ext2_ino_t ino, struct bg_error *err)
{
        struct ext2_inode_large in;
        errcode_t r = read_inode(e, ino, &in);
        if (r)
                return fail(err, r, "read inode %u", ino);
        if (in.i_links_count > 1) {
                in.i_links_count--;
                r = write_inode(e, ino, &in);
                return r ? fail(err, r, "write inode %u", ino) : 0;
        }
        return free_inode(e, ino, &in, err);
}

/* ---- directories -------------------------------------------------------- */

struct count_ctx {
        unsigned int subdirs;
};

static int count_proc(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                      int blocksize, char *buf, void *priv)
{
        struct count_ctx *c = priv;
        int len = ext2fs_dirent_name_len(de);
        if (de->inode == 0 || ext2fs_dirent_file_type(de) != EXT2_FT_DIR)
                return 0;
        if ((len == 1 && de->name[0] == '.') ||
            (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
                return 0;
        c->subdirs++;
        return 0;
}

/* Add delta (+1/-1) to the link count of directory dir for a subdirectory
 * made or removed, following dir_nlink (1 = "more than EXT2_LINK_MAX"). */
static int dir_adjust_nlink(struct ext4_fs *e, ext2_ino_t dir, int delta, struct bg_error *err)
{
        struct ext2_inode in;
        errcode_t r = ext2fs_read_inode(e->fs, dir, &in);
        if (r)
                return fail(err, r, "read directory inode %u", dir);
        if (delta > 0) {
                if (in.i_links_count == 1)
                        return 0;
                if (in.i_links_count + 1 >= EXT2_LINK_MAX) {
                        if (!ext2fs_has_feature_dir_nlink(e->fs->super))
                                return bg_error_set(
                                    err, EMLINK, "directory inode %u has too many subdirectories",
                                    dir);
                        in.i_links_count = 1;
                } else {
                        in.i_links_count++;
                }
        } else if (in.i_links_count == 1) {
                struct count_ctx c = {0};
                r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, count_proc, &c);
                if (r)
                        return fail(err, r, "read directory inode %u", dir);
                /* the subdirectory being removed was already unlinked */
                if (c.subdirs + 2 < EXT2_LINK_MAX)
                        in.i_links_count = c.subdirs + 2;
        } else if (in.i_links_count > 2) {
                in.i_links_count--;
        }
        r = ext2fs_write_inode(e->fs, dir, &in);
        return r ? fail(err, r, "write directory inode %u", dir) : 0;
}

/* Put an entry into a directory block with room for it. */
static errcode_t dirblock_insert(ext2_filsys fs, char *buf, const char *name, size_t len,
                                 ext2_ino_t ino, int ftype)
{
        unsigned int limit = fs->blocksize;
        if (ext2fs_has_feature_metadata_csum(fs->super))
                limit -= sizeof(struct ext2_dir_entry_tail);
        unsigned int need = EXT2_DIR_REC_LEN(len);
        unsigned int off = 0;
        while (off < limit) {
                struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + off);
                unsigned int rec_len;
                errcode_t r = ext2fs_get_rec_len(fs, de, &rec_len);
                if (r)
                        return r;
                if (rec_len < 8 || rec_len % 4 || off + rec_len > limit)
                        return EXT2_ET_DIR_CORRUPTED;
                unsigned int used = de->inode ? EXT2_DIR_REC_LEN(ext2fs_dirent_name_len(de)) : 0;
                if (rec_len >= used + need) {
                        if (de->inode) {
                                r = ext2fs_set_rec_len(fs, used, de);
                                if (r)
                                        return r;
                                de = (struct ext2_dir_entry *)(buf + off + used);
                                r = ext2fs_set_rec_len(fs, rec_len - used, de);
                                if (r)
                                        return r;
                        }
                        de->inode = ino;
                        ext2fs_dirent_set_name_len(de, (int)len);
                        ext2fs_dirent_set_file_type(
                            de, ext2fs_has_feature_filetype(fs->super) ? ftype : 0);
                        memcpy(de->name, name, len);
                        return 0;
                }
                off += rec_len;
        }
        return EXT2_ET_DIR_NO_SPACE;
}

/* Link through libext2fs (htree, inline data, block-mapped directories). */
static errcode_t dir_link_generic(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                                  ext2_ino_t ino, int ftype, bool indexed)
{
        char namez[MAX_NAME + 1];
        memcpy(namez, name, len);
        namez[len] = '\0';
        for (int tries = 0;; tries++) {
                errcode_t r = ext2fs_link(e->fs, dir, namez, ino, ftype);
                if (r != EXT2_ET_DIR_NO_SPACE || tries > 0 || indexed)
                        return r; /* growing an htree by hand would break its index */
                r = ext2fs_expand_dir(e->fs, dir);
                if (r)
                        return r;
        }
}

/* Append an entry to a linear extent-mapped directory, growing it by one
 * block when its last block is full. */
static errcode_t dir_link(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                          ext2_ino_t ino, int ftype)
{
        ext2_filsys fs = e->fs;
        struct ext2_inode in;
        errcode_t r = ext2fs_read_inode(fs, dir, &in);
        if (r)
                return r;
        uint64_t size = EXT2_I_SIZE(&in);
        if (!(in.i_flags & EXT4_EXTENTS_FL) ||
            (in.i_flags & (EXT2_INDEX_FL | EXT4_INLINE_DATA_FL)) || size < fs->blocksize ||
            size % fs->blocksize)
                return dir_link_generic(e, dir, name, len, ino, ftype, in.i_flags & EXT2_INDEX_FL);

        blk64_t lblk = size / fs->blocksize - 1, pblk = 0;
        r = ext2fs_bmap2(fs, dir, &in, NULL, 0, lblk, NULL, &pblk);
        if (r)
                return r;
        if (pblk == 0)
                return dir_link_generic(e, dir, name, len, ino, ftype, in.i_flags & EXT2_INDEX_FL);

        _cleanup_free_ char *buf = malloc(fs->blocksize);
        if (!buf)
                return EXT2_ET_NO_MEMORY;
        r = ext2fs_read_dir_block4(fs, pblk, buf, 0, dir);
        if (r)
                return r;
        r = dirblock_insert(fs, buf, name, len, ino, ftype);
        if (r == 0)
                return ext2fs_write_dir_block4(fs, pblk, buf, 0, dir);
        if (r != EXT2_ET_DIR_NO_SPACE)
                return r;

        blk64_t nb;
        r = ext2fs_new_block2(fs, pblk + 1, NULL, &nb);
        if (r)
                return r;
        char *nbuf = NULL;
        r = ext2fs_new_dir_block(fs, 0, 0, &nbuf);
        if (r)
                return r;
        r = dirblock_insert(fs, nbuf, name, len, ino, ftype);
        if (r == 0)
                r = ext2fs_write_dir_block4(fs, nb, nbuf, 0, dir);
        ext2fs_free_mem(&nbuf);
        if (r)
                return r;
        ext2fs_block_alloc_stats2(fs, nb, +1);
        r = ext2fs_bmap2(fs, dir, &in, NULL, BMAP_SET, lblk + 1, NULL, &nb);
        if (r)
                return r;
        r = ext2fs_iblk_add_blocks(fs, &in, 1);
        if (r)
                return r;
        r = ext2fs_inode_size_set(fs, &in, size + fs->blocksize);
        if (r)
                return r;
        return ext2fs_write_inode(fs, dir, &in);
}

static int dir_add(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len, ext2_ino_t ino,
                   int ftype, const char *path, struct bg_error *err)
{
        errcode_t r = dir_link(e, dir, name, len, ino, ftype);
        if (r)
                return fail(err, r, "add '%s' to its directory", path);
        if (dcache_put(&e->dc, dir, name, len, ino, ftype) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return 0;
}

struct replace_ctx {
        const char *name;
        size_t len;
        ext2_ino_t ino;
        int ftype;
        int filetype;
        bool done;
};

static int replace_proc(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                        int blocksize, char *buf, void *priv)
{
        struct replace_ctx *c = priv;
        if (de->inode == 0 || (size_t)ext2fs_dirent_name_len(de) != c->len ||
            memcmp(de->name, c->name, c->len) != 0)
                return 0;
        de->inode = c->ino;
        ext2fs_dirent_set_file_type(de, c->filetype ? c->ftype : 0);
        c->done = true;
        return DIRENT_CHANGED | DIRENT_ABORT;
}

/* Point the existing entry `name` of dir at another inode. */
static int dir_replace(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t ino, int ftype, const char *path, struct bg_error *err)
{
        struct replace_ctx c = {.name = name,
                                .len = len,
                                .ino = ino,
                                .ftype = ftype,
                                .filetype = ext2fs_has_feature_filetype(e->fs->super)};
        errcode_t r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, replace_proc, &c);
        if (r)
                return fail(err, r, "replace '%s'", path);
        if (!c.done)
                return bg_error_set(err, EUCLEAN, "replace '%s': entry vanished from its directory",
                                    path);
        if (dcache_put(&e->dc, dir, name, len, ino, ftype) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return 0;
}

static int dir_unlink(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                      ext2_ino_t ino, const char *path, struct bg_error *err)
{
        char namez[MAX_NAME + 1];
        memcpy(namez, name, len);
        namez[len] = '\0';
        errcode_t r = ext2fs_unlink(e->fs, dir, namez, ino, 0);
        if (r)
                return fail(err, r, "remove '%s' from its directory", path);
        dcache_del(&e->dc, dir, name, len);
        return 0;
}

struct child {
        ext2_ino_t ino;
        int ftype;
        uint8_t len;
        char name[MAX_NAME + 1];
};

struct list_ctx {
        struct child *v;
        size_t n, cap;
        int r;
};

static int list_proc(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                     int blocksize, char *buf, void *priv)
{
        struct list_ctx *c = priv;
        int len = ext2fs_dirent_name_len(de);
        if (de->inode == 0 || len == 0)
                return 0;
        if ((len == 1 && de->name[0] == '.') ||
            (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                struct child *v = realloc(c->v, cap * sizeof(*v));
                if (!v) {
                        c->r = -ENOMEM;
                        return DIRENT_ABORT;
                }
                c->v = v;
                c->cap = cap;
        }
        struct child *ch = &c->v[c->n++];
        ch->ino = de->inode;
        ch->ftype = ext2fs_dirent_file_type(de);
        ch->len = len;
        memcpy(ch->name, de->name, len);
        ch->name[len] = '\0';
        return 0;
}

static int is_dir_entry(struct ext4_fs *e, ext2_ino_t ino, int ftype, bool *ret,
                        struct bg_error *err)
{
        if (ftype != EXT2_FT_UNKNOWN) {
                *ret = ftype == EXT2_FT_DIR;
                return 0;
        }
        struct ext2_inode in;
        errcode_t r = ext2fs_read_inode(e->fs, ino, &in);
        if (r)
                return fail(err, r, "read inode %u", ino);
        *ret = LINUX_S_ISDIR(in.i_mode);
        return 0;
}

/* Free directory dir and everything below it. Its own entry in its parent is
 * the caller's business. */
static int free_dir_tree(struct ext4_fs *e, ext2_ino_t dir, struct bg_error *err)
{
        struct list_ctx c = {0};
        errcode_t er = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, list_proc, &c);
        _cleanup_free_ struct child *v = c.v;
        if (er)
                return fail(err, er, "read directory inode %u", dir);
        if (c.r < 0)
                return bg_error_set(err, ENOMEM, "list directory inode %u: out of memory", dir);
        for (size_t i = 0; i < c.n; i++) {
                bool isdir = false;
                int r = is_dir_entry(e, v[i].ino, v[i].ftype, &isdir, err);
                if (r < 0)
                        return r;
                dcache_del(&e->dc, dir, v[i].name, v[i].len);
                r = isdir ? free_dir_tree(e, v[i].ino, err) : drop_link(e, v[i].ino, err);
                if (r < 0)
                        return r;
        }
        dcache_del(&e->dc, dir, "", 0);
        struct ext2_inode_large in;
        er = read_inode(e, dir, &in);
        if (er)
                return fail(err, er, "read directory inode %u", dir);
        return free_inode(e, dir, &in, err);
}

/* Remove entry name (inode ino) of dir, recursively for a directory. */
static int remove_entry(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                        ext2_ino_t ino, bool isdir, const char *path, struct bg_error *err)
{
        int r = dir_unlink(e, dir, name, len, ino, path, err);
        if (r < 0)
                return r;
        if (!isdir)
                return drop_link(e, ino, err);
        r = free_dir_tree(e, ino, err);
        if (r < 0)
                return r;
        return dir_adjust_nlink(e, dir, -1, err);
}

/* ---- paths -------------------------------------------------------------- */

struct comp {
        const char *name;
        size_t len;
        size_t end; /* offset in the path just after this component */
};

/* Split path into components; "." dropped, ".." and over-long names refused. */
static int split_path(const char *path, struct comp **ret, size_t *ret_n, struct bg_error *err)
{
        if (!path)
                return bg_error_set(err, EINVAL, "no image path given");
        size_t cap = 1;
        for (const char *p = path; *p; p++)
                cap += *p == '/';
        _cleanup_free_ struct comp *v = calloc(cap, sizeof(*v));
        if (!v)
                return bg_error_set(err, ENOMEM, "out of memory");
        size_t n = 0;
        const char *p = path;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *q = strchrnul(p, '/');
                size_t len = (size_t)(q - p);
                if (len > MAX_NAME)
                        return bg_error_set(
                            err, ENAMETOOLONG,
                            "image path '%.64s...': component of %zu bytes (max %u)", path, len,
                            MAX_NAME);
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return bg_error_set(err, EINVAL, "image path '%s': '..' is not allowed",
                                            path);
                if (!(len == 1 && p[0] == '.'))
                        v[n++] = (struct comp){.name = p, .len = len, .end = (size_t)(q - path)};
                p = q;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* Look up name in dir through the cache. 0, -ENOENT or another error. */
static int dir_lookup(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                      ext2_ino_t *ret_ino, int *ret_ftype, struct bg_error *err)
{
        int r = dcache_load(e, dir, err);
        if (r < 0)
                return r;
        struct dentry *d = dcache_find(&e->dc, dir, name, len);
        if (!d)
                return -ENOENT;
        *ret_ino = d->ino;
        *ret_ftype = d->ftype;
        return 0;
}

/* Walk the first n components of path from the root; each must be a real
 * directory. */
static int walk_dirs(struct ext4_fs *e, const char *path, const struct comp *c, size_t n,
                     ext2_ino_t *ret, struct bg_error *err)
{
        ext2_ino_t cur = EXT2_ROOT_INO;
        for (size_t i = 0; i < n; i++) {
                ext2_ino_t ino;
                int ftype;
                int r = dir_lookup(e, cur, c[i].name, c[i].len, &ino, &ftype, err);
                if (r == -ENOENT)
                        return bg_error_set(err, ENOENT, "image path '%.*s' does not exist",
                                            (int)c[i].end, path);
                if (r < 0)
                        return r;
                if (ftype == EXT2_FT_UNKNOWN) {
                        struct ext2_inode in;
                        errcode_t er = ext2fs_read_inode(e->fs, ino, &in);
                        if (er)
                                return fail(err, er, "read inode of '%.*s'", (int)c[i].end, path);
                        ftype = mode_to_ftype(in.i_mode);
                }
                if (ftype == EXT2_FT_SYMLINK)
                        return bg_error_set(err, ELOOP, "image path '%.*s' is a symlink",
                                            (int)c[i].end, path);
                if (ftype != EXT2_FT_DIR)
                        return bg_error_set(err, ENOTDIR, "image path '%.*s' is not a directory",
                                            (int)c[i].end, path);
                cur = ino;
        }
        *ret = cur;
        return 0;
}

/* The parent directory of path, the final name and what it names now. */
struct target {
        ext2_ino_t parent;
        const char *name; /* NULL: path is the root */
        size_t len;
        ext2_ino_t ino; /* 0: nothing there */
        int ftype;
        bool isdir;
};

static int resolve_target(struct ext4_fs *e, const char *path, struct target *t,
                          struct bg_error *err)
{
        struct comp *c_raw = NULL;
        size_t n;
        int r = split_path(path, &c_raw, &n, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct comp *c = c_raw;
        *t = (struct target){.parent = EXT2_ROOT_INO};
        if (n == 0) {
                t->ino = EXT2_ROOT_INO;
                t->ftype = EXT2_FT_DIR;
                t->isdir = true;
                return 0;
        }
        r = walk_dirs(e, path, c, n - 1, &t->parent, err);
        if (r < 0)
                return r;
        t->name = c[n - 1].name;
        t->len = c[n - 1].len;
        r = dir_lookup(e, t->parent, t->name, t->len, &t->ino, &t->ftype, err);
        if (r == -ENOENT) {
                t->ino = 0;
                return 0;
        }
        if (r < 0)
                return r;
        return is_dir_entry(e, t->ino, t->ftype, &t->isdir, err);
}

static int check_writable(struct ext4_fs *e, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        if (e->file_open)
                return bg_error_set(err, EBUSY, "%s: a streamed file is still open", e->path);
        return 0;
}

/* Install the fresh inode ino (link count already 1, or +1 for a hard link)
 * at t, replacing whatever t names. */
static int install(struct ext4_fs *e, const struct target *t, ext2_ino_t ino, int ftype,
                   const char *path, struct bg_error *err)
{
        int r;
        if (t->ino && t->isdir) {
                r = remove_entry(e, t->parent, t->name, t->len, t->ino, true, path, err);
                if (r < 0)
                        return r;
        } else if (t->ino) {
                r = dir_replace(e, t->parent, t->name, t->len, ino, ftype, path, err);
                if (r < 0)
                        return r;
                r = drop_link(e, t->ino, err);
                goto done;
        }
        r = dir_add(e, t->parent, t->name, t->len, ino, ftype, path, err);
done:
        if (r < 0)
                return r;
        if (ftype == EXT2_FT_DIR)
                return dir_adjust_nlink(e, t->parent, +1, err);
        return 0;
}

/* Allocate, fill and write a new inode of the given mode for path. */
static int make_inode(struct ext4_fs *e, const struct target *t, uint32_t mode,
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

/* ---- public: entries ---------------------------------------------------- */

static int set_meta(struct ext4_fs *e, ext2_ino_t ino, uint32_t type, const struct ext4_meta *meta,
                    const char *path, struct bg_error *err)
{
        struct ext2_inode_large in;
        errcode_t r = read_inode(e, ino, &in);
        if (r)
                return fail(err, r, "read inode of '%s'", path);
        inode_set_meta(&in, type | (meta->mode & 07777), meta);
        r = write_inode(e, ino, &in);
        return r ? fail(err, r, "write inode of '%s'", path) : 0;
}

static int create_dir(struct ext4_fs *e, const struct target *t, const struct ext4_meta *meta,
                      const char *path, struct bg_error *err)
{
        ext2_filsys fs = e->fs;
        uint32_t mode = LINUX_S_IFDIR | (meta->mode & 07777);
        struct ext2_inode_large in;
        ext2_ino_t ino;
        int r = make_inode(e, t, mode, meta, &in, &ino, path, err);
        if (r < 0)
                return r;
        blk64_t blk;
        errcode_t er = ext2fs_new_block2(
            fs, ext2fs_find_inode_goal(fs, ino, (struct ext2_inode *)&in, 0), NULL, &blk);
        if (er)
                return fail(err, er, "allocate block for '%s'", path);
        ext2fs_block_alloc_stats2(fs, blk, +1);
        in.i_links_count = 2;
        in.i_size = fs->blocksize;
        extent_map_one(&in, blk);
        er = ext2fs_iblk_set(fs, (struct ext2_inode *)&in, 1);
        if (!er)
                er = write_new_inode(e, ino, &in);
        if (er)
                return fail(err, er, "write inode of '%s'", path);
        char *block = NULL;
        er = ext2fs_new_dir_block(fs, ino, t->parent, &block);
        if (!er)
                er = ext2fs_write_dir_block4(fs, blk, block, 0, ino);
        ext2fs_free_mem(&block);
        if (er)
                return fail(err, er, "write directory block of '%s'", path);
        /* an empty new directory: nothing to scan later */
        if (dcache_put(&e->dc, ino, "", 0, ino, 0) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return install(e, t, ino, EXT2_FT_DIR, path, err);
}

int ext4_mkdir(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
               struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (t.ino && t.isdir)
                return set_meta(e, t.ino, LINUX_S_IFDIR, meta, path, err);
        return create_dir(e, &t, meta, path, err);
}

int ext4_mkdir_p(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
                 struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct comp *c_raw = NULL;
        size_t n;
        r = split_path(path, &c_raw, &n, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct comp *c = c_raw;
        _cleanup_free_ char *prefix = strdup(path);
        if (!prefix)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                prefix[c[i].end] = '\0';
                struct target t;
                r = resolve_target(e, prefix, &t, err);
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
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        size_t tlen = target ? strlen(target) : 0;
        if (tlen == 0)
                return bg_error_set(err, EINVAL, "symlink '%s': empty target", path);
        if (tlen >= BLOCK_SIZE || tlen >= e->fs->blocksize)
                return bg_error_set(err, ENAMETOOLONG, "symlink '%s': target of %zu bytes (max %u)",
                                    path, tlen, e->fs->blocksize - 1);
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        uint32_t perm = meta->mode & 07777;
        uint32_t mode = LINUX_S_IFLNK | (perm ? perm : 0777);
        struct ext2_inode_large in;
        ext2_ino_t ino;
        r = make_inode(e, &t, mode, meta, &in, &ino, path, err);
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
                        return fail(err, er, "allocate block for '%s'", path);
                ext2fs_block_alloc_stats2(fs, blk, +1);
                _cleanup_free_ char *buf = calloc(1, fs->blocksize);
                if (!buf)
                        return bg_error_set(err, ENOMEM, "out of memory");
                memcpy(buf, target, tlen);
                er = io_channel_write_blk64(fs->io, blk, 1, buf);
                if (er)
                        return fail(err, er, "write symlink '%s'", path);
                extent_map_one(&in, blk);
                er = ext2fs_iblk_set(fs, (struct ext2_inode *)&in, 1);
                if (er)
                        return fail(err, er, "write symlink '%s'", path);
        }
        er = write_new_inode(e, ino, &in);
        if (er)
                return fail(err, er, "write inode of '%s'", path);
        return install(e, &t, ino, EXT2_FT_SYMLINK, path, err);
}

int ext4_mknod(struct ext4_fs *e, const char *path, const struct ext4_meta *meta, dev_t rdev,
               struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        uint32_t type = meta->mode & S_IFMT;
        if (type != S_IFCHR && type != S_IFBLK && type != S_IFIFO && type != S_IFSOCK)
                return bg_error_set(err, EINVAL,
                                    "mknod '%s': mode %o is not a device, fifo or socket", path,
                                    meta->mode);
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_inode_large in;
        ext2_ino_t ino;
        r = make_inode(e, &t, meta->mode & (S_IFMT | 07777), meta, &in, &ino, path, err);
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
        errcode_t er = write_new_inode(e, ino, &in);
        if (er)
                return fail(err, er, "write inode of '%s'", path);
        return install(e, &t, ino, mode_to_ftype(meta->mode), path, err);
}

int ext4_link_inode(struct ext4_fs *e, const char *path, uint32_t ino, struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct ext2_inode_large in;
        errcode_t er = read_inode(e, ino, &in);
        if (er)
                return fail(err, er, "read inode %u", ino);
        if (LINUX_S_ISDIR(in.i_mode) || in.i_links_count == 0)
                return bg_error_set(err, EPERM, "hard link '%s': inode %u is a directory or free",
                                    path, ino);
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.name)
                return bg_error_set(err, EEXIST, "image path '%s' is the root directory", path);
        if (t.ino == ino)
                return 0;
        if (in.i_links_count >= EXT2_LINK_MAX)
                return bg_error_set(err, EMLINK, "hard link '%s': too many links", path);
        in.i_links_count++;
        er = write_inode(e, ino, &in);
        if (er)
                return fail(err, er, "write inode of '%s'", path);
        return install(e, &t, ino, mode_to_ftype(in.i_mode), path, err);
}

int ext4_hardlink(struct ext4_fs *e, const char *path, const char *target, struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct target tt;
        r = resolve_target(e, target, &tt, err);
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
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        if (t.isdir)
                return bg_error_set(err, EISDIR, "unlink '%s': is a directory", path);
        return remove_entry(e, t.parent, t.name, t.len, t.ino, false, path, err);
}

int ext4_remove_tree(struct ext4_fs *e, const char *path, struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        if (!t.name)
                return bg_error_set(err, EBUSY, "cannot remove the root directory");
        if (!t.ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        return remove_entry(e, t.parent, t.name, t.len, t.ino, t.isdir, path, err);
}

/* ---- public: xattrs ----------------------------------------------------- */

static int existing(struct ext4_fs *e, const char *path, struct target *t, struct bg_error *err)
{
        int r = resolve_target(e, path, t, err);
        if (r < 0)
                return r;
        if (!t->ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        return 0;
}

/* path exists and is of type (LINUX_S_IFREG, LINUX_S_IFDIR or LINUX_S_IFLNK);
 * its inode goes to *in. */
static int existing_of_type(struct ext4_fs *e, const char *path, unsigned type, struct target *t,
                            struct ext2_inode *in, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        int r = existing(e, path, t, err);
        if (r < 0)
                return r;
        errcode_t er = ext2fs_read_inode(e->fs, t->ino, in);
        if (er)
                return fail(err, er, "read inode of '%s'", path);
        if ((in->i_mode & LINUX_S_IFMT) == type)
                return 0;
        if (type == LINUX_S_IFDIR)
                return bg_error_set(err, ENOTDIR, "image path '%s' is not a directory", path);
        return bg_error_set(err, EINVAL, "'%s' is not a %s", path,
                            type == LINUX_S_IFLNK ? "symlink" : "regular file");
}

int ext4_set_xattr(struct ext4_fs *e, const char *path, const char *name, const void *value,
                   size_t size, struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        if (!name || !*name)
                return bg_error_set(err, EINVAL, "xattr on '%s': empty name", path);
        struct target t;
        r = existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattr_set(h, name, value, size);
        if (h) {
                errcode_t er2 = ext2fs_xattrs_close(&h);
                if (!er)
                        er = er2;
        }
        return er ? fail(err, er, "set xattr '%s' on '%s'", name, path) : 0;
}

int ext4_get_xattr(struct ext4_fs *e, const char *path, const char *name, void **ret_value,
                   size_t *ret_size, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        struct target t;
        int r = existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        void *val = NULL;
        size_t len = 0;
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattr_get(h, name, &val, &len);
        if (h)
                ext2fs_xattrs_close(&h);
        if (er == EXT2_ET_EA_KEY_NOT_FOUND)
                return bg_error_set(err, ENODATA, "'%s' has no xattr '%s'", path, name);
        if (er)
                return fail(err, er, "get xattr '%s' of '%s'", name, path);
        void *copy = malloc(len ? len : 1);
        if (!copy) {
                ext2fs_free_mem(&val);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        if (len)
                memcpy(copy, val, len);
        ext2fs_free_mem(&val);
        *ret_value = copy;
        *ret_size = len;
        return 0;
}

/* ---- public: reading ---------------------------------------------------- */

int ext4_lookup(struct ext4_fs *e, const char *path, struct ext4_stat *ret, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        struct target t;
        int r = existing(e, path, &t, err);
        if (r < 0 || !ret)
                return r;
        struct ext2_inode_large in;
        errcode_t er = read_inode(e, t.ino, &in);
        if (er)
                return fail(err, er, "read inode of '%s'", path);
        bool large = EXT2_INODE_SIZE(e->fs->super) > EXT2_GOOD_OLD_INODE_SIZE;
        struct ext4_stat st = {
            .ino = t.ino,
            .mode = in.i_mode,
            .uid = inode_uid(in),
            .gid = inode_gid(in),
            .nlink = in.i_links_count,
            .size = EXT2_I_SIZE(&in),
            .blocks = ext2fs_get_stat_i_blocks(e->fs, (struct ext2_inode *)&in),
            .atime = decode_time(in.i_atime, in.i_atime_extra, large && FITS(&in, i_atime_extra)),
            .mtime = decode_time(in.i_mtime, in.i_mtime_extra, large && FITS(&in, i_mtime_extra)),
            .ctime = decode_time(in.i_ctime, in.i_ctime_extra, large && FITS(&in, i_ctime_extra)),
        };
        if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode)) {
                uint32_t old = ext2fs_le32_to_cpu(in.i_block[0]);
                uint32_t nw = ext2fs_le32_to_cpu(in.i_block[1]);
                if (old)
                        st.rdev = makedev((old >> 8) & 0xff, old & 0xff);
                else
                        st.rdev =
                            makedev((nw & 0xfff00) >> 8, (nw & 0xff) | ((nw >> 12) & 0xfff00));
        }
        *ret = st;
        return 0;
}

/* Passes the size bytes of inode ino to sink in chunks of at most
 * EXT4_STREAM_CHUNK; a file that ends early is a short read. */
static int stream_ino(struct ext4_fs *e, ext2_ino_t ino, uint64_t size, ext4_sink_fn sink,
                      void *ud, const char *path, struct bg_error *err)
{
        _cleanup_free_ char *buf = malloc(EXT4_STREAM_CHUNK);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        ext2_file_t f;
        errcode_t er = ext2fs_file_open(e->fs, ino, 0, &f);
        if (er)
                return fail(err, er, "open '%s'", path);
        uint64_t off = 0;
        int r = 0;
        while (r >= 0 && off < size) {
                unsigned int want =
                    size - off > EXT4_STREAM_CHUNK ? EXT4_STREAM_CHUNK : (unsigned int)(size - off);
                unsigned int got = 0;
                er = ext2fs_file_read(f, buf, want, &got);
                if (er) {
                        r = fail(err, er, "read '%s'", path);
                        break;
                }
                if (got == 0) {
                        r = bg_error_set(err, EIO, "read '%s': short read", path);
                        break;
                }
                r = sink(ud, buf, got, err);
                off += got;
        }
        ext2fs_file_close(f);
        return r;
}

struct mem_sink {
        char *buf;
        size_t off;
};

static int to_memory(void *ud, const void *buf, size_t len, struct bg_error *err)
{
        (void)err;
        struct mem_sink *m = ud;
        memcpy(m->buf + m->off, buf, len);
        m->off += len;
        return 0;
}

/* The whole file into *ret (malloc'ed, NUL-terminated). */
static int read_data(struct ext4_fs *e, ext2_ino_t ino, uint64_t size, char **ret, const char *path,
                     struct bg_error *err)
{
        if (size >= SIZE_MAX)
                return bg_error_set(err, EFBIG, "'%s' is too big to read into memory", path);
        _cleanup_free_ char *buf = malloc(size + 1);
        if (!buf)
                return bg_error_set(err, ENOMEM, "read '%s': out of memory", path);
        struct mem_sink m = {.buf = buf};
        int r = stream_ino(e, ino, size, to_memory, &m, path, err);
        if (r < 0)
                return r;
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

int ext4_read_file(struct ext4_fs *e, const char *path, void **ret_data, size_t *ret_size,
                   struct bg_error *err)
{
        struct target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFREG, &t, &in, err);
        if (r < 0)
                return r;
        char *buf;
        r = read_data(e, t.ino, EXT2_I_SIZE(&in), &buf, path, err);
        if (r < 0)
                return r;
        *ret_data = buf;
        *ret_size = EXT2_I_SIZE(&in);
        return 0;
}

int ext4_readlink(struct ext4_fs *e, const char *path, char **ret, struct bg_error *err)
{
        struct target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFLNK, &t, &in, err);
        if (r < 0)
                return r;
        uint64_t size = EXT2_I_SIZE(&in);
        if (ext2fs_is_fast_symlink(&in)) {
                char *s = strndup((const char *)in.i_block, size);
                if (!s)
                        return bg_error_set(err, ENOMEM, "out of memory");
                *ret = s;
                return 0;
        }
        return read_data(e, t.ino, size, ret, path, err);
}

/* ---- public: streamed regular files ------------------------------------ */

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
                                return fail(err, er, "allocate blocks for '%s'", f->path);
                        ext2fs_block_alloc_stats_range(fs, pblk, plen, +1);
                        er = io_channel_write_blk64(fs->io, pblk, (int)plen, data + i * bs);
                        if (!er)
                                er = extent_append(f, f->next_lblk + i, pblk, plen);
                        if (!er)
                                er = ext2fs_iblk_add_blocks(fs, (struct ext2_inode *)&f->inode,
                                                            plen);
                        if (er)
                                return fail(err, er, "write '%s'", f->path);
                        f->goal = pblk + plen;
                        i += plen;
                }
        }
        f->next_lblk += nblocks;
        return 0;
}

static void file_free(struct ext4_file *f)
{
        if (!f)
                return;
        if (f->handle)
                ext2fs_extent_free(f->handle);
        if (f->e)
                f->e->file_open = false;
        free(f->buf);
        free(f->path);
        free(f);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ext4_file *, file_free)

int ext4_file_create(struct ext4_fs *e, const char *path, const struct ext4_meta *meta,
                     struct ext4_file **ret, struct bg_error *err)
{
        int r = check_writable(e, err);
        if (r < 0)
                return r;
        if ((meta->mode & S_IFMT) != 0 && (meta->mode & S_IFMT) != S_IFREG)
                return bg_error_set(err, EINVAL, "file '%s': mode %o is not a regular file", path,
                                    meta->mode);
        struct target t;
        r = resolve_target(e, path, &t, err);
        if (r < 0)
                return r;
        _cleanup_(file_freep) struct ext4_file *f = calloc(1, sizeof(*f));
        if (!f)
                return bg_error_set(err, ENOMEM, "out of memory");
        f->path = strdup(path);
        f->buf = malloc(FILE_BUF_SIZE);
        if (!f->path || !f->buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        r = make_inode(e, &t, LINUX_S_IFREG | (meta->mode & 07777), meta, &f->inode, &f->ino, path,
                       err);
        if (r < 0)
                return r;
        extent_header_init(&f->inode);
        errcode_t er = write_new_inode(e, f->ino, &f->inode);
        if (er)
                return fail(err, er, "write inode of '%s'", path);
        r = install(e, &t, f->ino, EXT2_FT_REG_FILE, path, err);
        if (r < 0)
                return r;
        er = ext2fs_extent_open2(e->fs, f->ino, (struct ext2_inode *)&f->inode, &f->handle);
        if (er)
                return fail(err, er, "open extents of '%s'", path);
        f->goal = ext2fs_find_inode_goal(e->fs, f->ino, (struct ext2_inode *)&f->inode, 0);
        f->e = e;
        e->file_open = true;
        *ret = TAKE_PTR(f);
        return 0;
}

int ext4_file_write(struct ext4_file *f, const void *buf, size_t len, struct bg_error *err)
{
        if (!f)
                return bg_error_set(err, EINVAL, "no open file");
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
                er = write_inode(f->e, f->ino, &f->inode);
        return er ? fail(err, er, "write inode of '%s'", f->path) : 0;
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

/* ---- image lifecycle ---------------------------------------------------- */

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
        if (e->fs)
                ext2fs_free(e->fs);
        dcache_clear(&e->dc);
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
                r = fail(err, er, "write ext4 image '%s'", e->path);
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
        return set_meta(e, ino, LINUX_S_IFDIR, &m, ino == EXT2_ROOT_INO ? "/" : "/lost+found", err);
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
                return fail(err, er, "allocate group tables");
        /* the file is new and sparse: inode tables read as zeros */
        for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
                ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
                ext2fs_group_desc_csum_set(fs, g);
        }

        fs->umask = 022;
        er = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
        if (er)
                return fail(err, er, "create root directory");
        int r = fix_new_dir(e, EXT2_ROOT_INO, 0755, o->root_uid, o->root_gid, now, err);
        if (r < 0)
                return r;

        fs->umask = 077;
        ext2_ino_t lpf;
        er = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
        if (!er)
                er = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf);
        if (er)
                return fail(err, er, "create lost+found");
        for (unsigned int size = fs->blocksize; size < 16384; size += fs->blocksize) {
                er = ext2fs_expand_dir(fs, lpf);
                if (er)
                        return fail(err, er, "expand lost+found");
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
                return fail(err, er, "write bad block inode");

        if (o->journal) {
                struct ext2fs_journal_params jp;
                er = ext2fs_get_journal_params(&jp, fs);
                if (!er)
                        er = ext2fs_add_journal_inode3(
                            fs, &jp, ~0ULL, EXT2_MKJOURNAL_NO_MNT_CHECK | EXT2_MKJOURNAL_LAZYINIT);
                if (er)
                        return fail(err, er, "create journal");
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
        uint64_t blocks = size_bytes / BLOCK_SIZE;
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
                return fail(err, er, "make ext4 in '%s'", path);
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

int ext4_open(const char *path, struct ext4_fs **ret, struct bg_error *err)
{
        ext2_filsys fs = NULL;
        errcode_t er =
            ext2fs_open2(path, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
        if (er)
                return fail(err, er, "open ext4 image '%s'", path);
        if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
                ext2fs_free(fs);
                return bg_error_set(err, EUCLEAN, "ext4 image '%s': journal needs recovery", path);
        }
        if (fs->super->s_state & EXT2_ERROR_FS) {
                ext2fs_free(fs);
                return bg_error_set(err, EUCLEAN, "ext4 image '%s' has errors; run e2fsck", path);
        }
        er = ext2fs_read_bitmaps(fs);
        if (er) {
                ext2fs_free(fs);
                return fail(err, er, "read bitmaps of ext4 image '%s'", path);
        }
        return wrap(fs, path, ret, err);
}

/* ---- sizing ------------------------------------------------------------- */

void ext4_usage(struct ext4_fs *e, struct ext4_usage *ret)
{
        struct ext2_super_block *sb = e->fs->super;
        uint64_t bt = ext2fs_blocks_count(sb), bf = ext2fs_free_blocks_count(sb);
        *ret = (struct ext4_usage){
            .block_size = e->fs->blocksize,
            .blocks_total = bt,
            .blocks_used = bt - bf,
            .blocks_free = bf,
            .inodes_total = sb->s_inodes_count,
            .inodes_used = sb->s_inodes_count - sb->s_free_inodes_count,
            .inodes_free = sb->s_free_inodes_count,
        };
}

uint64_t ext4_estimate_size(uint64_t content_bytes, uint64_t n_inodes)
{
        const uint64_t mib = 1 << 20;
        /* data, a partly used last block and a directory entry per inode */
        uint64_t data = content_bytes + n_inodes * (BLOCK_SIZE + 64);
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

/* ---- public: directories ------------------------------------------------ */

struct dir_names {
        char **names;
        size_t n, cap;
        bool oom;
};

static int collect_name(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                        int blocksize, char *buf, void *priv)
{
        struct dir_names *d = priv;
        (void)dir;
        (void)offset;
        (void)blocksize;
        (void)buf;
        if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
                return 0;
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 32;
                char **nv = realloc(d->names, cap * sizeof(*nv));
                if (!nv) {
                        d->oom = true;
                        return DIRENT_ABORT;
                }
                d->names = nv;
                d->cap = cap;
        }
        char *name = strndup(de->name, (size_t)ext2fs_dirent_name_len(de));
        if (!name) {
                d->oom = true;
                return DIRENT_ABORT;
        }
        d->names[d->n++] = name;
        return 0;
}

int ext4_readdir(struct ext4_fs *e, const char *path, ext4_readdir_fn fn, void *ud,
                 struct bg_error *err)
{
        struct target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFDIR, &t, &in, err);
        if (r < 0)
                return r;
        /* Names first, callbacks after: fn may read (or write) the image. */
        struct dir_names d = {0};
        errcode_t er = ext2fs_dir_iterate2(e->fs, t.ino, 0, NULL, collect_name, &d);
        if (d.oom)
                r = bg_error_set(err, ENOMEM, "out of memory");
        else if (er)
                r = fail(err, er, "read directory '%s'", path);
        size_t plen = strlen(path);
        for (size_t i = 0; r >= 0 && i < d.n; i++) {
                _cleanup_free_ char *child = NULL;
                bool slash = plen && path[plen - 1] == '/';
                if (asprintf(&child, "%s%s%s", path, slash ? "" : "/", d.names[i]) < 0) {
                        child = NULL;
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                struct ext4_stat st;
                r = ext4_lookup(e, child, &st, err);
                if (r >= 0)
                        r = fn(ud, d.names[i], &st);
        }
        for (size_t i = 0; i < d.n; i++)
                free(d.names[i]);
        free(d.names);
        return r;
}

/* ---- internal: streaming reads and xattr listing ------------------------ */

int ext4_stream_file(struct ext4_fs *e, const char *path, ext4_sink_fn sink, void *ud,
                     struct bg_error *err)
{
        struct target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFREG, &t, &in, err);
        if (r < 0)
                return r;
        return stream_ino(e, t.ino, EXT2_I_SIZE(&in), sink, ud, path, err);
}

struct xattr_list {
        char **names;
        void **values;
        size_t *lens;
        size_t n;
        bool oom;
};

static int collect_xattr(char *name, char *value, size_t len, void *data)
{
        struct xattr_list *l = data;
        char **nn = realloc(l->names, (l->n + 1) * sizeof(*nn));
        if (nn)
                l->names = nn;
        void **nv = realloc(l->values, (l->n + 1) * sizeof(*nv));
        if (nv)
                l->values = nv;
        size_t *nl = realloc(l->lens, (l->n + 1) * sizeof(*nl));
        if (nl)
                l->lens = nl;
        char *nm = strdup(name);
        void *v = malloc(len ? len : 1);
        if (!nn || !nv || !nl || !nm || !v) {
                free(nm);
                free(v);
                l->oom = true;
                return XATTR_ABORT;
        }
        if (len)
                memcpy(v, value, len);
        l->names[l->n] = nm;
        l->values[l->n] = v;
        l->lens[l->n] = len;
        l->n++;
        return 0;
}

int ext4_xattrs_each(struct ext4_fs *e, const char *path, ext4_xattr_fn fn, void *ud,
                     struct bg_error *err)
{
        struct target t;
        int r = existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        struct xattr_list l = {0};
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattrs_iterate(h, collect_xattr, &l);
        if (h)
                ext2fs_xattrs_close(&h);
        if (l.oom)
                r = bg_error_set(err, ENOMEM, "out of memory");
        else if (er)
                r = fail(err, er, "read xattrs of '%s'", path);
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                r = fn(ud, l.names[i], l.values[i], l.lens[i], err);
        for (size_t i = 0; i < l.n; i++) {
                free(l.names[i]);
                free(l.values[i]);
        }
        free(l.names);
        free(l.values);
        free(l.lens);
        return r;
}
