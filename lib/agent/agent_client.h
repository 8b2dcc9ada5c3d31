/* Host-side client of the banger guest agent (guest/agent), used by vmsvc.
 *
 * Two ways to reach the agent, both through a unix socket on the host:
 *  - QEMU virtio-serial: the port's chardev is a unix socket server; connect
 *    and speak frames directly (agent_conn_open_unix);
 *  - Firecracker hybrid vsock: connect to the vsock uds, send
 *    "CONNECT <port>\n" and wait for "OK <host port>\n" (agent_conn_open_hybrid_vsock);
 *    retried until the deadline while the guest is not listening yet.
 *
 * Messages are banger.v1.AgentRequest/AgentResponse (proto/banger/v1/agent.proto)
 * in agent_frame.h frames. A connection carries one call at a time. */
#pragma once

#include <stdint.h>

#include "banger/v1/agent.pb-c.h"
#include "util/error.h"

struct agent_conn;

/* Connect to a unix stream socket, retrying while it does not exist yet or
 * refuses, for up to timeout_ms. */
int agent_conn_open_unix(const char *path, uint64_t timeout_ms, struct agent_conn **ret,
                         struct bg_error *err);

/* Connect through a Firecracker hybrid-vsock uds to guest port `port`,
 * retrying (connection closed without OK, socket missing) for up to
 * timeout_ms. A reply that is not "OK <n>\n" fails at once with -EPROTO. */
int agent_conn_open_hybrid_vsock(const char *uds_path, uint32_t port, uint64_t timeout_ms,
                                 struct agent_conn **ret, struct bg_error *err);

/* Connect over AF_VSOCK to guest CID `cid`, port `port` (QEMU vhost-vsock),
 * retrying while nobody listens yet, for up to timeout_ms. */
int agent_conn_open_vsock(uint32_t cid, uint32_t port, uint64_t timeout_ms,
                          struct agent_conn **ret, struct bg_error *err);

/* Close and free; accepts NULL, returns NULL. */
struct agent_conn *agent_conn_free(struct agent_conn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_conn *, agent_conn_free);

/* The connected socket (owned by the connection). */
int agent_conn_fd(const struct agent_conn *c);

/* A fresh request id for this connection. */
uint64_t agent_conn_next_id(struct agent_conn *c);

/* Send req (its id is overwritten with a fresh one) and wait up to timeout_ms
 * for the response with that id; responses with other ids (stale replies) are
 * skipped. On success *ret is an unpacked message the caller frees with
 * banger__v1__agent_response__free_unpacked(*ret, NULL). An AgentError reply
 * is returned as -code with its message in err. */
int agent_call(struct agent_conn *c, Banger__V1__AgentRequest *req, uint64_t timeout_ms,
               Banger__V1__AgentResponse **ret, struct bg_error *err);

/* Typed calls: like agent_call, and the response is checked to carry the
 * matching kind (-EPROTO otherwise). The caller frees *ret as above. */
int agent_health(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                 struct bg_error *err);
int agent_ports(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                struct bg_error *err);
int agent_stats(struct agent_conn *c, uint64_t timeout_ms, Banger__V1__AgentResponse **ret,
                struct bg_error *err);
/* Asks the guest to sync and reboot; returns once it acknowledged. */
int agent_shutdown(struct agent_conn *c, uint64_t timeout_ms, struct bg_error *err);

/* Gives a VM restored from a template its own identity (body: every field
 * set, see agent.proto); *ret carries the AgentReidentified. */
int agent_reidentify(struct agent_conn *c, const Banger__V1__AgentReidentifyRequest *body,
                     uint64_t timeout_ms, Banger__V1__AgentResponse **ret, struct bg_error *err);

/* Asks the guest to sync and unmount its work disk from /root (before a
 * template is saved). */
int agent_unmount_work(struct agent_conn *c, uint64_t timeout_ms, struct bg_error *err);

/* Frees an unpacked response; accepts NULL. */
void agent_response_free(Banger__V1__AgentResponse *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Banger__V1__AgentResponse *, agent_response_free);
