#include "update_swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "util/fs.h"
#include "util/macro.h"

int update_swap_open(const char *dir, struct update_swap *s, struct bg_error *err)
{
        memset(s, 0, sizeof(*s));
        struct stat st;
        if (stat(dir, &st) < 0)
                return bg_error_errno(err, -errno, "%s", dir);
        if (!S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOTDIR, "%s is not a directory", dir);
        if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022)))
                return bg_error_set(err, EPERM,
                                    "%s is owned by uid %u or writable by others (mode %o): root "
                                    "does not replace binaries in it",
                                    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir) ||
            snprintf(s->stage, sizeof(s->stage), "%s/.banger-update-XXXXXX", dir) >=
                (int)sizeof(s->stage))
                return bg_error_set(err, ENAMETOOLONG, "%s: path too long", dir);
        if (!mkdtemp(s->stage)) {
                int r = -errno;
                s->stage[0] = '\0';
                return bg_error_errno(err, r, "create a staging directory in %s", dir);
        }
        return 0;
}

static ssize_t slot(struct update_swap *s, const char *name, bool add)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->names[i], name))
                        return (ssize_t)i;
        if (!add || s->n == UPDATE_MAX_FILES || strlen(name) >= sizeof(s->names[0]) ||
            strchr(name, '/') || name[0] == '.')
                return -1;
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        return (ssize_t)s->n++;
}

int update_swap_stage_fd(struct update_swap *s, const char *name, struct bg_error *err)
{
        ssize_t i = slot(s, name, true);
        if (i < 0)
                return bg_error_set(err, EINVAL, "cannot stage '%s'", name);
        char p[PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/new-%s", s->stage, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s", p);
        s->staged[i] = true;
        return fd;
}

int update_swap_check(struct update_swap *s, const char *name, const char *sha256, uint64_t size,
                      struct bg_error *err)
{
        char p[PATH_MAX + 64], hex[SHA256_HEX_LEN + 1];
        uint64_t got = 0;
        snprintf(p, sizeof(p), "%s/new-%s", s->stage, name);
        int r = sha256_file_hex(p, hex, &got, err);
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
        if (chmod(p, 0755) < 0)
                return bg_error_errno(err, -errno, "chmod %s", p);
        return 0;
}

int update_swap_rollback(struct update_swap *s, struct bg_error *err)
{
        int ret = 0;
        for (size_t i = s->n; i-- > 0;) {
                if (!s->swapped[i])
                        continue;
                char old[PATH_MAX + 64], cur[PATH_MAX + 64];
                snprintf(old, sizeof(old), "%s/old-%s", s->stage, s->names[i]);
                snprintf(cur, sizeof(cur), "%s/%s", s->dir, s->names[i]);
                if (access(old, F_OK) < 0) {
                        /* It was not installed before: the new one goes. */
                        if (unlink(cur) < 0 && ret == 0)
                                ret = bg_error_errno(err, -errno, "remove %s", cur);
                } else if (rename(old, cur) < 0) {
                        if (ret == 0)
                                ret = bg_error_errno(err, -errno, "put back %s", cur);
                        continue;
                }
                s->swapped[i] = false;
        }
        return ret;
}

int update_swap_commit(struct update_swap *s, struct bg_error *err)
{
        for (size_t i = 0; i < s->n; i++) {
                if (!s->staged[i])
                        continue;
                char old[PATH_MAX + 64], cur[PATH_MAX + 64], nw[PATH_MAX + 64];
                snprintf(old, sizeof(old), "%s/old-%s", s->stage, s->names[i]);
                snprintf(cur, sizeof(cur), "%s/%s", s->dir, s->names[i]);
                snprintf(nw, sizeof(nw), "%s/new-%s", s->stage, s->names[i]);
                int r = 0;
                if (link(cur, old) < 0 && errno != ENOENT)
                        r = bg_error_errno(err, -errno, "keep %s", cur);
                if (r >= 0 && rename(nw, cur) < 0)
                        r = bg_error_errno(err, -errno, "install %s", cur);
                if (r < 0) {
                        unlink(old);
                        struct bg_error e2 = {0};
                        (void)update_swap_rollback(s, &e2);
                        return r;
                }
                s->swapped[i] = true;
        }
        /* The renames are durable before the services restart on them. */
        int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        return 0;
}

void update_swap_close(struct update_swap *s)
{
        if (!s->stage[0])
                return;
        struct bg_error e = {0};
        (void)rm_rf(s->stage, &e);
        s->stage[0] = '\0';
}
