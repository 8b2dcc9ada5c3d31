#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc/status.h"

struct ttrpc_conn {
        struct ttrpc_server *srv;
        int fd;
        pthread_mutex_t write_lock;
        unsigned refs; /* reader + requests in flight; under srv->lock */
        unsigned inflight;
        struct ttrpc_conn *next;
};

struct ttrpc_server {
        int listen_fd;
        const struct ttrpc_method *methods;
        size_t n_methods;
        void *ud;
        uint32_t max_message;
        unsigned max_connections;
        unsigned max_inflight;

        pthread_mutex_t lock;
        pthread_cond_t idle; /* signalled when a connection is released */
        pthread_cond_t quiet; /* signalled when a request ended (CLOCK_MONOTONIC) */
        unsigned jobs;        /* requests in flight on every connection */
        bool stopping;
        unsigned n_conns;
        struct ttrpc_conn *conns;
};

int ttrpc_server_new(const struct ttrpc_server_config *cfg, struct ttrpc_server **ret,
                     struct bg_error *err)
{
        if (cfg->listen_fd < 0)
                return bg_error_set(err, EBADF, "ttrpc: no listening socket");
        struct ttrpc_server *s = calloc(1, sizeof(*s));
        if (!s)
                return bg_error_set(err, ENOMEM, "ttrpc: out of memory");
        s->listen_fd = cfg->listen_fd;
        s->methods = cfg->methods;
        s->n_methods = cfg->n_methods;
        s->ud = cfg->ud;
        s->max_message = cfg->max_message ? cfg->max_message : TTRPC_MAX_MESSAGE;
        s->max_connections = cfg->max_connections ? cfg->max_connections : 16;
        s->max_inflight = cfg->max_inflight ? cfg->max_inflight : 32;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->idle, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->quiet, &ca);
        pthread_condattr_destroy(&ca);
        *ret = s;
        return 0;
}

struct ttrpc_server *ttrpc_server_free(struct ttrpc_server *s)
{
        if (!s)
                return NULL;
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->idle);
        pthread_cond_destroy(&s->quiet);
        free(s);
        return NULL;
}

bool ttrpc_server_drain(struct ttrpc_server *s, unsigned others, uint64_t timeout_ms)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(timeout_ms / 1000);
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->lock);
        int r = 0;
        while (s->jobs > others && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&s->quiet, &s->lock, &until);
        bool drained = s->jobs <= others;
        pthread_mutex_unlock(&s->lock);
        return drained;
}

/* A request ended (its answer is out); with s->lock held. */
static void job_done_locked(struct ttrpc_server *s, struct ttrpc_conn *c)
{
        c->inflight--;
        s->jobs--;
        pthread_cond_broadcast(&s->quiet);
}

void ttrpc_server_stop(struct ttrpc_server *s)
{
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        /* Wakes accept() and every connection's read(). */
        shutdown(s->listen_fd, SHUT_RDWR);
        for (struct ttrpc_conn *c = s->conns; c; c = c->next)
                shutdown(c->fd, SHUT_RDWR);
        pthread_mutex_unlock(&s->lock);
}

static const struct ttrpc_method *find_method(const struct ttrpc_server *s, const char *svc,
                                              const char *method, bool *ret_svc_known)
{
        *ret_svc_known = false;
        for (size_t i = 0; i < s->n_methods; i++) {
                if (strcmp(s->methods[i].service, svc) != 0)
                        continue;
                *ret_svc_known = true;
                if (strcmp(s->methods[i].method, method) == 0)
                        return &s->methods[i];
        }
        return NULL;
}

