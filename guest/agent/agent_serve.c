#include "agent_serve.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_exec.h"
#include "agent_frame.h"
#include "agent_ports.h"
#include "agent_reid.h"
#include "agent_setup.h"
#include "agent_sysinfo.h"
#include "banger/v1/agent.pb-c.h"
#include "util/macro.h"

static int pack_response(const Banger__V1__AgentResponse *resp, uint8_t **ret_out, size_t *ret_len)
{
        size_t len = banger__v1__agent_response__get_packed_size(resp);
        uint8_t *out = malloc(len ? len : 1);
        if (!out)
                return -ENOMEM;
        banger__v1__agent_response__pack(resp, out);
        *ret_out = out;
        *ret_len = len;
        return 0;
}

static int pack_error(uint64_t id, int code, const char *message, uint8_t **ret_out,
                      size_t *ret_len)
{
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentError e = BANGER__V1__AGENT_ERROR__INIT;
        e.code = code;
        e.message = (char *)message;
        resp.id = id;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_ERROR;
        resp.error = &e;
        return pack_response(&resp, ret_out, ret_len);
}

static int pack_errno(uint64_t id, int r, const char *what, uint8_t **ret_out, size_t *ret_len)
{
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: %s", what, strerror(-r));
        return pack_error(id, -r, msg, ret_out, ret_len);
}

/* The answer to request id: what a collect step failed with (r < 0), else
 * resp (its kind and payload set by the caller). -ENOMEM is not answered. */
static int reply(uint64_t id, int r, const char *what, Banger__V1__AgentResponse *resp,
                 uint8_t **ret_out, size_t *ret_len)
{
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return pack_errno(id, r, what, ret_out, ret_len);
        resp->id = id;
        return pack_response(resp, ret_out, ret_len);
}

static int handle_health(const struct agent_serve_ctx *ctx, uint64_t id, uint8_t **ret_out,
                         size_t *ret_len)
{
        Banger__V1__AgentHealth h = BANGER__V1__AGENT_HEALTH__INIT;
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_HEALTH;
        resp.health = &h;
        int r = reply(id, agent_health_collect(ctx->proc_root, ctx->version, &h), "read health",
                      &resp, ret_out, ret_len);
        agent_health_clear(&h);
        return r;
}

static int handle_ports(const struct agent_serve_ctx *ctx, uint64_t id, uint8_t **ret_out,
                        size_t *ret_len)
{
        Banger__V1__AgentPorts p = BANGER__V1__AGENT_PORTS__INIT;
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_PORTS;
        resp.ports = &p;
        int r = reply(id, agent_ports_collect(ctx->proc_root, &p), "list listening sockets", &resp,
                      ret_out, ret_len);
        agent_ports_reply_clear(&p);
        return r;
}

static int handle_stats(const struct agent_serve_ctx *ctx, uint64_t id, uint8_t **ret_out,
                        size_t *ret_len)
{
        Banger__V1__AgentStats s = BANGER__V1__AGENT_STATS__INIT;
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_STATS;
        resp.stats = &s;
        int r =
            reply(id, agent_stats_collect(ctx->proc_root, ctx->disk_paths, ctx->n_disk_paths, &s),
                  "read system statistics", &resp, ret_out, ret_len);
        agent_stats_clear(&s);
        return r;
}

static int handle_shutdown(const struct agent_serve_ctx *ctx, uint64_t id, uint8_t **ret_out,
                           size_t *ret_len)
{
        if (ctx->sync_fn)
                ctx->sync_fn();
        else
                sync();
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentShutdownAck ack = BANGER__V1__AGENT_SHUTDOWN_ACK__INIT;
        resp.id = id;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_SHUTDOWN;
        resp.shutdown = &ack;
        return pack_response(&resp, ret_out, ret_len);
}

