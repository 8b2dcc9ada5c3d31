#include "vmm/vmm_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"
#include "vmm/vmm.h"

/* Reads the last len - 1 bytes (at most) of path into data, NULs turned into
 * spaces; returns the byte count (0 when unreadable) and whether the read
 * starts mid-file in *partial. */
static size_t read_tail(const char *path, char *data, size_t len, bool *partial)
{
        *partial = false;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return 0;
        off_t off = st.st_size > (off_t)len - 1 ? st.st_size - (off_t)len + 1 : 0;
        ssize_t n = pread(fd, data, len - 1, off);
        if (n <= 0)
                return 0;
        data[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (data[i] == '\0')
                        data[i] = ' ';
        *partial = off > 0;
        return (size_t)n;
}

/* The last non-blank line of data (n bytes), skipping lines that start with
 * skip (NULL: none) and a partial first line. */
static void last_line(char *data, size_t n, bool partial, const char *skip, char *buf, size_t len)
{
        char *end = data + n;
        while (end > data) {
                char *line_end = end;
                while (line_end > data && (line_end[-1] == '\n' || line_end[-1] == '\r'))
                        line_end--;
                char *start = line_end;
                while (start > data && start[-1] != '\n')
                        start--;
                end = start;
                if (start == line_end || (skip && strncmp(start, skip, strlen(skip)) == 0))
                        continue;
                if (start == data && partial)
                        return;
                size_t l = (size_t)(line_end - start);
                char *cr = memchr(start, '\r', l);
                if (cr)
                        l = (size_t)(cr - start);
                snprintf(buf, len, "%.*s", (int)l, start);
                return;
        }
}

/* The last line of the file at path into buf ("" when there is none). */
static void tail_line(const char *path, const char *skip, char *buf, size_t len)
{
        if (len == 0)
                return;
        buf[0] = '\0';
        char data[16384];
        bool partial;
        size_t n = read_tail(path, data, sizeof(data), &partial);
        last_line(data, n, partial, skip, buf, len);
}

void vmm_log_tail(const char *path, char *buf, size_t len)
{
        tail_line(path, "# ", buf, len);
}

void vmm_console_tail(const char *dir, char *buf, size_t len)
{
        char path[VMM_PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/" VMM_FILE_CONSOLE, dir);
        tail_line(path, NULL, buf, len);
}

void vmm_console_panic(const char *dir, char *buf, size_t len)
{
        if (len == 0)
                return;
        buf[0] = '\0';
        char path[VMM_PATH_MAX + 16], data[65536];
        snprintf(path, sizeof(path), "%s/" VMM_FILE_CONSOLE, dir);
        bool partial;
        size_t n = read_tail(path, data, sizeof(data), &partial);
        if (n == 0)
                return;
        static const char marker[] = "Kernel panic - not syncing: ";
        char *found = NULL;
        for (char *p = data; (p = strstr(p, marker)); p++)
                found = p;
        if (!found)
                return;
        size_t l = strcspn(found, "\r\n");
        snprintf(buf, len, "%.*s", (int)l, found);
}

void vmm_signal_reason(const char *vmm, int sig, char *buf, size_t len)
{
        const char *abbrev = sigabbrev_np(sig);
        snprintf(buf, len, "%s was killed by signal %d (SIG%s)", vmm, sig, abbrev ? abbrev : "?");
}

/* dir/name.base: the stream offset where dir/name begins (0 when absent). */
static uint64_t read_base(const char *dir, const char *name)
{
        char path[VMM_PATH_MAX + 64], buf[32];
        snprintf(path, sizeof(path), "%s/%s.base", dir, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        return strtoull(buf, NULL, 10);
}

static int write_base(const char *dir, const char *name, uint64_t base)
{
        char path[VMM_PATH_MAX + 64], tmp[VMM_PATH_MAX + 64], buf[32];
        snprintf(path, sizeof(path), "%s/%s.base", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/%s.base.tmp", dir, name);
        int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", base);
        _cleanup_close_ int fd =
            open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, buf, (size_t)n) != n) {
                int r = -errno;
                unlink(tmp);
                return r < 0 ? r : -EIO;
        }
        return rename(tmp, path) < 0 ? -errno : 0;
}

/* Copies [from, to) of in to the end of out. */
static int copy_range(int in, int out, uint64_t from, uint64_t to)
{
        char buf[65536];
        while (from < to) {
                size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
                ssize_t n = pread(in, buf, want, (off_t)from);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = write(out, buf + done, (size_t)(n - done));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        done += w;
                }
                from += (uint64_t)n;
        }
        return 0;
}

int vmm_log_rotate(const char *dir, const char *name, uint64_t max, bool force)
{
        char path[VMM_PATH_MAX + 64], old[VMM_PATH_MAX + 64], tmp[VMM_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(old, sizeof(old), "%s/%s.1", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/%s.1.tmp", dir, name);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        uint64_t keep = max / 2, size = (uint64_t)st.st_size;
        if (size == 0 || (!force && size <= keep))
                return 0;
        _cleanup_close_ int out =
            open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return -errno;
        int r = copy_range(fd, out, size > keep ? size - keep : 0, size);
        /* What the writer appended during the copy goes along; only bytes
         * written between this fstat and the truncation are lost. */
        if (r >= 0 && fstat(fd, &st) < 0)
                r = -errno;
        uint64_t end = r >= 0 ? (uint64_t)st.st_size : size;
        if (r >= 0 && end > size)
                r = copy_range(fd, out, size, end);
        if (r >= 0 && ftruncate(fd, 0) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, old) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        r = write_base(dir, name, read_base(dir, name) + end);
        return r < 0 ? r : 1;
}

static uint64_t file_size(int fd)
{
        struct stat st;
        return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int vmm_console_read(const char *dir, uint64_t off, void *buf, size_t len, uint64_t *ret_off,
                     size_t *ret_n, uint64_t *ret_size)
{
        char path[VMM_PATH_MAX + 64], old[VMM_PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/" VMM_FILE_CONSOLE, dir);
        snprintf(old, sizeof(old), "%s/" VMM_FILE_CONSOLE ".1", dir);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        _cleanup_close_ int ofd = open(old, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        uint64_t base = read_base(dir, VMM_FILE_CONSOLE);
        uint64_t old_len = file_size(ofd);
        uint64_t start = base > old_len ? base - old_len : 0;
        uint64_t end = base + file_size(fd);
        if (off < start)
                off = start;
        if (off > end)
                off = end;
        ssize_t n = 0;
        if (off < base && ofd >= 0) {
                size_t want = base - off < len ? (size_t)(base - off) : len;
                n = pread(ofd, buf, want, (off_t)(off - start));
        } else if (off >= base && fd >= 0) {
                n = pread(fd, buf, len, (off_t)(off - base));
        }
        if (n < 0)
                return -errno;
        *ret_off = off;
        *ret_n = (size_t)n;
        *ret_size = end;
        return 0;
}
