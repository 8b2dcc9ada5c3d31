/* ext4_copy_tree: copy a directory tree from one image into another. */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ext4.h"
#include "ext4_internal.h"
#include "util/macro.h"

#define COPY_MAX_DEPTH 256

struct copied_link {
        uint32_t src_ino;
        char *dst_path; /* the first name the inode got in dst */
};

struct copy_ctx {
        struct ext4_fs *src, *dst;
        const struct ext4_copy_opts *opts;
        uint64_t bytes, entries;
        void *links; /* tsearch tree of struct copied_link */
};

static int link_cmp(const void *a, const void *b)
{
        const struct copied_link *x = a, *y = b;
        return x->src_ino < y->src_ino ? -1 : x->src_ino > y->src_ino;
}

static void link_free(void *p)
{
        struct copied_link *l = p;
        free(l->dst_path);
        free(l);
}

static struct ext4_meta meta_of(const struct ext4_stat *st)
{
        return (struct ext4_meta){.mode = st->mode,
                                  .uid = st->uid,
                                  .gid = st->gid,
                                  .atime = st->atime,
                                  .mtime = st->mtime,
                                  .ctime = st->ctime};
}

struct xattr_to {
        struct ext4_fs *dst;
        const char *path;
};

static int set_one_xattr(void *ud, const char *name, const void *value, size_t len,
                         struct bg_error *err)
{
        struct xattr_to *x = ud;
        /* inline data is the file system's business, not an attribute */
        if (strcmp(name, "system.data") == 0)
                return 0;
        return ext4_set_xattr(x->dst, x->path, name, value, len, err);
}

static int copy_xattrs(struct copy_ctx *c, const char *spath, const char *dpath,
                       struct bg_error *err)
{
        struct xattr_to x = {.dst = c->dst, .path = dpath};
        return ext4_xattrs_each(c->src, spath, set_one_xattr, &x, err);
}

static int write_chunk(void *ud, const void *buf, size_t len, struct bg_error *err)
{
        return ext4_file_write(ud, buf, len, err);
}

static int count(struct copy_ctx *c, uint64_t bytes, const char *path, struct bg_error *err)
{
        c->entries++;
        c->bytes += bytes;
        if (c->opts->max_entries && c->entries > c->opts->max_entries)
                return bg_error_set(err, EFBIG, "more than %llu entries to copy (at '%s')",
                                    (unsigned long long)c->opts->max_entries, path);
        if (c->opts->max_bytes && c->bytes > c->opts->max_bytes)
                return bg_error_set(err, EFBIG, "more than %llu bytes of files to copy (at '%s')",
                                    (unsigned long long)c->opts->max_bytes, path);
        return 0;
}

static int copy_entry(struct copy_ctx *c, const char *spath, const char *dpath,
                      const struct ext4_stat *st, int depth, struct bg_error *err);

struct walk {
        struct copy_ctx *c;
        const char *spath, *dpath;
        int depth;
        struct bg_error *err;
};

static int copy_child(void *ud, const char *name, const struct ext4_stat *st)
{
        struct walk *w = ud;
        _cleanup_free_ char *s = NULL, *d = NULL;
        bool ss = w->spath[strlen(w->spath) - 1] == '/';
        bool ds = w->dpath[strlen(w->dpath) - 1] == '/';
        if (asprintf(&s, "%s%s%s", w->spath, ss ? "" : "/", name) < 0) {
                s = NULL;
                return bg_error_set(w->err, ENOMEM, "out of memory");
        }
        if (asprintf(&d, "%s%s%s", w->dpath, ds ? "" : "/", name) < 0) {
                d = NULL;
                return bg_error_set(w->err, ENOMEM, "out of memory");
        }
        if (w->depth == 0 && strcmp(name, "lost+found") == 0 && S_ISDIR(st->mode))
                return 0; /* a file system's own, not part of the tree */
        return copy_entry(w->c, s, d, st, w->depth + 1, w->err);
}

