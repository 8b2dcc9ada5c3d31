/* nng REQ client. One socket per peer, shared by threads; every call opens its
 * own context, so calls run concurrently and each has its own deadline.
 *
 * nng's automatic resend is disabled (NNG_OPT_REQ_RESENDTIME = infinite): a
 * request is sent at most once, and when the connection drops while waiting
 * nng reports ECONNRESET instead of resending it to the next peer. Callers
 * that know a method is idempotent pass RPC_CALL_IDEMPOTENT for one retry.
 *
 * nng's dialer redials on its own after a refused connect or a dropped
 * connection, but gives up for good when an attempt ends in "object closed"
 * (the peer accepted, then hung up before the SP handshake: a service killed
 * or restarted at that moment). So the client watches for itself: when it
 * has had no connection and no connection event for REDIAL_AFTER_MS, the
 * next caller that looks (rpc_client_connections, a call waiting for its
 * connection) closes the dialer and dials again. A dialer that still works
 * only loses a backoff it would have slept anyway. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "log/log.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "util/timeutil.h"

#define CONNECT_WAIT_DEFAULT_MS 300
/* No connection and no pipe event for this long: dial again (nng retries at
 * least every 250 ms while its dialer lives, NNG_OPT_RECONNMAXT below). */
#define REDIAL_AFTER_MS 1000

struct rpc_client {
        nng_socket sock;
        char *url;
        atomic_int n_pipes;
        atomic_uint_fast64_t last_event_ms; /* now_mono_msec of the last dial or pipe event */
        pthread_mutex_t mu;
        pthread_cond_t cond;
        pthread_mutex_t dial_mu; /* held while the dialer is replaced; never with mu */
        nng_dialer dialer;
        unsigned redials;
};

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
        struct rpc_client *c = arg;
        pthread_mutex_lock(&c->mu);
        if (ev == NNG_PIPE_EV_ADD_POST)
                atomic_fetch_add(&c->n_pipes, 1);
        else if (ev == NNG_PIPE_EV_REM_POST)
                atomic_fetch_sub(&c->n_pipes, 1);
        atomic_store(&c->last_event_ms, now_mono_msec());
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);
}

/* Replaces the dialer when the client has had no connection and no pipe
 * event for REDIAL_AFTER_MS (see the top of this file). */
static void redial_if_stalled(struct rpc_client *c)
{
        if (atomic_load(&c->n_pipes) > 0 ||
            now_mono_msec() - atomic_load(&c->last_event_ms) < REDIAL_AFTER_MS)
                return;
        if (pthread_mutex_trylock(&c->dial_mu) != 0)
                return; /* another caller is at it */
        if (atomic_load(&c->n_pipes) == 0 &&
            now_mono_msec() - atomic_load(&c->last_event_ms) >= REDIAL_AFTER_MS) {
                atomic_store(&c->last_event_ms, now_mono_msec());
                nng_dialer_close(c->dialer);
                nng_dialer d;
                int rv = nng_dial(c->sock, c->url, &d, NNG_FLAG_NONBLOCK);
                if (rv == 0) {
                        c->dialer = d;
                        if (c->redials++ == 0)
                                log_info("%s: no connection for %d ms, dialing again", c->url,
                                         REDIAL_AFTER_MS);
                } else {
                        c->dialer = (nng_dialer)NNG_DIALER_INITIALIZER;
                        log_warn("%s: dialing again: %s", c->url, nng_strerror(rv));
                }
        }
        pthread_mutex_unlock(&c->dial_mu);
}

int rpc_client_open(const char *url, const struct rpc_client_opts *opts, struct rpc_client **ret,
                    struct bg_error *err)
{
        int rv;
        struct rpc_client *c = calloc(1, sizeof(*c));
        if (!c)
                return bg_error_set(err, ENOMEM, "out of memory");
        c->url = strdup(url);
        if (!c->url) {
                free(c);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cond, NULL);
        pthread_mutex_init(&c->dial_mu, NULL);
        atomic_store(&c->last_event_ms, now_mono_msec());
        rv = nng_req0_open(&c->sock);
        if (rv != 0) {
                free(c->url);
                free(c);
                return bg_error_set(err, rpc_nng_errno(rv), "open req socket: %s",
                                    nng_strerror(rv));
        }
        nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
        nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 250);
        nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
                            opts && opts->recv_max ? opts->recv_max : RPC_DEFAULT_RECV_MAX);
        nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
        nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);

        bool block = opts && opts->block_connect;
        rv = nng_dial(c->sock, url, &c->dialer, block ? 0 : NNG_FLAG_NONBLOCK);
        if (rv != 0) {
                int e = rpc_nng_errno(rv);
                nng_close(c->sock);
                free(c->url);
                free(c);
                if (e == ENOENT || e == ECONNREFUSED)
                        e = ECONNREFUSED;
                return bg_error_set(err, e, "cannot connect to %s: %s", url, nng_strerror(rv));
        }
        *ret = c;
        return 0;
}

