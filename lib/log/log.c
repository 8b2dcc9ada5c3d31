#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/strtable.h"
#include "util/timeutil.h"

/* Logger configuration is process-wide by nature (one stderr per process). */
static char log_service[32] = "banger";
static enum log_level log_min = LOG_LEVEL_INFO;
static int log_fd = 2;
static __thread char log_op_id[LOG_OP_ID_MAX];

static const char *const level_names[_LOG_LEVEL_MAX] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

DEFINE_STRING_TABLE_LOOKUP(log_level, enum log_level, level_names)

void log_setup(const char *service, enum log_level min_level, int fd)
{
        if (service)
                snprintf(log_service, sizeof(log_service), "%s", service);
        log_min = min_level;
        log_fd = fd >= 0 ? fd : 2;
}

enum log_level log_get_min_level(void)
{
        return log_min;
}

void log_set_op_id(const char *op_id)
{
        snprintf(log_op_id, sizeof(log_op_id), "%s", op_id ? op_id : "");
}

const char *log_get_op_id(void)
{
        return log_op_id;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (bad lead byte, missing continuation, overlong form, surrogate, > U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s)
{
        unsigned char c = s[0];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Appends s to buf as JSON string content (without quotes), stopping before
 * cap. Invalid UTF-8 becomes U+FFFD, so every line stays valid JSON. */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *str)
{
        const unsigned char *s = (const unsigned char *)str;
        while (*s) {
                unsigned char c = *s;
                char tmp[8];
                const char *out = tmp;
                size_t len = 1, consumed = 1;
                switch (c) {
                case '"':
                        out = "\\\"";
                        len = 2;
                        break;
                case '\\':
                        out = "\\\\";
                        len = 2;
                        break;
                case '\n':
                        out = "\\n";
                        len = 2;
                        break;
                case '\t':
                        out = "\\t";
                        len = 2;
                        break;
                case '\r':
                        out = "\\r";
                        len = 2;
                        break;
                default:
                        if (c < 0x20) {
                                len = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
                        } else if (c < 0x80) {
                                tmp[0] = (char)c;
                        } else {
                                consumed = utf8_seq_len(s);
                                if (consumed == 0) {
                                        out = "\\ufffd";
                                        len = 6;
                                        consumed = 1;
                                } else {
                                        out = (const char *)s;
                                        len = consumed;
                                }
                        }
                }
                if (pos + len >= cap)
                        break; /* never split an escape or a character */
                memcpy(buf + pos, out, len);
                pos += len;
                s += consumed;
        }
        return pos;
}

static size_t append(char *buf, size_t pos, size_t cap, const char *s)
{
        while (*s && pos + 1 < cap)
                buf[pos++] = *s++;
        return pos;
}

int log_emit(enum log_level level, int errnum, const char *func, const char *fmt, ...)
{
        int e = errnum < 0 ? -errnum : errnum;
        if (level < log_min || level >= _LOG_LEVEL_MAX)
                return -e;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        int saved = errno;
        errno = e; /* so %m prints strerror(errnum) */
        vsnprintf(msg, sizeof(msg), fmt, ap);
        errno = saved;
        va_end(ap);

        char ts[40];
        format_iso8601_ms(now_real_msec(), ts, sizeof(ts));

        char line[4096];
        size_t cap = sizeof(line) - 2, pos = 0;
        pos = append(line, pos, cap, "{\"ts\":\"");
        pos = append(line, pos, cap, ts);
        pos = append(line, pos, cap, "\",\"level\":\"");
        pos = append(line, pos, cap, level_names[level]);
        pos = append(line, pos, cap, "\",\"service\":\"");
        pos = json_escape(line, pos, cap, log_service);
        pos = append(line, pos, cap, "\"");
        if (log_op_id[0]) {
                pos = append(line, pos, cap, ",\"op_id\":\"");
                pos = json_escape(line, pos, cap, log_op_id);
                pos = append(line, pos, cap, "\"");
        }
        pos = append(line, pos, cap, ",\"msg\":\"");
        /* Leave room for the fields that follow the message. */
        pos = json_escape(line, pos, cap - 160, msg);
        pos = append(line, pos, cap, "\"");
        if (e) {
                char num[32];
                snprintf(num, sizeof(num), ",\"errno\":%d", e);
                pos = append(line, pos, cap, num);
        }
        if (func && level >= LOG_LEVEL_WARN) {
                pos = append(line, pos, cap, ",\"func\":\"");
                pos = json_escape(line, pos, cap, func);
                pos = append(line, pos, cap, "\"");
        }
        line[pos++] = '}';
        line[pos++] = '\n';
        /* One write(2) per line keeps lines from concurrent threads whole. */
        ssize_t w = write(log_fd, line, pos);
        (void)w;
        return -e;
}
