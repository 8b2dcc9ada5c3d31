#include "update_swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "util/fs.h"
#include "util/macro.h"

#define STAGE_PREFIX ".banger-update-"

/* Root-owned and writable by root alone. */
static int check_root_only(const char *path, const struct stat *st, struct bg_error *err)
{
        if (!S_ISDIR(st->st_mode))
                return bg_error_set(err, ENOTDIR, "%s is not a directory", path);
        if (st->st_uid != 0 || (st->st_mode & 022))
                return bg_error_set(err, EPERM,
                                    "%s is owned by uid %u or writable by others (mode %o): root "
                                    "does not replace binaries in it",
                                    path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
        return 0;
}

/* dir from / by descriptors, each directory root's alone: the final one
 * opened O_RDONLY (for fsync) into *ret. */
static int open_trusted(const char *dir, int *ret, struct bg_error *err)
{
        if (dir[0] != '/')
                return bg_error_set(err, EINVAL, "%s is not an absolute path", dir);
        char walked[PATH_MAX] = "/";
        _cleanup_close_ int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open /");
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat /");
        int r = check_root_only("/", &st, err);
        if (r < 0)
                return r;
        const char *p = dir;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                size_t n = strcspn(p, "/");
                char comp[NAME_MAX + 1];
                if (n > NAME_MAX)
                        return bg_error_set(err, ENAMETOOLONG, "%s: a name is too long", dir);
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                if (streq(comp, ".") || streq(comp, ".."))
                        return bg_error_set(err, EINVAL, "%s: '.' and '..' are not allowed", dir);
                size_t wl = strlen(walked);
                snprintf(walked + wl, sizeof(walked) - wl, "%s%s", wl > 1 ? "/" : "", comp);
                int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        if (errno == ELOOP || errno == ENOTDIR)
                                return bg_error_set(err, EPERM,
                                                    "%s is a symbolic link or not a directory: "
                                                    "root replaces binaries only in a directory "
                                                    "reached without links",
                                                    walked);
                        return bg_error_errno(err, -errno, "open %s", walked);
                }
                close(fd);
                fd = next;
                if (fstat(fd, &st) < 0)
                        return bg_error_errno(err, -errno, "stat %s", walked);
                if ((r = check_root_only(walked, &st, err)) < 0)
                        return r;
        }
        *ret = TAKE_FD(fd);
        return 0;
}

int update_swap_open(const char *dir, unsigned flags, struct update_swap *s, struct bg_error *err)
{
        memset(s, 0, sizeof(*s));
        s->dfd = s->sfd = -1;
        if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir) ||
            strlen(dir) + sizeof(STAGE_PREFIX) + 8 >= sizeof(s->stage))
                return bg_error_set(err, ENAMETOOLONG, "%s: path too long", dir);
        int r;
        if (flags & UPDATE_SWAP_TRUSTED_PATH) {
                if ((r = open_trusted(dir, &s->dfd, err)) < 0)
                        return r;
        } else {
                s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (s->dfd < 0)
                        return bg_error_errno(err, -errno, "%s", dir);
                struct stat st;
                if (fstat(s->dfd, &st) < 0)
                        return bg_error_errno(err, -errno, "stat %s", dir);
                if (geteuid() == 0 && (r = check_root_only(dir, &st, err)) < 0)
                        return r;
        }
        /* mkdtemp, by descriptor. */
        static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (int tries = 0; tries < 16; tries++) {
                unsigned char rnd[6];
                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                        return bg_error_errno(err, -errno, "getrandom");
                char name[sizeof(STAGE_PREFIX) + 6];
                memcpy(name, STAGE_PREFIX, sizeof(STAGE_PREFIX) - 1);
                for (size_t i = 0; i < 6; i++)
                        name[sizeof(STAGE_PREFIX) - 1 + i] = abc[rnd[i] % (sizeof(abc) - 1)];
                name[sizeof(name) - 1] = '\0';
                if (mkdirat(s->dfd, name, 0700) < 0) {
                        if (errno == EEXIST)
                                continue;
                        return bg_error_errno(err, -errno, "create a staging directory in %s", dir);
                }
                snprintf(s->stage, sizeof(s->stage), "%s/%s", dir, name);
                s->sfd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s->sfd < 0)
                        return bg_error_errno(err, -errno, "open %s", s->stage);
                return 0;
        }
        return bg_error_set(err, EEXIST, "cannot find a free staging name in %s", dir);
}

