/* Directory entries: add, replace and unlink one name, keep the parent's link
 * count right under dir_nlink, remove a whole directory tree, and install a
 * new inode at a resolved path (replacing what was there). New names are
 * appended to the last block of a linear, extent-mapped directory (growing it
 * by one block when full), so filling a directory costs O(N); htree,
 * inline-data or block-mapped directories (made by the kernel in work disks)
 * go through libext2fs' ext2fs_link. Every change is mirrored in the
 * directory cache (ext4_dcache.c), which also remembers the block each
 * appended entry went to: unlinking or replacing that entry then rewrites
 * one block instead of scanning the directory (ext2fs_unlink would, per
 * name: O(N^2) for the whiteouts of a hostile layer). A directory with more
 * subdirectories than a link count holds has its count kept in memory, so
 * removing them does not rescan it either. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/array.h"

struct count_ctx {
        unsigned int subdirs;
};

static int count_proc(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                      int blocksize, char *buf, void *priv)
{
        struct count_ctx *c = priv;
        if (de->inode == 0 || ext2fs_dirent_file_type(de) != EXT2_FT_DIR)
                return 0;
        if (ext4i_dirent_is_dot(de))
                return 0;
        c->subdirs++;
        return 0;
}

static struct ext4i_bigdir *bigdir_find(struct ext4_fs *e, ext2_ino_t dir)
{
        for (size_t i = 0; i < e->n_bigdirs; i++)
                if (e->bigdirs[i].ino == dir)
                        return &e->bigdirs[i];
        return NULL;
}

static int bigdir_set(struct ext4_fs *e, ext2_ino_t dir, unsigned int subdirs)
{
        struct ext4i_bigdir *b = bigdir_find(e, dir);
        if (!b) {
                if (ARRAY_RESERVE(e->bigdirs, e->cap_bigdirs, e->n_bigdirs + 1) < 0)
                        return -ENOMEM;
                b = &e->bigdirs[e->n_bigdirs++];
                b->ino = dir;
        }
        b->subdirs = subdirs;
        return 0;
}

static void bigdir_drop(struct ext4_fs *e, ext2_ino_t dir)
{
        struct ext4i_bigdir *b = bigdir_find(e, dir);
        if (b)
                *b = e->bigdirs[--e->n_bigdirs];
}

/* Add delta (+1/-1) to the link count of directory dir for a subdirectory
 * made or removed, following dir_nlink (1 = "more than EXT2_LINK_MAX"). The
 * subdirectories of such a directory are counted once (the first removal)
 * and then tracked, so that it gets its exact count back when it drops
 * below the limit. */
static int dir_adjust_nlink(struct ext4_fs *e, ext2_ino_t dir, int delta, struct bg_error *err)
{
        struct ext2_inode in;
        errcode_t r = ext2fs_read_inode(e->fs, dir, &in);
        if (r)
                return ext4i_fail(err, r, "read directory inode %u", dir);
        struct ext4i_bigdir *big = in.i_links_count == 1 ? bigdir_find(e, dir) : NULL;
        if (delta > 0) {
                if (in.i_links_count == 1) {
                        if (big)
                                big->subdirs++;
                        return 0;
                }
                if (in.i_links_count + 1 >= EXT2_LINK_MAX) {
                        if (!ext2fs_has_feature_dir_nlink(e->fs->super))
                                return bg_error_set(
                                    err, EMLINK, "directory inode %u has too many subdirectories",
                                    dir);
                        if (bigdir_set(e, dir, in.i_links_count - 1) < 0)
                                return bg_error_set(err, ENOMEM, "out of memory");
                        in.i_links_count = 1;
                } else {
                        in.i_links_count++;
                }
        } else if (in.i_links_count == 1) {
                unsigned int subdirs;
                if (big && big->subdirs > 0) {
                        subdirs = big->subdirs - 1;
                } else {
                        /* the subdirectory being removed was already unlinked */
                        struct count_ctx c = {0};
                        r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, count_proc, &c);
                        if (r)
                                return ext4i_fail(err, r, "read directory inode %u", dir);
                        subdirs = c.subdirs;
                }
                if (subdirs + 2 >= EXT2_LINK_MAX)
                        return bigdir_set(e, dir, subdirs) < 0
                                   ? bg_error_set(err, ENOMEM, "out of memory")
                                   : 0;
                bigdir_drop(e, dir);
                in.i_links_count = subdirs + 2;
        } else if (in.i_links_count > 2) {
                in.i_links_count--;
        }
        r = ext2fs_write_inode(e->fs, dir, &in);
        return r ? ext4i_fail(err, r, "write directory inode %u", dir) : 0;
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
        char namez[EXT4I_MAX_NAME + 1];
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
 * block when its last block is full. *ret_blk: the block it went to (0 when
 * libext2fs placed it). */
