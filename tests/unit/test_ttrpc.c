/* lib/ttrpc: the 10-byte frame header round-trips; oversize lengths and
 * unknown types are refused; a frame arriving one byte at a time is read
 * whole and an end of stream inside one is an error; the server answers an
 * unknown method with UNIMPLEMENTED (12), an even stream id with
 * INVALID_ARGUMENT, an oversize frame with RESOURCE_EXHAUSTED (its payload
 * skipped, the connection still usable), an unknown type by closing,
 * serves two requests in flight on one connection out of order with their own
 * stream ids, and turns away connections over max_connections. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "ttrpc/frame.h"
#include "ttrpc/server.h"
#include "util/timeutil.h"

#include "test_tmpdir.h"

/* ---- framing ---- */

static void test_header_roundtrip(void **state)
{
        struct ttrpc_header h = {.length = 0x01020304u & 0x3fffff,
                                 .stream_id = 0xa1b2c3d5u,
                                 .type = TTRPC_TYPE_RESPONSE,
                                 .flags = 0};
        uint8_t b[TTRPC_HEADER_LEN];
        ttrpc_header_encode(&h, b);
        assert_int_equal(b[0], 0x00); /* big endian length */
        assert_int_equal(b[3], 0x04);
        assert_int_equal(b[4], 0xa1); /* big endian stream id */
        assert_int_equal(b[7], 0xd5);
        assert_int_equal(b[8], 2);
        struct ttrpc_header d;
        struct bg_error err = {0};
        assert_int_equal(ttrpc_header_decode(b, TTRPC_MAX_MESSAGE, &d, &err), 0);
        assert_int_equal(d.length, h.length);
        assert_int_equal(d.stream_id, h.stream_id);
        assert_int_equal(d.type, h.type);
}

static void test_header_oversize_and_bad_type(void **state)
{
        struct bg_error err = {0};
        struct ttrpc_header d;
        uint8_t b[TTRPC_HEADER_LEN] = {0x00, 0x40, 0x00, 0x01, 0, 0, 0, 1, 1, 0}; /* 4 MiB + 1 */
        assert_int_equal(ttrpc_header_decode(b, TTRPC_MAX_MESSAGE, &d, &err), -EMSGSIZE);
        assert_non_null(strstr(err.msg, "exceeds the maximum message size"));
        assert_int_equal(d.stream_id, 1); /* still filled: the server answers that stream */
        b[3] = 0x00;                      /* exactly 4 MiB is allowed */
        assert_int_equal(ttrpc_header_decode(b, TTRPC_MAX_MESSAGE, &d, &err), 0);
        for (int t = 0; t < 256; t++) {
                b[8] = (uint8_t)t;
                int r = ttrpc_header_decode(b, TTRPC_MAX_MESSAGE, &d, &err);
                assert_int_equal(r, t == 1 || t == 2 ? 0 : -EPROTO);
        }
}

static void test_frame_split_partial(void **state)
{
        uint8_t buf[TTRPC_HEADER_LEN + 3];
        struct ttrpc_header h = {.length = 3, .stream_id = 7, .type = 1};
        ttrpc_header_encode(&h, buf);
        memcpy(buf + TTRPC_HEADER_LEN, "abc", 3);
        struct ttrpc_header got;
        const uint8_t *p;
        size_t used;
        struct bg_error err = {0};
        for (size_t n = 0; n < sizeof(buf); n++)
                assert_int_equal(ttrpc_frame_split(buf, n, 1024, &got, &p, &used, &err), 0);
        assert_int_equal(ttrpc_frame_split(buf, sizeof(buf), 1024, &got, &p, &used, &err), 1);
        assert_int_equal(used, sizeof(buf));
        assert_memory_equal(p, "abc", 3);
        assert_int_equal(got.stream_id, 7);
}

struct dribble {
        int fd;
        const uint8_t *buf;
        size_t len;
};

static void *dribble_main(void *arg)
{
        struct dribble *d = arg;
        for (size_t i = 0; i < d->len; i++) {
                assert_int_equal(write(d->fd, d->buf + i, 1), 1);
                usleep(200);
        }
        close(d->fd);
        return NULL;
}

