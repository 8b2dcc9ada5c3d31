#include "util/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"
#include "util/timeutil.h"

int proc_start_time(pid_t pid, uint64_t *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? -errno : -ESRCH;
        buf[n] = '\0';
        /* comm may contain spaces and parens: fields resume after the last ')'. */
        char *p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        p++;
        /* Field 3 is the state: a zombie has exited and only waits to be
         * reaped, so it is gone for our purposes. */
        if (p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X'))
                return -ESRCH;
        /* After ')' come fields 3.. ; start time is field 22. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EBADMSG;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p + 1, &end, 10);
        if (errno || end == p + 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int pidfile_write(const char *path, pid_t pid, struct bg_error *err)
{
        uint64_t start;
        int r = proc_start_time(pid, &start);
        if (r < 0)
                return bg_error_errno(err, r, "read start time of pid %d", (int)pid);
        char line[64];
        int len = snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)pid, start);
        return write_file_atomic(path, line, (size_t)len, 0644, err);
}

int pidfile_read(const char *path, pid_t *ret_pid, uint64_t *ret_start)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        int pid;
        uint64_t start;
        if (fscanf(f, "%d %" SCNu64, &pid, &start) != 2 || pid <= 0)
                return -EBADMSG;
        *ret_pid = pid;
        *ret_start = start;
        return 0;
}

int pidfile_check(const char *path, pid_t *ret_pid)
{
        pid_t pid;
        uint64_t start, now_start;
        int r = pidfile_read(path, &pid, &start);
        if (r == -ENOENT || r == -EBADMSG)
                return 0;
        if (r < 0)
                return r;
        r = proc_start_time(pid, &now_start);
        if (r == -ESRCH)
                return 0;
        if (r < 0)
                return r;
        if (now_start != start)
                return 0; /* PID reused by someone else */
        if (ret_pid)
                *ret_pid = pid;
        return 1;
}

int proc_reap(pid_t pid, unsigned timeout_ms)
{
        if (pid <= 0)
                return 0;
        for (unsigned waited = 0;; waited += 5) {
                pid_t r = waitpid(pid, NULL, WNOHANG);
                if (r == pid)
                        return 1;
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return 0; /* not our child (or already reaped) */
                }
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                sleep_msec(5);
        }
}