int ttrpc_server_dispatch(struct ttrpc_server *s, const uint8_t *payload, size_t len, uint8_t **ret,
                          size_t *ret_len)
{
        struct bg_error err = {0};
        Ttrpc__Request *q = NULL;
        int r = ttrpc_request_parse(payload, len, &q, &err);
        if (r < 0)
                return ttrpc_response_pack(RPC_INVALID_ARGUMENT, err.msg, NULL, 0, ret, ret_len);

        bool svc_known;
        const struct ttrpc_method *m = find_method(s, q->service, q->method, &svc_known);
        if (!m) {
                char msg[2 * TTRPC_MAX_NAME + 64];
                if (svc_known)
                        snprintf(msg, sizeof(msg), "method %s/%s is not implemented by this shim",
                                 q->service, q->method);
                else
                        snprintf(msg, sizeof(msg), "service %s is not implemented by this shim",
                                 q->service);
                ttrpc__request__free_unpacked(q, NULL);
                return ttrpc_response_pack(RPC_UNIMPLEMENTED, msg, NULL, 0, ret, ret_len);
        }

        ProtobufCMessage *in =
            protobuf_c_message_unpack(m->in_desc, NULL, q->payload.len, q->payload.data);
        if (!in) {
                char msg[TTRPC_MAX_NAME + 64];
                snprintf(msg, sizeof(msg), "cannot decode the %s request", m->in_desc->name);
                ttrpc__request__free_unpacked(q, NULL);
                return ttrpc_response_pack(RPC_INVALID_ARGUMENT, msg, NULL, 0, ret, ret_len);
        }
        ttrpc__request__free_unpacked(q, NULL);

        uint8_t *body = NULL;
        size_t body_len = 0;
        r = m->fn(s->ud, in, &body, &body_len, &err);
        protobuf_c_message_free_unpacked(in, NULL);
        if (r < 0) {
                free(body);
                if (!err.msg[0])
                        snprintf(err.msg, sizeof(err.msg), "%s", strerror(-r));
                return ttrpc_response_pack(rpc_code_from_errno(err.code ? err.code : -r), err.msg,
                                           NULL, 0, ret, ret_len);
        }
        r = ttrpc_response_pack(RPC_OK, NULL, body, body_len, ret, ret_len);
        free(body);
        return r;
}

