/* The error object that carries a user-facing message up the stack.
 *
 * Functions return int (>= 0 ok, -errno failure). Where the reason matters to
 * a person, they also fill a struct bg_error on the way up; the RPC layer maps
 * err->code to a status in exactly one place (rpc_status_from_errno). */
#pragma once

#include "macro.h"

#define BG_ERROR_MSG_MAX 256

struct bg_error {
        int code;                   /* positive errno value; 0 = no error */
        char msg[BG_ERROR_MSG_MAX]; /* human-readable, no trailing newline */
};

/* Set code and message (printf-style) and return -code, so callers can write
 * `return bg_error_set(err, EINVAL, "bad name '%s'", n);`. err may be NULL. */
int bg_error_set(struct bg_error *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prepend context: "ctx: old message". Returns -err->code. */
int bg_error_prefix(struct bg_error *err, const char *fmt, ...) _printf_(2, 3);

/* Fill err with "context: strerror(r)" from a -errno return value, unless err
 * already explains this same error (same code), set by a callee. */
int bg_error_errno(struct bg_error *err, int r, const char *fmt, ...) _printf_(3, 4);

static inline void bg_error_clear(struct bg_error *err)
{
        if (err) {
                err->code = 0;
                err->msg[0] = '\0';
        }
}
