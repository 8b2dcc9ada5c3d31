/* Exec sessions end to end through a socketpair: the guest agent's stream
 * loop (agent_serve_stream, agent_exec_session) and the host's frame encoding
 * and decoding (lib/agent/agent_exec.h), with real commands. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_exec.h"
#include "agent_exec_client.h"
#include "agent_frame.h"
#include "agent_serve.h"
#include "banger/v1/agent.pb-c.h"

struct server {
        struct agent_serve_ctx ctx;
        int fd;
        int client;
        int result;
        pthread_t thread;
};

static void *serve_thread(void *arg)
{
        struct server *s = arg;
        s->result = agent_serve_stream(&s->ctx, s->fd);
        return NULL;
}

static int setup(void **state)
{
        struct server *s = calloc(1, sizeof(*s));
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        s->ctx = (struct agent_serve_ctx){.proc_root = "/proc", .version = "t", .stall_ms = 2000};
        s->fd = sv[1];
        s->client = sv[0];
        pthread_create(&s->thread, NULL, serve_thread, s);
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        struct server *s = *state;
        close(s->client);
        pthread_join(s->thread, NULL);
        close(s->fd);
        free(s);
        return 0;
}

static void send_buf(struct server *s, uint8_t *buf, size_t len)
{
        assert_int_equal(agent_frame_write(s->client, buf, len, agent_deadline_after_ms(2000)), 0);
        free(buf);
}

static void start(struct server *s, uint64_t id, const struct agent_exec_spec *spec)
{
        uint8_t *buf;
        size_t len;
        assert_int_equal(agent_exec_pack_start(id, spec, &buf, &len), 0);
        send_buf(s, buf, len);
}

static void input(struct server *s, uint64_t id, const char *data, bool eof, unsigned rows,
                  unsigned cols, int sig)
{
        uint8_t *buf;
        size_t len;
        assert_int_equal(agent_exec_pack_input(id, data, data ? strlen(data) : 0, eof, rows, cols,
                                               sig, &buf, &len),
                         0);
        send_buf(s, buf, len);
}

static Banger__V1__AgentResponse *next_raw(struct server *s)
{
        uint8_t *in = NULL;
        size_t len = 0;
        assert_int_equal(agent_frame_read(s->client, AGENT_FRAME_MAX,
                                          agent_deadline_after_ms(10000), 0, &in, &len),
                         1);
        Banger__V1__AgentResponse *r = banger__v1__agent_response__unpack(NULL, len, in);
        free(in);
        assert_non_null(r);
        return r;
}

/* Waits for Started, then collects stdout/stderr until Exit. Returns the
 * exit event's code, or 128+signal. */
static int collect(struct server *s, uint64_t id, char *out, size_t outlen, char *err,
                   size_t errlen)
{
        Banger__V1__AgentResponse *r = next_raw(s);
        assert_int_equal(r->id, id);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_EXEC_STARTED);
        assert_true(r->exec_started->pid > 0);
        banger__v1__agent_response__free_unpacked(r, NULL);
        size_t no = 0, ne = 0;
        for (;;) {
                uint8_t *in = NULL;
                size_t len = 0;
                assert_int_equal(agent_frame_read(s->client, AGENT_FRAME_MAX,
                                                  agent_deadline_after_ms(10000), 0, &in, &len),
                                 1);
                struct agent_exec_event ev;
                struct bg_error e = {0};
                int x = agent_exec_decode(id, in, len, &ev, &e);
                free(in);
                assert_int_equal(x, 1);
                if (ev.kind == AGENT_EXEC_EVENT_EXIT) {
                        int code = ev.signal ? 128 + ev.signal : ev.code;
                        agent_exec_event_clear(&ev);
                        out[no] = '\0';
                        if (err)
                                err[ne] = '\0';
                        return code;
                }
                char *dst = ev.stream == 1 ? out : err;
                size_t *n = ev.stream == 1 ? &no : &ne;
                size_t cap = ev.stream == 1 ? outlen : errlen;
                assert_non_null(dst);
                assert_true(*n + ev.len < cap);
                memcpy(dst + *n, ev.data, ev.len);
                *n += ev.len;
                agent_exec_event_clear(&ev);
        }
}

