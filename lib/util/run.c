#include "util/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/timeutil.h"

extern char **environ;

static int check_program(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        return access(path, X_OK) < 0 ? -errno : 0;
}

int find_program_in(const char *name, const char *dirs, char *buf, size_t len)
{
        if (!name || !name[0] || strchr(name, '/'))
                return -ENOENT;
        for (const char *p = dirs; p && *p;) {
                size_t n = strcspn(p, ":");
                char cand[PATH_MAX];
                if (n > 0 && p[0] == '/' &&
                    snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name) < (int)sizeof(cand) &&
                    check_program(cand) == 0)
                        return snprintf(buf, len, "%s", cand) >= (int)len ? -ENAMETOOLONG : 0;
                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

int find_program(const char *name, const char *extra_dirs, char *buf, size_t len)
{
        if (!name || !name[0])
                return -ENOENT;
        if (strchr(name, '/')) {
                int r = check_program(name);
                if (r < 0)
                        return r;
                return snprintf(buf, len, "%s", name) >= (int)len ? -ENAMETOOLONG : 0;
        }
        const char *path = getenv("PATH");
        int r = find_program_in(name, path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin", buf,
                                len);
        if (r == -ENOENT)
                r = find_program_in(name, extra_dirs, buf, len);
        return r;
}

/* environ with env's entries added, replacing the same names. The strings
 * are borrowed; free only the array. */
static char **merged_env(const char *const env[])
{
        size_t n = 0, m = 0;
        while (environ[n])
                n++;
        while (env && env[m])
                m++;
        char **e = calloc(n + m + 1, sizeof(char *));
        if (!e)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                bool replaced = false;
                for (size_t j = 0; j < m && !replaced; j++) {
                        const char *eq = strchr(env[j], '=');
                        size_t kl = eq ? (size_t)(eq - env[j]) + 1 : strlen(env[j]);
                        replaced = strncmp(environ[i], env[j], kl) == 0;
                }
                if (!replaced)
                        e[k++] = environ[i];
        }
        for (size_t j = 0; j < m; j++)
                e[k++] = (char *)env[j];
        return e;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawn_file_actions_t *, posix_spawn_file_actions_destroy);
DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawnattr_t *, posix_spawnattr_destroy);

/* Starts argv with fds[i] (an fd, BG_RUN_INHERIT or BG_RUN_NULL) as its fd
 * i; own_group puts it in a new process group. 0 or -errno. */