static errcode_t dir_link(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                          ext2_ino_t ino, int ftype, blk64_t *ret_blk)
{
        ext2_filsys fs = e->fs;
        *ret_blk = 0;
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
        if (r == 0) {
                r = ext2fs_write_dir_block4(fs, pblk, buf, 0, dir);
                if (!r)
                        *ret_blk = pblk;
                return r;
        }
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
        if (!r)
                r = ext2fs_write_inode(fs, dir, &in);
        if (!r)
                *ret_blk = nb;
        return r;
}

static int dir_add(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len, ext2_ino_t ino,
                   int ftype, const char *path, struct bg_error *err)
{
        blk64_t blk = 0;
        errcode_t r = dir_link(e, dir, name, len, ino, ftype, &blk);
        if (r)
                return ext4i_fail(err, r, "add '%s' to its directory", path);
        if (ext4i_dcache_put(&e->dc, dir, name, len, ino, ftype, blk) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return 0;
}

enum dirblock_op {
        DIRBLOCK_UNLINK,  /* remove the entry */
        DIRBLOCK_REPLACE, /* point it at another inode */
};

/* Does op on entry name (inode ino) of dir in directory block blk, where the
 * cache says it was written. *ret_done false when the block does not hold it
 * (or is not one of dir's leaf blocks: with metadata_csum the block's
 * checksum, seeded with dir, must match), so that the caller scans instead.
 * An unlink merges the entry into the one before it in the block, or clears
 * its inode when it is the first, as ext2fs_unlink does. */
static errcode_t dirblock_apply(struct ext4_fs *e, ext2_ino_t dir, blk64_t blk, const char *name,
                                size_t len, ext2_ino_t ino, enum dirblock_op op, ext2_ino_t new_ino,
                                int ftype, bool *ret_done)
{
        ext2_filsys fs = e->fs;
        *ret_done = false;
        if (!blk || blk < fs->super->s_first_data_block || blk >= ext2fs_blocks_count(fs->super))
                return 0;
        _cleanup_free_ char *buf = malloc(fs->blocksize);
        if (!buf)
                return EXT2_ET_NO_MEMORY;
        if (ext2fs_read_dir_block4(fs, blk, buf, 0, dir))
                return 0; /* not (or no longer) dir's: scan */
        unsigned int limit = fs->blocksize;
        if (ext2fs_has_feature_metadata_csum(fs->super))
                limit -= sizeof(struct ext2_dir_entry_tail);
        struct ext2_dir_entry *prev = NULL;
        unsigned int prev_len = 0;
        for (unsigned int off = 0; off < limit;) {
                struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + off);
                unsigned int rec_len;
                if (ext2fs_get_rec_len(fs, de, &rec_len) || rec_len < 8 || rec_len % 4 ||
                    off + rec_len > limit)
                        return 0;
                if (de->inode == ino && (size_t)ext2fs_dirent_name_len(de) == len &&
                    memcmp(de->name, name, len) == 0) {
                        errcode_t r = 0;
                        if (op == DIRBLOCK_REPLACE) {
                                de->inode = new_ino;
                                ext2fs_dirent_set_file_type(
                                    de, ext2fs_has_feature_filetype(fs->super) ? ftype : 0);
                        } else if (prev) {
                                r = ext2fs_set_rec_len(fs, prev_len + rec_len, prev);
                        } else {
                                de->inode = 0;
                        }
                        if (!r)
                                r = ext2fs_write_dir_block4(fs, blk, buf, 0, dir);
                        *ret_done = r == 0;
                        return r;
                }
                prev = de;
                prev_len = rec_len;
                off += rec_len;
        }
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

/* Point the existing entry `name` (now old_ino) of dir at another inode. */
static int dir_replace(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t old_ino, ext2_ino_t ino, int ftype, const char *path,
                       struct bg_error *err)
{
        blk64_t blk = ext4i_dcache_block(&e->dc, dir, name, len);
        bool done = false;
        errcode_t er =
            dirblock_apply(e, dir, blk, name, len, old_ino, DIRBLOCK_REPLACE, ino, ftype, &done);
        if (er)
                return ext4i_fail(err, er, "replace '%s'", path);
        if (done) {
                if (ext4i_dcache_put(&e->dc, dir, name, len, ino, ftype, blk) < 0)
                        return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
                return 0;
        }
        struct replace_ctx c = {.name = name,
                                .len = len,
                                .ino = ino,
                                .ftype = ftype,
                                .filetype = ext2fs_has_feature_filetype(e->fs->super)};
        errcode_t r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, replace_proc, &c);
        if (r)
                return ext4i_fail(err, r, "replace '%s'", path);
        if (!c.done)
                return bg_error_set(err, EUCLEAN, "replace '%s': entry vanished from its directory",
                                    path);
        if (ext4i_dcache_put(&e->dc, dir, name, len, ino, ftype, 0) < 0)
                return bg_error_set(err, ENOMEM, "cache '%s': out of memory", path);
        return 0;
}

