#include "vmm/qemu/qmp.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/timeutil.h"

/* A line longer than this is not something a QMP client of ours expects. */
#define QMP_LINE_MAX (4u * 1024 * 1024)

struct qmp {
        int fd;
        char *buf; /* received bytes not yet consumed */
        size_t len, cap;
        uint64_t next_id;
};

struct qmp *qmp_free(struct qmp *q)
{
        if (!q)
                return NULL;
        if (q->fd >= 0)
                close(q->fd);
        free(q->buf);
        free(q);
        return NULL;
}

static int remaining_ms(uint64_t deadline)
{
        uint64_t now = now_mono_msec();
        if (now >= deadline)
                return 0;
        uint64_t left = deadline - now;
        return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Reads the next JSON object (one line) into *ret, waiting until deadline. */
static int read_message(struct qmp *q, uint64_t deadline, json_t **ret, struct bg_error *err)
{
        for (;;) {
                char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
                if (nl) {
                        size_t linelen = (size_t)(nl - q->buf);
                        json_error_t jerr;
                        bool blank = true;
                        for (size_t i = 0; i < linelen; i++)
                                if (q->buf[i] != ' ' && q->buf[i] != '\r' && q->buf[i] != '\t')
                                        blank = false;
                        json_t *j = blank ? NULL : json_loadb(q->buf, linelen, 0, &jerr);
                        memmove(q->buf, nl + 1, q->len - linelen - 1);
                        q->len -= linelen + 1;
                        if (blank)
                                continue;
                        if (!j)
                                return bg_error_set(err, EPROTO,
                                                    "QMP: malformed JSON from QEMU: %s", jerr.text);
                        if (!json_is_object(j)) {
                                json_decref(j);
                                return bg_error_set(err, EPROTO,
                                                    "QMP: QEMU sent a JSON value that is not an "
                                                    "object");
                        }
                        *ret = j;
                        return 0;
                }
                if (q->len == q->cap) {
                        if (q->cap >= QMP_LINE_MAX)
                                return bg_error_set(err, EMSGSIZE,
                                                    "QMP: message from QEMU longer than %u bytes",
                                                    QMP_LINE_MAX);
                        size_t ncap = q->cap ? q->cap * 2 : 4096;
                        char *nb = realloc(q->buf, ncap);
                        if (!nb)
                                return bg_error_set(err, ENOMEM, "QMP: out of memory");
                        q->buf = nb;
                        q->cap = ncap;
                }
                struct pollfd p = {.fd = q->fd, .events = POLLIN};
                int timeout = remaining_ms(deadline);
                int r = poll(&p, 1, timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "QMP: poll");
                }
                if (r == 0)
                        return bg_error_set(err, ETIMEDOUT, "QMP: no answer from QEMU in time");
                ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return bg_error_errno(err, -errno, "QMP: read");
                }
                if (n == 0)
                        return bg_error_set(err, ECONNRESET, "QMP: QEMU closed the connection");
                q->len += (size_t)n;
        }
}

/* Sends data; pass_fd >= 0 goes along with the first byte as SCM_RIGHTS
 * (QEMU takes a passed fd with the command it arrives with: getfd). */
