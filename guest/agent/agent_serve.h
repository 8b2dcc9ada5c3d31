/* The agent's request loop over any stream fd (vsock connection,
 * virtio-serial port, or a socketpair in tests): read a frame, decode an
 * AgentRequest, answer with an AgentResponse. It never reboots by itself:
 * after acknowledging Shutdown it returns AGENT_SERVE_SHUTDOWN and the caller
 * reboots. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_SERVE_SHUTDOWN 1

struct agent_reid_env;

struct agent_serve_ctx {
        const char *proc_root;         /* "/proc" */
        const char *version;           /* reported by Health */
        const char *const *disk_paths; /* reported by Stats ("/", "/root") */
        size_t n_disk_paths;
        void (*sync_fn)(void);     /* run before acknowledging Shutdown; NULL = sync() */
        uint64_t stall_ms;         /* a started frame must be complete within this; 0 = no limit */
        uint64_t write_timeout_ms; /* a reply must be written within this; 0 = no limit */
        /* Where Reidentify applies the identity (agent_reid.h); NULL = the
         * request is refused. */
        const struct agent_reid_env *reid;
};

/* Decode one request and build the packed response (malloc()ed, caller frees).
 * Undecodable input yields an AgentError response, not a failure.
 * *ret_shutdown tells whether it acknowledged a Shutdown. Returns 0 or
 * -ENOMEM. */
int agent_serve_handle(const struct agent_serve_ctx *ctx, const uint8_t *in, size_t len,
                       uint8_t **ret_out, size_t *ret_len, bool *ret_shutdown);

/* Tell a host connected to the virtio-serial port fd that this agent just
 * opened it (an AgentError with id AGENT_ANNOUNCE_ID, code ECONNRESET): a
 * command a previous agent ran there is gone. Skipped (0) when no host is
 * connected or it does not read within timeout_ms. Returns 0 or -errno. */
int agent_serve_announce(int fd, uint64_t timeout_ms);

/* Serve requests on fd until the peer closes. Returns 0 at end of stream,
 * AGENT_SERVE_SHUTDOWN once a Shutdown was acknowledged, -EMSGSIZE (frame
 * too large; an error reply was sent), -EPROTO (stream ended inside a frame)
 * or -ETIMEDOUT (a frame stalled) when the stream is out of sync, or another
 * -errno from read/write. */
int agent_serve_stream(const struct agent_serve_ctx *ctx, int fd);
