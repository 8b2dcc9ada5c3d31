/* At most one agent probe in flight per VM. A guest whose agent stops
 * answering holds one guest worker for one probe timeout; every other probe
 * of that VM is refused at once (ABORTED, "busy") instead of queueing behind
 * it, so callers for other VMs never wait on a stalled guest. Used by the
 * probes (vm_probes.c) and the idle watch (idle.c). */
#pragma once

#include <stdint.h>

#include "util/error.h"

struct probe_gate;

int probe_gate_new(struct probe_gate **ret);
/* Accepts NULL, returns NULL. */
struct probe_gate *probe_gate_free(struct probe_gate *g);

/* Claims the VM's slot for a probe named what ("ports", "health", ...).
 * -ECONNABORTED (RPC ABORTED) with err naming the VM and the probe in flight
 * when another holds it. A NULL gate admits everything. */
int probe_gate_enter(struct probe_gate *g, const char *vm_id, const char *vm_name,
                     const char *what, struct bg_error *err);
/* Gives the slot back (after probe_gate_enter succeeded). */
void probe_gate_leave(struct probe_gate *g, const char *vm_id);
