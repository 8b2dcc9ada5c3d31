/* Structured logging: one JSON object per line on stderr (journald captures
 * stderr of units), with time, level, service, op_id and message.
 *
 * The op_id is thread-local: the RPC server sets it for the duration of a
 * handler, so every line a handler logs and every RPC it makes carries the
 * op_id of the request being served. */
#pragma once

#include <stdbool.h>
#include "util/macro.h"

enum log_level {
        LOG_LEVEL_DEBUG,
        LOG_LEVEL_INFO,
        LOG_LEVEL_WARN,
        LOG_LEVEL_ERROR,
        _LOG_LEVEL_MAX,
};

const char *log_level_to_string(enum log_level l);
int log_level_from_string(const char *s); /* -EINVAL if unknown */

/* Process-wide setup; safe to call again. fd is where lines go (default 2). */
void log_setup(const char *service, enum log_level min_level, int fd);
enum log_level log_get_min_level(void);

#define LOG_OP_ID_MAX 40
void log_set_op_id(const char *op_id); /* NULL clears */
const char *log_get_op_id(void);       /* "" when none */

/* Emits one line; returns -abs(errnum) (or 0 when errnum == 0) so callers can
 * `return log_error_errno(r, "…: %m")`. %m expands to strerror(errnum). */
int log_emit(enum log_level level, int errnum, const char *func, const char *fmt, ...)
    _printf_(4, 5);

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, 0, __func__, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, 0, __func__, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, 0, __func__, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, 0, __func__, __VA_ARGS__)
#define log_warn_errno(r, ...) log_emit(LOG_LEVEL_WARN, (r), __func__, __VA_ARGS__)
#define log_error_errno(r, ...) log_emit(LOG_LEVEL_ERROR, (r), __func__, __VA_ARGS__)
