#include "agent_frame.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/timeutil.h"

uint64_t agent_deadline_after_ms(uint64_t ms)
{
        return now_mono_usec() + ms * 1000u;
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, uint64_t deadline_usec)
{
        for (;;) {
                int timeout = -1;
                if (deadline_usec) {
                        uint64_t now = now_mono_usec();
                        if (now >= deadline_usec)
                                return -ETIMEDOUT;
                        uint64_t left_ms = (deadline_usec - now + 999) / 1000;
                        timeout = left_ms > 60000 ? 60000 : (int)left_ms;
                }
                struct pollfd p = {.fd = fd, .events = events};
                int r = poll(&p, 1, timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        continue; /* re-check the deadline */
                if (p.revents & POLLNVAL)
                        return -EBADF;
                /* A virtio-serial port whose host end is gone reports POLLHUP
                 * without POLLOUT while write() keeps failing with EAGAIN:
                 * waiting to write would spin until the deadline (forever
                 * without one). For reading, and for other fds, let
                 * read()/write() report what happened. */
                if ((events & POLLOUT) && (p.revents & (POLLHUP | POLLERR)) &&
                    !(p.revents & POLLOUT))
                        return -EPIPE;
                return 0;
        }
}

int agent_frame_write_raw(int fd, const void *buf, size_t len, uint64_t deadline_usec)
{
        const uint8_t *p = buf;
        size_t done = 0;
        bool is_socket = true;
        while (done < len) {
                ssize_t n;
                if (is_socket) {
                        n = send(fd, p + done, len - done, MSG_NOSIGNAL);
                        if (n < 0 && errno == ENOTSOCK) {
                                is_socket = false;
                                continue;
                        }
                } else {
                        n = write(fd, p + done, len - done);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                int r = wait_fd(fd, POLLOUT, deadline_usec);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                done += (size_t)n;
        }
        return 0;
}

int agent_frame_write(int fd, const void *buf, size_t len, uint64_t deadline_usec)
{
        if (len > AGENT_FRAME_MAX)
                return -EMSGSIZE;
        uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                          (uint8_t)len};
        int r = agent_frame_write_raw(fd, hdr, sizeof(hdr), deadline_usec);
        return r < 0 ? r : agent_frame_write_raw(fd, buf, len, deadline_usec);
}

/* Read exactly len bytes. Returns the number read before EOF (< len on EOF),
 * or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len, uint64_t *deadline_usec,
                         uint64_t stall_ms, bool *started)
{
        size_t done = 0;
        while (done < len) {
                int r = wait_fd(fd, POLLIN, *deadline_usec);
                if (r < 0)
                        return r;
                ssize_t n = read(fd, buf + done, len - done);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                if (!*started) {
                        *started = true;
                        if (stall_ms) {
                                uint64_t stall = agent_deadline_after_ms(stall_ms);
                                if (*deadline_usec == 0 || stall < *deadline_usec)
                                        *deadline_usec = stall;
                        }
                }
                done += (size_t)n;
        }
        return (ssize_t)done;
}

int agent_frame_read(int fd, size_t max, uint64_t deadline_usec, uint64_t stall_ms,
                     uint8_t **ret_buf, size_t *ret_len)
{
        uint8_t hdr[4];
        bool started = false;
        uint64_t deadline = deadline_usec;

        ssize_t n = read_full(fd, hdr, sizeof(hdr), &deadline, stall_ms, &started);
        if (n < 0)
                return (int)n;
        if (n == 0)
                return 0;
        if (n < (ssize_t)sizeof(hdr))
                return -EPROTO;

        size_t len =
            (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | (size_t)hdr[3];
        if (len > max)
                return -EMSGSIZE;

        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        n = read_full(fd, buf, len, &deadline, stall_ms, &started);
        if (n < 0 || (size_t)n < len) {
                free(buf);
                return n < 0 ? (int)n : -EPROTO;
        }
        *ret_buf = buf;
        *ret_len = len;
        return 1;
}