static void test_read_short_reads_and_eof(void **state)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        /* Two frames, then half a header... */
        uint8_t buf[2 * TTRPC_HEADER_LEN + 5 + 4];
        struct ttrpc_header h1 = {.length = 5, .stream_id = 1, .type = 1};
        struct ttrpc_header h2 = {.length = 0, .stream_id = 3, .type = 1};
        ttrpc_header_encode(&h1, buf);
        memcpy(buf + TTRPC_HEADER_LEN, "hello", 5);
        ttrpc_header_encode(&h2, buf + TTRPC_HEADER_LEN + 5);
        memcpy(buf + 2 * TTRPC_HEADER_LEN + 5, "\0\0\0\x09", 4);
        struct dribble d = {.fd = sv[1], .buf = buf, .len = sizeof(buf)};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, dribble_main, &d), 0);

        struct ttrpc_header got;
        uint8_t *p = NULL;
        struct bg_error err = {0};
        assert_int_equal(ttrpc_read_frame(sv[0], 1024, &got, &p, &err), 1);
        assert_int_equal(got.length, 5);
        assert_memory_equal(p, "hello", 5);
        free(p);
        p = NULL;
        assert_int_equal(ttrpc_read_frame(sv[0], 1024, &got, &p, &err), 1);
        assert_int_equal(got.stream_id, 3);
        assert_null(p);
        /* ...then the writer closes inside the third header. */
        assert_int_equal(ttrpc_read_frame(sv[0], 1024, &got, &p, &err), -EPIPE);
        pthread_join(t, NULL);
        close(sv[0]);

        /* A clean end of stream between frames is 0; inside a payload, -EPIPE. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        close(sv[1]);
        assert_int_equal(ttrpc_read_frame(sv[0], 1024, &got, &p, &err), 0);
        close(sv[0]);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ttrpc_header_encode(&h1, buf);
        assert_int_equal(write(sv[1], buf, TTRPC_HEADER_LEN + 2), TTRPC_HEADER_LEN + 2);
        close(sv[1]);
        assert_int_equal(ttrpc_read_frame(sv[0], 1024, &got, &p, &err), -EPIPE);
        assert_non_null(strstr(err.msg, "2 of 5 bytes"));
        close(sv[0]);
}

static void test_request_parse_limits(void **state)
{
        Ttrpc__Request q = TTRPC__REQUEST__INIT;
        q.service = "containerd.task.v2.Task";
        q.method = "Connect";
        uint8_t *b;
        size_t n;
        assert_int_equal(ttrpc_pack(&q.base, &b, &n), 0);
        Ttrpc__Request *got = NULL;
        struct bg_error err = {0};
        assert_int_equal(ttrpc_request_parse(b, n, &got, &err), 0);
        assert_string_equal(got->method, "Connect");
        ttrpc__request__free_unpacked(got, NULL);
        free(b);

        q.method = "";
        assert_int_equal(ttrpc_pack(&q.base, &b, &n), 0);
        assert_int_equal(ttrpc_request_parse(b, n, &got, &err), -EBADMSG);
        free(b);
        q.method = "Con nect";
        assert_int_equal(ttrpc_pack(&q.base, &b, &n), 0);
        assert_int_equal(ttrpc_request_parse(b, n, &got, &err), -EBADMSG);
        free(b);
        q.method = "Connect";
        q.timeout_nano = -1;
        assert_int_equal(ttrpc_pack(&q.base, &b, &n), 0);
        assert_int_equal(ttrpc_request_parse(b, n, &got, &err), -EBADMSG);
        free(b);
        const uint8_t junk[] = {0xff, 0xff, 0xff};
        assert_int_equal(ttrpc_request_parse(junk, sizeof(junk), &got, &err), -EBADMSG);
}

/* ---- server ---- */

struct fixture {
        char dir[256];
        char sock[300];
        struct ttrpc_server *srv;
        pthread_t runner;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool fast_done;
};

/* "Slow" waits until the test has read Fast's answer (fast_done). */
static int h_slow(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                  struct bg_error *err)
{
        struct fixture *f = ud;
        pthread_mutex_lock(&f->lock);
        while (!f->fast_done)
                pthread_cond_wait(&f->cond, &f->lock);
        pthread_mutex_unlock(&f->lock);
        Containerd__Task__V2__ConnectResponse r = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        r.version = "slow";
        return ttrpc_pack(&r.base, ret, len);
}

static int h_fast(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                  struct bg_error *err)
{
        const Containerd__Task__V2__ConnectRequest *q = (const void *)in;
        if (strcmp(q->id, "missing") == 0)
                return bg_error_set(err, ENOENT, "task %s not found", q->id);
        Containerd__Task__V2__ConnectResponse r = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        r.version = "fast";
        return ttrpc_pack(&r.base, ret, len);
}

