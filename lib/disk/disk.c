#include "disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"
#include "util/run.h"

static const char *const clone_method_names[_DISK_CLONE_METHOD_MAX] = {
    [DISK_CLONE_REFLINK] = "reflink",
    [DISK_CLONE_SPARSE_COPY] = "sparse-copy",
    [DISK_CLONE_QCOW2] = "qcow2-overlay",
};

const char *disk_clone_method_to_string(enum disk_clone_method m)
{
        if ((int)m < 0 || m >= _DISK_CLONE_METHOD_MAX)
                return NULL;
        return clone_method_names[m];
}

int disk_clone_method_from_string(const char *s)
{
        for (int i = 0; s && i < _DISK_CLONE_METHOD_MAX; i++)
                if (strcmp(s, clone_method_names[i]) == 0)
                        return i;
        return -EINVAL;
}

/* Up to len bytes of in at off to out at the same offset, through a
 * buffer. The bytes copied (> 0), 0 at an early end of in, or -errno. */
#define COPY_BUF_SIZE ((size_t)1 << 20)
static ssize_t copy_plain(int in, int out, char *buf, off_t off, off_t len)
{
        const size_t bufsz = COPY_BUF_SIZE;
        size_t want = len < (off_t)bufsz ? (size_t)len : bufsz;
        ssize_t n = pread(in, buf, want, off);
        if (n <= 0)
                return n < 0 ? -errno : 0;
        for (ssize_t done = 0; done < n;) {
                ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);
                if (w < 0)
                        return -errno;
                done += w;
        }
        return n;
}

/* Copies the data extents of in to out, leaving holes as holes. */
static int sparse_copy(int in, int out, off_t size)
{
        bool plain = false; /* copy_file_range is refused: pread/pwrite */
        _cleanup_free_ char *buf = NULL;
        off_t pos = 0;
        if (ftruncate(out, size) < 0)
                return -errno;
        while (pos < size) {
                off_t data = lseek(in, pos, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break; /* only a hole remains */
                        return -errno;
                }
                off_t hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                off_t off_in = data, off_out = data;
                while (off_in < hole) {
                        ssize_t n = -1;
                        if (!plain)
                                n = copy_file_range(in, &off_in, out, &off_out,
                                                    (size_t)(hole - off_in), 0);
                        if (n < 0 && !plain &&
                            (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                             errno == EINVAL)) {
                                /* Across file systems (Linux >= 5.19 refuses most)
                                 * or not offered: read and write. */
                                buf = malloc(COPY_BUF_SIZE);
                                if (!buf)
                                        return -ENOMEM;
                                plain = true;
                                continue;
                        }
                        if (plain)
                                n = copy_plain(in, out, buf, off_in, hole - off_in);
                        if (n < 0)
                                return plain ? (int)n : -errno;
                        if (n == 0)
                                return -EIO;
                        if (plain) {
                                off_in += n;
                                off_out += n;
                        }
                }
                pos = hole;
        }
        return 0;
}

int disk_clone(const char *src, const char *dst, enum disk_clone_method *ret_method,
               struct bg_error *err)
{
        struct stat st;
        enum disk_clone_method method = DISK_CLONE_REFLINK;
        int r;

        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return bg_error_errno(err, -errno, "open %s", src);
        if (fstat(in, &st) < 0)
                return bg_error_errno(err, -errno, "stat %s", src);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s is not a regular file", src);
        if (access(dst, F_OK) == 0)
                return bg_error_set(err, EEXIST, "%s already exists", dst);
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        r = atomic_file_open(dst, &out, err);
        if (r < 0)
                return r;
        if (ioctl(out.fd, FICLONE, in) < 0) {
                method = DISK_CLONE_SPARSE_COPY;
                r = sparse_copy(in, out.fd, st.st_size);
                if (r < 0)
                        return bg_error_errno(err, r, "copy %s to %s", src, dst);
        }
        r = atomic_file_commit(&out, 0600, err);
        if (r < 0)
                return bg_error_prefix(err, "publish %s", dst);
        if (ret_method)
                *ret_method = method;
        return 0;
}

int disk_run(char *const argv[], char *out, size_t len)
{
        /* Output into memory, read back after the exit: no pipe to drain. */
        _cleanup_close_ int fd = memfd_create("disk-run", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = bg_run_wait((const char *const *)argv, BG_RUN_NULL, fd, fd, NULL, NULL);
        if (out && len) {
                ssize_t n = pread(fd, out, len - 1, 0);
                out[n > 0 ? n : 0] = '\0';
        }
        return r;
}

static void chomp(char *s)
{
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = '\0';
}

int disk_qcow2_overlay(const char *qemu_img, const char *base, const char *base_format,
                       const char *dst, struct bg_error *err)
{
        char out[1024];
        if (!streq(base_format, "raw") && !streq(base_format, "qcow2"))
                return bg_error_set(err, EINVAL, "backing format '%s' is not raw or qcow2",
                                    base_format);
        if (base[0] != '/')
                return bg_error_set(err, EINVAL, "backing file %s must be an absolute path", base);
        if (access(base, R_OK) < 0)
                return bg_error_errno(err, -errno, "backing file %s", base);
        char *argv[] = {(char *)(qemu_img ? qemu_img : "qemu-img"),
                        "create",
                        "-q",
                        "-f",
                        "qcow2",
                        "-F",
                        (char *)base_format,
                        "-b",
                        (char *)base,
                        (char *)dst,
                        NULL};
        int r = disk_run(argv, out, sizeof(out));
        if (r < 0)
                return bg_error_errno(err, r, "run %s", argv[0]);
        if (r != 0) {
                chomp(out);
                unlink(dst);
                return bg_error_set(err, EIO, "qemu-img create %s failed (exit %d): %s", dst, r,
                                    out);
        }
        return 0;
}

int disk_make_work(const char *mkfs, const char *path, uint64_t size, const char *label,
                   struct bg_error *err)
{
        char out[1024], sizearg[32];
        if (size < (64u << 20))
                return bg_error_set(err, EINVAL, "work disk size %llu is below 64 MiB",
                                    (unsigned long long)size);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s", path);
        if (ftruncate(fd, (off_t)size) < 0) {
                int r = -errno;
                unlink(path);
                return bg_error_errno(err, r, "size %s", path);
        }
        snprintf(sizearg, sizeof(sizearg), "%lluk", (unsigned long long)(size / 1024));
        char *argv[] = {(char *)(mkfs ? mkfs : "mkfs.ext4"),
                        "-F",
                        "-q",
                        "-E",
                        "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
                        "-L",
                        (char *)(label ? label : "banger-work"),
                        (char *)path,
                        sizearg,
                        NULL};
        int r = disk_run(argv, out, sizeof(out));
        if (r != 0) {
                unlink(path);
                if (r < 0)
                        return bg_error_errno(err, r, "run %s", argv[0]);
                chomp(out);
                return bg_error_set(err, EIO, "mkfs.ext4 %s failed (exit %d): %s", path, r, out);
        }
        return 0;
}
