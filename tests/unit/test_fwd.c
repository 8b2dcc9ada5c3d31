/* lib/fwd: TCP forwarding through a real listener to a local echo server:
 * bytes both ways (a megabyte, half-close passed on), a refused target, a
 * host port in use, the connection cap, a budget shared by two fwds, the
 * idle timeout against a target that accepts and never reads, and the port
 * spec parser. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fwd.h"
#include "test_echo_server.h"

static int dial(uint16_t port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        return fd;
}

static struct fwd *start(uint16_t target, unsigned max)
{
        struct fwd_rule r = {
            .listen_addr = "127.0.0.1", .target_addr = "127.0.0.1", .target_port = target};
        struct fwd *f = NULL;
        struct bg_error err = {0};
        assert_int_equal(fwd_start(&r, 1, max, &f, &err), 0);
        assert_true(fwd_port(f, 0) > 0);
        return f;
}

static bool readable_within(int fd, int ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, ms) == 1;
}

/* Writes len bytes in a thread while reading them back here. */
struct writer {
        int fd;
        const char *data;
        size_t len;
};
static void *write_all(void *arg)
{
        struct writer *w = arg;
        size_t off = 0;
        while (off < w->len) {
                ssize_t r = write(w->fd, w->data + off, w->len - off);
                if (r <= 0)
                        break;
                off += (size_t)r;
        }
        shutdown(w->fd, SHUT_WR); /* the echo server sees EOF only through the relay */
        return NULL;
}

static void test_relay_both_ways(void **state)
{
        uint16_t eport;
        int lfd = listen_any(&eport);
        pthread_t th;
        pthread_create(&th, NULL, echo_server, (void *)(intptr_t)lfd);
        struct fwd *f = start(eport, 8);

        size_t len = 1 << 20;
        char *data = malloc(len), *back = malloc(len);
        for (size_t i = 0; i < len; i++)
                data[i] = (char)(i * 7 + i / 251);
        int c = dial(fwd_port(f, 0));
        struct writer w = {.fd = c, .data = data, .len = len};
        pthread_t wt;
        pthread_create(&wt, NULL, write_all, &w);
        size_t got = 0;
        ssize_t r;
        while (got < len && (r = read(c, back + got, len - got)) > 0)
                got += (size_t)r;
        pthread_join(wt, NULL);
        assert_int_equal(got, len);
        assert_memory_equal(data, back, len);
        char x;
        assert_int_equal(read(c, &x, 1), 0); /* the server's close came through */
        close(c);
        assert_int_equal(fwd_accepted(f), 1);
        fwd_stop(f);
        free(data);
        free(back);
        shutdown(lfd, SHUT_RDWR);
        close(lfd);
        pthread_join(th, NULL);
}

static void test_refused_target(void **state)
{
        uint16_t port;
        int lfd = listen_any(&port);
        close(lfd); /* nothing listens there now */
        struct fwd *f = start(port, 8);
        int c = dial(fwd_port(f, 0));
        assert_true(readable_within(c, 5000));
        char x;
        assert_true(read(c, &x, 1) <= 0); /* dropped, not left hanging */
        close(c);
        fwd_stop(f);
}

static void test_port_in_use(void **state)
{
        uint16_t port;
        int lfd = listen_any(&port);
        struct fwd_rule r[2] = {
            {.listen_addr = "127.0.0.1", .target_addr = "127.0.0.1", .target_port = 1},
            {.listen_addr = "127.0.0.1",
             .listen_port = port,
             .target_addr = "127.0.0.1",
             .target_port = 1},
        };
        struct fwd *f = NULL;
        struct bg_error err = {0};
        assert_int_equal(fwd_start(r, 2, 8, &f, &err), -EADDRINUSE);
        assert_non_null(strstr(err.msg, "pick another host port"));
        assert_null(f);
        strcpy(r[0].target_addr, "guest");
        assert_int_equal(fwd_start(r, 1, 8, &f, &err), -EINVAL);
        close(lfd);
}

static void test_connection_cap(void **state)
{
        uint16_t eport;
        int lfd = listen_any(&eport);
        pthread_t th;
        pthread_create(&th, NULL, echo_server, (void *)(intptr_t)lfd);
        struct fwd *f = start(eport, 1);
        int a = dial(fwd_port(f, 0));
        assert_int_equal(write(a, "a", 1), 1);
        char x;
        assert_true(readable_within(a, 5000));
        assert_int_equal(read(a, &x, 1), 1);
        /* The second one waits in the backlog while the first is open ... */
        int b = dial(fwd_port(f, 0));
        assert_int_equal(write(b, "b", 1), 1);
        assert_false(readable_within(b, 300));
        /* ... and is served once it closes. The echo server is sequential
         * too: a must be gone before it takes b. */
        close(a);
        assert_true(readable_within(b, 5000));
        assert_int_equal(read(b, &x, 1), 1);
        assert_int_equal(x, 'b');
        close(b);
        fwd_stop(f);
        shutdown(lfd, SHUT_RDWR);
        close(lfd);
        pthread_join(th, NULL);
}

