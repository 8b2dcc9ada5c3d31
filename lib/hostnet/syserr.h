/* Internal to hostnet: fill err from a failed system call, always replacing
 * what err held (bg_error_errno keeps an earlier message, which would report
 * a stale error when a caller reuses one struct bg_error across calls). */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static inline int syserr(struct bg_error *err, int r, const char *fmt, ...) _printf_(3, 4);
static inline int syserr(struct bg_error *err, int r, const char *fmt, ...)
{
        if (r < 0)
                r = -r;
        if (r == 0)
                r = EIO;
        char what[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return bg_error_set(err, r, "%s: %s", what, strerror(r));
}
