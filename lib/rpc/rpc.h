/* banger's RPC layer: protobuf-c messages in a Request/Response envelope over
 * nng REQ/REP (see proto/banger/v1/rpc.proto and ARCHITECTURE §2).
 *
 * Server: one REP socket, N contexts with aios, handlers run on a worker
 * thread pool (never in an nng callback). Dispatch is driven by the protoc-c
 * service descriptors: a service registers one handler per method, in
 * descriptor order, and registration fails when the table does not match.
 *
 * Client: one REQ socket per peer, one nng context per call, a deadline per
 * call, no automatic resend (nng's resend is disabled; idempotent calls may
 * ask for one retry after a lost connection). */
#pragma once

#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc/status.h"
#include "util/error.h"

#define RPC_DEFAULT_RECV_MAX (4u << 20) /* bytes; larger messages are dropped */
#define RPC_DEFAULT_POOL_MAX 16         /* guest and slow calls in flight, each */
#define RPC_DEFAULT_DEADLINE_MS 30000u  /* when a request carries none */
#define RPC_METHOD_MAX 128

/* What a handler knows about the call it serves. */
struct rpc_call {
        const char *method;        /* "/banger.v1.VmService/Health" */
        const char *op_id;         /* never empty while a handler runs */
        uint64_t deadline_mono_ms; /* absolute, CLOCK_MONOTONIC ms */
        uint32_t peer_uid;         /* uid of the connected process (SO_PEERCRED) */
        uint32_t caller_uid;       /* original caller (gateway-stamped) */
        int peer_pid;
        int caller_pid; /* original caller's pid (gateway-stamped, else the peer's; 0 = unknown) */
};

/* Remaining milliseconds of the call's budget (0 when expired). */
uint32_t rpc_call_remaining_ms(const struct rpc_call *call);

/* Handler: fill *out (already initialised with its descriptor's init). All
 * memory reachable from out must be heap-allocated (strdup, malloc): the
 * dispatcher frees it with protobuf_c_message_free_unpacked after packing.
 * Return >= 0 on success, or -errno with err filled; err->code is mapped to a
 * status by rpc_code_from_errno. in is owned by the dispatcher. */
typedef int (*rpc_handler_fn)(void *svc, const ProtobufCMessage *in, ProtobufCMessage *out,
                              const struct rpc_call *call, struct bg_error *err);

struct rpc_method_impl {
        const char *name; /* must equal the descriptor's method name */
        rpc_handler_fn fn;
        /* The handler waits on something banger does not control (a guest's
         * agent): it runs on the server's own pool of guest workers, so a
         * stalled guest never holds the workers every other call needs. */
        bool guest_wait;
        /* The handler may wait long by design, bounded by a deadline of its
         * own (vm stop: the guest's graceful shutdown, then a kill): it runs
         * on a third pool, so that waiting holds neither the workers of
         * every other call nor those of the guest probes. */
        bool slow;
};

/* Typed handlers are stored through this cast; the dispatcher only calls them
 * with the descriptor's message types, which is what the typed signature
 * declares. */
#define RPC_METHOD(n, f)                                                                           \
        {                                                                                          \
                .name = (n), .fn = (rpc_handler_fn)(void (*)(void))(f)                             \
        }
/* A method whose handler waits on a guest (see guest_wait). */
#define RPC_METHOD_GUEST(n, f)                                                                     \
        {                                                                                          \
                .name = (n), .fn = (rpc_handler_fn)(void (*)(void))(f), .guest_wait = true         \
        }

/* A method that waits long by design (see slow). */
#define RPC_METHOD_SLOW(n, f)                                                                      \
        {                                                                                          \
                .name = (n), .fn = (rpc_handler_fn)(void (*)(void))(f), .slow = true               \
        }

/* Checks that impls matches desc exactly (same count, same names in order).
 * Used at registration and by unit tests. */
int rpc_check_method_table(const ProtobufCServiceDescriptor *desc,
                           const struct rpc_method_impl *impls, size_t n_impls,
                           struct bg_error *err);

/* ---- server ---- */

struct rpc_server;

/* Called for requests whose service is not registered locally (the gateway
 * forwards them). Must set *ret_reply to a packed Response message or return
 * -errno with err filled. req is owned by the caller. */