/* Two fwds sharing a budget of one: the second fwd's client waits while
 * the first fwd's connection is open, and is served once it closes. */
static void test_shared_budget(void **state)
{
        uint16_t eport;
        int lfd = listen_any(&eport);
        pthread_t th;
        pthread_create(&th, NULL, echo_server, (void *)(intptr_t)lfd);
        struct fwd_budget b = {.max = 1};
        struct fwd_opts o = {.max_conns = 8, .budget = &b};
        struct fwd_rule r = {
            .listen_addr = "127.0.0.1", .target_addr = "127.0.0.1", .target_port = eport};
        struct fwd *f1 = NULL, *f2 = NULL;
        struct bg_error err = {0};
        assert_int_equal(fwd_start_opts(&r, 1, &o, &f1, &err), 0);
        assert_int_equal(fwd_start_opts(&r, 1, &o, &f2, &err), 0);
        int a = dial(fwd_port(f1, 0));
        char x;
        assert_int_equal(write(a, "a", 1), 1);
        assert_true(readable_within(a, 5000));
        assert_int_equal(read(a, &x, 1), 1);
        assert_int_equal(atomic_load(&b.used), 1);
        int c = dial(fwd_port(f2, 0));
        assert_int_equal(write(c, "c", 1), 1);
        assert_false(readable_within(c, 500));
        assert_int_equal(fwd_accepted(f2), 0);
        close(a);
        assert_true(readable_within(c, 5000));
        assert_int_equal(read(c, &x, 1), 1);
        assert_int_equal(x, 'c');
        close(c);
        fwd_stop(f1);
        fwd_stop(f2);
        assert_int_equal(atomic_load(&b.used), 0); /* every slot given back */
        shutdown(lfd, SHUT_RDWR);
        close(lfd);
        pthread_join(th, NULL);
}

/* A target that accepts and never reads nor writes: the client's bytes
 * stop at the bounded buffers, and the connection is closed after the idle
 * timeout, giving its slot back. */
static void test_idle_timeout(void **state)
{
        uint16_t tport;
        int lfd = listen_any(&tport); /* never accepted: the kernel completes the handshake */
        struct fwd_opts o = {.max_conns = 1, .idle_timeout_ms = 300};
        struct fwd_rule r = {
            .listen_addr = "127.0.0.1", .target_addr = "127.0.0.1", .target_port = tport};
        struct fwd *f = NULL;
        struct bg_error err = {0};
        assert_int_equal(fwd_start_opts(&r, 1, &o, &f, &err), 0);
        int c = dial(fwd_port(f, 0));
        assert_int_equal(write(c, "hello", 5), 5);
        /* Open for a while, then closed by the forwarder. */
        assert_false(readable_within(c, 100));
        assert_int_equal(fwd_open_conns(f), 1);
        assert_true(readable_within(c, 5000));
        char x;
        assert_true(read(c, &x, 1) <= 0);
        close(c);
        assert_int_equal(fwd_open_conns(f), 0);
        /* The slot is free again: a new client is taken. */
        c = dial(fwd_port(f, 0));
        for (int i = 0; i < 50 && fwd_accepted(f) < 2; i++)
                usleep(20000);
        assert_int_equal(fwd_accepted(f), 2);
        close(c);
        fwd_stop(f);
        close(lfd);
}

static void test_parse_spec(void **state)
{
        struct bg_error err = {0};
        uint16_t h, g;
        assert_int_equal(fwd_parse_spec("8080", &h, &g, &err), 0);
        assert_true(h == 8080 && g == 8080);
        assert_int_equal(fwd_parse_spec("9000:80", &h, &g, &err), 0);
        assert_true(h == 9000 && g == 80);
        assert_int_equal(fwd_parse_spec("0:80", &h, &g, &err), 0);
        assert_true(h == 0 && g == 80);
        const char *bad[] = {"",  "0",    "80:", ":80", "65536",   "1:2:3",
                             "x", "80:0", "-1",  "8o",  "123456:1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(fwd_parse_spec(bad[i], &h, &g, &err), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_relay_both_ways), cmocka_unit_test(test_refused_target),
            cmocka_unit_test(test_port_in_use),     cmocka_unit_test(test_connection_cap),
            cmocka_unit_test(test_parse_spec),      cmocka_unit_test(test_shared_budget),
            cmocka_unit_test(test_idle_timeout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