static int handle_reidentify(const struct agent_serve_ctx *ctx, uint64_t id,
                             const Banger__V1__AgentReidentifyRequest *req, uint8_t **ret_out,
                             size_t *ret_len)
{
        if (!ctx->reid)
                return pack_error(id, ENOTSUP, "this agent does not reidentify", ret_out, ret_len);
        Banger__V1__AgentReidentified done = BANGER__V1__AGENT_REIDENTIFIED__INIT;
        char msg[256] = "";
        int r = agent_reid_apply(ctx->reid, req, &done, msg, sizeof(msg));
        if (r == -ENOMEM) {
                agent_reid_out_clear(&done);
                return r;
        }
        if (r < 0) {
                agent_reid_out_clear(&done);
                return pack_error(id, -r, msg, ret_out, ret_len);
        }
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        resp.id = id;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_REIDENTIFY;
        resp.reidentify = &done;
        r = pack_response(&resp, ret_out, ret_len);
        agent_reid_out_clear(&done);
        return r;
}

static int handle_unmount_work(const struct agent_serve_ctx *ctx, uint64_t id, uint8_t **ret_out,
                               size_t *ret_len)
{
        if (!ctx->reid || !ctx->reid->system)
                return pack_error(id, ENOTSUP, "this agent does not unmount its work disk", ret_out,
                                  ret_len);
        char why[512];
        int r = agent_work_unmount(why, sizeof(why));
        if (r < 0)
                return pack_error(id, -r, why, ret_out, ret_len);
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentUnmountedWork done = BANGER__V1__AGENT_UNMOUNTED_WORK__INIT;
        resp.id = id;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_UNMOUNT_WORK;
        resp.unmount_work = &done;
        return pack_response(&resp, ret_out, ret_len);
}

int agent_serve_handle(const struct agent_serve_ctx *ctx, const uint8_t *in, size_t len,
                       uint8_t **ret_out, size_t *ret_len, bool *ret_shutdown)
{
        *ret_shutdown = false;
        Banger__V1__AgentRequest *req = banger__v1__agent_request__unpack(NULL, len, in);
        if (!req)
                return pack_error(0, EBADMSG, "malformed request", ret_out, ret_len);

        uint64_t id = req->id;
        int r;
        switch (req->kind_case) {
        case BANGER__V1__AGENT_REQUEST__KIND_HEALTH:
                r = handle_health(ctx, id, ret_out, ret_len);
                break;
        case BANGER__V1__AGENT_REQUEST__KIND_PORTS:
                r = handle_ports(ctx, id, ret_out, ret_len);
                break;
        case BANGER__V1__AGENT_REQUEST__KIND_STATS:
                r = handle_stats(ctx, id, ret_out, ret_len);
                break;
        case BANGER__V1__AGENT_REQUEST__KIND_SHUTDOWN:
                r = handle_shutdown(ctx, id, ret_out, ret_len);
                if (r >= 0)
                        *ret_shutdown = true;
                break;
        case BANGER__V1__AGENT_REQUEST__KIND_REIDENTIFY:
                r = handle_reidentify(ctx, id, req->reidentify, ret_out, ret_len);
                break;
        case BANGER__V1__AGENT_REQUEST__KIND_UNMOUNT_WORK:
                r = handle_unmount_work(ctx, id, ret_out, ret_len);
                break;
        default:
                r = pack_error(id, EINVAL, "request names no known operation", ret_out, ret_len);
                break;
        }
        banger__v1__agent_request__free_unpacked(req, NULL);
        if (r >= 0 && *ret_len > AGENT_FRAME_MAX) {
                char msg[96];
                snprintf(msg, sizeof(msg), "reply of %zu bytes exceeds the %u byte frame limit",
                         *ret_len, AGENT_FRAME_MAX);
                free(*ret_out);
                *ret_out = NULL;
                *ret_shutdown = false;
                r = pack_error(id, EMSGSIZE, msg, ret_out, ret_len);
        }
        return r;
}

static int handle_for_exec(const void *ud, const uint8_t *in, size_t len, uint8_t **ret_out,
                           size_t *ret_len, bool *ret_shutdown)
{
        return agent_serve_handle(ud, in, len, ret_out, ret_len, ret_shutdown);
}

static uint64_t deadline_or_none(uint64_t ms)
{
        return ms ? agent_deadline_after_ms(ms) : 0;
}