static ssize_t slot(struct update_swap *s, const char *name, bool add)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->names[i], name))
                        return (ssize_t)i;
        if (!add || s->n == UPDATE_MAX_FILES || strlen(name) >= sizeof(s->names[0]) ||
            strchr(name, '/') || name[0] == '.' || !name[0])
                return -1;
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        return (ssize_t)s->n++;
}

int update_swap_stage_fd(struct update_swap *s, const char *name, struct bg_error *err)
{
        ssize_t i = slot(s, name, true);
        if (i < 0 || s->sfd < 0)
                return bg_error_set(err, EINVAL, "cannot stage '%s'", name);
        char n[64];
        snprintf(n, sizeof(n), "new-%s", name);
        int fd = openat(s->sfd, n, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s/%s", s->stage, n);
        s->staged[i] = true;
        return fd;
}

int update_swap_check(struct update_swap *s, const char *name, const char *sha256, uint64_t size,
                      struct bg_error *err)
{
        char n[64], hex[SHA256_HEX_LEN + 1];
        uint64_t got = 0;
        snprintf(n, sizeof(n), "new-%s", name);
        _cleanup_close_ int fd = openat(s->sfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s/%s", s->stage, n);
        int r = sha256_fd_hex(fd, hex, &got, err);
        if (r < 0)
                return r;
        if (got != size)
                return bg_error_set(err, EBADMSG,
                                    "%s: %llu bytes, the signed manifest says %llu: refusing it",
                                    name, (unsigned long long)got, (unsigned long long)size);
        if (!streq(hex, sha256))
                return bg_error_set(err, EBADMSG,
                                    "%s sha256 mismatch: the signed manifest says %s, got %s: "
                                    "refusing it",
                                    name, sha256, hex);
        if (fchmod(fd, 0755) < 0)
                return bg_error_errno(err, -errno, "chmod %s/%s", s->stage, n);
        return 0;
}

int update_swap_rollback(struct update_swap *s, struct bg_error *err)
{
        int ret = 0;
        for (size_t i = s->n; i-- > 0;) {
                if (!s->swapped[i])
                        continue;
                char old[64];
                struct stat st;
                snprintf(old, sizeof(old), "old-%s", s->names[i]);
                if (fstatat(s->sfd, old, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        /* It was not installed before: the new one goes. */
                        if (unlinkat(s->dfd, s->names[i], 0) < 0 && ret == 0)
                                ret = bg_error_errno(err, -errno, "remove %s/%s", s->dir,
                                                     s->names[i]);
                } else if (renameat(s->sfd, old, s->dfd, s->names[i]) < 0) {
                        if (ret == 0)
                                ret = bg_error_errno(err, -errno, "put back %s/%s", s->dir,
                                                     s->names[i]);
                        continue;
                }
                s->swapped[i] = false;
        }
        if (s->dfd >= 0)
                (void)fsync(s->dfd);
        return ret;
}

int update_swap_commit(struct update_swap *s, struct bg_error *err)
{
        for (size_t i = 0; i < s->n; i++) {
                if (!s->staged[i])
                        continue;
                char old[64], nw[64];
                snprintf(old, sizeof(old), "old-%s", s->names[i]);
                snprintf(nw, sizeof(nw), "new-%s", s->names[i]);
                int r = 0;
                if (linkat(s->dfd, s->names[i], s->sfd, old, 0) < 0 && errno != ENOENT)
                        r = bg_error_errno(err, -errno, "keep %s/%s", s->dir, s->names[i]);
                if (r >= 0 && renameat(s->sfd, nw, s->dfd, s->names[i]) < 0)
                        r = bg_error_errno(err, -errno, "install %s/%s", s->dir, s->names[i]);
                if (r < 0) {
                        unlinkat(s->sfd, old, 0);
                        struct bg_error e2 = {0};
                        (void)update_swap_rollback(s, &e2);
                        return r;
                }
                s->swapped[i] = true;
        }
        /* The renames are durable before the services restart on them. */
        (void)fsync(s->dfd);
        return 0;
}

bool update_swap_swapped(const struct update_swap *s)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->swapped[i])
                        return true;
        return false;
}

void update_swap_close(struct update_swap *s)
{
        if (s->sfd >= 0)
                close(s->sfd);
        s->sfd = -1;
        if (s->stage[0] && s->dfd >= 0) {
                struct bg_error e = {0};
                const char *name = strrchr(s->stage, '/');
                (void)rm_rf_at(s->dfd, name ? name + 1 : s->stage, 0, &e);
        }
        s->stage[0] = '\0';
        if (s->dfd >= 0)
                close(s->dfd);
        s->dfd = -1;
}