static void test_output_and_exit_code(void **state)
{
        struct server *s = *state;
        char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
        struct agent_exec_spec spec = {.argv = argv, .argc = 3};
        start(s, 11, &spec);
        char out[256], err[256];
        assert_int_equal(collect(s, 11, out, sizeof(out), err, sizeof(err)), 3);
        assert_string_equal(out, "out\n");
        assert_string_equal(err, "err\n");
}

static void test_env_and_cwd(void **state)
{
        struct server *s = *state;
        char *argv[] = {"/bin/sh", "-c", "echo \"$FOO:$PWD:$HOME\""};
        char *env[] = {"FOO=a b", "HOME=/elsewhere", "FOO=bar"};
        struct agent_exec_spec spec = {
            .argv = argv, .argc = 3, .env = env, .n_env = 3, .cwd = "/tmp"};
        start(s, 12, &spec);
        char out[256];
        assert_int_equal(collect(s, 12, out, sizeof(out), NULL, 0), 0);
        assert_string_equal(out, "bar:/tmp:/elsewhere\n");
}

static void test_stdin(void **state)
{
        struct server *s = *state;
        char *argv[] = {"cat"};
        struct agent_exec_spec spec = {.argv = argv, .argc = 1, .want_stdin = true};
        start(s, 13, &spec);
        input(s, 13, "hello ", false, 0, 0, 0);
        input(s, 13, "world", true, 0, 0, 0);
        char out[256];
        assert_int_equal(collect(s, 13, out, sizeof(out), NULL, 0), 0);
        assert_string_equal(out, "hello world");
}

static void test_signals(void **state)
{
        struct server *s = *state;
        char *argv[] = {"/bin/sh", "-c", "kill -TERM $$"};
        struct agent_exec_spec spec = {.argv = argv, .argc = 3};
        start(s, 14, &spec);
        char out[64];
        assert_int_equal(collect(s, 14, out, sizeof(out), NULL, 0), 128 + SIGTERM);

        /* A signal from the host reaches the command. */
        char *sl[] = {"sleep", "30"};
        spec = (struct agent_exec_spec){.argv = sl, .argc = 2};
        start(s, 15, &spec);
        input(s, 15, NULL, false, 0, 0, SIGKILL);
        assert_int_equal(collect(s, 15, out, sizeof(out), NULL, 0), 128 + SIGKILL);
}

static void test_tty(void **state)
{
        struct server *s = *state;
        char *argv[] = {"/bin/sh", "-c", "test -t 0 && test -t 1 && stty size"};
        struct agent_exec_spec spec = {
            .argv = argv, .argc = 3, .tty = true, .rows = 30, .cols = 100};
        start(s, 16, &spec);
        char out[256];
        assert_int_equal(collect(s, 16, out, sizeof(out), NULL, 0), 0);
        assert_string_equal(out, "30 100\r\n");
}

static void expect_error(struct server *s, uint64_t id, int code, const char *part)
{
        Banger__V1__AgentResponse *r = next_raw(s);
        assert_int_equal(r->id, id);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_ERROR);
        assert_int_equal(r->error->code, code);
        assert_non_null(strstr(r->error->message, part));
        banger__v1__agent_response__free_unpacked(r, NULL);
}

