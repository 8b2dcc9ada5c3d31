#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_client.h"
#include "agent_frame.h"
#include "agent_serve.h"
#include "test_agent_fixture.h"

enum mode {
        MODE_HANDSHAKE_OK_AFTER_CLOSES, /* close `closes` connections, then OK + serve */
        MODE_ALWAYS_CLOSE,              /* never accept the CONNECT */
        MODE_GARBAGE,                   /* reply something that is not OK */
        MODE_PLAIN_SERVE,               /* virtio-serial style: frames right away */
        MODE_STALE_THEN_ERROR,          /* a stale reply, then an AgentError */
        MODE_SILENT,                    /* read the request, never answer */
};

struct listener {
        char dir[64];
        char path[128];
        int lfd;
        enum mode mode;
        int closes;
        atomic_int accepted;
        char connect_line[64];
        pthread_t thread;
        char *proc_root;
};

static void no_sync(void)
{
}

static void serve_fixture(struct listener *l, int fd)
{
        struct agent_serve_ctx ctx = {
            .proc_root = l->proc_root, .version = "1.2.3 (t)", .sync_fn = no_sync};
        (void)agent_serve_stream(&ctx, fd);
}

static void send_response(int fd, Banger__V1__AgentResponse *r)
{
        uint8_t buf[512];
        size_t len = banger__v1__agent_response__pack(r, buf);
        assert_int_equal(agent_frame_write(fd, buf, len, 0), 0);
}

static void stale_then_error(int fd)
{
        uint8_t *in = NULL;
        size_t len = 0;
        if (agent_frame_read(fd, AGENT_FRAME_MAX, 0, 0, &in, &len) != 1)
                return;
        Banger__V1__AgentRequest *req = banger__v1__agent_request__unpack(NULL, len, in);
        free(in);
        Banger__V1__AgentResponse r = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentShutdownAck ack = BANGER__V1__AGENT_SHUTDOWN_ACK__INIT;
        r.id = req->id + 1000; /* someone else's */
        r.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_SHUTDOWN;
        r.shutdown = &ack;
        send_response(fd, &r);
        Banger__V1__AgentError e = BANGER__V1__AGENT_ERROR__INIT;
        e.code = ENOENT;
        e.message = "no such thing";
        r.id = req->id;
        r.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_ERROR;
        r.error = &e;
        send_response(fd, &r);
        banger__v1__agent_request__free_unpacked(req, NULL);
        char c;
        (void)read(fd, &c, 1); /* until the client closes */
}

static void *listener_thread(void *arg)
{
        struct listener *l = arg;
        for (;;) {
                int fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL; /* listener shut down */
                int n = atomic_fetch_add(&l->accepted, 1);
                if (l->mode == MODE_PLAIN_SERVE) {
                        serve_fixture(l, fd);
                } else if (l->mode == MODE_STALE_THEN_ERROR) {
                        stale_then_error(fd);
                } else if (l->mode == MODE_SILENT) {
                        char buf[256];
                        while (read(fd, buf, sizeof(buf)) > 0)
                                ;
                } else {
                        /* Read the CONNECT line byte by byte. */
                        size_t k = 0;
                        char c;
                        while (k + 1 < sizeof(l->connect_line) && read(fd, &c, 1) == 1 && c != '\n')
                                l->connect_line[k++] = c;
                        l->connect_line[k] = '\0';
                        if (l->mode == MODE_GARBAGE) {
                                (void)!write(fd, "HELLO THERE\n", 12);
                        } else if (l->mode == MODE_HANDSHAKE_OK_AFTER_CLOSES && n >= l->closes) {
                                (void)!write(fd, "OK 1073741824\n", 14);
                                serve_fixture(l, fd);
                        }
                }
                close(fd);
        }
}