static int dir_unlink(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                      ext2_ino_t ino, const char *path, struct bg_error *err)
{
        bool done = false;
        errcode_t er = dirblock_apply(e, dir, ext4i_dcache_block(&e->dc, dir, name, len), name, len,
                                      ino, DIRBLOCK_UNLINK, 0, 0, &done);
        if (er)
                return ext4i_fail(err, er, "remove '%s' from its directory", path);
        if (done) {
                ext4i_dcache_del(&e->dc, dir, name, len);
                return 0;
        }
        char namez[EXT4I_MAX_NAME + 1];
        memcpy(namez, name, len);
        namez[len] = '\0';
        errcode_t r = ext2fs_unlink(e->fs, dir, namez, ino, 0);
        if (r)
                return ext4i_fail(err, r, "remove '%s' from its directory", path);
        ext4i_dcache_del(&e->dc, dir, name, len);
        return 0;
}

struct child {
        ext2_ino_t ino;
        int ftype;
        uint8_t len;
        char name[EXT4I_MAX_NAME + 1];
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
        if (ext4i_dirent_is_dot(de))
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

int ext4i_is_dir_entry(struct ext4_fs *e, ext2_ino_t ino, int ftype, bool *ret,
                       struct bg_error *err)
{
        if (ftype != EXT2_FT_UNKNOWN) {
                *ret = ftype == EXT2_FT_DIR;
                return 0;
        }
        struct ext2_inode in;
        errcode_t r = ext2fs_read_inode(e->fs, ino, &in);
        if (r)
                return ext4i_fail(err, r, "read inode %u", ino);
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
                return ext4i_fail(err, er, "read directory inode %u", dir);
        if (c.r < 0)
                return bg_error_set(err, ENOMEM, "list directory inode %u: out of memory", dir);
        for (size_t i = 0; i < c.n; i++) {
                bool isdir = false;
                int r = ext4i_is_dir_entry(e, v[i].ino, v[i].ftype, &isdir, err);
                if (r < 0)
                        return r;
                ext4i_dcache_del(&e->dc, dir, v[i].name, v[i].len);
                r = isdir ? free_dir_tree(e, v[i].ino, err) : ext4i_drop_link(e, v[i].ino, err);
                if (r < 0)
                        return r;
        }
        ext4i_dcache_del(&e->dc, dir, "", 0);
        bigdir_drop(e, dir);
        struct ext2_inode_large in;
        er = ext4i_read_inode(e, dir, &in);
        if (er)
                return ext4i_fail(err, er, "read directory inode %u", dir);
        return ext4i_free_inode(e, dir, &in, err);
}

/* Remove entry name (inode ino) of dir, recursively for a directory. */
int ext4i_remove_entry(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                       ext2_ino_t ino, bool isdir, const char *path, struct bg_error *err)
{
        int r = dir_unlink(e, dir, name, len, ino, path, err);
        if (r < 0)
                return r;
        if (!isdir)
                return ext4i_drop_link(e, ino, err);
        r = free_dir_tree(e, ino, err);
        if (r < 0)
                return r;
        return dir_adjust_nlink(e, dir, -1, err);
}

/* Install the fresh inode ino (link count already 1, or +1 for a hard link)
 * at t, replacing whatever t names. */
int ext4i_install(struct ext4_fs *e, const struct ext4i_target *t, ext2_ino_t ino, int ftype,
                  const char *path, struct bg_error *err)
{
        int r;
        if (t->ino && t->isdir) {
                r = ext4i_remove_entry(e, t->parent, t->name, t->len, t->ino, true, path, err);
                if (r < 0)
                        return r;
        } else if (t->ino) {
                r = dir_replace(e, t->parent, t->name, t->len, t->ino, ino, ftype, path, err);
                if (r < 0)
                        return r;
                r = ext4i_drop_link(e, t->ino, err);
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