static int copy_dir(struct copy_ctx *c, const char *spath, const char *dpath,
                    const struct ext4_stat *st, int depth, struct bg_error *err)
{
        if (depth > COPY_MAX_DEPTH)
                return bg_error_set(err, ELOOP, "'%s' is nested more than %d levels deep", spath,
                                    COPY_MAX_DEPTH);
        struct ext4_meta m = meta_of(st);
        int r = ext4_mkdir(c->dst, dpath, &m, err);
        if (r >= 0)
                r = copy_xattrs(c, spath, dpath, err);
        struct walk w = {.c = c, .spath = spath, .dpath = dpath, .depth = depth, .err = err};
        if (r >= 0)
                r = ext4_readdir(c->src, spath, copy_child, &w, err);
        /* Times again: adding the children touched them. */
        if (r >= 0)
                r = ext4_mkdir(c->dst, dpath, &m, err);
        return r;
}

static int copy_file(struct copy_ctx *c, const char *spath, const char *dpath,
                     const struct ext4_stat *st, struct bg_error *err)
{
        if (st->nlink > 1) {
                struct copied_link key = {.src_ino = st->ino};
                struct copied_link **found = tfind(&key, &c->links, link_cmp);
                if (found)
                        return ext4_hardlink(c->dst, dpath, (*found)->dst_path, err);
        }
        int r = count(c, st->size, spath, err);
        if (r < 0)
                return r;
        struct ext4_meta m = meta_of(st);
        struct ext4_file *f = NULL;
        r = ext4_file_create(c->dst, dpath, &m, &f, err);
        if (r >= 0)
                r = ext4_stream_file(c->src, spath, write_chunk, f, err);
        if (f) {
                int k = ext4_file_close(f, err);
                if (r >= 0)
                        r = k;
        }
        if (r >= 0)
                r = copy_xattrs(c, spath, dpath, err);
        if (r >= 0 && st->nlink > 1) {
                struct copied_link *l = calloc(1, sizeof(*l));
                if (!l || !(l->dst_path = strdup(dpath))) {
                        free(l);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
                l->src_ino = st->ino;
                if (!tsearch(l, &c->links, link_cmp)) {
                        link_free(l);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        return r;
}

static int copy_entry(struct copy_ctx *c, const char *spath, const char *dpath,
                      const struct ext4_stat *st, int depth, struct bg_error *err)
{
        struct ext4_meta m = meta_of(st);
        int r;
        switch (st->mode & S_IFMT) {
        case S_IFDIR:
                r = count(c, 0, spath, err);
                return r < 0 ? r : copy_dir(c, spath, dpath, st, depth, err);
        case S_IFREG:
                return copy_file(c, spath, dpath, st, err);
        case S_IFLNK: {
                _cleanup_free_ char *target = NULL;
                r = count(c, 0, spath, err);
                if (r >= 0)
                        r = ext4_readlink(c->src, spath, &target, err);
                if (r >= 0)
                        r = ext4_symlink(c->dst, dpath, target, &m, err);
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
        case S_IFSOCK:
                r = count(c, 0, spath, err);
                if (r >= 0)
                        r = ext4_mknod(c->dst, dpath, &m, st->rdev, err);
                break;
        default:
                return bg_error_set(err, EINVAL, "'%s' has an unknown file type %o", spath,
                                    st->mode & S_IFMT);
        }
        if (r >= 0 && !S_ISLNK(st->mode))
                r = copy_xattrs(c, spath, dpath, err);
        return r;
}

int ext4_copy_tree(struct ext4_fs *src, const char *src_path, struct ext4_fs *dst,
                   const char *dst_path, const struct ext4_copy_opts *opts, struct bg_error *err)
{
        static const struct ext4_copy_opts none = {0};
        if (!src || !dst || src == dst)
                return bg_error_set(err, EINVAL, "copy needs two different images");
        struct ext4_stat st;
        int r = ext4_lookup(src, src_path, &st, err);
        if (r < 0)
                return r;
        if (!S_ISDIR(st.mode))
                return bg_error_set(err, ENOTDIR, "image path '%s' is not a directory", src_path);
        struct copy_ctx c = {.src = src, .dst = dst, .opts = opts ? opts : &none};
        r = copy_dir(&c, src_path, dst_path, &st, 0, err);
        tdestroy(c.links, link_free);
        return r;
}
