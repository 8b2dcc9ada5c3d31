#include "oci_rootfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINKS 40
#define RESOLVE_MAX 8192

int oci_rootfs_resolve(struct ext4_fs *fs, const char *path, char **ret_path,
                       struct ext4_stat *ret_st, struct bg_error *err)
{
        /* `todo` holds the components still to walk, `done` the resolved
         * prefix (only real directories, except the final component). */
        _cleanup_free_ char *todo = malloc(RESOLVE_MAX);
        _cleanup_free_ char *done = malloc(RESOLVE_MAX);
        if (!todo || !done)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (strlen(path) >= RESOLVE_MAX)
                return bg_error_set(err, ENAMETOOLONG, "path '%.80s...' too long", path);
        strcpy(todo, path);
        done[0] = '\0';
        size_t pos = 0;
        int links = 0;
        struct ext4_stat st = {.mode = S_IFDIR | 0755};
        for (;;) {
                while (todo[pos] == '/')
                        pos++;
                if (!todo[pos])
                        break;
                size_t n = strcspn(todo + pos, "/");
                char comp[256];
                if (n > 255)
                        return bg_error_set(err, ENAMETOOLONG, "'%.80s': name too long", path);
                memcpy(comp, todo + pos, n);
                comp[n] = '\0';
                pos += n;
                if (strcmp(comp, ".") == 0)
                        continue;
                if (strcmp(comp, "..") == 0) {
                        char *s = strrchr(done, '/');
                        if (s)
                                *s = '\0';
                        else
                                done[0] = '\0';
                        st = (struct ext4_stat){.mode = S_IFDIR | 0755};
                        continue;
                }
                size_t before = strlen(done);
                if (before + 1 + n + 1 > RESOLVE_MAX)
                        return bg_error_set(err, ENAMETOOLONG, "'%.80s': path too long", path);
                size_t dl = before;
                if (dl)
                        done[dl++] = '/';
                memcpy(done + dl, comp, n + 1);
                int r = ext4_lookup(fs, done, &st, NULL);
                if (r < 0) {
                        /* the prefix holds only real directories: this component is it */
                        return bg_error_set(err, -r, "'%.100s': '%.100s' %s", path, done,
                                            r == -ENOENT ? "does not exist" : strerror(-r));
                }
                if (S_ISLNK(st.mode)) {
                        if (++links > MAX_LINKS)
                                return bg_error_set(err, ELOOP, "'%.100s': too many symlinks",
                                                    path);
                        _cleanup_free_ char *target = NULL;
                        r = ext4_readlink(fs, done, &target, err);
                        if (r < 0)
                                return r;
                        done[before] = '\0'; /* the link is replaced by its target */
                        if (target[0] == '/')
                                done[0] = '\0';
                        size_t tl = strlen(target), rest = strlen(todo + pos);
                        if (tl + 1 + rest + 1 > RESOLVE_MAX)
                                return bg_error_set(err, ENAMETOOLONG, "'%.80s': path too long",
                                                    path);
                        memmove(todo + tl + 1, todo + pos, rest + 1);
                        memcpy(todo, target, tl);
                        todo[tl] = '/';
                        pos = 0;
                        st = (struct ext4_stat){.mode = S_IFDIR | 0755};
                        continue;
                }
                /* more components follow: must be a directory */
                const char *rest = todo + pos;
                while (*rest == '/')
                        rest++;
                if (*rest && !S_ISDIR(st.mode))
                        return bg_error_set(err, ENOTDIR, "'%.100s': '%.100s' is not a directory",
                                            path, done);
        }
        int r = ext4_lookup(fs, done[0] ? done : "/", &st, err);
        if (r < 0)
                return r;
        if (ret_st)
                *ret_st = st;
        if (ret_path)
                *ret_path = TAKE_PTR(done);
        return 0;
}

static bool executable_at(struct ext4_fs *fs, const char *path, char **resolved)
{
        struct ext4_stat st;
        if (oci_rootfs_resolve(fs, path, resolved, &st, NULL) < 0)
                return false;
        if (S_ISREG(st.mode) && (st.mode & 0111))
                return true;
        free(*resolved);
        *resolved = NULL;
        return false;
}

int oci_rootfs_inspect(struct ext4_fs *fs, struct oci_rootfs_info *ret, struct bg_error *err)
{
        static const char *const inits[] = {"/sbin/init", "/lib/systemd/systemd",
                                            "/usr/lib/systemd/systemd", "/usr/sbin/init"};
        static const char *const sshds[] = {"/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"};
        struct oci_rootfs_info info = {0};
        struct ext4_stat root;
        int r = ext4_lookup(fs, "/", &root, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(inits) && !info.has_init; i++) {
                _cleanup_free_ char *res = NULL;
                if (executable_at(fs, inits[i], &res)) {
                        info.has_init = true;
                        snprintf(info.init_path, sizeof(info.init_path), "%s", inits[i]);
                        const char *base = strrchr(res, '/');
                        info.has_systemd = strcmp(base ? base + 1 : res, "systemd") == 0;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(sshds) && !info.has_sshd; i++) {
                _cleanup_free_ char *res = NULL;
                if (executable_at(fs, sshds[i], &res)) {
                        info.has_sshd = true;
                        snprintf(info.sshd_path, sizeof(info.sshd_path), "%s", sshds[i]);
                }
        }
        *ret = info;
        return 0;
}
