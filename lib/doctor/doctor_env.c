/* The parts of the doctor's environment that need nothing but libc. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "util/timeutil.h"

extern char **environ;

static int real_find_program(void *ud, const char *name, char *path, size_t len)
{
        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                snprintf(path, len, "%s", name);
                return 0;
        }
        const char *env = getenv("PATH");
        char dirs[4096];
        /* sbin too: mkfs.ext4 and e2fsck live there and users' PATH often
         * lacks it. */
        snprintf(dirs, sizeof(dirs),
                 "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
                 env && env[0] ? env : "");
        char *save = NULL;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                if (d[0] != '/')
                        continue;
                char p[PATH_MAX];
                int n = snprintf(p, sizeof(p), "%s/%s", d, name);
                if (n < 0 || (size_t)n >= sizeof(p))
                        continue;
                struct stat st;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
                        snprintf(path, len, "%s", p);
                        return 0;
                }
        }
        return -ENOENT;
}

/* Runs argv with a 10 s limit; output (stdout+stderr) into out. */
static int real_run(void *ud, const char *const *argv, char *out, size_t len)
{
        int pfd[2];
        out[0] = '\0';
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
        char *const envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                              "LC_ALL=C", NULL};
        pid_t pid;
        int r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (r != 0) {
                close(pfd[0]);
                return -r;
        }
        size_t got = 0;
        uint64_t deadline = now_mono_msec() + 10000;
        bool killed = false;
        for (;;) {
                uint64_t now = now_mono_msec();
                if (now >= deadline) {
                        kill(pid, SIGKILL);
                        killed = true;
                        break;
                }
                struct pollfd p = {.fd = pfd[0], .events = POLLIN};
                int k = poll(&p, 1, (int)(deadline - now));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        continue;
                char buf[4096];
                ssize_t n = read(pfd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = (size_t)n;
                if (got + take >= len)
                        take = len - 1 - got;
                memcpy(out + got, buf, take);
                got += take;
                out[got] = '\0';
        }
        close(pfd[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (killed)
                return -ETIMEDOUT;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

static int real_kvm_open(void *ud, const char *dev, int *ret_api)
{
        _cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v < 0)
                return -errno;
        *ret_api = v;
        return 0;
}

static int real_dev_open(void *ud, const char *dev)
{
        _cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : 0;
}

static int real_disk_free(void *ud, const char *path, uint64_t *ret)
{
        struct statvfs s;
        if (statvfs(path, &s) < 0)
                return -errno;
        *ret = (uint64_t)s.f_bavail * (uint64_t)s.f_frsize;
        return 0;
}

static int real_lstat(void *ud, const char *path, struct stat *st)
{
        return lstat(path, st) < 0 ? -errno : 0;
}

static int real_read_file(void *ud, const char *path, char **ret)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        if (cap >= (8u << 20)) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap = cap ? cap * 2 : 8192;
                        char *p = realloc(buf, cap);
                        if (!p) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = p;
                }
                size_t n = fread(buf + len, 1, 4096, f);
                len += n;
                if (n < 4096)
                        break;
        }
        if (ferror(f)) {
                free(buf);
                return -EIO;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

void doctor_env_real(struct doctor_env *env)
{
        memset(env, 0, sizeof(*env));
        env->proc_root = "/proc";
        env->is_root = geteuid() == 0;
        env->find_program = real_find_program;
        env->run = real_run;
        env->kvm_open = real_kvm_open;
        env->dev_open = real_dev_open;
        env->disk_free = real_disk_free;
        env->lstat = real_lstat;
        env->read_file = real_read_file;
}
