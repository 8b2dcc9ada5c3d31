/* The rpc server's state, shared by its two halves: server.c (contexts,
 * the worker queue, dispatch, forwarding, start and stop) and
 * server_listener.c (the listening socket: its path, mode and owner, and
 * the guard that reopens a listener nng has silently given up on). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "log/log.h"
#include "rpc/rpc.h"
#include "util/error.h"

#define RPC_MAX_SERVICES 8

enum { POOL_MAIN, POOL_GUEST, POOL_SLOW };

struct rpc_service_entry {
        const ProtobufCServiceDescriptor *desc;
        const struct rpc_method_impl *impls;
        void *svc;
};

enum work_state {
        WORK_RECV,
        WORK_SEND,
        WORK_FWD_SEND, /* relaying to a backend (fast path) */
        WORK_FWD_RECV,
};

struct rpc_work {
        struct rpc_server *srv;
        nng_aio *aio;
        nng_ctx ctx;
        bool ctx_open;
        enum work_state state;
        int pool; /* the pool counting this call until its reply is sent, or -1 */
        nng_msg *msg;
        struct rpc_work *next;
        /* fast-path relay */
        nng_aio *faio;
        nng_ctx fctx;
        bool fctx_open;
        char fwd_op_id[LOG_OP_ID_MAX];
        char fwd_svc[RPC_METHOD_MAX];
        char fwd_method[RPC_METHOD_MAX];
};

struct rpc_server {
        struct rpc_server_config cfg;
        char *url;
        char *name;
        nng_socket sock;
        bool sock_open;
        nng_listener listener;

        struct rpc_service_entry services[RPC_MAX_SERVICES];
        size_t n_services;
        rpc_route_fn route;
        void *route_ud;
        rpc_relayed_fn relayed;
        void *relayed_ud;

        struct rpc_work *works;
        unsigned n_works;

        pthread_t *workers;
        unsigned n_workers_started;
        pthread_mutex_t mu;
        pthread_cond_t idle_cond; /* in_flight dropped */
        /* Three pools: POOL_MAIN serves every call but those of guest_wait
         * methods, which POOL_GUEST serves, and of slow methods, which
         * POOL_SLOW serves (each when any such method is registered). */
        struct work_pool {
                struct rpc_server *srv;
                struct rpc_work *head, *tail;
                pthread_cond_t cond; /* queue non-empty or stopping */
                /* POOL_GUEST and POOL_SLOW: calls received and not yet
                 * answered, and the most taken (rpc_server_set_pool_limit). */
                unsigned in_flight;
                unsigned max;
                char what[48];
                char key[64];
        } pools[3];
        bool has_guest_pool;
        bool has_slow_pool;
        unsigned in_flight; /* received and not yet fully sent */
        bool stopping;
        bool workers_exit;

        /* listener guard (see "Listener guard" below) */
        pthread_t guard;
        bool guard_started;
        bool guard_exit;
        pthread_cond_t guard_cond;
        atomic_uint_fast64_t pipes_attached;
        uint64_t accept_errors_seen;
        unsigned listener_restarts;
        bool listener_open; /* s->listener is open (guard thread only after start) */
};

/* server_listener.c */

/* Checks the ipc socket's path before listening: a socket file already
 * there is replaced only with cfg.replace_socket, anything else refused. */
int rpc_listener_prepare_path(const struct rpc_server *s, struct bg_error *err);
/* Creates and starts s->listener on s->url with the socket's mode, owner
 * and size limit. */
int rpc_listener_open(struct rpc_server *s, struct bg_error *err);
/* nng pipe callback (NNG_PIPE_EV_ADD_POST) counting attached pipes, which
 * the guard's probe watches. */
void rpc_listener_pipe_attached_cb(nng_pipe p, nng_pipe_ev ev, void *arg);
/* The listener guard thread (arg: the server); ends when s->guard_exit is
 * set and s->guard_cond signalled. */
void *rpc_listener_guard_main(void *arg);
