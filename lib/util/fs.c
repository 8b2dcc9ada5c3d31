/* Filesystem helpers shared by the services. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "util/macro.h"

#define FS_WALK_MAX_DEPTH 64

static int walk_at(int dfd, const char *name, int depth, fs_walk_fn fn, void *userdata,
                   struct bg_error *err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT && depth > 0)
                        return 0; /* gone meanwhile */
                return bg_error_errno(err, -errno, "stat %s", name);
        }
        int r = fn(dfd, name, &st, false, userdata, err);
        if (r < 0)
                return r;
        if (r == FS_WALK_SKIP || !S_ISDIR(st.st_mode))
                return 0;
        if (depth > FS_WALK_MAX_DEPTH)
                return bg_error_set(err, ELOOP, "%s: tree too deep", name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT && depth > 0)
                        return 0;
                return bg_error_errno(err, -errno, "open %s", name);
        }
        DIR *d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return bg_error_errno(err, r, "open %s", name);
        }
        struct dirent *de;
        while (r >= 0 && (errno = 0, de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = walk_at(dirfd(d), de->d_name, depth + 1, fn, userdata, err);
        if (r >= 0 && errno != 0)
                r = bg_error_errno(err, -errno, "read directory %s", name);
        closedir(d);
        if (r < 0)
                return r;
        return fn(dfd, name, &st, true, userdata, err);
}

int fs_walk_at(int dfd, const char *name, fs_walk_fn fn, void *userdata, struct bg_error *err)
{
        return walk_at(dfd, name, 0, fn, userdata, err);
}

struct rm_ctx {
        unsigned flags;
        bool have_dev;
        dev_t dev; /* the file system of the top */
};

static int rm_entry(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                    struct bg_error *err)
{
        struct rm_ctx *c = userdata;
        bool dir = S_ISDIR(st->st_mode);
        if (!c->have_dev) {
                c->dev = st->st_dev;
                c->have_dev = true;
        }
        if (dir && st->st_dev != c->dev) {
                /* A mount point: never entered, never removed. */
                if (c->flags & RM_RF_KEEP_MOUNTS)
                        return FS_WALK_SKIP;
                return bg_error_set(err, EBUSY, "remove %s: a mount point, not entered", name);
        }
        if (dir != post)
                return 0; /* a directory goes after its children */
        if (unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT)
                return 0;
        if (dir && (c->flags & RM_RF_KEEP_MOUNTS) &&
            (errno == ENOTEMPTY || errno == EEXIST || errno == EBUSY))
                return 0; /* holds a mount point: kept */
        return bg_error_errno(err, -errno, "remove %s", name);
}

int rm_rf_at(int dfd, const char *name, unsigned flags, struct bg_error *err)
{
        /* Only name itself missing makes the walk fail with -ENOENT (entries
         * below that vanish are skipped, and so are their removals). */
        struct rm_ctx c = {.flags = flags};
        int r = fs_walk_at(dfd, name, rm_entry, &c, err);
        if (r == -ENOENT) {
                bg_error_clear(err);
                return 0;
        }
        return r < 0 ? r : 1;
}

int rm_rf_flags(const char *path, unsigned flags, struct bg_error *err)
{
        return rm_rf_at(AT_FDCWD, path, flags, err);
}

int rm_rf(const char *path, struct bg_error *err)
{
        int r = rm_rf_flags(path, 0, err);
        return r < 0 ? r : 0;
}

int mkdir_p(const char *path, unsigned mode)
{
        if (!path || !path[0])
                return -EINVAL;
        char buf[PATH_MAX];
        size_t len = strlen(path);
        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        while (len > 1 && buf[len - 1] == '/')
                buf[--len] = '\0';

        /* Parents, from the top; an existing one must be a directory. */
        for (char *s = buf + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(buf, 0755) < 0) {
                        int e = errno;
                        struct stat st;
                        if (e != EEXIST) {
                                *s = '/';
                                return -e;
                        }
                        if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                *s = '/';
                                return -ENOTDIR;
                        }
                }
                *s = '/';
                while (s[1] == '/')
                        s++;
        }

        if (mkdir(buf, (mode_t)mode) < 0) {
                if (errno != EEXIST)
                        return -errno;
                struct stat st;
                if (stat(buf, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}
