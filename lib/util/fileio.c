#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"

/* Grows *buf to hold want data bytes plus the NUL, never beyond max + 1. */
static int grow(char **buf, size_t *alloc, size_t want)
{
        char *nb = realloc(*buf, want + 1);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *alloc = want + 1;
        return 0;
}

static int read_capped(int fd, const char *what, size_t hint, size_t max, char **ret_buf,
                       size_t *ret_len, struct bg_error *err)
{
        if (max > SSIZE_MAX - 1)
                max = SSIZE_MAX - 1;
        /* Start at the size the file claims (0 for /proc and pipes). */
        size_t alloc = 0, len = 0;
        _cleanup_free_ char *buf = NULL;
        if (grow(&buf, &alloc, hint ? (hint < max ? hint : max) : (max < 4096 ? max : 4096)) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (;;) {
                if (len == alloc - 1) {
                        if (len == max) {
                                /* Full: one more byte means too large. */
                                char c;
                                ssize_t n = read(fd, &c, 1);
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0)
                                        return bg_error_errno(err, -errno, "read %s", what);
                                if (n > 0)
                                        return bg_error_set(
                                            err, EFBIG, "%s is larger than %zu bytes", what, max);
                                break;
                        }
                        size_t want = len * 2 > max || len * 2 < len ? max : len * 2;
                        if (grow(&buf, &alloc, want) < 0)
                                return bg_error_set(err, ENOMEM, "out of memory");
                }
                ssize_t n = read(fd, buf + len, alloc - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return bg_error_errno(err, -errno, "read %s", what);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret_buf = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_fd_capped(int fd, const char *what, size_t max, char **ret_buf, size_t *ret_len,
                   struct bg_error *err)
{
        struct stat st;
        size_t hint = 0;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
                hint = (uint64_t)st.st_size > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)st.st_size;
        return read_capped(fd, what, hint, max, ret_buf, ret_len, err);
}

int read_file_capped_at(int dfd, const char *name, size_t max, unsigned flags, char **ret_buf,
                        size_t *ret_len, struct bg_error *err)
{
        int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        if (flags & READ_FILE_NOFOLLOW)
                oflags |= O_NOFOLLOW;
        _cleanup_close_ int fd = openat(dfd, name, oflags);
        if (fd < 0) {
                if (errno == ELOOP && (flags & READ_FILE_NOFOLLOW))
                        return bg_error_set(err, ELOOP, "%s is a symbolic link, which is refused",
                                            name);
                return bg_error_errno(err, -errno, "open %s", name);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat %s", name);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s is not a regular file", name);
        if ((uint64_t)st.st_size > max)
                return bg_error_set(err, EFBIG, "%s is larger than %zu bytes", name, max);
        /* Regular files ignore O_NONBLOCK; clear it anyway so no reader ever
         * sees EAGAIN from a file system that honours it. */
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return read_capped(fd, name, (size_t)st.st_size, max, ret_buf, ret_len, err);
}

int read_file_capped(const char *path, size_t max, unsigned flags, char **ret_buf, size_t *ret_len,
                     struct bg_error *err)
{
        return read_file_capped_at(AT_FDCWD, path, max, flags, ret_buf, ret_len, err);
}

int loop_write(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
        size_t done = 0;
        while (done < n) {
                ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        break;
                done += (size_t)r;
        }
        return (ssize_t)done;
}

int for_each_data_chunk(int fd, uint64_t size, uint8_t *buf, size_t chunk, data_chunk_fn fn,
                        void *ud)
{
        uint64_t off = 0;
        while (off < size) {
                off_t data = lseek(fd, (off_t)off, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break;     /* a hole up to the end */
                        data = (off_t)off; /* no SEEK_DATA here: read it all */
                }
                off_t hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0 || (uint64_t)hole > size)
                        hole = (off_t)size;
                for (off = (uint64_t)data; off < (uint64_t)hole;) {
                        size_t n =
                            (uint64_t)hole - off < chunk ? (size_t)((uint64_t)hole - off) : chunk;
                        ssize_t got = pread_full(fd, buf, n, off);
                        if (got < 0)
                                return (int)got;
                        if ((size_t)got != n)
                                return -ENODATA;
                        bool zero = true;
                        for (size_t i = 0; i < n && zero; i++)
                                zero = buf[i] == 0;
                        int r = fn(ud, off, zero ? NULL : buf, n);
                        if (r < 0)
                                return r;
                        off += n;
                }
        }
        return 0;
}

/* ".<base>.<12 random letters>", the base cut to fit NAME_MAX. */
static int make_tmp_name(const char *base, char *buf, size_t len)
{
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        uint8_t rnd[12];
        size_t got = 0;
        while (got < sizeof(rnd)) {
                ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        char suffix[sizeof(rnd) + 1];
        for (size_t i = 0; i < sizeof(rnd); i++)
                suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        suffix[sizeof(rnd)] = '\0';
        int keep = NAME_MAX - 2 - (int)sizeof(rnd);
        snprintf(buf, len, ".%.*s.%s", keep, base, suffix);
        return 0;
}

static void atomic_file_reset(struct atomic_file *f)
{
        if (f->fd >= 0)
                close(f->fd);
        if (f->dir_fd >= 0)
                close(f->dir_fd);
        free(f->path);
        *f = (struct atomic_file)ATOMIC_FILE_INIT;
}

int atomic_file_open_at(int dfd, const char *name, struct atomic_file *f, struct bg_error *err)
{
        *f = (struct atomic_file)ATOMIC_FILE_INIT;
        f->path = strdup(name);
        if (!f->path)
                return bg_error_set(err, ENOMEM, "out of memory");
        char *slash = strrchr(f->path, '/');
        f->base = slash ? slash + 1 : f->path;
        if (!f->base[0] || streq(f->base, ".") || streq(f->base, "..")) {
                atomic_file_reset(f);
                return bg_error_set(err, EISDIR, "%s does not name a file", name);
        }
        if (slash == f->path) {
                f->dir_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else if (slash) {
                *slash = '\0'; /* the directory part, for a moment */
                f->dir_fd = openat(dfd, f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                *slash = '/';
        } else {
                f->dir_fd = dfd == AT_FDCWD ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                            : fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        }
        if (f->dir_fd < 0) {
                int r = -errno;
                atomic_file_reset(f);
                return bg_error_errno(err, r, "open the directory of %s", name);
        }
        for (int tries = 0; tries < 16; tries++) {
                int r = make_tmp_name(f->base, f->tmp, sizeof(f->tmp));
                if (r < 0) {
                        atomic_file_reset(f);
                        return bg_error_errno(err, r, "random name for %s", name);
                }
                f->fd = openat(f->dir_fd, f->tmp,
                               O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (f->fd >= 0)
                        return 0;
                if (errno != EEXIST)
                        break;
        }
        int r = -errno;
        atomic_file_reset(f);
        return bg_error_errno(err, r, "create a temporary file for %s", name);
}

int atomic_file_open(const char *path, struct atomic_file *f, struct bg_error *err)
{
        return atomic_file_open_at(AT_FDCWD, path, f, err);
}

void atomic_file_abort(struct atomic_file *f)
{
        if (f->fd >= 0 && f->dir_fd >= 0)
                (void)unlinkat(f->dir_fd, f->tmp, 0);
        atomic_file_reset(f);
}

int atomic_file_commit(struct atomic_file *f, mode_t mode, struct bg_error *err)
{
        if (f->fd < 0)
                return bg_error_set(err, EBADF, "commit of a file that is not open");
        int r = 0;
        if (!f->nosync && fsync(f->fd) < 0)
                r = bg_error_errno(err, -errno, "write %s", f->path);
        else if (fchmod(f->fd, mode) < 0)
                r = bg_error_errno(err, -errno, "chmod %s", f->path);
        else if (close(TAKE_FD(f->fd)) < 0)
                r = bg_error_errno(err, -errno, "write %s", f->path);
        else if (renameat(f->dir_fd, f->tmp, f->dir_fd, f->base) < 0)
                r = bg_error_errno(err, -errno, "rename into %s", f->path);
        if (r < 0) {
                (void)unlinkat(f->dir_fd, f->tmp, 0);
                atomic_file_reset(f);
                return r;
        }
        /* Published: the directory entry reaches the disk too. */
        if (!f->nosync && fsync(f->dir_fd) < 0)
                r = bg_error_errno(err, -errno, "sync the directory of %s", f->path);
        atomic_file_reset(f);
        return r;
}

int write_file_atomic_at(int dfd, const char *name, const void *data, size_t len, mode_t mode,
                         struct bg_error *err)
{
        _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
        int r = atomic_file_open_at(dfd, name, &f, err);
        if (r < 0)
                return r;
        r = loop_write(f.fd, data, len);
        if (r < 0)
                return bg_error_errno(err, r, "write %s", name);
        return atomic_file_commit(&f, mode, err);
}

int write_file_atomic_flags(const char *path, const void *data, size_t len, mode_t mode,
                            unsigned flags, struct bg_error *err)
{
        _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
        int r = atomic_file_open(path, &f, err);
        if (r < 0)
                return r;
        f.nosync = flags & WRITE_FILE_NOSYNC;
        r = loop_write(f.fd, data, len);
        if (r < 0)
                return bg_error_errno(err, r, "write %s", path);
        return atomic_file_commit(&f, mode, err);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct bg_error *err)
{
        return write_file_atomic_at(AT_FDCWD, path, data, len, mode, err);
}
