/* The real environment of the doctor: host lookups through lib/util and libc. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "util/macro.h"
#include "util/run.h"

/* sbin too: mkfs.ext4 and e2fsck live there and users' PATH often lacks
 * it. */
static int real_find_program(void *ud, const char *name, char *path, size_t len)
{
        return find_program(name, "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
                            path, len);
}

/* Runs argv with a 10 s limit; output (stdout+stderr) into out. */
static int real_run(void *ud, const char *const *argv, char *out, size_t len)
{
        out[0] = '\0';
        _cleanup_close_ int fd = memfd_create("doctor-run", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        static const char *const envp[] = {
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
        const struct bg_run_opts o = {.env = envp, .env_only = true, .timeout_ms = 10000};
        struct bg_error e = {0};
        int r = bg_run_wait(argv, BG_RUN_NULL, fd, fd, &o, &e);
        ssize_t n = pread(fd, out, len - 1, 0);
        out[n > 0 ? (size_t)n : 0] = '\0';
        return r;
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
