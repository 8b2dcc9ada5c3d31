#include "agent_client.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_frame.h"
#include "util/timeutil.h"

/* How long to wait between connection attempts. */
#define AGENT_RETRY_MS 100
/* Longest "OK <port>\n" line we accept. */
#define AGENT_HANDSHAKE_LINE_MAX 64

struct agent_conn {
        int fd;
        uint64_t next_id;
};

static void sleep_until_retry(uint64_t deadline_usec)
{
        uint64_t now = now_mono_usec();
        uint64_t wait = AGENT_RETRY_MS * 1000u;
        if (now >= deadline_usec)
                return;
        if (deadline_usec - now < wait)
                wait = deadline_usec - now;
        sleep_msec((unsigned)((wait + 999) / 1000));
}

static struct agent_conn *conn_new(int fd)
{
        struct agent_conn *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->fd = fd;
        /* Distinct ids across connections make stale replies easy to spot. */
        c->next_id = (now_mono_usec() << 8) | 1;
        return c;
}

struct agent_conn *agent_conn_free(struct agent_conn *c)
{
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        free(c);
        return NULL;
}

int agent_conn_fd(const struct agent_conn *c)
{
        return c->fd;
}

void agent_response_free(Banger__V1__AgentResponse *r)
{
        if (r)
                banger__v1__agent_response__free_unpacked(r, NULL);
}