static int run_spawn(const char *const argv[], const int fds[3], const struct bg_run_opts *o,
                     bool own_group, pid_t *ret_pid)
{
        static const char *const no_env[] = {NULL};
        /* An fd below 3 that is not already where it goes would be
         * overwritten by an earlier dup2 in the child: move it up first. */
        _cleanup_close_ int moved0 = -1, moved1 = -1, moved2 = -1;
        int *moved[3] = {&moved0, &moved1, &moved2};
        int use[3];
        for (int i = 0; i < 3; i++) {
                use[i] = fds[i];
                if (fds[i] >= 0 && fds[i] < 3 && fds[i] != i) {
                        *moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                        if (*moved[i] < 0)
                                return -errno;
                        use[i] = *moved[i];
                }
        }
        _cleanup_free_ char **merged = NULL;
        char *const *envp;
        if (o && o->env_only) {
                envp = (char *const *)(o->env ? o->env : no_env);
        } else {
                merged = merged_env(o ? o->env : NULL);
                if (!merged)
                        return -ENOMEM;
                envp = merged;
        }

        posix_spawn_file_actions_t fa_store, *fa = &fa_store;
        posix_spawnattr_t attr_store, *attr = &attr_store;
        posix_spawn_file_actions_init(fa);
        _cleanup_(posix_spawn_file_actions_destroyp) _unused_ posix_spawn_file_actions_t *fa_done = fa;
        posix_spawnattr_init(attr);
        _cleanup_(posix_spawnattr_destroyp) _unused_ posix_spawnattr_t *attr_done = attr;
        int r = 0;
        for (int i = 0; i < 3 && r == 0; i++) {
                if (use[i] == BG_RUN_NULL)
                        r = posix_spawn_file_actions_addopen(fa, i, "/dev/null",
                                                             i == 0 ? O_RDONLY : O_WRONLY, 0);
                else if (use[i] >= 0)
                        r = posix_spawn_file_actions_adddup2(fa, use[i], i);
        }
        /* A daemon blocks signals in its threads and ignores SIGPIPE; its
         * children should not. */
        sigset_t none, pipe_only;
        sigemptyset(&none);
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (own_group)
                flags |= POSIX_SPAWN_SETPGROUP;
        if (r == 0)
                r = posix_spawnattr_setsigmask(attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(attr, &pipe_only);
        if (r == 0)
                r = posix_spawnattr_setpgroup(attr, 0);
        if (r == 0)
                r = posix_spawnattr_setflags(attr, flags);
        if (r == 0)
                r = posix_spawnp(ret_pid, argv[0], fa, attr, (char *const *)argv, envp);
        return -r;
}

/* Waits for pid; with timeout_ms, kills its process group once it is
 * exceeded (-ETIMEDOUT). *ret_status: the exit status, or 128 + signal. */
static int run_reap(pid_t pid, unsigned timeout_ms, int *ret_status)
{
        bool killed = false;
        if (timeout_ms) {
                uint64_t deadline = now_mono_msec() + timeout_ms;
                _cleanup_close_ int pfd = pidfd_open(pid, 0);
                for (;;) {
                        uint64_t now = now_mono_msec();
                        if (now >= deadline) {
                                /* Its group when it leads one, else itself. */
                                if (kill(-pid, SIGKILL) < 0)
                                        (void)kill(pid, SIGKILL);
                                killed = true;
                                break;
                        }
                        uint64_t left = deadline - now;
                        if (pfd >= 0) {
                                struct pollfd p = {.fd = pfd, .events = POLLIN};
                                int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
                                if (n > 0)
                                        break; /* exited */
                                if (n < 0 && errno != EINTR)
                                        return -errno;
                        } else {
                                /* No pidfds (kernel < 5.3): poll by waitpid. */
                                int st;
                                pid_t w = waitpid(pid, &st, WNOHANG);
                                if (w == pid) {
                                        *ret_status =
                                            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                                        return 0;
                                }
                                if (w < 0 && errno != EINTR)
                                        return -errno;
                                sleep_msec(left < 10 ? (unsigned)left : 10);
                        }
                }
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        /* Exited by itself just as time ran out: its own status stands. */
        if (killed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
                return -ETIMEDOUT;
        return 0;
}

static void describe_status(struct bg_error *err, const char *prog, int code, const char *detail)
{
        if (code > 128)
                bg_error_set(err, EIO, "%s was killed by signal %d%s%s", prog, code - 128,
                             detail[0] ? ": " : "", detail);
        else
                bg_error_set(err, EIO, "%s failed (exit %d)%s%s", prog, code, detail[0] ? ": " : "",
                             detail);
}

int bg_run_start(const char *const argv[], int in_fd, int out_fd, int err_fd,
                 const struct bg_run_opts *opts, pid_t *ret_pid, struct bg_error *err)
{
        const int fds[3] = {in_fd, out_fd, err_fd};
        int r = run_spawn(argv, fds, opts, opts && opts->timeout_ms > 0, ret_pid);
        if (r < 0)
                return bg_error_errno(err, r, "run %s", argv[0]);
        return 0;
}

int bg_run_reap(pid_t pid, const char *name, unsigned timeout_ms, struct bg_error *err)
{
        int code;
        int r = run_reap(pid, timeout_ms, &code);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT, "%s did not finish within %u ms and was killed",
                                    name, timeout_ms);
        if (r < 0)
                return bg_error_errno(err, r, "wait for %s", name);
        if (code != 0)
                describe_status(err, name, code, "");
        return code;
}

int bg_run_wait(const char *const argv[], int in_fd, int out_fd, int err_fd,
                const struct bg_run_opts *opts, struct bg_error *err)
{
        pid_t pid;
        int r = bg_run_start(argv, in_fd, out_fd, err_fd, opts, &pid, err);
        if (r < 0)
                return r;
        return bg_run_reap(pid, argv[0], opts ? opts->timeout_ms : 0, err);
}

int bg_run_capture(const char *const argv[], const char *const env[], char **out, size_t *len,
                   size_t max, struct bg_error *err)
{
        int op[2] = {-1, -1}, ep[2] = {-1, -1};
        if (out)
                *out = NULL;
        if (len)
                *len = 0;
        if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
                int e = errno;
                if (op[0] >= 0)
                        close(op[0]), close(op[1]);
                return bg_error_errno(err, -e, "pipe");
        }
        const int fds[3] = {BG_RUN_NULL, op[1], ep[1]};
        pid_t pid;
        int r = run_spawn(argv, fds, &(struct bg_run_opts){.env = env}, false, &pid);
        close(op[1]);
        close(ep[1]);
        if (r < 0) {
                close(op[0]);
                close(ep[0]);
                return bg_error_errno(err, r, "run %s", argv[0]);
        }
        char *buf = NULL, ebuf[512];
        size_t blen = 0, elen = 0, cap = 0;
        bool big = false;
        struct pollfd p[2] = {{.fd = op[0], .events = POLLIN}, {.fd = ep[0], .events = POLLIN}};
        int open_fds = 2;
        while (open_fds > 0) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        if (p[i].fd < 0 || !p[i].revents)
                                continue;
                        char tmp[65536];
                        ssize_t n = read(p[i].fd, tmp, sizeof(tmp));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                close(p[i].fd);
                                p[i].fd = -1;
                                open_fds--;
                                continue;
                        }
                        if (i == 1) {
                                size_t take = sizeof(ebuf) - 1 - elen;
                                if (take > (size_t)n)
                                        take = (size_t)n;
                                memcpy(ebuf + elen, tmp, take);
                                elen += take;
                        } else if (!out || big) {
                                continue;
                        } else if (blen + (size_t)n > max) {
                                big = true;
                        } else {
                                if (blen + (size_t)n + 1 > cap) {
                                        cap = (blen + (size_t)n + 1) * 2;
                                        char *nb = realloc(buf, cap);
                                        if (!nb) {
                                                big = true;
                                                continue;
                                        }
                                        buf = nb;
                                }
                                memcpy(buf + blen, tmp, (size_t)n);
                                blen += (size_t)n;
                        }
                }
        }
        for (int i = 0; i < 2; i++)
                if (p[i].fd >= 0)
                        close(p[i].fd);
        int code;
        r = run_reap(pid, 0, &code);
        if (r < 0) {
                free(buf);
                return bg_error_errno(err, r, "wait for %s", argv[0]);
        }
        ebuf[elen] = '\0';
        while (elen && (ebuf[elen - 1] == '\n' || ebuf[elen - 1] == ' '))
                ebuf[--elen] = '\0';
        if (big) {
                free(buf);
                return bg_error_set(err, E2BIG, "%s wrote more than %zu bytes", argv[0], max);
        }
        if (code != 0)
                describe_status(err, argv[0], code, ebuf);
        if (out) {
                if (!buf)
                        buf = calloc(1, 1);
                else
                        buf[blen] = '\0';
                *out = buf;
        } else {
                free(buf);
        }
        if (len)
                *len = blen;
        return code;
}

int bg_run_head(const char *const argv[], const struct bg_run_opts *opts, bool with_stderr,
                char *buf, size_t len, struct bg_error *err)
{
        if (len > 0)
                buf[0] = '\0';
        int fd = memfd_create("bg-run-output", MFD_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "memfd_create");
        int r = bg_run_wait(argv, BG_RUN_NULL, fd, with_stderr ? fd : BG_RUN_NULL, opts, err);
        if (len > 0) {
                ssize_t n = pread(fd, buf, len - 1, 0);
                buf[n > 0 ? (size_t)n : 0] = '\0';
        }
        close(fd);
        return r;
}
