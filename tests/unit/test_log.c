#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"

struct pipe_fds {
        int r, w;
};

static int setup(void **state)
{
        struct pipe_fds *p = calloc(1, sizeof(*p));
        assert_non_null(p);
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        p->r = fds[0];
        p->w = fds[1];
        log_setup("testsvc", LOG_LEVEL_DEBUG, p->w);
        log_set_op_id(NULL);
        *state = p;
        return 0;
}

static int teardown(void **state)
{
        struct pipe_fds *p = *state;
        log_setup("banger", LOG_LEVEL_INFO, 2);
        log_set_op_id(NULL);
        close(p->r);
        close(p->w);
        free(p);
        return 0;
}

/* Everything currently in the pipe; "" when nothing was written. */
static char *drain(int fd)
{
        size_t cap = 65536, len = 0;
        char *buf = malloc(cap + 1);
        assert_non_null(buf);
        for (;;) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                assert_true(len < cap);
        }
        buf[len] = '\0';
        return buf;
}

/* Reads exactly one line from the pipe and parses it. */
static json_t *read_one(int fd)
{
        _cleanup_free_ char *s = drain(fd);
        size_t len = strlen(s);
        if (len == 0)
                fail_msg("no log line was written");
        assert_int_equal(s[len - 1], '\n');
        assert_null(memchr(s, '\n', len - 1)); /* exactly one line */
        json_error_t jerr;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                fail_msg("not valid JSON (%s): %s", jerr.text, s);
        assert_true(json_is_object(j));
        return j;
}

static const char *str_field(json_t *j, const char *key)
{
        json_t *v = json_object_get(j, key);
        if (!v)
                return NULL;
        assert_true(json_is_string(v));
        return json_string_value(v);
}

static void test_line_fields(void **state)
{
        struct pipe_fds *p = *state;
        log_set_op_id("op-1234");
        assert_int_equal(log_info("hello %s %d", "world", 42), 0);
        json_t *j = read_one(p->r);

        const char *ts = str_field(j, "ts");
        assert_non_null(ts);
        /* 2024-01-02T03:04:05.678Z */
        assert_int_equal(strlen(ts), 24);
        assert_int_equal(ts[4], '-');
        assert_int_equal(ts[10], 'T');
        assert_int_equal(ts[19], '.');
        assert_int_equal(ts[23], 'Z');

        assert_string_equal(str_field(j, "level"), "info");
        assert_string_equal(str_field(j, "service"), "testsvc");
        assert_string_equal(str_field(j, "op_id"), "op-1234");
        assert_string_equal(str_field(j, "msg"), "hello world 42");
        assert_null(json_object_get(j, "errno"));
        json_decref(j);

        /* Without an op_id the key is left out. */
        log_set_op_id(NULL);
        assert_string_equal(log_get_op_id(), "");
        log_warn("w");
        j = read_one(p->r);
        assert_null(json_object_get(j, "op_id"));
        assert_string_equal(str_field(j, "level"), "warn");
        assert_string_equal(str_field(j, "func"), "test_line_fields");
        json_decref(j);
}

static void test_escaping(void **state)
{
        struct pipe_fds *p = *state;
        const char *nasty = "quote\" backslash\\ newline\n tab\t cr\r bell\a esc\x1b "
                            "unit\x1f del\x7f utf8 \xc3\xa9\xe2\x82\xac /slash";
        log_set_op_id("op\"with\nnewline");
        log_setup("svc\"q", LOG_LEVEL_DEBUG, p->w);
        log_debug("%s", nasty);
        _cleanup_free_ char *raw = drain(p->r);
        /* The line itself has no raw control characters besides the final newline. */
        size_t len = strlen(raw);
        assert_true(len > 0);
        for (size_t i = 0; i + 1 < len; i++)
                assert_true((unsigned char)raw[i] >= 0x20);

        json_error_t jerr;
        json_t *j = json_loads(raw, 0, &jerr);
        if (!j)
                fail_msg("not valid JSON (%s): %s", jerr.text, raw);
        assert_string_equal(str_field(j, "msg"), nasty);
        assert_string_equal(str_field(j, "service"), "svc\"q");
        assert_string_equal(str_field(j, "op_id"), "op\"with\nnewline");
        assert_string_equal(str_field(j, "level"), "debug");
        json_decref(j);
}

static void test_min_level(void **state)
{
        struct pipe_fds *p = *state;
        log_setup("testsvc", LOG_LEVEL_WARN, p->w);
        assert_int_equal(log_get_min_level(), LOG_LEVEL_WARN);

        log_debug("dropped");
        log_info("dropped");
        /* Filtered lines still return the error for `return log_…_errno()`. */
        assert_int_equal(log_emit(LOG_LEVEL_INFO, -EIO, __func__, "dropped"), -EIO);
        _cleanup_free_ char *none = drain(p->r);
        assert_string_equal(none, "");

        log_warn("kept warn");
        json_t *j = read_one(p->r);
        assert_string_equal(str_field(j, "msg"), "kept warn");
        json_decref(j);
        log_error("kept error");
        j = read_one(p->r);
        assert_string_equal(str_field(j, "level"), "error");
        json_decref(j);
}

