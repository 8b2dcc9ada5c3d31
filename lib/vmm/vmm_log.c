#include "vmm/vmm_log.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
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

void vmm_log_tail(const char *path, char *buf, size_t len)
{
        if (len == 0)
                return;
        buf[0] = '\0';
        char data[16384];
        bool partial;
        size_t n = read_tail(path, data, sizeof(data), &partial);
        last_line(data, n, partial, "# ", buf, len);
}

void vmm_console_tail(const char *dir, char *buf, size_t len)
{
        if (len == 0)
                return;
        buf[0] = '\0';
        char path[VMM_PATH_MAX + 16], data[16384];
        snprintf(path, sizeof(path), "%s/" VMM_FILE_CONSOLE, dir);
        bool partial;
        size_t n = read_tail(path, data, sizeof(data), &partial);
        last_line(data, n, partial, NULL, buf, len);
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
