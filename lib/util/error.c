#include "error.h"

#include <stdarg.h>
#include <string.h>

int bg_error_set(struct bg_error *err, int code, const char *fmt, ...)
{
        if (code < 0)
                code = -code;
        if (code == 0)
                code = EIO;
        if (!err)
                return -code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
        return -code;
}

int bg_error_prefix(struct bg_error *err, const char *fmt, ...)
{
        if (!err)
                return -EIO;
        char prefix[BG_ERROR_MSG_MAX];
        char old[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        if (old[0])
                snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
        else
                snprintf(err->msg, sizeof(err->msg), "%s", prefix);
        if (err->code == 0)
                err->code = EIO;
        return -err->code;
}

int bg_error_errno(struct bg_error *err, int r, const char *fmt, ...)
{
        if (r < 0)
                r = -r;
        if (r == 0)
                r = EIO;
        if (!err)
                return -r;
        /* The same error coming up from a callee that already explained it:
         * keep its more specific message. (A message left from an earlier,
         * unrelated failure has another code and is replaced.) */
        if (err->code == r && err->msg[0])
                return -r;
        char prefix[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, strerror(r));
        err->code = r;
        return -r;
}
