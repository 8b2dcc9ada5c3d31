#include "kernel_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths/paths.h"
#include "util/fileio.h"
#include "util/macro.h"
#include "util/run.h"

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
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        int r = atomic_file_open(dst, &out, err);
        if (r < 0)
                return r;
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return bg_error_set(err, errno, "read %s: %s", src, strerror(errno));
                if (n == 0)
                        break;
                r = loop_write(out.fd, buf, (size_t)n);
                if (r < 0)
                        return bg_error_errno(err, r, "write %s", dst);
        }
        return atomic_file_commit(&out, 0644, err);
}

struct usage {
        uint64_t bytes, entries;
};

static int usage_entry(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                       struct bg_error *err)
{
        struct usage *u = userdata;
        if (post)
                return 0;
        u->entries++;
        if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
                u->bytes += ((uint64_t)st->st_size + 4095) & ~(uint64_t)4095;
        else if (S_ISDIR(st->st_mode))
                u->bytes += 4096;
        return 0;
}

int kernel_tree_usage(const char *dir, uint64_t *ret_bytes, uint64_t *ret_entries,
                      struct bg_error *err)
{
        struct usage u = {0};
        int r = fs_walk_at(AT_FDCWD, dir, usage_entry, &u, err);
        if (r < 0)
                return r;
        *ret_bytes = u.bytes;
        *ret_entries = u.entries;
        return 0;
}

int kernel_run_depmod(const char *basedir, const char *outdir, const char *release,
                      struct bg_error *err)
{
        char prog[PATH_MAX];
        if (find_program("depmod", "/usr/sbin:/sbin:/usr/bin:/bin", prog, sizeof(prog)) < 0)
                return bg_error_set(err, ENOENT,
                                    "depmod not found (install the kmod package); "
                                    "it is needed to order the kernel modules");
        _cleanup_close_ int efd = memfd_create("depmod-stderr", MFD_CLOEXEC);
        if (efd < 0)
                return bg_error_errno(err, -errno, "create a buffer for depmod's errors");

        const char *argv[8];
        int k = 0;
        argv[k++] = prog;
        argv[k++] = "-b";
        argv[k++] = basedir;
        if (outdir) {
                argv[k++] = "-o";
                argv[k++] = outdir;
        }
        argv[k++] = release;
        argv[k] = NULL;
        int r = bg_run_wait(argv, BG_RUN_NULL, BG_RUN_NULL, efd, NULL, err);
        if (r <= 0)
                return r;
        char msg[160] = "";
        ssize_t n = pread(efd, msg, sizeof(msg) - 1, 0);
        if (n > 0) {
                msg[n] = '\0';
                msg[strcspn(msg, "\n")] = '\0';
        }
        return bg_error_set(err, EIO, "depmod for %s failed (%s %d)%s%s", release,
                            r > 128 ? "signal" : "exit", r > 128 ? r - 128 : r, msg[0] ? ": " : "",
                            msg);
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
