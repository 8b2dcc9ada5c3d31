#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

const char *log_level_to_string(enum log_level l)
{
        if ((int)l < 0 || l >= _LOG_LEVEL_MAX)
                return NULL;
        return level_names[l];
}

int log_level_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _LOG_LEVEL_MAX; i++)
                if (strcmp(s, level_names[i]) == 0)
                        return i;
        return -EINVAL;
}

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

/* Appends s to buf as JSON string content (without quotes). */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
        for (; *s && pos + 7 < cap; s++) {
                unsigned char c = (unsigned char)*s;
                switch (c) {
                case '"':
                        buf[pos++] = '\\';
                        buf[pos++] = '"';
                        break;
                case '\\':
                        buf[pos++] = '\\';
                        buf[pos++] = '\\';
                        break;
                case '\n':
                        buf[pos++] = '\\';
                        buf[pos++] = 'n';
                        break;
                case '\t':
                        buf[pos++] = '\\';
                        buf[pos++] = 't';
                        break;
                case '\r':
                        buf[pos++] = '\\';
                        buf[pos++] = 'r';
                        break;
                default:
                        if (c < 0x20)
                                pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
                        else
                                buf[pos++] = (char)c;
                }
        }
        return pos;
}

static size_t append(char *buf, size_t pos, size_t cap, const char *s)
{
        size_t n = strlen(s);
        if (pos + n >= cap)
                n = cap - pos - 1;
        memcpy(buf + pos, s, n);
        return pos + n;
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
        pos = json_escape(line, pos, cap, msg);
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