int agent_serve_announce(int fd, uint64_t timeout_ms)
{
        _cleanup_free_ uint8_t *out = NULL;
        size_t len = 0;
        int r = pack_error(AGENT_ANNOUNCE_ID, ECONNRESET,
                           "the guest agent started on this port: what ran here before is gone",
                           &out, &len);
        if (r < 0)
                return r;
        /* One write of header and body: all of it or nothing reaches the
         * port, so a host that is not there (or not reading) never gets half
         * a frame that would put the next answer out of step. */
        uint8_t buf[4 + 256];
        if (len > sizeof(buf) - 4)
                return -EMSGSIZE;
        buf[0] = (uint8_t)(len >> 24);
        buf[1] = (uint8_t)(len >> 16);
        buf[2] = (uint8_t)(len >> 8);
        buf[3] = (uint8_t)len;
        memcpy(buf + 4, out, len);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int k = poll(&p, 1, (int)timeout_ms);
        if (k <= 0 || !(p.revents & POLLOUT))
                return 0; /* no host, or one that does not read: nothing to tell */
        ssize_t n = send(fd, buf, len + 4, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
                n = write(fd, buf, len + 4);
        if (n < 0)
                return errno == EAGAIN || errno == EPIPE || errno == ECONNRESET ? 0 : -errno;
        if ((size_t)n == len + 4)
                return 0;
        /* Part of it went: the rest must follow, or the stream is lost. */
        return agent_frame_write_raw(fd, buf + n, len + 4 - (size_t)n,
                                     agent_deadline_after_ms(5000));
}

int agent_serve_stream(const struct agent_serve_ctx *ctx, int fd)
{
        for (;;) {
                _cleanup_free_ uint8_t *in = NULL;
                size_t len = 0;
                int r = agent_frame_read(fd, AGENT_FRAME_MAX, 0, ctx->stall_ms, &in, &len);
                if (r == 0)
                        return 0;
                if (r == -EMSGSIZE) {
                        _cleanup_free_ uint8_t *out = NULL;
                        size_t outlen = 0;
                        char msg[96];
                        snprintf(msg, sizeof(msg), "request larger than %u bytes", AGENT_FRAME_MAX);
                        if (pack_error(0, EMSGSIZE, msg, &out, &outlen) >= 0)
                                (void)agent_frame_write(fd, out, outlen,
                                                        deadline_or_none(ctx->write_timeout_ms));
                        return -EMSGSIZE;
                }
                if (r < 0)
                        return r;

                /* Exec takes over the stream until its command ended; input
                 * for a session that is over is dropped without a reply. */
                Banger__V1__AgentRequest *req = banger__v1__agent_request__unpack(NULL, len, in);
                if (req && (req->kind_case == BANGER__V1__AGENT_REQUEST__KIND_EXEC ||
                            req->kind_case == BANGER__V1__AGENT_REQUEST__KIND_EXEC_INPUT)) {
                        r = 0;
                        struct agent_exec_env env = {
                            .handle = handle_for_exec, .ud = ctx, .stall_ms = ctx->stall_ms};
                        if (req->kind_case == BANGER__V1__AGENT_REQUEST__KIND_EXEC)
                                r = agent_exec_session(&env, fd, req->id, req->exec);
                        banger__v1__agent_request__free_unpacked(req, NULL);
                        if (r == AGENT_EXEC_SHUTDOWN)
                                return AGENT_SERVE_SHUTDOWN;
                        if (r != 0)
                                return r;
                        continue;
                }
                if (req)
                        banger__v1__agent_request__free_unpacked(req, NULL);

                _cleanup_free_ uint8_t *out = NULL;
                size_t outlen = 0;
                bool shutdown = false;
                r = agent_serve_handle(ctx, in, len, &out, &outlen, &shutdown);
                if (r < 0)
                        return r;
                r = agent_frame_write(fd, out, outlen, deadline_or_none(ctx->write_timeout_ms));
                if (r < 0)
                        return r;
                if (shutdown)
                        return AGENT_SERVE_SHUTDOWN;
        }
}
