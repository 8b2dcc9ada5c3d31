/* Exec sessions: the agent runs one command for the host and streams its
 * stdin, stdout, stderr, window size, signals and exit status over the same
 * connection (AgentExecStart and friends in agent.proto).
 *
 * Bounded: output is read in chunks of at most AGENT_EXEC_CHUNK bytes and
 * each chunk is written to the host before the next is read (the host's
 * reading is the backpressure); at most one input frame is held while the
 * command does not read its stdin, and then no further host frame is read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "banger/v1/agent.pb-c.h"

/* What the session needs from the request loop that started it
 * (agent_serve.h): how to answer other requests meanwhile. */
struct agent_exec_env {
        /* As agent_serve_handle: the packed reply to one request. */
        int (*handle)(const void *ud, const uint8_t *in, size_t len, uint8_t **ret_out,
                      size_t *ret_len, bool *ret_shutdown);
        const void *ud;
        uint64_t stall_ms; /* a started frame must be complete within this */
};

/* agent_exec_session's result after another request was a Shutdown. */
#define AGENT_EXEC_SHUTDOWN 1

#define AGENT_EXEC_CHUNK (32u * 1024u)
#define AGENT_EXEC_ARGV_MAX 1024
#define AGENT_EXEC_ENV_MAX 256

/* Checks a start request: argv 1..AGENT_EXEC_ARGV_MAX non-empty words, env
 * entries "KEY=VALUE" with KEY a shell name (at most AGENT_EXEC_ENV_MAX), cwd
 * "" or absolute, window size at most 10000 x 10000. Returns 0 or -EINVAL with
 * a reason in msg. */
int agent_exec_validate(const Banger__V1__AgentExecStart *req, char *msg, size_t msglen);

/* Runs the session for request `id` on fd: answers AgentExecStarted (or an
 * AgentError when the command cannot start, after which it returns 0), then
 * streams until the command ended and its output was sent, and answers
 * AgentExecExit. Other requests that arrive meanwhile are answered through
 * env->handle. Returns 0 when the connection can serve the next request,
 * AGENT_EXEC_SHUTDOWN after a Shutdown was acknowledged, or -errno when the
 * stream failed (the command's process group has then been killed). */
int agent_exec_session(const struct agent_exec_env *env, int fd, uint64_t id,
                       const Banger__V1__AgentExecStart *req);
