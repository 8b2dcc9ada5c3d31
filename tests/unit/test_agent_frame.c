#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_frame.h"

static void pair(int sv[2])
{
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_roundtrip(void **state)
{
        int sv[2];
        pair(sv);
        assert_int_equal(agent_frame_write(sv[0], "hello", 5, 0), 0);
        assert_int_equal(agent_frame_write(sv[0], "", 0, 0), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), 1);
        assert_int_equal(len, 5);
        assert_memory_equal(buf, "hello", 5);
        free(buf);
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), 1);
        assert_int_equal(len, 0);
        assert_non_null(buf);
        free(buf);
        close(sv[0]);
        /* Clean end of stream between frames. */
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), 0);
        close(sv[1]);
}

static void test_oversize(void **state)
{
        int sv[2];
        pair(sv);
        uint8_t hdr[4] = {0x00, 0x01, 0x00, 0x01}; /* 65537 */
        assert_int_equal(write(sv[0], hdr, 4), 4);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), -EMSGSIZE);
        assert_null(buf);
        /* The writer refuses too. */
        void *big = calloc(1, AGENT_FRAME_MAX + 1);
        assert_int_equal(agent_frame_write(sv[0], big, AGENT_FRAME_MAX + 1, 0), -EMSGSIZE);
        free(big);
        close(sv[0]);
        close(sv[1]);
}

static void test_truncated(void **state)
{
        int sv[2];
        uint8_t *buf = NULL;
        size_t len = 0;

        /* Header cut short. */
        pair(sv);
        assert_int_equal(write(sv[0], "\0\0", 2), 2);
        close(sv[0]);
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), -EPROTO);
        close(sv[1]);

        /* Body cut short. */
        pair(sv);
        assert_int_equal(write(sv[0],
                               "\0\0\0\x0a"
                               "abc",
                               7),
                         7);
        close(sv[0]);
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 0, &buf, &len), -EPROTO);
        close(sv[1]);
}

static void test_stall_and_deadline(void **state)
{
        int sv[2];
        uint8_t *buf = NULL;
        size_t len = 0;
        pair(sv);
        /* Nothing at all: the deadline applies. */
        assert_int_equal(
            agent_frame_read(sv[1], AGENT_FRAME_MAX, agent_deadline_after_ms(50), 0, &buf, &len),
            -ETIMEDOUT);
        /* A frame that starts and stalls: the stall limit applies even
         * without a deadline. */
        assert_int_equal(write(sv[0],
                               "\0\0\0\x0a"
                               "abc",
                               7),
                         7);
        assert_int_equal(agent_frame_read(sv[1], AGENT_FRAME_MAX, 0, 50, &buf, &len), -ETIMEDOUT);
        close(sv[0]);
        close(sv[1]);
}

static void test_nonblocking_and_pipe(void **state)
{
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        /* Not a socket: falls back to write(); non-blocking read waits via poll. */
        assert_int_equal(agent_frame_write(p[1], "xyz", 3, 0), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(
            agent_frame_read(p[0], AGENT_FRAME_MAX, agent_deadline_after_ms(1000), 0, &buf, &len),
            1);
        assert_int_equal(len, 3);
        free(buf);
        close(p[0]);
        /* Peer gone: EPIPE, no SIGPIPE kills us. */
        int sv[2];
        pair(sv);
        close(sv[1]);
        assert_int_equal(agent_frame_write(sv[0], "x", 1, 0), -EPIPE);
        close(sv[0]);
        close(p[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip),
            cmocka_unit_test(test_oversize),
            cmocka_unit_test(test_truncated),
            cmocka_unit_test(test_stall_and_deadline),
            cmocka_unit_test(test_nonblocking_and_pipe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
