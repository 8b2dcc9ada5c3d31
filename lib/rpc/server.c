/* nng REP server: N contexts receive concurrently; each received message is
 * queued to a worker thread (handlers never run in nng callbacks); the worker
 * decodes the envelope, checks the peer, dispatches through the service's
 * descriptor-checked method table and sends the packed Response on the same
 * context, which then receives again. Calls of guest_wait methods go to a
 * second pool of workers (chosen from the method name, read from the packed
 * envelope without unpacking it), so a guest that never answers holds only
 * those; calls of slow methods (long waits by design, like vm stop) go to a
 * third. Each of the two has a limit of calls in flight and contexts of its
 * own for them: past the limit a call is refused as busy at once, and the
 * contexts every other call needs stay free.
 *
 * Ownership: a context's nng_msg belongs to the context from receipt until it
 * is handed to nng_ctx_send (or freed on error). Unpacked requests and the
 * handler's output message belong to the worker and are freed before the reply
 * is sent. The listening socket and its guard are server_listener.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <nng/transport/ipc/ipc.h>

#include "log/log.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "rpc/server_internal.h"
#include "util/macro.h"
#include "util/timeutil.h"

static __thread const struct rpc_call *current_call;

const struct rpc_call *rpc_current_call(void)
{
        return current_call;
}

uint32_t rpc_call_remaining_ms(const struct rpc_call *call)
{
        uint64_t now = now_mono_msec();
        if (!call || call->deadline_mono_ms <= now)
                return 0;
        uint64_t left = call->deadline_mono_ms - now;
        return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

int rpc_peer_allow_owner(void *ud, uint32_t peer_uid, int peer_pid, struct bg_error *err)
{
        uint32_t owner = *(const uint32_t *)ud;
        if (peer_uid == 0 || peer_uid == owner)
                return 0;
        return bg_error_set(err, EPERM,
                            "uid %u may not use banger here: only the owner (uid %u) and root may",
                            peer_uid, owner);
}

static bool op_id_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n >= LOG_OP_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.'))
                        return false;
        }
        return true;
}

static const struct rpc_service_entry *find_service(const struct rpc_server *s, const char *name)
{
        for (size_t i = 0; i < s->n_services; i++)
                if (strcmp(s->services[i].desc->name, name) == 0)
                        return &s->services[i];
        return NULL;
}

static nng_msg *reply_or_die(enum rpc_code code, const char *message, const char *op_id)
{
        nng_msg *m = NULL;
        if (rpc_reply_status(code, message, op_id, &m) < 0)
                return NULL; /* out of memory: the context drops this request */
        return m;
}