typedef int (*rpc_forward_fn)(void *ud, const Banger__V1__Request *req, const struct rpc_call *call,
                              nng_msg **ret_reply, struct bg_error *err);

/* Called for every message before anything else; return < 0 to refuse
 * (PERMISSION_DENIED with err's message). */
typedef int (*rpc_peer_check_fn)(void *ud, uint32_t peer_uid, int peer_pid, struct bg_error *err);

struct rpc_server_config {
        const char *url;     /* "ipc:///run/banger/vmsvc.sock" */
        const char *name;    /* service name for logs, e.g. "vmsvc" */
        unsigned n_contexts; /* concurrent requests in flight (default 16) */
        unsigned n_workers;  /* handler threads (default 4) */
        unsigned n_guest_workers; /* threads for guest_wait methods (default 4) */
        unsigned n_slow_workers;  /* threads for slow methods (default 8) */
        /* Calls of guest_wait and of slow methods each hold a context from
         * receipt to reply. The server opens n_contexts plus one context per
         * call these pools may hold (see rpc_server_set_pool_limit), so they
         * can never take the contexts every other call needs. */
        size_t recv_max;     /* NNG_OPT_RECVMAXSZ (default RPC_DEFAULT_RECV_MAX) */
        uint32_t default_deadline_ms;
        int socket_mode; /* ipc socket permissions (default 0600) */
        int socket_uid;  /* chown the ipc socket to this uid; < 0 = leave (set -1) */
        int socket_gid;  /* > 0: and to this group (0 = leave) */
        rpc_peer_check_fn peer_check;
        void *peer_check_ud;
        rpc_forward_fn forward;
        void *forward_ud;
        bool trust_caller_uid; /* take caller_uid from the envelope (gateway's peers) */
        bool replace_socket;   /* caller holds the service lock: an existing socket
                                  file is stale and is replaced (else EADDRINUSE) */
};

int rpc_server_new(const struct rpc_server_config *cfg, struct rpc_server **ret,
                   struct bg_error *err);
/* Registers a service implementation; svc is passed to every handler. */
int rpc_server_add_service(struct rpc_server *s, const ProtobufCServiceDescriptor *desc,
                           const struct rpc_method_impl *impls, size_t n_impls, void *svc,
                           struct bg_error *err);
/* The most calls of the guest_wait (guest == true) or the slow methods in
 * flight at once, running or waiting for a worker of their pool (default
 * 16 each; before start), and the pool's workers (0 = keep cfg's). A call
 * past it is answered at once, without a worker, with RESOURCE_EXHAUSTED:
 * "<name> is busy: <max> <what> in flight already, the most it takes
 * (<key>); try again once some ended". key names the config setting, what
 * the calls ("vm stops"); both are copied. */
int rpc_server_set_pool_limit(struct rpc_server *s, bool guest, unsigned workers, unsigned max,
                              const char *what, const char *key, struct bg_error *err);
/* Installs the forwarder for services not registered locally (before start). */
void rpc_server_set_forward(struct rpc_server *s, rpc_forward_fn fn, void *ud);

/* Fast path for a forwarding server (the gateway): returns the connected
 * client serving proto service svc, or NULL when it is unknown or down. A
 * request it routes is relayed asynchronously in nng callbacks (no worker
 * thread, no blocking wait), re-stamped with op_id, caller and remaining
 * deadline; everything else (errors, local services) takes the worker path,
 * where the forward fn produces the precise error. */
typedef struct rpc_client *(*rpc_route_fn)(void *ud, const char *svc);
void rpc_server_set_route(struct rpc_server *s, rpc_route_fn fn, void *ud);
/* Called by the fast path once a backend answered a relayed call, before the
 * answer goes back to the caller (in an nng callback: must not block). svc is
 * the proto service, method its method. The gateway's fault points
 * (gateway.forwarded.<Method>) live there. */
typedef void (*rpc_relayed_fn)(void *ud, const char *svc, const char *method);
void rpc_server_set_relayed(struct rpc_server *s, rpc_relayed_fn fn, void *ud);

