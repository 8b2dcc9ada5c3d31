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

/* console.log from in->offset, at most in->max_bytes (64 KiB by default,
 * 1 MiB at most). A VM without a console log yet answers empty. */
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