static int send_all(int fd, const char *data, size_t len, int pass_fd, struct bg_error *err)
{
        while (len > 0) {
                ssize_t n;
                if (pass_fd >= 0) {
                        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
                        union {
                                char buf[CMSG_SPACE(sizeof(int))];
                                struct cmsghdr align;
                        } u;
                        memset(&u, 0, sizeof(u));
                        struct msghdr mh = {.msg_iov = &iov,
                                            .msg_iovlen = 1,
                                            .msg_control = u.buf,
                                            .msg_controllen = sizeof(u.buf)};
                        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
                        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
                        if (n > 0)
                                pass_fd = -1;
                } else {
                        n = send(fd, data, len, MSG_NOSIGNAL);
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EPIPE || errno == ECONNRESET)
                                return bg_error_set(err, ECONNRESET,
                                                    "QMP: QEMU closed the connection");
                        return bg_error_errno(err, -errno, "QMP: send");
                }
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

static int execute_until(struct qmp *q, const char *command, json_t *args, int pass_fd,
                         uint64_t deadline, json_t **ret, struct bg_error *err)
{
        uint64_t id = ++q->next_id;
        _cleanup_(json_decrefp) json_t *msg =
            json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
        if (!msg || (args && json_object_set(msg, "arguments", args) < 0))
                return bg_error_set(err, ENOMEM, "QMP: out of memory");
        _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
        if (!text)
                return bg_error_set(err, ENOMEM, "QMP: out of memory");
        size_t tl = strlen(text);
        _cleanup_free_ char *line = malloc(tl + 2);
        if (!line)
                return bg_error_set(err, ENOMEM, "QMP: out of memory");
        memcpy(line, text, tl);
        line[tl] = '\n';
        line[tl + 1] = '\0';
        int r = send_all(q->fd, line, tl + 1, pass_fd, err);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(json_decrefp) json_t *m = NULL;
                r = read_message(q, deadline, &m, err);
                if (r < 0) {
                        if (r == -ETIMEDOUT)
                                return bg_error_set(err, ETIMEDOUT,
                                                    "QMP %s: no answer from QEMU in time", command);
                        return r;
                }
                if (json_object_get(m, "event"))
                        continue;
                json_t *jid = json_object_get(m, "id");
                if (!json_is_integer(jid) || (uint64_t)json_integer_value(jid) != id)
                        continue; /* an answer to an earlier, abandoned command */
                json_t *e = json_object_get(m, "error");
                if (e) {
                        const char *cls = json_string_value(json_object_get(e, "class"));
                        const char *desc = json_string_value(json_object_get(e, "desc"));
                        int code = cls && streq(cls, "CommandNotFound") ? EOPNOTSUPP : EIO;
                        return bg_error_set(err, code, "QMP %s: %s", command,
                                            desc ? desc
                                                 : (cls ? cls : "error without description"));
                }
                json_t *rv = json_object_get(m, "return");
                if (!rv)
                        return bg_error_set(err, EPROTO,
                                            "QMP %s: answer has neither \"return\" nor \"error\"",
                                            command);
                if (ret)
                        *ret = json_incref(rv);
                return 0;
        }
}

int qmp_execute(struct qmp *q, const char *command, json_t *args, uint64_t timeout_ms, json_t **ret,
                struct bg_error *err)
{
        return execute_until(q, command, args, -1, now_mono_msec() + timeout_ms, ret, err);
}

int qmp_pass_fd(struct qmp *q, int fd, const char *name, uint64_t timeout_ms, struct bg_error *err)
{
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "fdname", name);
        if (!args)
                return bg_error_set(err, ENOMEM, "QMP: out of memory");
        return execute_until(q, "getfd", args, fd, now_mono_msec() + timeout_ms, NULL, err);
}

int qmp_open_fd(int fd, uint64_t timeout_ms, struct qmp **ret, struct bg_error *err)
{
        uint64_t deadline = now_mono_msec() + timeout_ms;
        _cleanup_(qmp_freep) struct qmp *q = calloc(1, sizeof(*q));
        if (!q) {
                close(fd);
                return bg_error_set(err, ENOMEM, "QMP: out of memory");
        }
        q->fd = fd;

        _cleanup_(json_decrefp) json_t *greeting = NULL;
        int r = read_message(q, deadline, &greeting, err);
        if (r < 0)
                return r == -ETIMEDOUT
                           ? bg_error_set(err, ETIMEDOUT, "QMP: no greeting from QEMU in time")
                           : r;
        if (!json_object_get(greeting, "QMP"))
                return bg_error_set(err, EPROTO, "QMP: the first message is not a QMP greeting");
        r = execute_until(q, "qmp_capabilities", NULL, -1, deadline, NULL, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int qmp_open(const char *path, uint64_t timeout_ms, struct qmp **ret, struct bg_error *err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return bg_error_set(err, ENAMETOOLONG, "QMP socket path %s is too long", path);
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return bg_error_errno(err, -errno, "QMP: socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return bg_error_errno(err, r, "QMP: connect to %s", path);
        }
        return qmp_open_fd(fd, timeout_ms, ret, err);
}