/* Drops one reference; the last one unlinks and frees the connection. */
static void conn_unref(struct ttrpc_conn *c)
{
        struct ttrpc_server *s = c->srv;
        pthread_mutex_lock(&s->lock);
        if (--c->refs > 0) {
                pthread_mutex_unlock(&s->lock);
                return;
        }
        for (struct ttrpc_conn **p = &s->conns; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        s->n_conns--;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        close(c->fd);
        pthread_mutex_destroy(&c->write_lock);
        free(c);
}

static void conn_send(struct ttrpc_conn *c, uint32_t stream, const uint8_t *p, size_t len)
{
        pthread_mutex_lock(&c->write_lock);
        /* A failed write means the peer is gone; its reader sees that too. */
        (void)ttrpc_write_frame(c->fd, stream, TTRPC_TYPE_RESPONSE, p, len);
        pthread_mutex_unlock(&c->write_lock);
}

static void conn_send_status(struct ttrpc_conn *c, uint32_t stream, int code, const char *msg)
{
        uint8_t *b = NULL;
        size_t n = 0;
        if (ttrpc_response_pack(code, msg, NULL, 0, &b, &n) == 0)
                conn_send(c, stream, b, n);
        free(b);
}

struct ttrpc_job {
        struct ttrpc_conn *conn;
        uint32_t stream;
        uint8_t *payload; /* owned by the job */
        size_t len;
};

static void *job_main(void *arg)
{
        struct ttrpc_job *j = arg;
        struct ttrpc_conn *c = j->conn;
        uint8_t *resp = NULL;
        size_t n = 0;
        if (ttrpc_server_dispatch(c->srv, j->payload, j->len, &resp, &n) == 0)
                conn_send(c, j->stream, resp, n);
        else
                conn_send_status(c, j->stream, RPC_RESOURCE_EXHAUSTED, "out of memory");
        free(resp);
        free(j->payload);
        free(j);
        pthread_mutex_lock(&c->srv->lock);
        job_done_locked(c->srv, c);
        pthread_mutex_unlock(&c->srv->lock);
        conn_unref(c);
        return NULL;
}

static int start_detached(void *(*fn)(void *), void *arg)
{
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        int r = pthread_create(&t, &a, fn, arg);
        pthread_attr_destroy(&a);
        return -r;
}

static void *conn_main(void *arg)
{
        struct ttrpc_conn *c = arg;
        struct ttrpc_server *s = c->srv;
        for (;;) {
                struct ttrpc_header h = {0};
                uint8_t *p = NULL;
                struct bg_error err = {0};
                int r = ttrpc_read_frame(c->fd, s->max_message, &h, &p, &err);
                if (r == -EMSGSIZE) {
                        /* As ttrpc: RESOURCE_EXHAUSTED on that stream (its
                         * payload was skipped), and the connection goes on. */
                        conn_send_status(c, h.stream_id, RPC_RESOURCE_EXHAUSTED, err.msg);
                        continue;
                }
                if (r <= 0)
                        break; /* end of stream, unknown type, or a read error */
                if (h.type != TTRPC_TYPE_REQUEST) {
                        free(p); /* ttrpc ignores responses sent to a server */
                        continue;
                }
                if (h.stream_id % 2 != 1) {
                        free(p);
                        conn_send_status(c, h.stream_id, RPC_INVALID_ARGUMENT,
                                         "StreamID must be odd for client initiated streams");
                        continue;
                }
                pthread_mutex_lock(&s->lock);
                bool full = c->inflight >= s->max_inflight;
                if (!full) {
                        c->inflight++;
                        s->jobs++;
                        c->refs++;
                }
                pthread_mutex_unlock(&s->lock);
                if (full) {
                        free(p);
                        char msg[96];
                        snprintf(msg, sizeof(msg),
                                 "too many requests in flight on this connection (at most %u)",
                                 s->max_inflight);
                        conn_send_status(c, h.stream_id, RPC_RESOURCE_EXHAUSTED, msg);
                        continue;
                }
                struct ttrpc_job *j = calloc(1, sizeof(*j));
                if (j) {
                        *j = (struct ttrpc_job){
                            .conn = c, .stream = h.stream_id, .payload = p, .len = h.length};
                        if (start_detached(job_main, j) == 0)
                                continue;
                        free(j);
                }
                free(p);
                pthread_mutex_lock(&s->lock);
                job_done_locked(s, c);
                pthread_mutex_unlock(&s->lock);
                conn_unref(c);
                conn_send_status(c, h.stream_id, RPC_RESOURCE_EXHAUSTED,
                                 "cannot start a request thread");
        }
        shutdown(c->fd, SHUT_RDWR);
        conn_unref(c);
        return NULL;
}

static bool peer_allowed(int fd)
{
        struct ucred cr;
        socklen_t l = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
                return false;
        return cr.uid == 0 || cr.uid == geteuid();
}

int ttrpc_server_run(struct ttrpc_server *s)
{
        int ret = 0;
        for (;;) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                pthread_mutex_lock(&s->lock);
                bool stopping = s->stopping;
                pthread_mutex_unlock(&s->lock);
                if (stopping) {
                        if (fd >= 0)
                                close(fd);
                        break;
                }
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                            errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                continue;
                        ret = -errno;
                        break;
                }
                if (!peer_allowed(fd)) {
                        close(fd);
                        continue;
                }
                pthread_mutex_lock(&s->lock);
                bool full = s->n_conns >= s->max_connections;
                pthread_mutex_unlock(&s->lock);
                if (full) {
                        close(fd); /* over max_connections */
                        continue;
                }
                struct ttrpc_conn *c = calloc(1, sizeof(*c));
                if (!c) {
                        close(fd);
                        continue;
                }
                c->srv = s;
                c->fd = fd;
                c->refs = 1;
                pthread_mutex_init(&c->write_lock, NULL);
                pthread_mutex_lock(&s->lock);
                c->next = s->conns;
                s->conns = c;
                s->n_conns++;
                pthread_mutex_unlock(&s->lock);
                if (start_detached(conn_main, c) < 0) {
                        shutdown(fd, SHUT_RDWR);
                        conn_unref(c);
                }
        }
        /* Stop: end every connection and wait for readers and requests. */
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        for (struct ttrpc_conn *c = s->conns; c; c = c->next)
                shutdown(c->fd, SHUT_RDWR);
        while (s->n_conns > 0)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
        return ret;
}