/* Opens a context on the client's socket for a caller-driven async call. */
int rpc_client_ctx_open(struct rpc_client *c, nng_ctx *ret);
/* Binds the socket and starts serving. An existing socket file is refused
 * unless cfg.replace_socket says the caller made sure it is stale. The ipc
 * socket's mode and owner are set through a descriptor of the socket file
 * this process just bound (opened without following symlinks, checked to be
 * a socket of our uid), never by path: a name swapped in by whoever can
 * write the directory is refused, not chmod'ed. */
int rpc_server_start(struct rpc_server *s, struct bg_error *err);
/* Graceful shutdown: stop accepting (close the listener), let handlers that
 * are running finish and send their replies, stop the workers, close the
 * socket. Safe to call once; frees s. */
void rpc_server_stop(struct rpc_server *s);

/* Runs one request (len bytes of a packed Request envelope, owned by the
 * caller) through s's dispatch in the calling thread, as a worker does for a
 * message from a peer with these credentials: envelope decode, op_id check,
 * peer check, method routing, body unpack, handler, reply packing. Returns
 * the packed Response (the caller owns it: nng_msg_free), or NULL when out
 * of memory. Needs no socket: the fuzz target tests/fuzz/fuzz_rpc.c drives
 * a server that was never started. */
nng_msg *rpc_server_handle(struct rpc_server *s, const void *data, size_t len, uint32_t peer_uid,
                           int peer_pid);

/* Peer check that allows root and the given owner uid. */
int rpc_peer_allow_owner(void *ud_owner_uid_ptr, uint32_t peer_uid, int peer_pid,
                         struct bg_error *err);

/* The call this thread is serving, or NULL outside a handler. Nested calls
 * made by a handler inherit its op_id and are capped by its deadline. */
const struct rpc_call *rpc_current_call(void);

/* ---- client ---- */

struct rpc_client;

struct rpc_client_opts {
        bool block_connect; /* dial synchronously; fail at once if nobody listens */
        size_t recv_max;
};

int rpc_client_open(const char *url, const struct rpc_client_opts *opts, struct rpc_client **ret,
                    struct bg_error *err);
void rpc_client_close(struct rpc_client *c);
const char *rpc_client_url(const struct rpc_client *c);
/* Number of live connections (0 = the peer is down). With none for a
 * while, it also dials again (nng's dialer can give up for good after a
 * peer hung up mid-handshake), so asking now and then is enough to get
 * connected once the peer is back. */
int rpc_client_connections(struct rpc_client *c);
/* Waits up to wait_ms for a connection (dialing again as above); whether
 * there is one. */
bool rpc_client_wait_connected(struct rpc_client *c, uint32_t wait_ms);

enum {
        RPC_CALL_IDEMPOTENT = 1 << 0, /* may be retried once after a lost connection */
};

struct rpc_call_opts {
        uint32_t deadline_ms; /* 0 = RPC_DEFAULT_DEADLINE_MS, capped by the caller's own call */
        unsigned flags;
        const char *op_id;        /* default: the op_id being served on this thread, else new */
        uint32_t caller_uid;      /* stamped by the gateway only */
        uint32_t caller_pid;      /* stamped by the gateway only */
        uint32_t connect_wait_ms; /* how long to wait for a connection (default 300) */
};

/* Calls method ("/banger.v1.Gateway/Health") with message in; on OK unpacks the
 * body with out_desc into *ret_out (free with protobuf_c_message_free_unpacked).
 * Returns 0 on OK, else -errno matching st->code, with st filled. */
int rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
             const struct rpc_call_opts *opts, struct rpc_status *st);

/* Sends a packed Request envelope (ownership of req passes to this call) and
 * returns the packed Response (caller frees). For the gateway. */
int rpc_call_raw(struct rpc_client *c, nng_msg *req, uint32_t deadline_ms, nng_msg **ret_reply,
                 struct rpc_status *st);

/* ---- envelope helpers ---- */

/* New op id: 16 random hex chars. buf >= 17 bytes. */
void rpc_new_op_id(char *buf, size_t len);

/* Builds a packed Response with the given status (no body). */
int rpc_reply_status(enum rpc_code code, const char *message, const char *op_id, nng_msg **ret);

/* Splits "/banger.v1.VmService/Create" into service and method names. */
int rpc_split_method(const char *full, char *svc, size_t svc_len, char *method, size_t method_len);
