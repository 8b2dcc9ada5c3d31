/* What vmsvc tells about a VM beyond its record: the guest console's log,
 * and for a running VM the guest agent's view (health, stats, listening
 * ports) next to the host's (the VMM process's CPU time and memory, whether
 * a port answers HTTP or HTTPS). Each fills the response message of its RPC
 * (VmService Logs, Stats, Ports, AgentHealth); strings in it are malloc'ed
 * and freed with the message. ref is a VM name or id. */
#pragma once

#include "banger/v1/agent.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "util/error.h"
#include "vm_lifecycle.h"

/* The time one agent probe gets to connect and answer. */
uint32_t vm_probe_timeout(const struct vm_env *env);
/* Starts a probe (named what) of a running VM's agent: claims the VM's slot
 * in env->probe_gate (-ECONNABORTED at once when another probe holds it),
 * connects, and sets *ret_deadline to when the probe must be done. On
 * success end it with vm_probe_end. */
struct agent_conn;
int vm_probe_begin(struct vm_env *env, const char *ref, const char *what, struct agent_conn **ret,
                   struct vm_record *ret_rec, uint64_t *ret_deadline, struct bg_error *err);
void vm_probe_end(struct vm_env *env, const struct vm_record *rec, struct agent_conn *c);

/* The console from stream offset in->offset (console.log.1 then
 * console.log, see vmm_log_rotate; an offset rotated away reads from the
 * oldest byte kept), at most in->max_bytes (64 KiB by default, 1 MiB at
 * most). A VM without a console log yet answers empty. */
int vm_probe_logs(struct vm_env *env, const Banger__V1__VmLogsRequest *in,
                  Banger__V1__VmLogsResponse *out, struct bg_error *err);
/* The guest's stats from its agent, the VMM's CPU time and RSS from /proc. */
int vm_probe_stats(struct vm_env *env, const char *ref, Banger__V1__VmStats *out,
                   struct bg_error *err);
/* The guest's listening ports, each TCP one not bound to loopback probed for
 * HTTP(S) and given a URL under <name>.vm. */
int vm_probe_ports(struct vm_env *env, const char *ref, Banger__V1__VmPortsResponse *out,
                   struct bg_error *err);
/* The guest agent's Health. */
int vm_probe_health(struct vm_env *env, const char *ref, Banger__V1__AgentHealth *out,
                    struct bg_error *err);