void rpc_client_close(struct rpc_client *c)
{
        if (!c)
                return;
        nng_close(c->sock);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->dial_mu);
        free(c->url);
        free(c);
}

int rpc_client_ctx_open(struct rpc_client *c, nng_ctx *ret)
{
        int rv = nng_ctx_open(ret, c->sock);
        return rv ? -rpc_nng_errno(rv) : 0;
}

const char *rpc_client_url(const struct rpc_client *c)
{
        return c->url;
}

int rpc_client_connections(struct rpc_client *c)
{
        int n = atomic_load(&c->n_pipes);
        if (n == 0)
                redial_if_stalled(c);
        return n;
}

static int status_set(struct rpc_status *st, enum rpc_code code, const char *op_id, const char *fmt,
                      ...) _printf_(4, 5);
static int status_set(struct rpc_status *st, enum rpc_code code, const char *op_id, const char *fmt,
                      ...)
{
        if (st) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(st->message, sizeof(st->message), fmt, ap);
                va_end(ap);
                st->code = code;
                snprintf(st->op_id, sizeof(st->op_id), "%s", op_id ? op_id : "");
        }
        return code == RPC_OK ? 0 : -rpc_code_to_errno(code);
}

/* Waits up to wait_ms for a connection, redialing a stalled dialer (looked
 * at every 250 ms) while it waits. */
static bool wait_connected(struct rpc_client *c, uint32_t wait_ms)
{
        if (atomic_load(&c->n_pipes) > 0)
                return true;
        uint64_t end = now_mono_msec() + wait_ms;
        for (;;) {
                redial_if_stalled(c);
                uint64_t now = now_mono_msec();
                if (atomic_load(&c->n_pipes) > 0 || now >= end)
                        break;
                uint64_t step = end - now < 250 ? end - now : 250;
                struct timespec until = timespec_after_ms(CLOCK_REALTIME, (uint32_t)step);
                pthread_mutex_lock(&c->mu);
                while (atomic_load(&c->n_pipes) == 0) {
                        if (pthread_cond_timedwait(&c->cond, &c->mu, &until) == ETIMEDOUT)
                                break;
                }
                pthread_mutex_unlock(&c->mu);
        }
        return atomic_load(&c->n_pipes) > 0;
}

bool rpc_client_wait_connected(struct rpc_client *c, uint32_t wait_ms)
{
        return wait_connected(c, wait_ms);
}

/* One send + receive on a fresh context. Consumes req (even on failure). */
static int roundtrip(struct rpc_client *c, nng_msg *req, uint64_t deadline_mono_ms,
                     nng_msg **ret_reply)
{
        nng_ctx ctx;
        nng_aio *aio;
        int rv = nng_ctx_open(&ctx, c->sock);
        if (rv != 0) {
                nng_msg_free(req);
                return -rpc_nng_errno(rv);
        }
        rv = nng_aio_alloc(&aio, NULL, NULL);
        if (rv != 0) {
                nng_ctx_close(ctx);
                nng_msg_free(req);
                return -rpc_nng_errno(rv);
        }
        uint64_t now = now_mono_msec();
        nng_aio_set_timeout(aio,
                            deadline_mono_ms > now ? (nng_duration)(deadline_mono_ms - now) : 1);
        nng_aio_set_msg(aio, req);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
        if (rv != 0) {
                nng_msg_free(nng_aio_get_msg(aio)); /* still ours when send failed */
                goto out;
        }
        now = now_mono_msec();
        nng_aio_set_timeout(aio,
                            deadline_mono_ms > now ? (nng_duration)(deadline_mono_ms - now) : 1);
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
        if (rv == 0)
                *ret_reply = nng_aio_get_msg(aio);
out:
        nng_aio_free(aio);
        nng_ctx_close(ctx);
        return -rpc_nng_errno(rv);
}

static int transport_status(struct rpc_client *c, int r, struct rpc_status *st, const char *op_id)
{
        switch (-r) {
        case ETIMEDOUT:
                return status_set(st, RPC_DEADLINE_EXCEEDED, op_id,
                                  "no answer from %s before the deadline", c->url);
        case ECONNRESET:
                return status_set(st, RPC_UNAVAILABLE, op_id,
                                  "connection to %s was lost during the call; its outcome is "
                                  "unknown",
                                  c->url);
        case ESHUTDOWN:
        case ECONNREFUSED:
                return status_set(st, RPC_UNAVAILABLE, op_id, "%s is not reachable", c->url);
        default:
                return status_set(st, rpc_code_from_errno(r), op_id, "call to %s failed: %s",
                                  c->url, strerror(-r));
        }
}

