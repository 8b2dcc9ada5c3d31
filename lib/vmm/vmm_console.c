#include "vmm/vmm_console.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawn_file_actions_t *, posix_spawn_file_actions_destroy);
DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawnattr_t *, posix_spawnattr_destroy);

static int pump_pidfile(const char *dir, char *buf, size_t len)
{
        return vmm_path(buf, len, dir, VMM_FILE_CONSOLE_PUMP_PID);
}

/* Runs exe as a pump of dir with in as its stdin and dir/vmm.log as its
 * stdout and stderr; waits for the first process, which exits once the
 * detached pump wrote its pidfile. */
static int spawn_pump(const char *exe, const char *dir, uint64_t max, int in,
                      struct bg_error *err)
{
        char log[VMM_PATH_MAX + 16], maxs[24];
        if (vmm_path(log, sizeof(log), dir, VMM_FILE_LOG) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", dir);
        snprintf(maxs, sizeof(maxs), "%" PRIu64, max);
        char *const argv[] = {(char *)exe, (char *)VMM_CONSOLE_PUMP_ARG, (char *)dir, maxs, NULL};

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int r = posix_spawn_file_actions_init(&fa);
        if (r)
                return bg_error_errno(err, -r, "console pump");
        _cleanup_(posix_spawn_file_actions_destroyp) _unused_ posix_spawn_file_actions_t *fap = &fa;
        r = posix_spawnattr_init(&attr);
        if (r)
                return bg_error_errno(err, -r, "console pump");
        _cleanup_(posix_spawnattr_destroyp) _unused_ posix_spawnattr_t *attrp = &attr;
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        if ((r = posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO)) ||
            (r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log,
                                                  O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY |
                                                      O_NOFOLLOW,
                                                  0600)) ||
            (r = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO)) ||
            (r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1)) ||
            (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF)) ||
            (r = posix_spawnattr_setsigmask(&attr, &none)) ||
            (r = posix_spawnattr_setsigdefault(&attr, &all)))
                return bg_error_errno(err, -r, "console pump");
        pid_t pid;
        r = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
        if (r)
                return bg_error_errno(err, -r, "start the console pump %s", exe);
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return bg_error_errno(err, -errno, "wait for the console pump");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return bg_error_set(err, EIO, "the console pump of %s did not start (see %s)", dir,
                                    log);
        return 0;
}

int vmm_console_pump_start(const char *exe, const char *dir, uint64_t max, int *ret_fd,
                           struct bg_error *err)
{
        if (!exe || !exe[0])
                return bg_error_set(err, EINVAL, "no console pump binary");
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "console pipe");
        _cleanup_close_ int rd = p[0];
        _cleanup_close_ int wr = p[1];
        /* The VMM gets it as its stdout: never one of 0..2 here. */
        if (wr <= STDERR_FILENO) {
                int fd = fcntl(wr, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
                if (fd < 0)
                        return bg_error_errno(err, -errno, "console pipe");
                close(wr);
                wr = fd;
        }
        int r = spawn_pump(exe, dir, max, rd, err);
        if (r < 0)
                return r; /* a pump that ran sees end of file: wr is closed */
        *ret_fd = TAKE_FD(wr);
        return 0;
}

int vmm_console_pump_alive(const char *dir)
{
        char path[VMM_PATH_MAX + 32];
        pid_t pid;
        if (pump_pidfile(dir, path, sizeof(path)) < 0)
                return 0;
        return pidfile_check(path, &pid) > 0;
}

int vmm_console_pump_wait(const char *dir, uint64_t timeout_ms)
{
        char path[VMM_PATH_MAX + 32];
        if (pump_pidfile(dir, path, sizeof(path)) < 0)
                return -ENAMETOOLONG;
        uint64_t until = now_mono_msec() + timeout_ms;
        while (vmm_console_pump_alive(dir)) {
                if (now_mono_msec() >= until) {
                        pid_t pid;
                        uint64_t start;
                        if (pidfile_read(path, &pid, &start) == 0) {
                                int r = vmm_proc_kill(pid, start, 2000, false);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
                sleep_msec(20);
        }
        (void)unlink(path);
        return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, buf, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                buf += w;
                n -= (size_t)w;
        }
        return 0;
}

int vmm_console_pump_run(int in, const char *dir, uint64_t max)
{
        char path[VMM_PATH_MAX + 16];
        if (vmm_path(path, sizeof(path), dir, VMM_FILE_CONSOLE) < 0)
                return -ENAMETOOLONG;
        _cleanup_close_ int out =
            open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                fprintf(stderr, "# console pump: open %s: %s; the console is dropped\n", path,
                        strerror(errno));
        struct stat st;
        uint64_t size = out >= 0 && fstat(out, &st) == 0 ? (uint64_t)st.st_size : 0;
        uint64_t keep = max / 2;
        bool told = false;
        /* Small reads: console.log goes past half the cap by at most one. */
        static char buf[VMM_CONSOLE_PUMP_READ];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                if (out < 0)
                        continue;
                /* Over half the cap: rotate first; when that fails the
                 * output is dropped (and rotation tried at the next read),
                 * the file never grows past the cap. */
                if (size > keep) {
                        int r = vmm_log_rotate(dir, VMM_FILE_CONSOLE, max, false);
                        if (r < 0) {
                                if (!told)
                                        fprintf(stderr,
                                                "# console pump: rotate %s: %s; console output "
                                                "is dropped until it can\n",
                                                path, strerror(-r));
                                told = true;
                                continue;
                        }
                        size = fstat(out, &st) == 0 ? (uint64_t)st.st_size : 0;
                }
                int r = write_all(out, buf, (size_t)n);
                if (r < 0 && !told) {
                        fprintf(stderr, "# console pump: write %s: %s\n", path, strerror(-r));
                        told = true;
                }
                size += (uint64_t)n;
        }
}

int vmm_console_pump_main(int argc, char **argv)
{
        if (argc != 4 || strcmp(argv[1], VMM_CONSOLE_PUMP_ARG) != 0) {
                fprintf(stderr, "usage: %s " VMM_CONSOLE_PUMP_ARG " DIR MAX_BYTES\n", argv[0]);
                return 2;
        }
        const char *dir = argv[2];
        char *end;
        errno = 0;
        unsigned long long max = strtoull(argv[3], &end, 10);
        if (errno || *end || max < 2) {
                fprintf(stderr, "# console pump: bad cap '%s'\n", argv[3]);
                return 2;
        }
        char pidfile[VMM_PATH_MAX + 32];
        if (pump_pidfile(dir, pidfile, sizeof(pidfile)) < 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);
        int sync[2];
        if (pipe2(sync, O_CLOEXEC) < 0)
                return 1;
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid > 0) {
                /* The starter waits for this process: it exits once the pump
                 * is known by its pidfile. */
                close(sync[1]);
                char c;
                ssize_t n;
                while ((n = read(sync[0], &c, 1)) < 0 && errno == EINTR)
                        ;
                return n == 1 ? 0 : 1;
        }
        close(sync[0]);
        struct bg_error err = {0};
        if (pidfile_write(pidfile, getpid(), &err) < 0) {
                fprintf(stderr, "# console pump: %s\n", err.msg);
                _exit(1);
        }
        (void)!write(sync[1], "x", 1);
        close(sync[1]);
        int r = vmm_console_pump_run(STDIN_FILENO, dir, max);
        if (r < 0)
                fprintf(stderr, "# console pump: read: %s\n", strerror(-r));
        (void)unlink(pidfile);
        _exit(r < 0 ? 1 : 0);
}