/* One connect attempt; returns the fd or -errno. */
static int connect_unix_once(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static bool connect_error_is_transient(int r)
{
        return r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN;
}

int agent_conn_open_unix(const char *path, uint64_t timeout_ms, struct agent_conn **ret,
                         struct bg_error *err)
{
        if (!path || !*path)
                return bg_error_set(err, EINVAL, "agent socket path is empty");
        uint64_t deadline = agent_deadline_after_ms(timeout_ms);
        int r;
        for (;;) {
                r = connect_unix_once(path);
                if (r >= 0)
                        break;
                if (r == -ENAMETOOLONG)
                        return bg_error_set(err, ENAMETOOLONG, "agent socket path '%s' is too long",
                                            path);
                if (!connect_error_is_transient(r) || now_mono_usec() >= deadline)
                        return bg_error_errno(err, r, "connect to agent socket '%s'", path);
                sleep_until_retry(deadline);
        }
        struct agent_conn *c = conn_new(r);
        if (!c) {
                close(r);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret = c;
        return 0;
}

int agent_conn_open_vsock(uint32_t cid, uint32_t port, uint64_t timeout_ms, struct agent_conn **ret,
                          struct bg_error *err)
{
        if (cid < 3)
                return bg_error_set(err, EINVAL, "guest vsock CID %u is reserved", cid);
        uint64_t deadline = agent_deadline_after_ms(timeout_ms);
        int fd, r;
        for (;;) {
                fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return bg_error_errno(err, -errno, "vsock socket (is vhost_vsock loaded?)");
                struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        break;
                r = -errno;
                close(fd);
                /* The guest is still booting: nobody listens on the port yet. */
                bool transient = r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT ||
                                 r == -ENODEV || r == -EHOSTUNREACH;
                if (!transient || now_mono_usec() >= deadline)
                        return bg_error_errno(err, r, "connect to the agent at vsock %u:%u", cid,
                                              port);
                sleep_until_retry(deadline);
        }
        struct agent_conn *c = conn_new(fd);
        if (!c) {
                close(fd);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret = c;
        return 0;
}

/* Read the handshake reply one byte at a time so nothing after '\n' (the
 * agent's stream) is consumed. Returns 0 with the line (without '\n'),
 * -ECONNRESET when the peer closed first, -EPROTO for an over-long line. */
static int read_handshake_line(int fd, uint64_t deadline_usec, char *line, size_t size)
{
        size_t n = 0;
        for (;;) {
                char ch;
                ssize_t k = recv(fd, &ch, 1, MSG_DONTWAIT);
                if (k == 1) {
                        if (ch == '\n') {
                                line[n] = '\0';
                                return 0;
                        }
                        if (n + 1 >= size)
                                return -EPROTO;
                        line[n++] = ch;
                        continue;
                }
                if (k == 0)
                        return -ECONNRESET;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                uint64_t now = now_mono_usec();
                if (now >= deadline_usec)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint64_t left_ms = (deadline_usec - now + 999) / 1000;
                if (poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms) < 0 && errno != EINTR)
                        return -errno;
        }
}

/* "OK <digits>" */
static bool handshake_line_ok(const char *line)
{
        if (strncmp(line, "OK ", 3) != 0 || !line[3])
                return false;
        for (const char *p = line + 3; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

int agent_conn_open_hybrid_vsock(const char *uds_path, uint32_t port, uint64_t timeout_ms,
                                 struct agent_conn **ret, struct bg_error *err)
{
        if (!uds_path || !*uds_path)
                return bg_error_set(err, EINVAL, "hybrid vsock socket path is empty");
        uint64_t deadline = agent_deadline_after_ms(timeout_ms);
        char req[32];
        int reqlen = snprintf(req, sizeof(req), "CONNECT %" PRIu32 "\n", port);
        int last = -ETIMEDOUT;
        bool saw_close = false; /* the guest side closed without OK at least once */

        for (;;) {
                _cleanup_close_ int fd = connect_unix_once(uds_path);
                if (fd == -ENAMETOOLONG)
                        return bg_error_set(err, ENAMETOOLONG,
                                            "hybrid vsock socket path '%s' is too long", uds_path);
                if (fd < 0 && !connect_error_is_transient(fd))
                        return bg_error_errno(err, fd, "connect to hybrid vsock socket '%s'",
                                              uds_path);
                if (fd >= 0) {
                        ssize_t k = send(fd, req, (size_t)reqlen, MSG_NOSIGNAL);
                        if (k == reqlen) {
                                char line[AGENT_HANDSHAKE_LINE_MAX];
                                int r = read_handshake_line(fd, deadline, line, sizeof(line));
                                if (r == 0) {
                                        if (!handshake_line_ok(line))
                                                return bg_error_set(
                                                    err, EPROTO,
                                                    "hybrid vsock '%s': unexpected reply to "
                                                    "CONNECT %" PRIu32 ": '%.64s'",
                                                    uds_path, port, line);
                                        struct agent_conn *c = conn_new(fd);
                                        if (!c)
                                                return bg_error_set(err, ENOMEM, "out of memory");
                                        TAKE_FD(fd);
                                        *ret = c;
                                        return 0;
                                }
                                if (r == -EPROTO)
                                        return bg_error_set(err, EPROTO,
                                                            "hybrid vsock '%s': reply to CONNECT "
                                                            "%" PRIu32 " is too long",
                                                            uds_path, port);
                                last = r;
                        } else {
                                last = k < 0 ? -errno : -EPIPE;
                        }
                        if (last == -ECONNRESET || last == -EPIPE)
                                saw_close = true;
                } else {
                        last = fd;
                }
                if (now_mono_usec() >= deadline)
                        break;
                sleep_until_retry(deadline);
        }
        if (saw_close)
                return bg_error_set(err, ETIMEDOUT,
                                    "hybrid vsock '%s': guest port %" PRIu32
                                    " did not accept within %" PRIu64 " ms (connection closed "
                                    "without OK)",
                                    uds_path, port, timeout_ms);
        return bg_error_errno(err, last == -ETIMEDOUT ? -ETIMEDOUT : last,
                              "hybrid vsock '%s': guest port %" PRIu32
                              " not reachable within %" PRIu64 " ms",
                              uds_path, port, timeout_ms);
}

uint64_t agent_conn_next_id(struct agent_conn *c)
{
        return c->next_id++;
}

static const char *kind_name(Banger__V1__AgentRequest__KindCase k)
{
        switch (k) {
        case BANGER__V1__AGENT_REQUEST__KIND_HEALTH:
                return "Health";
        case BANGER__V1__AGENT_REQUEST__KIND_PORTS:
                return "Ports";
        case BANGER__V1__AGENT_REQUEST__KIND_STATS:
                return "Stats";
        case BANGER__V1__AGENT_REQUEST__KIND_SHUTDOWN:
                return "Shutdown";
        case BANGER__V1__AGENT_REQUEST__KIND_REIDENTIFY:
                return "Reidentify";
        case BANGER__V1__AGENT_REQUEST__KIND_UNMOUNT_WORK:
                return "UnmountWork";
        case BANGER__V1__AGENT_REQUEST__KIND_EXEC:
                return "Exec";
        default:
                return "request";
        }
}

int agent_call(struct agent_conn *c, Banger__V1__AgentRequest *req, uint64_t timeout_ms,
               Banger__V1__AgentResponse **ret, struct bg_error *err)
{
        const char *what = kind_name(req->kind_case);
        uint64_t deadline = agent_deadline_after_ms(timeout_ms);
        req->id = c->next_id++;

        size_t len = banger__v1__agent_request__get_packed_size(req);
        if (len > AGENT_FRAME_MAX)
                return bg_error_set(err, EMSGSIZE, "agent %s: request of %zu bytes is too large",
                                    what, len);
        _cleanup_free_ uint8_t *out = malloc(len ? len : 1);
        if (!out)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__agent_request__pack(req, out);

        int r = agent_frame_write(c->fd, out, len, deadline);
        if (r < 0)
                return bg_error_errno(err, r, "agent %s: send", what);

        for (;;) {
                _cleanup_free_ uint8_t *in = NULL;
                size_t inlen = 0;
                r = agent_frame_read(c->fd, AGENT_FRAME_MAX, deadline, 0, &in, &inlen);
                if (r == 0)
                        return bg_error_set(err, ECONNRESET,
                                            "agent %s: connection closed before the reply", what);
                if (r == -ETIMEDOUT)
                        return bg_error_set(err, ETIMEDOUT,
                                            "agent %s: no reply within %" PRIu64 " ms", what,
                                            timeout_ms);
                if (r == -EMSGSIZE)
                        return bg_error_set(err, EPROTO, "agent %s: reply larger than %u bytes",
                                            what, AGENT_FRAME_MAX);
                if (r == -EPROTO)
                        return bg_error_set(err, EPROTO,
                                            "agent %s: connection closed inside a reply", what);
                if (r < 0)
                        return bg_error_errno(err, r, "agent %s: receive", what);

                Banger__V1__AgentResponse *resp =
                    banger__v1__agent_response__unpack(NULL, inlen, in);
                if (!resp)
                        return bg_error_set(err, EPROTO, "agent %s: malformed reply", what);
                if (resp->id != req->id) {
                        /* A stale reply to an earlier caller: skip it. */
                        banger__v1__agent_response__free_unpacked(resp, NULL);
                        continue;
                }
                if (resp->kind_case == BANGER__V1__AGENT_RESPONSE__KIND_ERROR) {
                        int code = resp->error && resp->error->code > 0 ? resp->error->code : EIO;
                        bg_error_set(err, code, "agent %s: %s", what,
                                     resp->error && resp->error->message ? resp->error->message
                                                                         : "error");
                        banger__v1__agent_response__free_unpacked(resp, NULL);
                        return -code;
                }
                *ret = resp;
                return 0;
        }
}

static int typed_call(struct agent_conn *c, Banger__V1__AgentRequest *req,
                      Banger__V1__AgentResponse__KindCase want, uint64_t timeout_ms,
                      Banger__V1__AgentResponse **ret, struct bg_error *err)
{
        Banger__V1__AgentResponse *resp = NULL;
        int r = agent_call(c, req, timeout_ms, &resp, err);
        if (r < 0)
                return r;
        if (resp->kind_case != want) {
                banger__v1__agent_response__free_unpacked(resp, NULL);
                return bg_error_set(err, EPROTO, "agent %s: reply of the wrong kind",
                                    kind_name(req->kind_case));
        }
        *ret = resp;
        return 0;
}

int agent_health(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                 struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentHealthRequest body = BANGER__V1__AGENT_HEALTH_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_HEALTH;
        req.health = &body;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_HEALTH, timeout_ms, ret, err);
}

int agent_ports(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentPortsRequest body = BANGER__V1__AGENT_PORTS_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_PORTS;
        req.ports = &body;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_PORTS, timeout_ms, ret, err);
}

int agent_stats(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentStatsRequest body = BANGER__V1__AGENT_STATS_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_STATS;
        req.stats = &body;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_STATS, timeout_ms, ret, err);
}

int agent_shutdown(struct agent_conn *c, uint64_t timeout_ms, struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentShutdownRequest body = BANGER__V1__AGENT_SHUTDOWN_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_SHUTDOWN;
        req.shutdown = &body;
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *resp = NULL;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_SHUTDOWN, timeout_ms, &resp,
                          err);
}

int agent_reidentify(struct agent_conn *c, const Banger__V1__AgentReidentifyRequest *body,
                     uint64_t timeout_ms, Banger__V1__AgentResponse **ret, struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_REIDENTIFY;
        req.reidentify = (Banger__V1__AgentReidentifyRequest *)body;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_REIDENTIFY, timeout_ms, ret,
                          err);
}

int agent_unmount_work(struct agent_conn *c, uint64_t timeout_ms, struct bg_error *err)
{
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentUnmountWorkRequest body = BANGER__V1__AGENT_UNMOUNT_WORK_REQUEST__INIT;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_UNMOUNT_WORK;
        req.unmount_work = &body;
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *resp = NULL;
        return typed_call(c, &req, BANGER__V1__AGENT_RESPONSE__KIND_UNMOUNT_WORK, timeout_ms,
                          &resp, err);
}
