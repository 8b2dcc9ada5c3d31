#include "vmm/vmm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/pidfile.h"
#include "util/run.h"
#include "util/timeutil.h"

int vmm_find_binary(const char *name, char *buf, size_t len)
{
        return find_program(name, VMM_BINARY_EXTRA_DIRS, buf, len);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawn_file_actions_t *, posix_spawn_file_actions_destroy);
DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawnattr_t *, posix_spawnattr_destroy);

int vmm_spawn(char *const argv[], const char *log_path, pid_t *ret_pid)
{
        return vmm_spawn_console(argv, log_path, -1, ret_pid);
}

int vmm_spawn_console(char *const argv[], const char *log_path, int out_fd, pid_t *ret_pid)
{
        if (out_fd >= 0 && out_fd <= STDERR_FILENO)
                return -EINVAL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r)
                return -r;
        _cleanup_(posix_spawn_file_actions_destroyp) _unused_ posix_spawn_file_actions_t *fap = &fa;
        r = posix_spawnattr_init(&attr);
        if (r)
                return -r;
        _cleanup_(posix_spawnattr_destroyp) _unused_ posix_spawnattr_t *attrp = &attr;

        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        if ((r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) ||
            (r = posix_spawn_file_actions_addopen(
                 &fa, STDERR_FILENO, log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0600)) ||
            (r = out_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO)
                             : posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO)) ||
            (r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1)) ||
            (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF)) ||
            (r = posix_spawnattr_setsigmask(&attr, &none)) ||
            (r = posix_spawnattr_setsigdefault(&attr, &all)))
                return -r;
        pid_t pid;
        /* glibc's posix_spawn reports a failed exec as its return value. */
        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
        if (r)
                return -r;
        *ret_pid = pid;
        return 0;
}

int vmm_proc_alive(pid_t pid, uint64_t start_time)
{
        uint64_t st;
        if (pid <= 0 || proc_start_time(pid, &st) < 0)
                return 0;
        return st == start_time;
}

/* A pidfd of pid, checked to still be the process with start_time (0: any):
 * once open it pins the process, so the check cannot go stale. -ESRCH when
 * it is gone, other -errno when pidfds are unavailable. */
static int pidfd_checked(pid_t pid, uint64_t start_time)
{
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno;
        uint64_t st;
        if (proc_start_time(pid, &st) < 0 || (start_time && st != start_time)) {
                close(fd);
                return -ESRCH;
        }
        return fd;
}

static bool gone(pid_t pid, uint64_t start_time)
{
        uint64_t st;
        return proc_start_time(pid, &st) < 0 || (start_time && st != start_time);
}

int vmm_proc_kill(pid_t pid, uint64_t start_time, uint64_t timeout_ms, bool reap)
{
        if (pid <= 0)
                return -EINVAL;
        _cleanup_close_ int pidfd = pidfd_checked(pid, start_time);
        if (pidfd == -ESRCH) {
                if (reap)
                        (void)proc_reap(pid, 0);
                return 0;
        }
        if (pidfd >= 0) {
                if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                        return -errno;
        } else {
                if (gone(pid, start_time))
                        return 0;
                if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                        return -errno;
        }
        uint64_t deadline = now_mono_msec() + timeout_ms;
        for (;;) {
                if (pidfd >= 0) {
                        /* Readable once the whole thread group has exited. */
                        uint64_t now = now_mono_msec();
                        struct pollfd p = {.fd = pidfd, .events = POLLIN};
                        int r = poll(&p, 1, now >= deadline ? 0 : (int)(deadline - now));
                        if (r > 0)
                                break;
                        if (r < 0 && errno != EINTR)
                                return -errno;
                } else {
                        if (gone(pid, start_time))
                                break;
                        sleep_msec(10);
                }
                if (now_mono_msec() >= deadline) {
                        if (!gone(pid, start_time))
                                return -ETIMEDOUT;
                        break;
                }
        }
        if (reap)
                (void)proc_reap(pid, 2000);
        return 0;
}

int vmm_proc_cmdline(pid_t pid, char **ret, size_t *ret_len)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        size_t cap = 8192, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len + 1 >= cap) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        cap *= 2;
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int vmm_proc_verify(pid_t pid, uint64_t start_time, const char *vmm, const char *exe, bool exact,
                    struct bg_error *err)
{
        uint64_t now_start;
        int r = proc_start_time(pid, &now_start);
        if (r == -ESRCH)
                return bg_error_set(err, ESRCH, "%s (pid %d) is gone", vmm, (int)pid);
        if (r < 0)
                return bg_error_errno(err, r, "read /proc/%d/stat", (int)pid);
        if (now_start != start_time)
                return bg_error_set(err, ESRCH,
                                    "%s (pid %d) is gone: the pid now belongs to another process "
                                    "(start time %" PRIu64 ", recorded %" PRIu64 ")",
                                    vmm, (int)pid, now_start, start_time);

        char link[64], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return bg_error_set(err, ESRCH,
                                    "pid %d: cannot read its executable (%s), not adopting",
                                    (int)pid, strerror(errno));
        target[n] = '\0';
        static const char deleted[] = " (deleted)";
        size_t dl = strlen(deleted);
        if ((size_t)n > dl && streq(target + n - dl, deleted))
                target[n - dl] = '\0';
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (exact ? !streq(base, exe) : strncmp(base, exe, strlen(exe)) != 0)
                return bg_error_set(err, ESRCH, "pid %d runs %s, not %s: not adopting", (int)pid,
                                    target, vmm);
        return 0;
}

int vmm_proc_adopt(const char *pidfile, const char *vmm, const char *exe, bool exact,
                   pid_t *ret_pid, uint64_t *ret_start, struct bg_error *err)
{
        pid_t pid;
        uint64_t start;
        int r = pidfile_read(pidfile, &pid, &start);
        if (r == -ENOENT)
                return bg_error_set(err, ESRCH, "no VMM pidfile %s", pidfile);
        if (r < 0)
                return bg_error_errno(err, r, "read %s", pidfile);
        r = vmm_proc_verify(pid, start, vmm, exe, exact, err);
        if (r < 0)
                return r;
        *ret_pid = pid;
        *ret_start = start;
        return 0;
}