/* Runs one local method. Returns the packed reply. */
static nng_msg *dispatch_local(const struct rpc_service_entry *e, const char *method_name,
                               const Banger__V1__Request *req, const struct rpc_call *call)
{
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(e->desc, method_name);
        if (!md) {
                char m[256];
                snprintf(m, sizeof(m), "unknown method %s", req->method);
                return reply_or_die(RPC_UNIMPLEMENTED, m, call->op_id);
        }
        size_t idx = (size_t)(md - e->desc->methods);
        const struct rpc_method_impl *impl = &e->impls[idx];

        ProtobufCMessage *in =
            protobuf_c_message_unpack(md->input, NULL, req->body.len, req->body.data);
        if (!in) {
                char m[256];
                snprintf(m, sizeof(m), "malformed %s body for %s", md->input->name, req->method);
                return reply_or_die(RPC_INVALID_ARGUMENT, m, call->op_id);
        }
        ProtobufCMessage *out = calloc(1, md->output->sizeof_message);
        if (!out) {
                protobuf_c_message_free_unpacked(in, NULL);
                return reply_or_die(RPC_RESOURCE_EXHAUSTED, "out of memory", call->op_id);
        }
        md->output->message_init(out);

        struct bg_error err = {0};
        int r = impl->fn(e->svc, in, out, call, &err);
        protobuf_c_message_free_unpacked(in, NULL);

        nng_msg *reply = NULL;
        if (r < 0) {
                int code = err.code ? err.code : -r;
                enum rpc_code rc = rpc_code_from_errno(code);
                const char *msg = err.msg[0] ? err.msg : strerror(code);
                if (rc == RPC_INTERNAL || rc == RPC_UNKNOWN || rc == RPC_DATA_LOSS)
                        log_error("%s failed: %s", req->method, msg);
                else
                        log_debug("%s: %s: %s", req->method, rpc_code_to_string(rc), msg);
                reply = reply_or_die(rc, msg, call->op_id);
        } else {
                Banger__V1__Status status = BANGER__V1__STATUS__INIT;
                Banger__V1__Response resp = BANGER__V1__RESPONSE__INIT;
                status.code = BANGER__V1__STATUS_CODE__STATUS_OK;
                status.op_id = (char *)call->op_id;
                resp.status = &status;
                size_t len = protobuf_c_message_get_packed_size(out);
                uint8_t *body = malloc(len ? len : 1);
                if (body) {
                        protobuf_c_message_pack(out, body);
                        resp.body.data = body;
                        resp.body.len = len;
                        if (rpc_pack_msg(&resp.base, &reply) < 0)
                                reply = NULL;
                        free(body);
                } else {
                        reply = reply_or_die(RPC_RESOURCE_EXHAUSTED, "out of memory", call->op_id);
                }
        }
        protobuf_c_message_free_unpacked(out, NULL);
        return reply;
}

nng_msg *rpc_server_handle(struct rpc_server *s, const void *data, size_t len, uint32_t peer_uid,
                           int peer_pid)
{
        uint64_t t0 = now_mono_usec();
        struct rpc_call call = {0};
        char op_id[LOG_OP_ID_MAX];
        char svc_name[RPC_METHOD_MAX], method_name[RPC_METHOD_MAX];
        nng_msg *reply = NULL;

        call.peer_uid = peer_uid;
        call.peer_pid = peer_pid;

        Banger__V1__Request *req = banger__v1__request__unpack(NULL, len, data);
        rpc_new_op_id(op_id, sizeof(op_id));
        if (!req)
                return reply_or_die(RPC_INVALID_ARGUMENT, "malformed request envelope", op_id);

        if (req->op_id[0]) {
                if (!op_id_valid(req->op_id)) {
                        reply =
                            reply_or_die(RPC_INVALID_ARGUMENT,
                                         "op_id must be 1-39 characters of [A-Za-z0-9._-]", op_id);
                        goto out;
                }
                snprintf(op_id, sizeof(op_id), "%s", req->op_id);
        }
        log_set_op_id(op_id);
        call.op_id = op_id;
        call.method = req->method;
        call.caller_uid =
            s->cfg.trust_caller_uid && req->caller_uid != 0 ? req->caller_uid : call.peer_uid;
        call.caller_pid = s->cfg.trust_caller_uid && req->caller_pid != 0 ? (int)req->caller_pid
                                                                          : call.peer_pid;
        uint32_t budget = req->deadline_ms ? req->deadline_ms : s->cfg.default_deadline_ms;
        call.deadline_mono_ms = now_mono_msec() + budget;

        if (s->cfg.peer_check) {
                struct bg_error err = {0};
                if (s->cfg.peer_check(s->cfg.peer_check_ud, call.peer_uid, call.peer_pid, &err) <
                    0) {
                        log_warn("refused %s from uid %u pid %d: %s", req->method, call.peer_uid,
                                 call.peer_pid, err.msg);
                        reply = reply_or_die(RPC_PERMISSION_DENIED, err.msg, op_id);
                        goto out;
                }
        }

        if (rpc_split_method(req->method, svc_name, sizeof(svc_name), method_name,
                             sizeof(method_name)) < 0) {
                char m[300];
                snprintf(m, sizeof(m), "bad method name '%.200s': expected /package.Service/Method",
                         req->method);
                reply = reply_or_die(RPC_INVALID_ARGUMENT, m, op_id);
                goto out;
        }

        current_call = &call;
        const struct rpc_service_entry *e = find_service(s, svc_name);
        if (e) {
                reply = dispatch_local(e, method_name, req, &call);
        } else if (s->cfg.forward) {
                struct bg_error err = {0};
                int r = s->cfg.forward(s->cfg.forward_ud, req, &call, &reply, &err);
                if (r < 0) {
                        enum rpc_code rc = rpc_code_from_errno(err.code ? err.code : -r);
                        reply = reply_or_die(rc, err.msg[0] ? err.msg : strerror(-r), op_id);
                }
        } else {
                char m[300];
                snprintf(m, sizeof(m), "unknown service %.200s on %s", svc_name, s->name);
                reply = reply_or_die(RPC_UNIMPLEMENTED, m, op_id);
        }
        current_call = NULL;
        log_debug("%s from uid %u took %llu us", req->method, call.peer_uid,
                  (unsigned long long)(now_mono_usec() - t0));
out:
        log_set_op_id(NULL);
        banger__v1__request__free_unpacked(req, NULL);
        return reply;
}