static const struct ttrpc_method methods[] = {
    {"test.Svc", "Slow", &containerd__task__v2__connect_request__descriptor, h_slow},
    {"test.Svc", "Fast", &containerd__task__v2__connect_request__descriptor, h_fast},
};

static void *runner_main(void *arg)
{
        struct fixture *f = arg;
        ttrpc_server_run(f->srv);
        return NULL;
}

static int setup_server(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        if (!f || test_tmpdir_make(f->dir, sizeof(f->dir), "ttrpc") < 0)
                return -1;
        snprintf(f->sock, sizeof(f->sock), "%s/s", f->dir);
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->sock);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
                return -1;
        struct ttrpc_server_config cfg = {.listen_fd = fd,
                                          .methods = methods,
                                          .n_methods = 2,
                                          .ud = f,
                                          .max_message = 4096,
                                          .max_connections = 2};
        struct bg_error err = {0};
        if (ttrpc_server_new(&cfg, &f->srv, &err) < 0)
                return -1;
        if (pthread_create(&f->runner, NULL, runner_main, f) != 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown_server(void **state)
{
        struct fixture *f = *state;
        ttrpc_server_stop(f->srv);
        pthread_join(f->runner, NULL);
        ttrpc_server_free(f->srv);
        test_tmpdir_remove(f->dir);
        free(f);
        return 0;
}

static int dial(const struct fixture *f)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->sock);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
}

static void send_req(int fd, uint32_t stream, const char *svc, const char *method, const char *id)
{
        Containerd__Task__V2__ConnectRequest in = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        in.id = (char *)id;
        uint8_t *body;
        size_t blen;
        assert_int_equal(ttrpc_pack(&in.base, &body, &blen), 0);
        Ttrpc__Request q = TTRPC__REQUEST__INIT;
        q.service = (char *)svc;
        q.method = (char *)method;
        q.payload.data = body;
        q.payload.len = blen;
        uint8_t *b;
        size_t n;
        assert_int_equal(ttrpc_pack(&q.base, &b, &n), 0);
        assert_int_equal(ttrpc_write_frame(fd, stream, TTRPC_TYPE_REQUEST, b, n), 0);
        free(b);
        free(body);
}

/* Reads one response; returns its status code, fills stream and message. */
static int recv_resp(int fd, uint32_t *ret_stream, char *msg, size_t msglen, char *version,
                     size_t vlen)
{
        struct ttrpc_header h;
        uint8_t *p = NULL;
        struct bg_error err = {0};
        assert_int_equal(ttrpc_read_frame(fd, TTRPC_MAX_MESSAGE, &h, &p, &err), 1);
        assert_int_equal(h.type, TTRPC_TYPE_RESPONSE);
        *ret_stream = h.stream_id;
        Ttrpc__Response *r = ttrpc__response__unpack(NULL, h.length, p);
        assert_non_null(r);
        assert_non_null(r->status);
        int code = r->status->code;
        snprintf(msg, msglen, "%s", r->status->message);
        if (version) {
                version[0] = '\0';
                if (code == 0) {
                        Containerd__Task__V2__ConnectResponse *c =
                            containerd__task__v2__connect_response__unpack(NULL, r->payload.len,
                                                                           r->payload.data);
                        assert_non_null(c);
                        snprintf(version, vlen, "%s", c->version);
                        containerd__task__v2__connect_response__free_unpacked(c, NULL);
                }
        }
        ttrpc__response__free_unpacked(r, NULL);
        free(p);
        return code;
}

static void test_server_unknown_method(void **state)
{
        struct fixture *f = *state;
        int fd = dial(f);
        char msg[256], v[32];
        uint32_t st;
        send_req(fd, 1, "test.Svc", "Nope", "x");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 12);
        assert_int_equal(st, 1);
        assert_string_equal(msg, "method test.Svc/Nope is not implemented by this shim");
        send_req(fd, 3, "other.Svc", "Fast", "x");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 12);
        assert_string_equal(msg, "service other.Svc is not implemented by this shim");
        /* A handler's errno becomes its status (ENOENT -> NOT_FOUND 5). */
        send_req(fd, 5, "test.Svc", "Fast", "missing");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 5);
        assert_string_equal(msg, "task missing not found");
        /* Even stream ids are the server's. */
        send_req(fd, 6, "test.Svc", "Fast", "x");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 3);
        assert_int_equal(st, 6);
        close(fd);
}

