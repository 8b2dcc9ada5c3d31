#include "agent_recv.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes before deadline (ms, monotonic); false otherwise. */
static bool read_full(int fd, char *buf, size_t len, int64_t deadline)
{
        size_t got = 0;
        while (got < len) {
                int64_t left = deadline - now_ms();
                if (left <= 0)
                        return false;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return false;
                ssize_t n = read(fd, buf + got, len - got);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        return false;
                got += (size_t)n;
        }
        return true;
}

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* Compares without an early exit, so timing says nothing about the token. */
static bool same_token(const char *a, const char *b)
{
        unsigned char d = 0;
        for (size_t i = 0; i < AGENT_RECV_TOKEN_LEN; i++)
                d |= (unsigned char)(a[i] ^ b[i]);
        return d == 0;
}

int agent_recv_tar(const struct agent_recv_opts *o)
{
        static const char *const default_tar[] = {
            "tar", "-b", "256", "-B", "-xf", "-", "--no-same-owner", NULL};
        char token[AGENT_RECV_TOKEN_LEN + 1];
        if (!read_full(o->in_fd, token, sizeof(token), now_ms() + 10000) ||
            token[AGENT_RECV_TOKEN_LEN] != '\n' || !is_hex(token, AGENT_RECV_TOKEN_LEN)) {
                fprintf(stderr,
                        "banger-agent recv-tar: expected a %d-hex-digit token line on "
                        "stdin\n",
                        AGENT_RECV_TOKEN_LEN);
                return AGENT_RECV_BAD_TOKEN;
        }

        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (ls < 0) {
                fprintf(stderr, "banger-agent recv-tar: socket: %s\n", strerror(errno));
                return AGENT_RECV_NO_CLIENT;
        }
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = o->bind_addr};
        socklen_t sl = sizeof(sa);
        if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0 ||
            getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
                fprintf(stderr, "banger-agent recv-tar: listen: %s\n", strerror(errno));
                close(ls);
                return AGENT_RECV_NO_CLIENT;
        }
        char line[32];
        int n = snprintf(line, sizeof(line), "banger-recv %u\n", (unsigned)ntohs(sa.sin_port));
        if (write(o->out_fd, line, (size_t)n) != n) {
                close(ls);
                return AGENT_RECV_NO_CLIENT;
        }

        int64_t deadline = now_ms() + o->accept_ms;
        for (;;) {
                int64_t left = deadline - now_ms();
                if (left <= 0)
                        break;
                struct pollfd p = {.fd = ls, .events = POLLIN};
                int r = poll(&p, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                char got[AGENT_RECV_TOKEN_LEN];
                int64_t tdl = now_ms() + o->token_ms;
                if (tdl > deadline)
                        tdl = deadline;
                if (!read_full(c, got, sizeof(got), tdl) || !same_token(got, token)) {
                        agent_log("recv-tar: a connection without the token; closed");
                        close(c);
                        continue;
                }
                close(ls);
                /* The connection becomes tar's stdin; tar's status is ours. */
                if (dup2(c, STDIN_FILENO) < 0) {
                        fprintf(stderr, "banger-agent recv-tar: dup2: %s\n", strerror(errno));
                        return AGENT_RECV_NO_CLIENT;
                }
                close(c);
                const char *const *argv = o->tar_argv ? o->tar_argv : default_tar;
                execvp(argv[0], (char *const *)argv);
                fprintf(stderr, "banger-agent recv-tar: run %s: %s\n", argv[0], strerror(errno));
                return 127;
        }
        close(ls);
        fprintf(stderr, "banger-agent recv-tar: no connection with the token in %d ms\n",
                o->accept_ms);
        return AGENT_RECV_NO_CLIENT;
}