/* Decodes, authenticates and routes one request. Consumes msg. */
static nng_msg *handle_request(struct rpc_server *s, nng_msg *msg)
{
        /* Peer credentials come from the kernel (SO_PEERCRED on the ipc pipe). */
        nng_pipe pipe = nng_msg_get_pipe(msg);
        uint64_t uid = UINT32_MAX, pid = 0;
        /* A peer whose uid cannot be read (the connection closed, or a
         * transport without credentials) is nobody: peer checks refuse it. */
        if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) != 0)
                uid = UINT32_MAX;
        if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid) != 0)
                pid = 0;
        nng_msg *reply =
            rpc_server_handle(s, nng_msg_body(msg), nng_msg_len(msg), (uint32_t)uid, (int)pid);
        nng_msg_free(msg);
        return reply;
}

static void work_send_reply(struct rpc_work *w, nng_msg *reply);

/* Reads a varint at *p (< end); false when truncated or over 64 bits. */
static bool peek_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
                uint8_t b = *(*p)++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* The method field (1) of a packed Request, found by walking the wire format
 * without unpacking (this runs in an nng callback). Copies it into buf;
 * false when absent, malformed or too long. */
static bool peek_method(const uint8_t *p, size_t len, char *buf, size_t size)
{
        const uint8_t *end = p + len;
        while (p < end) {
                uint64_t key, n;
                if (!peek_varint(&p, end, &key))
                        return false;
                switch (key & 7) {
                case 0:
                        if (!peek_varint(&p, end, &n))
                                return false;
                        break;
                case 1:
                        if (end - p < 8)
                                return false;
                        p += 8;
                        break;
                case 2:
                        if (!peek_varint(&p, end, &n) || n > (uint64_t)(end - p))
                                return false;
                        if (key >> 3 == 1) {
                                if (n >= size)
                                        return false;
                                memcpy(buf, p, n);
                                buf[n] = '\0';
                                return true;
                        }
                        p += n;
                        break;
                case 5:
                        if (end - p < 4)
                                return false;
                        p += 4;
                        break;
                default:
                        return false;
                }
        }
        return false;
}

/* Which pool serves msg: POOL_GUEST for a local guest_wait method, POOL_SLOW
 * for a slow one. A request
 * that cannot be read goes to POOL_MAIN, which answers it with the precise
 * error. */
