/* Reidentify: a VM restored from a template snapshot takes its own identity
 * (hostname, address, MAC, clock, RNG, SSH host key, authorized keys,
 * machine-id) before the host reports it ready. See AgentReidentifyRequest
 * in proto/banger/v1/agent.proto.
 *
 * The whole request is validated before anything is applied. Files are
 * written under env->root ("/" in the guest, a temp dir in tests); the
 * system-wide steps (RNG, clock, hostname, network) run only when
 * env->system is set. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "banger/v1/agent.pb-c.h"

struct agent_reid_env {
        const char *root;    /* where the files go */
        bool system;         /* also reseed the RNG, step the clock, set hostname and network */
        const char *sys_dir; /* "/sys" (interface lookup) */
};

#define AGENT_REID_ENTROPY_MIN 32
#define AGENT_REID_ENTROPY_MAX 512
#define AGENT_REID_KEY_MAX 8192

/* Checks every field; on failure writes why into msg and returns -EINVAL. */
int agent_reid_validate(const Banger__V1__AgentReidentifyRequest *req, char *msg, size_t len);

/* Validates, then applies. out->warnings (malloc'ed, caller frees with
 * agent_reid_out_clear) lists steps that were skipped without failing the
 * call (e.g. an image without sshd). Returns 0, or -errno with msg set. */
int agent_reid_apply(const struct agent_reid_env *env,
                     const Banger__V1__AgentReidentifyRequest *req,
                     Banger__V1__AgentReidentified *out, char *msg, size_t len);
void agent_reid_out_clear(Banger__V1__AgentReidentified *out);
