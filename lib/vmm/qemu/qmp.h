/* A minimal QEMU Machine Protocol client over a unix stream socket.
 *
 * QMP speaks one JSON object per line. On connect QEMU sends a greeting
 * ({"QMP": {...}}); the client must send qmp_capabilities before any other
 * command. Commands carry an "id" that QEMU echoes in its answer, so answers
 * are matched to commands; asynchronous events ({"event": ...}) and answers
 * with other ids are skipped. A connection carries one command at a time. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util/error.h"

struct qmp;

/* Connect to the QMP socket at path, read the greeting and negotiate
 * capabilities, all within timeout_ms. -ENOENT/-ECONNREFUSED when nothing
 * listens there (yet); -ECONNRESET when QEMU closed the connection. */
int qmp_open(const char *path, uint64_t timeout_ms, struct qmp **ret, struct bg_error *err);

/* The same over an already connected socket; takes ownership of fd, also on
 * failure. */
int qmp_open_fd(int fd, uint64_t timeout_ms, struct qmp **ret, struct bg_error *err);

/* Close and free; accepts NULL, returns NULL. */
struct qmp *qmp_free(struct qmp *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct qmp *, qmp_free);

/* Run `command` with arguments args (borrowed; NULL for none) and wait up to
 * timeout_ms for its answer. On success, when ret is not NULL, *ret is a new
 * reference to the "return" value (the caller json_decref()s it). A QMP error
 * answer becomes -EOPNOTSUPP (CommandNotFound) or -EIO, with QEMU's "desc" in
 * err; -ETIMEDOUT when no answer came in time; -ECONNRESET when QEMU closed
 * the connection (it exits after "quit", for one). */
int qmp_execute(struct qmp *q, const char *command, json_t *args, uint64_t timeout_ms, json_t **ret,
                struct bg_error *err);

/* Hands fd (borrowed; QEMU gets its own copy) to QEMU under name, for a later
 * command that takes "fd:NAME" (migrate, migrate-incoming): QMP getfd with
 * the descriptor passed as SCM_RIGHTS. */
int qmp_pass_fd(struct qmp *q, int fd, const char *name, uint64_t timeout_ms, struct bg_error *err);