static int pool_for(const struct rpc_server *s, nng_msg *msg)
{
        char method[RPC_METHOD_MAX], svc_name[RPC_METHOD_MAX], method_name[RPC_METHOD_MAX];
        if (!(s->has_guest_pool || s->has_slow_pool) || !peek_method(nng_msg_body(msg), nng_msg_len(msg), method,
                                               sizeof(method)))
                return POOL_MAIN;
        if (rpc_split_method(method, svc_name, sizeof(svc_name), method_name,
                             sizeof(method_name)) < 0)
                return POOL_MAIN;
        const struct rpc_service_entry *e = find_service(s, svc_name);
        if (!e)
                return POOL_MAIN;
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(e->desc, method_name);
        if (!md)
                return POOL_MAIN;
        const struct rpc_method_impl *impl = &e->impls[md - e->desc->methods];
        return impl->guest_wait ? POOL_GUEST : impl->slow ? POOL_SLOW : POOL_MAIN;
}

/* A call past its pool's limit: answered here, in the nng callback, without
 * a worker; the context it holds is free again once the reply is sent. */
static void refuse_busy(struct rpc_server *s, struct rpc_work *w, const struct work_pool *q)
{
        char m[256], op_id[LOG_OP_ID_MAX];
        rpc_new_op_id(op_id, sizeof(op_id));
        snprintf(m, sizeof(m),
                 "%s is busy: %u %s in flight already, the most it takes%s%s%s; try "
                 "again once some ended",
                 s->name, q->max, q->what, q->key[0] ? " (" : "", q->key, q->key[0] ? ")" : "");
        nng_msg_free(TAKE_PTR(w->msg));
        work_send_reply(w, reply_or_die(RPC_RESOURCE_EXHAUSTED, m, op_id));
}

/* Under s->mu: the call w was counted for has been answered. */
static void work_uncount(struct rpc_server *s, struct rpc_work *w)
{
        if (w->pool >= 0)
                s->pools[w->pool].in_flight--;
        w->pool = -1;
}

static void enqueue(struct rpc_server *s, struct rpc_work *w)
{
        int pool = pool_for(s, w->msg);
        struct work_pool *q = &s->pools[pool];
        pthread_mutex_lock(&s->mu);
        if (pool != POOL_MAIN) {
                if (q->in_flight >= q->max) {
                        pthread_mutex_unlock(&s->mu);
                        refuse_busy(s, w, q);
                        return;
                }
                q->in_flight++;
                w->pool = pool;
        }
        w->next = NULL;
        if (q->tail)
                q->tail->next = w;
        else
                q->head = w;
        q->tail = w;
        pthread_cond_signal(&q->cond);
        pthread_mutex_unlock(&s->mu);
}

/* Tries to relay w->msg to a backend without a worker. Returns true when the
 * relay started (w->msg consumed), false to leave it to the worker path. Runs
 * in an nng callback: decoding and re-packing only, never blocking. */
static bool forward_fast(struct rpc_server *s, struct rpc_work *w)
{
        char svc[RPC_METHOD_MAX], method[RPC_METHOD_MAX];
        nng_msg *fwd = NULL;
        bool started = false;

        Banger__V1__Request *req =
            banger__v1__request__unpack(NULL, nng_msg_len(w->msg), nng_msg_body(w->msg));
        if (!req)
                return false;
        if (rpc_split_method(req->method, svc, sizeof(svc), method, sizeof(method)) < 0 ||
            find_service(s, svc) || (req->op_id[0] && !op_id_valid(req->op_id)))
                goto out;

        nng_pipe pipe = nng_msg_get_pipe(w->msg);
        uint64_t uid = UINT32_MAX, pid = 0;
        if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) != 0)
                goto out;
        nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid);
        if (s->cfg.peer_check &&
            s->cfg.peer_check(s->cfg.peer_check_ud, (uint32_t)uid, (int)pid, NULL) < 0)
                goto out;
        struct rpc_client *c = s->route(s->route_ud, svc);
        if (!c)
                goto out;

        if (req->op_id[0])
                snprintf(w->fwd_op_id, sizeof(w->fwd_op_id), "%s", req->op_id);
        else
                rpc_new_op_id(w->fwd_op_id, sizeof(w->fwd_op_id));
        snprintf(w->fwd_svc, sizeof(w->fwd_svc), "%s", svc);
        snprintf(w->fwd_method, sizeof(w->fwd_method), "%s", method);
        uint32_t budget = req->deadline_ms ? req->deadline_ms : s->cfg.default_deadline_ms;
        /* Re-stamp and re-pack; the op_id string is swapped only for packing. */
        char *orig_op_id = req->op_id;
        req->op_id = w->fwd_op_id;
        req->caller_uid = (uint32_t)uid;
        req->caller_pid = (uint32_t)pid;
        req->deadline_ms = budget;
        int r = rpc_pack_msg(&req->base, &fwd);
        req->op_id = orig_op_id;
        if (r < 0)
                goto out;
        if (rpc_client_ctx_open(c, &w->fctx) < 0) {
                nng_msg_free(fwd);
                goto out;
        }
        w->fctx_open = true;
        nng_msg_free(TAKE_PTR(w->msg));
        w->state = WORK_FWD_SEND;
        nng_aio_set_timeout(w->faio, (nng_duration)budget);
        nng_aio_set_msg(w->faio, fwd);
        nng_ctx_send(w->fctx, w->faio);
        started = true;