static void test_start_failures(void **state)
{
        struct server *s = *state;
        char *missing[] = {"/nonexistent/banger-no-such-program"};
        struct agent_exec_spec spec = {.argv = missing, .argc = 1};
        start(s, 17, &spec);
        expect_error(s, 17, ENOENT, "cannot run /nonexistent/banger-no-such-program");

        char *argv[] = {"true"};
        spec = (struct agent_exec_spec){.argv = argv, .argc = 1, .cwd = "/nonexistent-dir"};
        start(s, 18, &spec);
        expect_error(s, 18, ENOENT, "cannot change to directory /nonexistent-dir");

        char *bad_env[] = {"1X=y"};
        spec = (struct agent_exec_spec){.argv = argv, .argc = 1, .env = bad_env, .n_env = 1};
        start(s, 19, &spec);
        expect_error(s, 19, EINVAL, "environment entry 1");

        spec = (struct agent_exec_spec){.argv = argv, .argc = 1, .cwd = "relative"};
        start(s, 20, &spec);
        expect_error(s, 20, EINVAL, "absolute");

        spec = (struct agent_exec_spec){.argv = argv, .argc = 0};
        start(s, 21, &spec);
        expect_error(s, 21, EINVAL, "argv");
}

static void test_stray_input_is_dropped(void **state)
{
        struct server *s = *state;
        /* Input for a session that is over gets no reply; the next request
         * is answered as usual. */
        input(s, 99, "late", true, 0, 0, 0);
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentHealthRequest h = BANGER__V1__AGENT_HEALTH_REQUEST__INIT;
        req.id = 5;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_HEALTH;
        req.health = &h;
        size_t len = banger__v1__agent_request__get_packed_size(&req);
        uint8_t *buf = malloc(len);
        banger__v1__agent_request__pack(&req, buf);
        send_buf(s, buf, len);
        Banger__V1__AgentResponse *r = next_raw(s);
        assert_int_equal(r->id, 5);
        assert_int_not_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_ERROR);
        banger__v1__agent_response__free_unpacked(r, NULL);
}

static void test_decode(void **state)
{
        (void)state;
        struct agent_exec_event ev;
        struct bg_error e = {0};
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentExecOutput o = BANGER__V1__AGENT_EXEC_OUTPUT__INIT;
        o.stream = 2;
        o.data.data = (uint8_t *)"xy";
        o.data.len = 2;
        resp.id = 4;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_EXEC_OUTPUT;
        resp.exec_output = &o;
        uint8_t buf[64];
        size_t n = banger__v1__agent_response__pack(&resp, buf);
        assert_int_equal(agent_exec_decode(4, buf, n, &ev, &e), 1);
        assert_int_equal(ev.stream, 2);
        assert_int_equal(ev.len, 2);
        assert_memory_equal(ev.data, "xy", 2);
        agent_exec_event_clear(&ev);
        /* Another session's frame is skipped. */
        assert_int_equal(agent_exec_decode(5, buf, n, &ev, &e), 0);
        /* A stream that is neither stdout nor stderr is refused. */
        o.stream = 7;
        n = banger__v1__agent_response__pack(&resp, buf);
        assert_int_equal(agent_exec_decode(4, buf, n, &ev, &e), -EPROTO);
        /* An exit code out of range is refused. */
        Banger__V1__AgentExecExit x = BANGER__V1__AGENT_EXEC_EXIT__INIT;
        x.code = 300;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_EXEC_EXIT;
        resp.exec_exit = &x;
        n = banger__v1__agent_response__pack(&resp, buf);
        assert_int_equal(agent_exec_decode(4, buf, n, &ev, &e), -EPROTO);
        /* Garbage. */
        uint8_t junk[] = {0xff, 0xff, 0xff};
        assert_int_equal(agent_exec_decode(4, junk, sizeof(junk), &ev, &e), -EPROTO);
        /* An input frame larger than a frame cannot be packed. */
        static char big[AGENT_FRAME_MAX + 10];
        uint8_t *out;
        size_t len;
        assert_int_equal(agent_exec_pack_input(1, big, sizeof(big), false, 0, 0, 0, &out, &len),
                         -E2BIG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_output_and_exit_code, setup, teardown),
            cmocka_unit_test_setup_teardown(test_env_and_cwd, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stdin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stray_input_is_dropped, setup, teardown),
            cmocka_unit_test(test_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