static void test_server_interleaved_streams(void **state)
{
        struct fixture *f = *state;
        int fd = dial(f);
        char msg[256], v[32];
        uint32_t st;
        send_req(fd, 11, "test.Svc", "Slow", "a");
        send_req(fd, 13, "test.Svc", "Fast", "b");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        assert_int_equal(st, 13);
        assert_string_equal(v, "fast");
        pthread_mutex_lock(&f->lock);
        f->fast_done = true;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        assert_int_equal(st, 11);
        assert_string_equal(v, "slow");
        close(fd);
}

/* Drain waits for the requests under way (a shim's Shutdown must not cut off
 * a Kill still on its way back), and gives up after its timeout. */
static void test_server_drain(void **state)
{
        struct fixture *f = *state;
        int fd = dial(f);
        char msg[256], v[32];
        uint32_t st;
        assert_true(ttrpc_server_drain(f->srv, 0, 10)); /* nothing under way */
        send_req(fd, 1, "test.Svc", "Slow", "a");
        send_req(fd, 3, "test.Svc", "Fast", "b");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        assert_int_equal(st, 3); /* so Slow was read, and is under way */
        uint64_t t0 = now_mono_msec();
        assert_false(ttrpc_server_drain(f->srv, 0, 200));
        assert_true(now_mono_msec() - t0 >= 190);
        assert_true(ttrpc_server_drain(f->srv, 1, 2000)); /* one may stay */
        pthread_mutex_lock(&f->lock);
        f->fast_done = true;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        assert_true(ttrpc_server_drain(f->srv, 0, 5000));
        /* its answer went out before it counted as done */
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        assert_int_equal(st, 1);
        assert_string_equal(v, "slow");
        close(fd);
}

static void test_server_oversize_skipped(void **state)
{
        struct fixture *f = *state;
        int fd = dial(f);
        uint8_t big[TTRPC_HEADER_LEN + 4097];
        memset(big, 'x', sizeof(big));
        struct ttrpc_header h = {.length = 4097, .stream_id = 9, .type = 1};
        ttrpc_header_encode(&h, big);
        assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
        char msg[256], v[32];
        uint32_t st;
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), NULL, 0), 8);
        assert_int_equal(st, 9);
        assert_non_null(strstr(msg, "4097"));
        /* Its payload was skipped: the next request on the connection works. */
        send_req(fd, 11, "test.Svc", "Fast", "x");
        assert_int_equal(recv_resp(fd, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        assert_int_equal(st, 11);
        close(fd);
        uint8_t hb[TTRPC_HEADER_LEN];
        char c;

        /* An unknown type ends the connection without an answer. */
        fd = dial(f);
        h = (struct ttrpc_header){.length = 0, .stream_id = 1, .type = 7};
        ttrpc_header_encode(&h, hb);
        assert_int_equal(write(fd, hb, sizeof(hb)), (ssize_t)sizeof(hb));
        assert_int_equal(read(fd, &c, 1), 0);
        close(fd);
}

static void test_server_max_connections(void **state)
{
        struct fixture *f = *state;
        int a = dial(f), b = dial(f);
        char msg[256], v[32];
        uint32_t st;
        /* Both served (the cap is 2)... */
        send_req(a, 1, "test.Svc", "Fast", "x");
        assert_int_equal(recv_resp(a, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        send_req(b, 1, "test.Svc", "Fast", "x");
        assert_int_equal(recv_resp(b, &st, msg, sizeof(msg), v, sizeof(v)), 0);
        /* ...a third is closed at once. */
        int c = dial(f);
        char ch;
        assert_int_equal(read(c, &ch, 1), 0);
        close(c);
        close(a);
        close(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_header_roundtrip),
            cmocka_unit_test(test_header_oversize_and_bad_type),
            cmocka_unit_test(test_frame_split_partial),
            cmocka_unit_test(test_read_short_reads_and_eof),
            cmocka_unit_test(test_request_parse_limits),
            cmocka_unit_test_setup_teardown(test_server_unknown_method, setup_server,
                                            teardown_server),
            cmocka_unit_test_setup_teardown(test_server_interleaved_streams, setup_server,
                                            teardown_server),
            cmocka_unit_test_setup_teardown(test_server_drain, setup_server, teardown_server),
            cmocka_unit_test_setup_teardown(test_server_oversize_skipped, setup_server,
                                            teardown_server),
            cmocka_unit_test_setup_teardown(test_server_max_connections, setup_server,
                                            teardown_server),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