out:
        banger__v1__request__free_unpacked(req, NULL);
        return started;
}

/* Completion of the relay's send or receive on the backend context. */
static void fwd_cb(void *arg)
{
        struct rpc_work *w = arg;
        int rv = nng_aio_result(w->faio);
        nng_msg *reply = NULL;
        char m[300];

        if (w->state == WORK_FWD_SEND) {
                if (rv == 0) {
                        w->state = WORK_FWD_RECV;
                        nng_ctx_recv(w->fctx, w->faio);
                        return;
                }
                nng_msg *unsent = nng_aio_get_msg(w->faio);
                if (unsent)
                        nng_msg_free(unsent);
                nng_aio_set_msg(w->faio, NULL);
        } else if (rv == 0) {
                reply = nng_aio_get_msg(w->faio);
                nng_aio_set_msg(w->faio, NULL);
                if (w->srv->relayed)
                        w->srv->relayed(w->srv->relayed_ud, w->fwd_svc, w->fwd_method);
        }
        nng_ctx_close(w->fctx);
        w->fctx_open = false;
        if (!reply) {
                enum rpc_code code = rv == NNG_ETIMEDOUT ? RPC_DEADLINE_EXCEEDED : RPC_UNAVAILABLE;
                snprintf(m, sizeof(m), "%s: %s", w->fwd_svc,
                         rv == NNG_ETIMEDOUT ? "no answer before the deadline"
                                             : "connection lost during the call; its outcome is "
                                               "unknown");
                reply = reply_or_die(code, m, w->fwd_op_id);
        }
        work_send_reply(w, reply);
}

static void work_recv(struct rpc_work *w)
{
        w->state = WORK_RECV;
        nng_ctx_recv(w->ctx, w->aio);
}

static void work_cb(void *arg)
{
        struct rpc_work *w = arg;
        struct rpc_server *s = w->srv;
        int rv = nng_aio_result(w->aio);

        if (w->state == WORK_RECV) {
                if (rv != 0) {
                        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
                                return; /* shutting down */
                        work_recv(w);
                        return;
                }
                w->msg = nng_aio_get_msg(w->aio);
                nng_aio_set_msg(w->aio, NULL);
                w->pool = -1;
                pthread_mutex_lock(&s->mu);
                s->in_flight++;
                bool stopping = s->stopping;
                pthread_mutex_unlock(&s->mu);
                if (s->route && !stopping && forward_fast(s, w))
                        return;
                enqueue(s, w);
                return;
        }

        /* WORK_SEND finished. On failure the message is still ours. */
        if (rv != 0) {
                nng_msg *m = nng_aio_get_msg(w->aio);
                if (m)
                        nng_msg_free(m);
                nng_aio_set_msg(w->aio, NULL);
        }
        pthread_mutex_lock(&s->mu);
        s->in_flight--;
        work_uncount(s, w);
        bool exiting = s->workers_exit;
        pthread_cond_broadcast(&s->idle_cond);
        pthread_mutex_unlock(&s->mu);
        if (!exiting)
                work_recv(w);
}