static struct listener *listener_start(enum mode mode, int closes)
{
        struct listener *l = calloc(1, sizeof(*l));
        snprintf(l->dir, sizeof(l->dir), "/tmp/banger-agent-clientXXXXXX");
        assert_non_null(mkdtemp(l->dir));
        snprintf(l->path, sizeof(l->path), "%s/vsock.sock", l->dir);
        l->mode = mode;
        l->closes = closes;
        l->proc_root = fixture_proc_new();
        l->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
        assert_int_equal(bind(l->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(l->lfd, 8), 0);
        pthread_create(&l->thread, NULL, listener_thread, l);
        return l;
}

static void listener_stop(struct listener *l)
{
        shutdown(l->lfd, SHUT_RDWR);
        pthread_join(l->thread, NULL);
        close(l->lfd);
        unlink(l->path);
        rmdir(l->dir);
        fixture_proc_free(l->proc_root);
        free(l);
}

static uint64_t ms_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_hybrid_ok(void **state)
{
        struct listener *l = listener_start(MODE_HANDSHAKE_OK_AFTER_CLOSES, 0);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        assert_int_equal(agent_conn_open_hybrid_vsock(l->path, 1024, 2000, &c, &err), 0);
        assert_string_equal(l->connect_line, "CONNECT 1024");
        Banger__V1__AgentResponse *r = NULL;
        assert_int_equal(agent_health(c, 2000, &r, &err), 0);
        assert_string_equal(r->health->agent_version, "1.2.3 (t)");
        agent_response_free(r);
        agent_conn_free(c);
        listener_stop(l);
}

static void test_hybrid_retries_until_ok(void **state)
{
        /* The guest is not listening for the first three attempts. */
        struct listener *l = listener_start(MODE_HANDSHAKE_OK_AFTER_CLOSES, 3);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        assert_int_equal(agent_conn_open_hybrid_vsock(l->path, 52, 5000, &c, &err), 0);
        assert_int_equal(atomic_load(&l->accepted), 4);
        Banger__V1__AgentResponse *r = NULL;
        assert_int_equal(agent_ports(c, 2000, &r, &err), 0);
        assert_int_equal(r->ports->n_ports, 5);
        agent_response_free(r);
        agent_conn_free(c);
        listener_stop(l);
}

static void test_hybrid_closed_until_deadline(void **state)
{
        struct listener *l = listener_start(MODE_ALWAYS_CLOSE, 0);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        uint64_t t0 = ms_now();
        assert_int_equal(agent_conn_open_hybrid_vsock(l->path, 1024, 400, &c, &err), -ETIMEDOUT);
        uint64_t took = ms_now() - t0;
        assert_true(took >= 380 && took < 2000);
        assert_true(atomic_load(&l->accepted) >= 2); /* it did retry */
        assert_null(c);
        assert_int_equal(err.code, ETIMEDOUT);
        assert_non_null(strstr(err.msg, "without OK"));
        listener_stop(l);
}

static void test_hybrid_garbage(void **state)
{
        struct listener *l = listener_start(MODE_GARBAGE, 0);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        uint64_t t0 = ms_now();
        assert_int_equal(agent_conn_open_hybrid_vsock(l->path, 1024, 5000, &c, &err), -EPROTO);
        assert_true(ms_now() - t0 < 2000); /* no pointless retries */
        assert_non_null(strstr(err.msg, "HELLO THERE"));
        listener_stop(l);
}

static void test_hybrid_missing_socket(void **state)
{
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        assert_int_equal(
            agent_conn_open_hybrid_vsock("/nonexistent/banger/vsock.sock", 1, 200, &c, &err),
            -ENOENT);
        assert_non_null(strstr(err.msg, "/nonexistent/banger/vsock.sock"));
        assert_int_equal(agent_conn_open_unix("/nonexistent/banger/x.sock", 200, &c, &err),
                         -ENOENT);
        assert_int_equal(agent_conn_open_unix("", 200, &c, &err), -EINVAL);
}

static void test_unix_call_stats_shutdown(void **state)
{
        struct listener *l = listener_start(MODE_PLAIN_SERVE, 0);
        struct bg_error err = {0};
        _cleanup_(agent_conn_freep) struct agent_conn *c = NULL;
        assert_int_equal(agent_conn_open_unix(l->path, 1000, &c, &err), 0);
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *r = NULL;
        assert_int_equal(agent_stats(c, 2000, &r, &err), 0);
        assert_int_equal(r->stats->memory->total_bytes, 512000ull * 1024);
        assert_int_equal(agent_shutdown(c, 2000, &err), 0);
        c = agent_conn_free(c);
        listener_stop(l);
}

static void test_stale_reply_skipped_and_error_mapped(void **state)
{
        struct listener *l = listener_start(MODE_STALE_THEN_ERROR, 0);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        assert_int_equal(agent_conn_open_unix(l->path, 1000, &c, &err), 0);
        Banger__V1__AgentResponse *r = NULL;
        assert_int_equal(agent_health(c, 2000, &r, &err), -ENOENT);
        assert_null(r);
        assert_int_equal(err.code, ENOENT);
        assert_string_equal(err.msg, "agent Health: no such thing");
        agent_conn_free(c);
        listener_stop(l);
}

static void test_call_timeout(void **state)
{
        struct listener *l = listener_start(MODE_SILENT, 0);
        struct bg_error err = {0};
        struct agent_conn *c = NULL;
        assert_int_equal(agent_conn_open_unix(l->path, 1000, &c, &err), 0);
        Banger__V1__AgentResponse *r = NULL;
        assert_int_equal(agent_health(c, 150, &r, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "no reply within 150 ms"));
        agent_conn_free(c);
        listener_stop(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hybrid_ok),
            cmocka_unit_test(test_hybrid_retries_until_ok),
            cmocka_unit_test(test_hybrid_closed_until_deadline),
            cmocka_unit_test(test_hybrid_garbage),
            cmocka_unit_test(test_hybrid_missing_socket),
            cmocka_unit_test(test_unix_call_stats_shutdown),
            cmocka_unit_test(test_stale_reply_skipped_and_error_mapped),
            cmocka_unit_test(test_call_timeout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
