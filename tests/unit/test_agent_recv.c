/* banger-agent recv-tar: token on stdin, port on stdout, the first TCP
 * connection with the token unpacked by tar; wrong tokens are closed without
 * anything written, a bad token line and no client end with their exit
 * codes. Runs agent_recv_tar in a child on 127.0.0.1 with the real tar. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_recv.h"
#include "test_tmpdir.h"

static const char TOKEN[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct child {
        pid_t pid;
        int in, out; /* our ends of its stdin and stdout */
        char dir[64];
};

static void start(struct child *c, int accept_ms)
{
        int in[2], out[2];
        assert_int_equal(pipe(in), 0);
        assert_int_equal(pipe(out), 0);
        snprintf(c->dir, sizeof(c->dir), "/tmp/bgrecv.XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        c->pid = fork();
        assert_true(c->pid >= 0);
        if (c->pid == 0) {
                if (chdir(c->dir) < 0)
                        _exit(99);
                close(in[1]);
                close(out[0]);
                struct agent_recv_opts o = {.in_fd = in[0],
                                            .out_fd = out[1],
                                            .bind_addr = htonl(INADDR_LOOPBACK),
                                            .accept_ms = accept_ms,
                                            .token_ms = 500};
                _exit(agent_recv_tar(&o));
        }
        close(in[0]);
        close(out[1]);
        c->in = in[1];
        c->out = out[0];
}

/* Closes our ends, waits for the child unless it was reaped already (pid
 * 0), removes its directory; its exit code. */
static int finish(struct child *c)
{
        int st = 0;
        close(c->in);
        close(c->out);
        if (c->pid > 0)
                assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
        assert_int_equal(test_tmpdir_remove(c->dir), 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static unsigned read_port(struct child *c)
{
        char line[64] = "";
        size_t n = 0;
        while (n < sizeof(line) - 1) {
                ssize_t k = read(c->out, line + n, 1);
                if (k <= 0)
                        break;
                if (line[n++] == '\n')
                        break;
        }
        unsigned port = 0;
        assert_int_equal(sscanf(line, "banger-recv %u", &port), 1);
        assert_true(port > 0 && port < 65536);
        return port;
}

static int dial(unsigned port)
{
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return s;
}

static void send_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len) {
                ssize_t k = write(fd, p, len);
                assert_true(k > 0);
                p += k;
                len -= (size_t)k;
        }
}

/* A tar of one file, name → text, made by the system tar. */
static char *make_tar(const char *name, const char *text, size_t *len)
{
        char dir[] = "/tmp/bgrecvsrc.XXXXXX", cmd[512];
        assert_non_null(mkdtemp(dir));
        snprintf(cmd, sizeof(cmd), "cd %s && printf '%%s' '%s' > %s && tar -cf ../%s.tar %s", dir,
                 text, name, dir + 5, name);
        assert_int_equal(system(cmd), 0);
        char path[128];
        snprintf(path, sizeof(path), "%s.tar", dir);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *buf = malloc(1 << 20);
        *len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "rm -rf %s %s.tar", dir, dir);
        assert_int_equal(system(cmd), 0);
        return buf;
}

static void test_unpacks_after_token(void **state)
{
        (void)state;
        struct child c;
        start(&c, 5000);
        send_all(c.in, TOKEN, strlen(TOKEN));
        send_all(c.in, "\n", 1);
        unsigned port = read_port(&c);

        /* A wrong token first: closed, nothing unpacked. */
        int bad = dial(port);
        char wrong[sizeof(TOKEN)];
        memcpy(wrong, TOKEN, sizeof(TOKEN));
        wrong[10] = 'f';
        send_all(bad, wrong, strlen(wrong));
        size_t tl = 0;
        char *tar = make_tar("evil.txt", "no", &tl);
        (void)!write(bad, tar, tl); /* may fail: the agent closes */
        char b;
        assert_true(read(bad, &b, 1) <= 0);
        close(bad);
        free(tar);

        int s = dial(port);
        send_all(s, TOKEN, strlen(TOKEN));
        tar = make_tar("hello.txt", "from the host", &tl);
        send_all(s, tar, tl);
        free(tar);
        close(s);

        char path[128], got[64] = "";
        int st = 0;
        assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        snprintf(path, sizeof(path), "%s/hello.txt", c.dir);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(got, sizeof(got), f));
        fclose(f);
        assert_string_equal(got, "from the host");
        snprintf(path, sizeof(path), "%s/evil.txt", c.dir);
        assert_int_equal(access(path, F_OK), -1);
        c.pid = 0;
        assert_int_equal(finish(&c), 0);
}

static void test_no_client(void **state)
{
        (void)state;
        struct child c;
        start(&c, 300);
        send_all(c.in, TOKEN, strlen(TOKEN));
        send_all(c.in, "\n", 1);
        (void)read_port(&c);
        assert_int_equal(finish(&c), AGENT_RECV_NO_CLIENT);
}

static void test_bad_token_line(void **state)
{
        (void)state;
        struct child c;
        start(&c, 300);
        send_all(c.in, "not a token\n", 12);
        close(c.in);
        c.in = open("/dev/null", O_RDONLY);
        assert_int_equal(finish(&c), AGENT_RECV_BAD_TOKEN);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_unpacks_after_token),
            cmocka_unit_test(test_no_client),
            cmocka_unit_test(test_bad_token_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