static void *worker_main(void *arg)
{
        struct work_pool *q = arg;
        struct rpc_server *s = q->srv;
        for (;;) {
                pthread_mutex_lock(&s->mu);
                while (!q->head && !s->workers_exit)
                        pthread_cond_wait(&q->cond, &s->mu);
                if (!q->head && s->workers_exit) {
                        pthread_mutex_unlock(&s->mu);
                        return NULL;
                }
                struct rpc_work *w = q->head;
                q->head = w->next;
                if (!q->head)
                        q->tail = NULL;
                bool stopping = s->stopping;
                pthread_mutex_unlock(&s->mu);

                nng_msg *msg = TAKE_PTR(w->msg);
                nng_msg *reply;
                if (stopping) {
                        char m[128];
                        snprintf(m, sizeof(m), "%s is shutting down", s->name);
                        nng_msg_free(msg);
                        reply = reply_or_die(RPC_UNAVAILABLE, m, "");
                } else {
                        reply = handle_request(s, msg);
                }
                work_send_reply(w, reply);
        }
}

/* Sends reply (owned by the context from here) to the client; a NULL reply
 * (out of memory) drops the request and receives again. */
static void work_send_reply(struct rpc_work *w, nng_msg *reply)
{
        struct rpc_server *s = w->srv;
        if (!reply) {
                pthread_mutex_lock(&s->mu);
                s->in_flight--;
                work_uncount(s, w);
                pthread_cond_broadcast(&s->idle_cond);
                pthread_mutex_unlock(&s->mu);
                work_recv(w);
                return;
        }
        w->state = WORK_SEND;
        nng_aio_set_msg(w->aio, reply);
        nng_ctx_send(w->ctx, w->aio);
}

