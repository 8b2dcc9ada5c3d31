/* Exec through the guest agent (agent.proto AgentExec*) instead of SSH: the
 * transport of WorkspaceService Exec and StartExec whenever the VM's agent
 * can take a command; SSH (ws_guest.h) is the fallback.
 *
 * Each command gets a connection of its own:
 *  - Firecracker: a new hybrid-vsock connection to the agent's port (the
 *    guest serves several at once);
 *  - QEMU with the virtio-serial channel: one of the VM's exec ports
 *    (vms/<id>/exec-N.sock, vmm.h), each serving one connection at a time,
 *    so commands never hold the agent channel vmsvc uses for boot waits,
 *    stats and stop. The pool below hands out the free ones.
 * Everything the agent sends is untrusted: lib/agent's bounded decoder reads
 * it, output goes through the caller's capped callbacks. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent_client.h"
#include "ssh/ssh.h"
#include "ws_guest.h"

/* How long a command waits for a free exec port before it goes over SSH
 * (struct ws_runner's default). */
#define WS_AGENT_PORT_WAIT_MS 10000
/* When every port stayed busy and sshd cannot be reached either, how much
 * longer a command waits for a port. */
#define WS_AGENT_PORT_WAIT_MORE_MS 120000
/* How long a Health probe on a fresh connection may take. */
#define WS_AGENT_PROBE_MS 3000
/* After the agent of a VM could not be used, SSH is used for this long. */
#define WS_AGENT_RETRY_MS 30000

struct ws_agent_pool;

int ws_agent_pool_new(struct ws_agent_pool **ret, struct bg_error *err);
void ws_agent_pool_free(struct ws_agent_pool *p);

/* One command's connection. */
struct ws_agent_lease {
        struct ws_agent_pool *pool;
        struct agent_conn *c;
        char vm_id[64];
        int port;   /* QEMU exec port held, -1 = none */
        bool clean; /* the command ran to its end (else the port rests a moment) */
};

/* Opens a connection for one command to vm's agent (vms_dir: STATE/vms).
 * -EAGAIN with the reason in err when the agent cannot take it and SSH
 * should: no socket of ours (a VM or template from before exec ports, QEMU
 * with vhost-vsock), every exec port busy for wait_ms, or the
 * agent does not answer a Health probe (an agent from before exec ports).
 * wait_ms: how long to wait for a free exec port. */
int ws_agent_open(struct ws_agent_pool *p, const char *vms_dir, const struct ws_vm *vm,
                  uint32_t wait_ms, struct ws_agent_lease *ret, struct bg_error *err);
/* Closes the connection (the agent then kills what still runs) and gives the
 * port back. Accepts a lease that holds nothing. */
void ws_agent_close(struct ws_agent_lease *l);

/* Takes a signal to forward to the command: > 0 once per request, else 0. */
typedef int (*ws_agent_signal_fn)(void *ud);

/* How a command ran. */
enum ws_transport {
        WS_TRANSPORT_NONE, /* not started yet */
        WS_TRANSPORT_AGENT,
        WS_TRANSPORT_SSH,
};

/* Runs cmd (a shell command line, as for SSH: bg_ssh_workspace_command)
 * with /bin/sh -c through the lease, with io's streams, tty, window
 * changes, cancel (SIGTERM, then -ECANCELED 2 s later) and timeout (SIGKILL
 * and -ETIMEDOUT) exactly as bg_ssh_exec; io->interrupts is not used.
 * on_transport (may be NULL) hears WS_TRANSPORT_AGENT once the command runs.
 * *exit_code: the command's status, 128 + N when signal N ended it.
 * -ENOTSUP when the agent predates exec: nothing ran, use SSH. */
int ws_agent_run(struct ws_agent_lease *l, const char *cmd, const struct bg_ssh_io *io,
                 ws_agent_signal_fn take_signal,
                 void (*on_transport)(void *ud, enum ws_transport t), int *exit_code,
                 struct bg_error *err);

/* Where commands run: the agent pool, STATE/vms, the owner's SSH key. */
struct ws_runner {
        struct ws_agent_pool *pool;
        char vms_dir[600];
        char key_path[600];
        uint32_t port_wait_ms; /* 0 = WS_AGENT_PORT_WAIT_MS */
};

/* Runs cmd on vm through the guest agent (ws_agent_open, ws_agent_run), or
 * over SSH (bg_ssh_exec) when the agent cannot take it; with the same io and
 * the same results either way (time spent waiting for an exec port, at most
 * half of io->timeout_ms, counts against it). on_transport (may be NULL) is told the
 * transport once the command runs (SSH: once connected). take_signal is only asked over the agent.
 */
int ws_run_command(const struct ws_runner *rn, const struct ws_vm *vm, const char *cmd,
                   const struct bg_ssh_io *io, ws_agent_signal_fn take_signal,
                   void (*on_transport)(void *ud, enum ws_transport t), int *exit_code,
                   struct bg_error *err);

/* ws_run_command with stdin from in/in_len and the output collected into
 * out/errout as bg_ssh_run does. */
int ws_run_collect(const struct ws_runner *rn, const struct ws_vm *vm, const char *cmd,
                   const void *in, size_t in_len, struct bg_ssh_buf *out, struct bg_ssh_buf *errout,
                   uint32_t timeout_ms, int *exit_code, struct bg_error *err);