static void test_errno_m(void **state)
{
        struct pipe_fds *p = *state;
        errno = EAGAIN;
        int r = log_error_errno(-ENOENT, "open '%s': %m", "/nope");
        assert_int_equal(r, -ENOENT);
        assert_int_equal(errno, EAGAIN); /* the caller's errno survives */
        json_t *j = read_one(p->r);
        char want[128];
        snprintf(want, sizeof(want), "open '/nope': %s", strerror(ENOENT));
        assert_string_equal(str_field(j, "msg"), want);
        json_t *e = json_object_get(j, "errno");
        assert_true(json_is_integer(e));
        assert_int_equal(json_integer_value(e), ENOENT);
        assert_string_equal(str_field(j, "func"), "test_errno_m");
        json_decref(j);

        /* A positive errnum works the same way. */
        assert_int_equal(log_warn_errno(EACCES, "x: %m"), -EACCES);
        j = read_one(p->r);
        snprintf(want, sizeof(want), "x: %s", strerror(EACCES));
        assert_string_equal(str_field(j, "msg"), want);
        json_decref(j);
}

struct op_thread {
        const char *op_id;
        pthread_barrier_t *barrier;
        char seen[LOG_OP_ID_MAX];
};

static void *op_thread_main(void *arg)
{
        struct op_thread *t = arg;
        log_set_op_id(t->op_id);
        /* Both threads have set their op_id before either logs. */
        pthread_barrier_wait(t->barrier);
        log_info("from %s", t->op_id);
        snprintf(t->seen, sizeof(t->seen), "%s", log_get_op_id());
        pthread_barrier_wait(t->barrier);
        return NULL;
}

static void test_op_id_thread_local(void **state)
{
        struct pipe_fds *p = *state;
        log_set_op_id("op-main");
        pthread_barrier_t barrier;
        assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
        struct op_thread a = {.op_id = "op-a", .barrier = &barrier};
        struct op_thread b = {.op_id = "op-b", .barrier = &barrier};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, op_thread_main, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, op_thread_main, &b), 0);
        assert_int_equal(pthread_join(ta, NULL), 0);
        assert_int_equal(pthread_join(tb, NULL), 0);
        pthread_barrier_destroy(&barrier);

        assert_string_equal(a.seen, "op-a");
        assert_string_equal(b.seen, "op-b");
        assert_string_equal(log_get_op_id(), "op-main");

        _cleanup_free_ char *all = drain(p->r);
        int lines = 0;
        char *save = NULL;
        for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_error_t jerr;
                json_t *j = json_loads(line, 0, &jerr);
                if (!j)
                        fail_msg("not valid JSON (%s): %s", jerr.text, line);
                const char *msg = str_field(j, "msg");
                const char *op = str_field(j, "op_id");
                assert_non_null(op);
                assert_string_equal(msg + strlen("from "), op);
                json_decref(j);
                lines++;
        }
        assert_int_equal(lines, 2);
}

static void test_long_op_id_truncated(void **state)
{
        struct pipe_fds *p = *state;
        char longid[100];
        memset(longid, 'x', sizeof(longid) - 1);
        longid[sizeof(longid) - 1] = '\0';
        log_set_op_id(longid);
        assert_int_equal(strlen(log_get_op_id()), LOG_OP_ID_MAX - 1);
        log_info("m");
        json_t *j = read_one(p->r);
        assert_int_equal(strlen(str_field(j, "op_id")), LOG_OP_ID_MAX - 1);
        json_decref(j);
}

/* Messages that expand a lot when escaped still give valid JSON lines that
 * keep the fields after the message. */
static void test_long_escaped_stays_valid(void **state)
{
        struct pipe_fds *p = *state;
        for (size_t n = 500; n <= 2046; n += 97) {
                char *m = malloc(n + 1);
                assert_non_null(m);
                for (size_t i = 0; i < n; i++)
                        m[i] = (i % 3 == 0) ? '"' : (i % 3 == 1) ? '\x01' : 'a';
                m[n] = '\0';
                log_warn_errno(-EIO, "%s", m);
                json_t *j = read_one(p->r);
                assert_int_equal(json_integer_value(json_object_get(j, "errno")), EIO);
                assert_non_null(str_field(j, "func"));
                json_decref(j);
                free(m);
        }
}

/* Invalid UTF-8 is replaced, valid multi-byte text is kept. */
static void test_invalid_utf8_replaced(void **state)
{
        struct pipe_fds *p = *state;
        log_info("caf\xc3\xa9 \xff\xfe latin1 \xe9t\xe9 cut \xe2\x82");
        json_t *j = read_one(p->r);
        const char *msg = str_field(j, "msg");
        assert_non_null(msg);
        assert_non_null(strstr(msg, "caf\xc3\xa9 "));
        assert_non_null(strstr(msg, "\xef\xbf\xbd")); /* U+FFFD */
        json_decref(j);
}

static void test_level_strings(void **state)
{
        for (int l = 0; l < _LOG_LEVEL_MAX; l++) {
                const char *s = log_level_to_string((enum log_level)l);
                assert_non_null(s);
                assert_int_equal(log_level_from_string(s), l);
        }
        assert_string_equal(log_level_to_string(LOG_LEVEL_WARN), "warn");
        assert_int_equal(log_level_from_string("error"), LOG_LEVEL_ERROR);
        assert_null(log_level_to_string(_LOG_LEVEL_MAX));
        assert_null(log_level_to_string((enum log_level) - 1));
        assert_int_equal(log_level_from_string("verbose"), -EINVAL);
        assert_int_equal(log_level_from_string(""), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_line_fields, setup, teardown),
            cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
            cmocka_unit_test_setup_teardown(test_min_level, setup, teardown),
            cmocka_unit_test_setup_teardown(test_errno_m, setup, teardown),
            cmocka_unit_test_setup_teardown(test_op_id_thread_local, setup, teardown),
            cmocka_unit_test_setup_teardown(test_long_op_id_truncated, setup, teardown),
            cmocka_unit_test_setup_teardown(test_long_escaped_stays_valid, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invalid_utf8_replaced, setup, teardown),
            cmocka_unit_test(test_level_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