int rpc_server_new(const struct rpc_server_config *cfg, struct rpc_server **ret,
                   struct bg_error *err)
{
        if (!cfg || !cfg->url || !cfg->name)
                return bg_error_set(err, EINVAL, "rpc server needs a url and a name");
        struct rpc_server *s = calloc(1, sizeof(*s));
        if (!s)
                return bg_error_set(err, ENOMEM, "out of memory");
        s->cfg = *cfg;
        s->url = strdup(cfg->url);
        s->name = strdup(cfg->name);
        if (!s->url || !s->name) {
                free(s->url);
                free(s->name);
                free(s);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        s->cfg.url = s->url;
        s->cfg.name = s->name;
        if (!s->cfg.n_contexts)
                s->cfg.n_contexts = 16;
        if (!s->cfg.n_workers)
                s->cfg.n_workers = 4;
        if (!s->cfg.n_guest_workers)
                s->cfg.n_guest_workers = 4;
        if (!s->cfg.n_slow_workers)
                s->cfg.n_slow_workers = 8;
        if (!s->cfg.recv_max)
                s->cfg.recv_max = RPC_DEFAULT_RECV_MAX;
        if (!s->cfg.default_deadline_ms)
                s->cfg.default_deadline_ms = RPC_DEFAULT_DEADLINE_MS;
        if (!s->cfg.socket_mode)
                s->cfg.socket_mode = 0600;
        pthread_mutex_init(&s->mu, NULL);
        for (size_t i = 0; i < ELEMENTSOF(s->pools); i++) {
                s->pools[i].srv = s;
                pthread_cond_init(&s->pools[i].cond, NULL);
        }
        s->pools[POOL_GUEST].max = RPC_DEFAULT_POOL_MAX;
        snprintf(s->pools[POOL_GUEST].what, sizeof(s->pools[POOL_GUEST].what), "%s",
                 "calls waiting on guests");
        s->pools[POOL_SLOW].max = RPC_DEFAULT_POOL_MAX;
        snprintf(s->pools[POOL_SLOW].what, sizeof(s->pools[POOL_SLOW].what), "%s", "slow calls");
        pthread_cond_init(&s->idle_cond, NULL);
        pthread_cond_init(&s->guard_cond, NULL);
        *ret = s;
        return 0;
}

int rpc_server_add_service(struct rpc_server *s, const ProtobufCServiceDescriptor *desc,
                           const struct rpc_method_impl *impls, size_t n_impls, void *svc,
                           struct bg_error *err)
{
        int r = rpc_check_method_table(desc, impls, n_impls, err);
        if (r < 0)
                return r;
        if (s->n_services >= RPC_MAX_SERVICES)
                return bg_error_set(err, ENOSPC, "too many services on one server");
        if (find_service(s, desc->name))
                return bg_error_set(err, EEXIST, "service %s registered twice", desc->name);
        s->services[s->n_services++] =
            (struct rpc_service_entry){.desc = desc, .impls = impls, .svc = svc};
        for (size_t i = 0; i < n_impls; i++) {
                s->has_guest_pool |= impls[i].guest_wait;
                s->has_slow_pool |= impls[i].slow;
        }
        return 0;
}

int rpc_server_set_pool_limit(struct rpc_server *s, bool guest, unsigned workers, unsigned max,
                              const char *what, const char *key, struct bg_error *err)
{
        struct work_pool *q = &s->pools[guest ? POOL_GUEST : POOL_SLOW];
        if (s->works)
                return bg_error_set(err, EBUSY, "pool limits are set before the server starts");
        if (max == 0 || max > 4096 || workers > 256)
                return bg_error_set(err, EINVAL,
                                    "a pool limit is 1..4096 (not %u), its workers 0..256 (not %u)",
                                    max, workers);
        q->max = max;
        if (workers && guest)
                s->cfg.n_guest_workers = workers;
        else if (workers)
                s->cfg.n_slow_workers = workers;
        if (what)
                snprintf(q->what, sizeof(q->what), "%s", what);
        snprintf(q->key, sizeof(q->key), "%s", key ? key : "");
        return 0;
}

void rpc_server_set_route(struct rpc_server *s, rpc_route_fn fn, void *ud)
{
        s->route = fn;
        s->route_ud = ud;
}

void rpc_server_set_relayed(struct rpc_server *s, rpc_relayed_fn fn, void *ud)
{
        s->relayed = fn;
        s->relayed_ud = ud;
}

void rpc_server_set_forward(struct rpc_server *s, rpc_forward_fn fn, void *ud)
{
        s->cfg.forward = fn;
        s->cfg.forward_ud = ud;
}

int rpc_server_start(struct rpc_server *s, struct bg_error *err)
{
        int rv, r;

        r = rpc_listener_prepare_path(s, err);
        if (r < 0)
                return r;
        rv = nng_rep0_open(&s->sock);
        if (rv != 0)
                return bg_error_set(err, rpc_nng_errno(rv), "open rep socket: %s",
                                    nng_strerror(rv));
        s->sock_open = true;
        nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->cfg.recv_max);

