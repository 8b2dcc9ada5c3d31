/* The directory-entry cache. Every lookup goes through it: the first time a
 * directory is looked into, one scan (ext2fs_dir_iterate2) puts all its entries
 * in a hash table keyed by (directory inode, name), with an empty-name entry
 * marking the directory as loaded; every change made by this module (add,
 * replace, unlink, remove) keeps it in step. This turns adding N entries to
 * one directory from O(N^2) scans into O(N). Directories this module creates
 * are marked loaded at once (nothing to scan). */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One entry per (directory, name). An entry with an empty name marks its
 * directory as loaded (all its entries are in the cache). */
struct ext4i_dentry {
        struct ext4i_dentry *next;
        uint64_t blk; /* directory block holding the entry; 0 = unknown */
        uint32_t dir;
        uint32_t ino;
        uint32_t hash;
        uint8_t ftype;
        uint8_t len;
        char name[];
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

void ext4i_dcache_clear(struct ext4i_dcache *dc)
{
        for (size_t i = 0; i < dc->nbuckets; i++) {
                struct ext4i_dentry *d = dc->buckets[i];
                while (d) {
                        struct ext4i_dentry *next = d->next;
                        free(d);
                        d = next;
                }
        }
        free(dc->buckets);
        *dc = (struct ext4i_dcache){0};
}

static struct ext4i_dentry **dcache_slot(struct ext4i_dcache *dc, uint32_t dir, const char *name,
                                         size_t len, uint32_t h)
{
        struct ext4i_dentry **p = &dc->buckets[h & (dc->nbuckets - 1)];
        for (; *p; p = &(*p)->next)
                if ((*p)->hash == h && (*p)->dir == dir && (*p)->len == len &&
                    memcmp((*p)->name, name, len) == 0)
                        return p;
        return p;
}

static struct ext4i_dentry *dcache_find(struct ext4i_dcache *dc, uint32_t dir, const char *name,
                                        size_t len)
{
        if (!dc->nbuckets)
                return NULL;
        return *dcache_slot(dc, dir, name, len, dhash(dir, name, len));
}

static int dcache_grow(struct ext4i_dcache *dc)
{
        size_t nb = dc->nbuckets ? dc->nbuckets * 2 : 1024;
        struct ext4i_dentry **b = calloc(nb, sizeof(*b));
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < dc->nbuckets; i++) {
                struct ext4i_dentry *d = dc->buckets[i];
                while (d) {
                        struct ext4i_dentry *next = d->next;
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
int ext4i_dcache_put(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len,
                     uint32_t ino, uint8_t ftype, uint64_t blk)
{
        if (dc->n >= dc->nbuckets && dcache_grow(dc) < 0)
                return -ENOMEM;
        uint32_t h = dhash(dir, name, len);
        struct ext4i_dentry **p = dcache_slot(dc, dir, name, len, h);
        if (*p) {
                (*p)->ino = ino;
                (*p)->ftype = ftype;
                (*p)->blk = blk;
                return 0;
        }
        struct ext4i_dentry *d = malloc(sizeof(*d) + len);
        if (!d)
                return -ENOMEM;
        *d = (struct ext4i_dentry){
            .blk = blk, .dir = dir, .ino = ino, .hash = h, .ftype = ftype, .len = len};
        memcpy(d->name, name, len);
        *p = d;
        dc->n++;
        return 0;
}

void ext4i_dcache_del(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len)
{
        if (!dc->nbuckets)
                return;
        struct ext4i_dentry **p = dcache_slot(dc, dir, name, len, dhash(dir, name, len));
        if (*p) {
                struct ext4i_dentry *d = *p;
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
        if (ext4i_dirent_is_dot(de))
                return 0;
        c->r = ext4i_dcache_put(&c->e->dc, dir, de->name, len, de->inode,
                                ext2fs_dirent_file_type(de), 0);
        return c->r < 0 ? DIRENT_ABORT : 0;
}

static int dcache_load(struct ext4_fs *e, ext2_ino_t dir, struct bg_error *err)
{
        if (dcache_find(&e->dc, dir, "", 0))
                return 0;
        struct load_ctx c = {.e = e};
        errcode_t r = ext2fs_dir_iterate2(e->fs, dir, 0, NULL, load_proc, &c);
        if (r)
                return ext4i_fail(err, r, "read directory inode %u", dir);
        if (c.r < 0)
                return bg_error_set(err, -c.r, "cache directory inode %u: out of memory", dir);
        if (ext4i_dcache_put(&e->dc, dir, "", 0, dir, 0, 0) < 0)
                return bg_error_set(err, ENOMEM, "cache directory inode %u: out of memory", dir);
        return 0;
}

uint64_t ext4i_dcache_block(struct ext4i_dcache *dc, uint32_t dir, const char *name, size_t len)
{
        struct ext4i_dentry *d = dcache_find(dc, dir, name, len);
        return d ? d->blk : 0;
}

/* Look up name in dir through the cache. 0, -ENOENT or another error. */
int ext4i_dcache_lookup(struct ext4_fs *e, ext2_ino_t dir, const char *name, size_t len,
                        ext2_ino_t *ret_ino, int *ret_ftype, struct bg_error *err)
{
        int r = dcache_load(e, dir, err);
        if (r < 0)
                return r;
        struct ext4i_dentry *d = dcache_find(&e->dc, dir, name, len);
        if (!d)
                return -ENOENT;
        *ret_ino = d->ino;
        *ret_ftype = d->ftype;
        return 0;
}
