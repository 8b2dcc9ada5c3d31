/* A small ttrpc server over a listening unix socket: one thread per
 * connection reads frames; each request runs on its own thread (containerd
 * keeps a Wait call open on the same connection while it sends Kill or
 * Delete), with its response written under the connection's write lock.
 *
 * Caps: message size (TTRPC_MAX_MESSAGE unless set), connections, requests
 * in flight per connection. Only peers with the server's own uid or root
 * (SO_PEERCRED) are served. An unknown service or method is answered with
 * status UNIMPLEMENTED (12), as ttrpc does; an oversize message with
 * RESOURCE_EXHAUSTED (its payload is skipped); a frame of unknown type ends
 * the connection. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "util/error.h"

/* A method handler. in is the unpacked request (owned by the server, freed
 * after the call). On success it returns >= 0 and hands back the packed
 * response body in *ret_body and *ret_len (malloc'd; the server frees it; use
 * ttrpc_pack). On failure it returns -errno with err filled; the server maps
 * err->code to a status (rpc_code_from_errno) and sends err->msg. */
typedef int (*ttrpc_handler_fn)(void *ud, const ProtobufCMessage *in, uint8_t **ret_body,
                                size_t *ret_len, struct bg_error *err);

struct ttrpc_method {
        const char *service; /* "containerd.task.v2.Task" */
        const char *method;  /* "Create" */
        const ProtobufCMessageDescriptor *in_desc;
        ttrpc_handler_fn fn;
};

struct ttrpc_server_config {
        int listen_fd; /* a listening AF_UNIX stream socket; the server owns it */
        const struct ttrpc_method *methods;
        size_t n_methods;
        void *ud;                 /* passed to every handler */
        uint32_t max_message;     /* 0 = TTRPC_MAX_MESSAGE */
        unsigned max_connections; /* 0 = 16 */
        unsigned max_inflight;    /* per connection; 0 = 32 */
};

struct ttrpc_server;

int ttrpc_server_new(const struct ttrpc_server_config *cfg, struct ttrpc_server **ret,
                     struct bg_error *err);

/* Accepts and serves until ttrpc_server_stop; then closes every connection
 * and waits for their threads and requests to finish. Returns 0 or -errno. */
int ttrpc_server_run(struct ttrpc_server *s);

/* Waits until at most `others` requests are in flight on all connections
 * together (a handler that calls it counts itself), or timeout_ms passed.
 * Returns whether they ended. A shim's Shutdown drains before it stops: a
 * Kill still on its way back must not be cut off ("ttrpc: closed"). */
bool ttrpc_server_drain(struct ttrpc_server *s, unsigned others, uint64_t timeout_ms);

/* Makes ttrpc_server_run return (callable from a handler or a signal-free
 * thread). */
void ttrpc_server_stop(struct ttrpc_server *s);

/* Frees a server whose run has returned (or never started). NULL is fine. */
struct ttrpc_server *ttrpc_server_free(struct ttrpc_server *s);

/* The dispatch step on its own (for tests and the fuzz target): decodes a
 * Request payload, finds the method, unpacks its body, calls the handler and
 * packs the Response into *ret (malloc'd, caller frees). Fails only when out
 * of memory: every caller error becomes a status in the Response. */
int ttrpc_server_dispatch(struct ttrpc_server *s, const uint8_t *payload, size_t len, uint8_t **ret,
                          size_t *ret_len);