        unsigned n_guest = s->has_guest_pool ? s->cfg.n_guest_workers : 0;
        unsigned n_slow = s->has_slow_pool ? s->cfg.n_slow_workers : 0;
        /* A context for every call the guest and slow pools may hold, on top
         * of those the other calls share. */
        unsigned n_ctx = s->cfg.n_contexts + (s->has_guest_pool ? s->pools[POOL_GUEST].max : 0) +
                         (s->has_slow_pool ? s->pools[POOL_SLOW].max : 0);
        s->works = calloc(n_ctx, sizeof(*s->works));
        unsigned n_all = s->cfg.n_workers + n_guest + n_slow;
        s->workers = calloc(n_all, sizeof(*s->workers));
        if (!s->works || !s->workers)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (unsigned i = 0; i < n_ctx; i++) {
                struct rpc_work *w = &s->works[i];
                w->srv = s;
                w->pool = -1;
                if ((rv = nng_aio_alloc(&w->aio, work_cb, w)) != 0 ||
                    (rv = nng_aio_alloc(&w->faio, fwd_cb, w)) != 0 ||
                    (rv = nng_ctx_open(&w->ctx, s->sock)) != 0)
                        return bg_error_set(err, rpc_nng_errno(rv), "rpc context: %s",
                                            nng_strerror(rv));
                w->ctx_open = true;
                s->n_works++;
        }
        for (unsigned i = 0; i < n_all; i++) {
                struct work_pool *q = &s->pools[i < s->cfg.n_workers           ? POOL_MAIN
                                                : i < s->cfg.n_workers + n_guest ? POOL_GUEST
                                                                                 : POOL_SLOW];
                r = pthread_create(&s->workers[i], NULL, worker_main, q);
                if (r != 0)
                        return bg_error_set(err, r, "start rpc worker thread: %s", strerror(r));
                s->n_workers_started++;
        }
        for (unsigned i = 0; i < s->n_works; i++)
                work_recv(&s->works[i]);

        nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, rpc_listener_pipe_attached_cb, s);
        r = rpc_listener_open(s, err);
        if (r < 0)
                return r;
        s->listener_open = true;
        if (strncmp(s->url, "ipc://", 6) == 0) {
                r = pthread_create(&s->guard, NULL, rpc_listener_guard_main, s);
                if (r != 0)
                        return bg_error_set(err, r, "start listener guard thread: %s", strerror(r));
                s->guard_started = true;
        }
        return 0;
}

void rpc_server_stop(struct rpc_server *s)
{
        if (!s)
                return;
        /* 0. Stop the listener guard: nothing reopens the listener from here. */
        if (s->guard_started) {
                pthread_mutex_lock(&s->mu);
                s->guard_exit = true;
                pthread_cond_broadcast(&s->guard_cond);
                pthread_mutex_unlock(&s->mu);
                pthread_join(s->guard, NULL);
        }
        /* 1. Stop taking new work: queued and new requests get UNAVAILABLE. */
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        /* 2. Let requests being handled finish and their replies go out. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (s->in_flight > 0) {
                if (pthread_cond_timedwait(&s->idle_cond, &s->mu, &until) == ETIMEDOUT)
                        break;
        }
        s->workers_exit = true;
        for (size_t i = 0; i < ELEMENTSOF(s->pools); i++)
                pthread_cond_broadcast(&s->pools[i].cond);
        pthread_mutex_unlock(&s->mu);
        /* 3. Stop the workers. */
        for (unsigned i = 0; i < s->n_workers_started; i++)
                pthread_join(s->workers[i], NULL);
        /* 4. Cancel pending receives, then close contexts and the socket
         * (which closes the listener, its pipes and removes the ipc file). */
        for (unsigned i = 0; i < s->n_works; i++) {
                nng_aio_stop(s->works[i].faio);
                nng_aio_stop(s->works[i].aio);
        }
        for (unsigned i = 0; i < s->n_works; i++) {
                struct rpc_work *w = &s->works[i];
                if (w->msg)
                        nng_msg_free(w->msg);
                if (w->fctx_open)
                        nng_ctx_close(w->fctx);
                if (w->ctx_open)
                        nng_ctx_close(w->ctx);
                nng_aio_free(w->faio);
                nng_aio_free(w->aio);
        }
        if (s->sock_open)
                nng_close(s->sock);
        pthread_mutex_destroy(&s->mu);
        for (size_t i = 0; i < ELEMENTSOF(s->pools); i++)
                pthread_cond_destroy(&s->pools[i].cond);
        pthread_cond_destroy(&s->idle_cond);
        pthread_cond_destroy(&s->guard_cond);
        free(s->works);
        free(s->workers);
        free(s->url);
        free(s->name);
        free(s);
}
