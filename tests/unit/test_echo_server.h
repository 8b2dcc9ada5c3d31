/* A loopback TCP echo server for unit tests that relay bytes (test_fwd.c,
 * test_forwards.c). Include after <cmocka.h>. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket listening on 127.0.0.1 at a free port (*port). */
static inline int listen_any(uint16_t *port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(fd, 16), 0);
        socklen_t l = sizeof(a);
        getsockname(fd, (struct sockaddr *)&a, &l);
        *port = ntohs(a.sin_port);
        return fd;
}

/* Echoes each connection accepted on the listening socket arg until EOF,
 * then closes it; ends when accept fails (the socket closed). A thread. */
static inline void *echo_server(void *arg)
{
        int lfd = (int)(intptr_t)arg;
        for (;;) {
                int c = accept(lfd, NULL, NULL);
                if (c < 0)
                        return NULL;
                char buf[8192];
                ssize_t r;
                while ((r = read(c, buf, sizeof(buf))) > 0)
                        if (write(c, buf, (size_t)r) != r)
                                break;
                close(c);
        }
}
