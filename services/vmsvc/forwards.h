/* Detached port forwards (vm forward --detach): vmsvc, running as the
 * owner (never root), listens on host ports and relays each connection to
 * the VM's address on the bridge (lib/fwd). The forwards are rows in vms.db
 * (forward_store.h) while the VM runs: after a restart of vmsvc, even a
 * SIGKILL, forwards_restore listens again for every running VM's rows;
 * forwards_sync (after every change of a VM record) drops the forwards of a
 * VM that stopped, failed or went away, rows and listeners.
 *
 * Caps (config): vm.max_forwards per VM, vm.forward_max_conns connections
 * open at once over one VM's forwards (a shared lib/fwd budget; each
 * connection's buffers are bounded), vm.forward_idle_timeout per
 * connection. The target is always the VM's own address from its record:
 * a caller names ports, never a host. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "banger/v1/vm.pb-c.h"
#include "util/error.h"
#include "vm_env.h"

struct forwards;

struct forwards_limits {
        uint32_t max_per_vm;
        uint32_t max_conns; /* per VM */
        uint32_t idle_timeout_ms;
};

int forwards_new(struct vm_env *env, const struct forwards_limits *lim, struct forwards **ret,
                 struct bg_error *err);
/* Stops every listener (the rows stay for the next vmsvc). NULL is fine. */
void forwards_free(struct forwards *fw);

/* At start-up, after reconcile: listens again for the rows of running (or
 * paused) VMs, deletes the rows of the others. A port that cannot be bound
 * now is kept with its error (vm show says it), tried again on the next
 * sync. */
void forwards_restore(struct forwards *fw);
/* After a VM record changed (fw may be NULL): forwards of VMs no longer running or paused
 * (or gone) are stopped and their rows deleted. */
void forwards_sync(struct forwards *fw);

/* Starts n forwards to running VM ref (checked by the caller: guest ports
 * 1-65535, addresses IPv4 or ""). All or none: a host port in use, or one
 * forwarded already, fails naming it (-EEXIST); over vm.max_forwards fails
 * with -EFBIG. *ret_id is the VM's id. */
int forwards_add(struct forwards *fw, const char *ref, Banger__V1__VmForward *const *req, size_t n,
                 char ret_id[33], struct bg_error *err);
/* Stops VM ref's forwards on these host ports (all: every one). A port it
 * does not forward fails with -ENOENT naming it, and none is removed. */
int forwards_remove(struct forwards *fw, const char *ref, const uint32_t *host_ports, size_t n,
                    bool all, char ret_id[33], struct bg_error *err);
/* out->forwards: VM id's forwards (entries owned by out; none when fw is
 * NULL). */
int forwards_fill(struct forwards *fw, const char *vm_id, Banger__V1__Vm *out);