int rpc_call_raw(struct rpc_client *c, nng_msg *req, uint32_t deadline_ms, nng_msg **ret_reply,
                 struct rpc_status *st)
{
        if (!wait_connected(c, deadline_ms < CONNECT_WAIT_DEFAULT_MS ? deadline_ms
                                                                     : CONNECT_WAIT_DEFAULT_MS)) {
                nng_msg_free(req);
                return status_set(st, RPC_UNAVAILABLE, "", "%s is not reachable", c->url);
        }
        int r = roundtrip(c, req, now_mono_msec() + deadline_ms, ret_reply);
        if (r < 0)
                return transport_status(c, r, st, "");
        return 0;
}

int rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
             const struct rpc_call_opts *opts, struct rpc_status *st)
{
        struct rpc_call_opts o = opts ? *opts : (struct rpc_call_opts){0};
        const struct rpc_call *parent = rpc_current_call();
        char op_id[LOG_OP_ID_MAX];
        uint32_t deadline_ms = o.deadline_ms ? o.deadline_ms : RPC_DEFAULT_DEADLINE_MS;
        int r;

        if (o.op_id && o.op_id[0])
                snprintf(op_id, sizeof(op_id), "%s", o.op_id);
        else if (parent)
                snprintf(op_id, sizeof(op_id), "%s", parent->op_id);
        else
                rpc_new_op_id(op_id, sizeof(op_id));
        if (parent) {
                uint32_t left = rpc_call_remaining_ms(parent);
                if (left == 0)
                        return status_set(st, RPC_DEADLINE_EXCEEDED, op_id, "no time left for %s",
                                          method);
                if (left < deadline_ms)
                        deadline_ms = left;
        }
        uint64_t deadline = now_mono_msec() + deadline_ms;

        size_t body_len = protobuf_c_message_get_packed_size(in);
        _cleanup_free_ uint8_t *body = malloc(body_len ? body_len : 1);
        if (!body)
                return status_set(st, RPC_RESOURCE_EXHAUSTED, op_id, "out of memory");
        protobuf_c_message_pack(in, body);

        uint32_t wait_ms = o.connect_wait_ms ? o.connect_wait_ms : CONNECT_WAIT_DEFAULT_MS;
        if (wait_ms > deadline_ms)
                wait_ms = deadline_ms;

        for (int attempt = 0;; attempt++) {
                uint64_t now = now_mono_msec();
                if (now >= deadline)
                        return status_set(st, RPC_DEADLINE_EXCEEDED, op_id,
                                          "no answer from %s before the deadline", c->url);
                if (!wait_connected(c, wait_ms))
                        return status_set(st, RPC_UNAVAILABLE, op_id, "%s is not reachable",
                                          c->url);

                Banger__V1__Request req = BANGER__V1__REQUEST__INIT;
                req.method = (char *)method;
                req.body.data = body;
                req.body.len = body_len;
                req.op_id = op_id;
                req.deadline_ms = (uint32_t)(deadline - now);
                req.caller_uid = o.caller_uid;
                req.caller_pid = o.caller_pid;
                nng_msg *msg, *reply = NULL;
                r = rpc_pack_msg(&req.base, &msg);
                if (r < 0)
                        return status_set(st, RPC_RESOURCE_EXHAUSTED, op_id, "out of memory");
                r = roundtrip(c, msg, deadline, &reply);
                if (r == -ECONNRESET && (o.flags & RPC_CALL_IDEMPOTENT) && attempt == 0)
                        continue;
                if (r < 0)
                        return transport_status(c, r, st, op_id);

                Banger__V1__Response *resp =
                    banger__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
                nng_msg_free(reply);
                if (!resp)
                        return status_set(st, RPC_INTERNAL, op_id, "malformed response from %s",
                                          c->url);
                int code = resp->status ? (int)resp->status->code : RPC_UNKNOWN;
                if (code < 0 || code >= _RPC_CODE_MAX)
                        code = RPC_UNKNOWN;
                const char *rop =
                    resp->status && resp->status->op_id[0] ? resp->status->op_id : op_id;
                if (code != RPC_OK) {
                        r = status_set(st, (enum rpc_code)code, rop, "%s",
                                       resp->status && resp->status->message[0]
                                           ? resp->status->message
                                           : "call failed");
                        banger__v1__response__free_unpacked(resp, NULL);
                        return r;
                }
                if (out_desc && ret_out) {
                        ProtobufCMessage *out = protobuf_c_message_unpack(
                            out_desc, NULL, resp->body.len, resp->body.data);
                        if (!out) {
                                r = status_set(st, RPC_INTERNAL, rop,
                                               "malformed %s in response from %s", out_desc->name,
                                               c->url);
                                banger__v1__response__free_unpacked(resp, NULL);
                                return r;
                        }
                        *ret_out = out;
                }
                r = status_set(st, RPC_OK, rop, "OK");
                banger__v1__response__free_unpacked(resp, NULL);
                return r;
        }
}
