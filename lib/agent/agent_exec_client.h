/* Host side of the agent's exec sessions (AgentExecStart in agent.proto):
 * start a command in the guest, send it input, window sizes and signals, and
 * read its output and exit status as events. One session at a time on a
 * connection; not thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_client.h"

struct agent_exec_spec {
        char *const *argv; /* argc words */
        size_t argc;
        char *const *env; /* "KEY=VALUE" */
        size_t n_env;
        const char *cwd; /* NULL or "" = /root */
        bool tty;
        unsigned rows, cols;
        bool want_stdin;
};

/* Packs the start request for session id into a malloc()ed buffer. -E2BIG
 * when it exceeds a frame. */
int agent_exec_pack_start(uint64_t id, const struct agent_exec_spec *spec, uint8_t **ret,
                          size_t *ret_len);

/* Packs one input frame: data (may be empty), then eof; rows/cols > 0 is a
 * window change; sig > 0 a signal. */
int agent_exec_pack_input(uint64_t id, const void *data, size_t len, bool eof, unsigned rows,
                          unsigned cols, int sig, uint8_t **ret, size_t *ret_len);

/* Starts the command and waits up to timeout_ms for the agent to say it runs.
 * -ENOTSUP (message in err) when the agent predates exec; the agent's errno
 * (ENOENT: no such program, EACCES, EINVAL, EBUSY) with its message; -ETIMEDOUT. */
int agent_exec_start(struct agent_conn *c, const struct agent_exec_spec *spec, uint64_t timeout_ms,
                     uint64_t *ret_id, struct bg_error *err);

/* Sends one input frame (see agent_exec_pack_input); data at most
 * AGENT_EXEC_INPUT_MAX bytes. */
#define AGENT_EXEC_INPUT_MAX (32u * 1024u)
int agent_exec_send(struct agent_conn *c, uint64_t id, const void *data, size_t len, bool eof,
                    unsigned rows, unsigned cols, int sig);

enum agent_exec_event_kind {
        AGENT_EXEC_EVENT_OUTPUT,
        AGENT_EXEC_EVENT_EXIT,
};

struct agent_exec_event {
        enum agent_exec_event_kind kind;
        int stream; /* OUTPUT: 1 stdout, 2 stderr */
        const uint8_t *data;
        size_t len;
        int code;                        /* EXIT */
        int signal;                      /* EXIT: > 0 when a signal ended it */
        Banger__V1__AgentResponse *resp; /* owns data */
};

/* Decodes one response frame of session id into ev. Returns 1 with ev filled,
 * 0 for a frame that belongs to something else (skip it), -EPROTO for a
 * malformed frame or an unexpected kind, or the agent's -errno with its
 * message in err. */
int agent_exec_decode(uint64_t id, const uint8_t *buf, size_t len, struct agent_exec_event *ev,
                      struct bg_error *err);

/* Reads until the next event of session id (deadline_usec absolute, 0 = none).
 * 1 with ev filled, -ECONNRESET when the agent went away, -ETIMEDOUT, or as
 * agent_exec_decode. */
int agent_exec_next(struct agent_conn *c, uint64_t id, uint64_t deadline_usec,
                    struct agent_exec_event *ev, struct bg_error *err);

void agent_exec_event_clear(struct agent_exec_event *ev);
