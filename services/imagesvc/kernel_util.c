#include "kernel_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "paths/paths.h"
#include "util/macro.h"

extern char **environ;

int kernel_copy_file(const char *src, const char *dst, struct bg_error *err)
{
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return bg_error_set(err, errno, "open %s: %s", src, strerror(errno));
        struct stat st;
        if (fstat(in, &st) < 0)
                return bg_error_set(err, errno, "stat %s: %s", src, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s is not a regular file", src);
        (void)unlink(dst);
        _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return bg_error_set(err, errno, "create %s: %s", dst, strerror(errno));
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return bg_error_set(err, errno, "read %s: %s", src, strerror(errno));
                if (n == 0)
                        break;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return bg_error_set(err, errno, "write %s: %s", dst,
                                                    strerror(errno));
                        off += w;
                }
        }
        if (fsync(out) < 0)
                return bg_error_set(err, errno, "write %s: %s", dst, strerror(errno));
        return 0;
}

static int usage_at(int dfd, const char *name, int depth, uint64_t *bytes, uint64_t *entries,
                    struct bg_error *err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return bg_error_set(err, errno, "stat %s: %s", name, strerror(errno));
        (*entries)++;
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
                *bytes += ((uint64_t)st.st_size + 4095) & ~(uint64_t)4095;
        if (!S_ISDIR(st.st_mode))
                return 0;
        if (depth > 64)
                return bg_error_set(err, ELOOP, "%s: tree too deep", name);
        *bytes += 4096;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return bg_error_set(err, errno, "open %s: %s", name, strerror(errno));
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return bg_error_set(err, errno, "open %s: %s", name, strerror(errno));
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = usage_at(dirfd(d), de->d_name, depth + 1, bytes, entries, err);
        closedir(d);
        return r;
}

int kernel_tree_usage(const char *dir, uint64_t *ret_bytes, uint64_t *ret_entries,
                      struct bg_error *err)
{
        uint64_t bytes = 0, entries = 0;
        int r = usage_at(AT_FDCWD, dir, 0, &bytes, &entries, err);
        if (r < 0)
                return r;
        *ret_bytes = bytes;
        *ret_entries = entries;
        return 0;
}

static int find_program(const char *name, char *buf, size_t len)
{
        const char *path = getenv("PATH");
        char dirs[4096];
        snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
        char *save = NULL;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                if (!d[0])
                        continue;
                snprintf(buf, len, "%s/%s", d, name);
                if (access(buf, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

int kernel_run_depmod(const char *basedir, const char *outdir, const char *release,
                      struct bg_error *err)
{
        char prog[PATH_MAX];
        if (find_program("depmod", prog, sizeof(prog)) < 0)
                return bg_error_set(err, ENOENT,
                                    "depmod not found (install the kmod package); "
                                    "it is needed to order the kernel modules");
        char errlog[] = "/tmp/banger-depmod-XXXXXX";
        _cleanup_close_ int efd = mkostemp(errlog, O_CLOEXEC);
        if (efd < 0)
                return bg_error_set(err, errno, "create %s: %s", errlog, strerror(errno));
        unlink(errlog);

        char *argv[8];
        int k = 0;
        argv[k++] = prog;
        argv[k++] = "-b";
        argv[k++] = (char *)basedir;
        if (outdir) {
                argv[k++] = "-o";
                argv[k++] = (char *)outdir;
        }
        argv[k++] = (char *)release;
        argv[k] = NULL;

        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, efd, 2);
        pid_t pid;
        int r = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return bg_error_set(err, r, "run %s: %s", prog, strerror(r));
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return bg_error_set(err, errno, "wait for depmod: %s", strerror(errno));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        char msg[160] = "";
        ssize_t n = pread(efd, msg, sizeof(msg) - 1, 0);
        if (n > 0) {
                msg[n] = '\0';
                msg[strcspn(msg, "\n")] = '\0';
        }
        return bg_error_set(err, EIO, "depmod for %s failed (%s %d)%s%s", release,
                            WIFEXITED(status) ? "exit" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                            msg[0] ? ": " : "", msg);
}

int kernel_agent_path(char *buf, size_t len, struct bg_error *err)
{
        const char *env = getenv("BANGER_AGENT_BINARY");
        if (env && env[0]) {
                if (access(env, R_OK) < 0)
                        return bg_error_set(err, ENOENT, "BANGER_AGENT_BINARY=%s: %s", env,
                                            strerror(errno));
                snprintf(buf, len, "%s", env);
                return 0;
        }
        char self[PATH_MAX];
        int r = bg_paths_self_dir(self, sizeof(self));
        if (r < 0)
                return bg_error_errno(err, r, "readlink /proc/self/exe");
        if (bg_paths_asset(BG_ASSET_AGENT, self, buf, len) == 0)
                return 0;
        return bg_error_set(err, ENOENT,
                            "the guest agent binary banger-agent was not found in %s or "
                            "%s/../guest/agent; reinstall banger (`banger system install`), "
                            "build it, or set BANGER_AGENT_BINARY",
                            self, self);
}

bool kernel_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;
        if (n < 1 || n > 64)
                return false;
        if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int kernel_check_name(const char *what, const char *name, struct bg_error *err)
{
        if (kernel_name_valid(name))
                return 0;
        if (!name || !name[0])
                return bg_error_set(err, EINVAL, "%s is required", what);
        return bg_error_set(err, EINVAL,
                            "%s '%.80s' is not valid: use 1-64 characters of a-z, 0-9, '.', '_' "
                            "and '-', starting with a letter or digit",
                            what, name);
}
