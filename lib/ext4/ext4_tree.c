/* ext4_add_tree: copy a host directory tree into an image. */
#include "ext4.h"
#include "ext4_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define COPY_BUF_SIZE (1u << 20)

struct hl {
        dev_t dev;
        ino_t ino;
        uint32_t image_ino;
};

struct tree_ctx {
        struct ext4_fs *fs;
        const struct ext4_tree_opts *opts;
        void *hardlinks; /* tsearch tree of struct hl */
        char *buf;       /* COPY_BUF_SIZE */
};

static int hl_cmp(const void *a, const void *b)
{
        const struct hl *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static struct ext4_meta meta_of(const struct tree_ctx *c, const struct stat *st)
{
        struct ext4_meta m = {
            .mode = st->st_mode,
            .uid = c->opts->override_owner ? c->opts->uid : st->st_uid,
            .gid = c->opts->override_owner ? c->opts->gid : st->st_gid,
            .atime = st->st_atim,
            .mtime = st->st_mtim,
            .ctime = st->st_ctim,
        };
        return m;
}

/* Copy the xattrs the host lets us read; unreadable ones are skipped. */
static int copy_xattrs(struct tree_ctx *c, const char *host, const char *image,
                       struct bg_error *err)
{
        if (c->opts->no_xattrs)
                return 0;
        ssize_t n = llistxattr(host, NULL, 0);
        if (n <= 0)
                return 0; /* none, or not supported / permitted here */
        _cleanup_free_ char *names = malloc((size_t)n);
        if (!names)
                return bg_error_set(err, ENOMEM, "out of memory");
        n = llistxattr(host, names, (size_t)n);
        if (n <= 0)
                return 0;
        for (char *k = names; k < names + n; k += strlen(k) + 1) {
                ssize_t vn = lgetxattr(host, k, NULL, 0);
                if (vn < 0)
                        continue;
                _cleanup_free_ char *val = malloc(vn > 0 ? (size_t)vn : 1);
                if (!val)
                        return bg_error_set(err, ENOMEM, "out of memory");
                vn = lgetxattr(host, k, val, (size_t)vn);
                if (vn < 0)
                        continue;
                int r = ext4_set_xattr(c->fs, image, k, val, (size_t)vn, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int copy_file(struct tree_ctx *c, const char *host, const char *image, const struct stat *st,
                     struct bg_error *err)
{
        _cleanup_close_ int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open '%s'", host);
        struct ext4_meta m = meta_of(c, st);
        struct ext4_file *f = NULL;
        int r = ext4_file_create(c->fs, image, &m, &f, err);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(fd, c->buf, COPY_BUF_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = bg_error_errno(err, -errno, "read '%s'", host);
                        break;
                }
                if (n == 0)
                        break;
                r = ext4_file_write(f, c->buf, (size_t)n, err);
                if (r < 0)
                        break;
        }
        int r2 = ext4_file_close(f, err);
        return r < 0 ? r : r2;
}

static int add_entry(struct tree_ctx *c, const char *host, const char *image, struct bg_error *err);

static int add_dir_children(struct tree_ctx *c, const char *host, const char *image,
                            struct bg_error *err)
{
        /* Read the names first and close the directory, so deep trees do not
         * hold one descriptor per level. */
        DIR *d = opendir(host);
        if (!d)
                return bg_error_errno(err, -errno, "open directory '%s'", host);
        char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno)
                                r = bg_error_errno(err, -errno, "read directory '%s'", host);
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 32;
                        char **v = realloc(names, ncap * sizeof(*v));
                        if (!v) {
                                r = bg_error_set(err, ENOMEM, "out of memory");
                                break;
                        }
                        names = v;
                        cap = ncap;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                n++;
        }
        closedir(d);
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *h = NULL, *im = NULL;
                bool root = streq(image, "/") || image[0] == '\0';
                if (asprintf(&h, "%s/%s", host, names[i]) < 0 ||
                    asprintf(&im, "%s/%s", root ? "" : image, names[i]) < 0) {
                        h = im = NULL;
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                r = add_entry(c, h, im, err);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static int add_entry(struct tree_ctx *c, const char *host, const char *image, struct bg_error *err)
{
        struct stat st;
        if (lstat(host, &st) < 0)
                return bg_error_errno(err, -errno, "stat '%s'", host);
        struct ext4_meta m = meta_of(c, &st);
        int r;
        switch (st.st_mode & S_IFMT) {
        case S_IFDIR: {
                struct ext4_stat have;
                struct bg_error ign = {0};
                if (c->opts->keep_existing_dirs && ext4_lookup(c->fs, image, &have, &ign) == 0 &&
                    S_ISDIR(have.mode))
                        return add_dir_children(c, host, image, err);
                r = ext4_mkdir(c->fs, image, &m, err);
                if (r >= 0)
                        r = copy_xattrs(c, host, image, err);
                if (r >= 0)
                        r = add_dir_children(c, host, image, err);
                return r;
        }
        case S_IFREG:
                if (st.st_nlink > 1) {
                        struct hl key = {.dev = st.st_dev, .ino = st.st_ino};
                        struct hl **found = tfind(&key, &c->hardlinks, hl_cmp);
                        if (found)
                                return ext4_link_inode(c->fs, image, (*found)->image_ino, err);
                }
                r = copy_file(c, host, image, &st, err);
                break;
        case S_IFLNK: {
                _cleanup_free_ char *target = malloc(PATH_MAX);
                if (!target)
                        return bg_error_set(err, ENOMEM, "out of memory");
                ssize_t n = readlink(host, target, PATH_MAX - 1);
                if (n < 0)
                        return bg_error_errno(err, -errno, "read symlink '%s'", host);
                target[n] = '\0';
                r = ext4_symlink(c->fs, image, target, &m, err);
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
        case S_IFSOCK:
                if (st.st_nlink > 1) {
                        struct hl key = {.dev = st.st_dev, .ino = st.st_ino};
                        struct hl **found = tfind(&key, &c->hardlinks, hl_cmp);
                        if (found)
                                return ext4_link_inode(c->fs, image, (*found)->image_ino, err);
                }
                r = ext4_mknod(c->fs, image, &m, st.st_rdev, err);
                break;
        default:
                return bg_error_set(err, EINVAL, "'%s' has an unknown file type %o", host,
                                    st.st_mode & S_IFMT);
        }
        if (r < 0)
                return r;
        r = copy_xattrs(c, host, image, err);
        if (r < 0)
                return r;
        if (st.st_nlink > 1 && !S_ISLNK(st.st_mode)) {
                struct ext4_stat est;
                r = ext4_lookup(c->fs, image, &est, err);
                if (r < 0)
                        return r;
                struct hl *h = malloc(sizeof(*h));
                if (!h)
                        return bg_error_set(err, ENOMEM, "out of memory");
                *h = (struct hl){.dev = st.st_dev, .ino = st.st_ino, .image_ino = est.ino};
                if (!tsearch(h, &c->hardlinks, hl_cmp)) {
                        free(h);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        return 0;
}

int ext4_add_tree(struct ext4_fs *fs, const char *host_dir, const char *image_dir,
                  const struct ext4_tree_opts *opts, struct bg_error *err)
{
        static const struct ext4_tree_opts defaults = {0};
        struct stat st;
        if (lstat(host_dir, &st) < 0)
                return bg_error_errno(err, -errno, "stat '%s'", host_dir);
        if (!S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOTDIR, "'%s' is not a directory", host_dir);
        struct tree_ctx c = {.fs = fs, .opts = opts ? opts : &defaults};
        c.buf = malloc(COPY_BUF_SIZE);
        if (!c.buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r = add_entry(&c, host_dir, image_dir, err);
        tdestroy(c.hardlinks, free);
        free(c.buf);
        if (r < 0)
                return bg_error_prefix(err, "copy '%s' into the image", host_dir);
        return 0;
}
