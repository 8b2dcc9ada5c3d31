/* workspacesvc's exec through the guest agent (ws_agent.h) against fake QEMU
 * exec ports: unix sockets in a VM directory that take one connection at a
 * time, served by the real agent's stream loop (agent_serve_stream), or by a
 * hostile one. The VM has no address, so SSH cannot be what answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_frame.h"
#include "agent_serve.h"
#include "test_tmpdir.h"
#include "util/timeutil.h"
#include "ws_agent.h"

#define VM_ID "0123456789abcdef"
#define WAIT_MS 1500 /* for a free exec port */

enum port_mode {
        PORT_AGENT,   /* the real agent's stream loop */
        PORT_HOSTILE, /* answers every request with bytes that are no frame */
        /* the agent serving the connection dies 700 ms in (a child process,
         * SIGKILLed) and a new one takes the port over, as systemd restarts
         * banger-agent.service: the host's connection stays up */
        PORT_RESTART,
};

struct port {
        int lfd;
        enum port_mode mode;
        pthread_t thread;
};

struct fx {
        char *tmp;
        char vms[600];
        struct port ports[3];
        unsigned n_ports;
        struct ws_agent_pool *pool;
        struct ws_runner rn;
        struct ws_vm vm;
};

static const struct agent_serve_ctx serve_ctx = {
    .proc_root = "/proc", .version = "test", .stall_ms = 2000, .write_timeout_ms = 2000};

/* Like QEMU's chardev: one host connection at a time. */
static void *port_thread(void *arg)
{
        struct port *p = arg;
        for (;;) {
                int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                if (p->mode == PORT_RESTART) {
                        pid_t pid = fork();
                        if (pid == 0)
                                _exit(agent_serve_stream(&serve_ctx, fd) < 0);
                        usleep(700 * 1000);
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        (void)agent_serve_announce(fd, 1000);
                        (void)agent_serve_stream(&serve_ctx, fd);
                } else if (p->mode == PORT_HOSTILE) {
                        uint8_t *buf = NULL;
                        size_t len = 0;
                        if (agent_frame_read(fd, AGENT_FRAME_MAX, agent_deadline_after_ms(2000),
                                             2000, &buf, &len) > 0) {
                                /* a frame header announcing 4 GiB, then garbage */
                                static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
                                (void)!write(fd, junk, sizeof(junk));
                        }
                        free(buf);
                        usleep(200 * 1000);
                } else {
                        (void)agent_serve_stream(&serve_ctx, fd);
                }
                close(fd);
        }
}

static void add_port(struct fx *f, enum port_mode mode)
{
        struct port *p = &f->ports[f->n_ports];
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" VM_ID "/exec-%u.sock", f->vms, f->n_ports);
        p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(p->lfd >= 0);
        assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(p->lfd, 4), 0);
        p->mode = mode;
        assert_int_equal(pthread_create(&p->thread, NULL, port_thread, p), 0);
        f->n_ports++;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        f->tmp = test_tmpdir_new("wsagent");
        snprintf(f->vms, sizeof(f->vms), "%s/vms", f->tmp);
        char dir[700];
        snprintf(dir, sizeof(dir), "%s/" VM_ID, f->vms);
        assert_int_equal(mkdir(f->vms, 0700), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        struct bg_error err = {0};
        assert_int_equal(ws_agent_pool_new(&f->pool, &err), 0);
        f->rn.pool = f->pool;
        snprintf(f->rn.vms_dir, sizeof(f->rn.vms_dir), "%s", f->vms);
        snprintf(f->rn.key_path, sizeof(f->rn.key_path), "%s/no-key", f->tmp);
        f->rn.port_wait_ms = WAIT_MS;
        snprintf(f->vm.id, sizeof(f->vm.id), VM_ID);
        snprintf(f->vm.name, sizeof(f->vm.name), "box");
        snprintf(f->vm.state, sizeof(f->vm.state), "running");
        snprintf(f->vm.vmm, sizeof(f->vm.vmm), "qemu");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        for (unsigned i = 0; i < f->n_ports; i++) {
                shutdown(f->ports[i].lfd, SHUT_RDWR);
                pthread_join(f->ports[i].thread, NULL);
                close(f->ports[i].lfd);
        }
        ws_agent_pool_free(f->pool);
        test_tmpdir_drop(f->tmp);
        free(f);
        return 0;
}

static int run(struct fx *f, const char *cwd, const char *script, const char *in,
               struct bg_ssh_buf *o, struct bg_ssh_buf *e, uint32_t timeout_ms, int *code,
               struct bg_error *err)
{
        char cmd[4096];
        char *argv[] = {"sh", "-c", (char *)script};
        assert_int_equal(bg_ssh_workspace_command(cwd, 3, argv, cmd, sizeof(cmd)), 0);
        return ws_run_collect(&f->rn, &f->vm, cmd, in, in ? strlen(in) : 0, o, e, timeout_ms, code,
                              err);
}

/* Output, stderr, exit code, stdin and cwd come back as over SSH. */
static void test_run(void **state)
{
        struct fx *f = *state;
        add_port(f, PORT_AGENT);
        struct bg_ssh_buf o = {0}, e = {.max = 4};
        struct bg_error err = {0};
        int code = -1;
        int r = run(f, "/tmp", "pwd; cat; echo oops-too-long >&2; exit 3", "from stdin\n", &o, &e,
                    10000, &code, &err);
        assert_int_equal(r, 0);
        assert_int_equal(code, 3);
        assert_string_equal(o.data, "/tmp\nfrom stdin\n");
        assert_string_equal(e.data, "oops"); /* the cap holds */
        assert_int_equal(e.dropped, strlen("-too-long\n"));
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);

        /* a missing directory: exit 127 with a message, like SSH */
        r = run(f, "/nonexistent-dir", "true", NULL, &o, &e, 10000, &code, &err);
        assert_int_equal(r, 0);
        assert_int_equal(code, 127);
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);

        /* killed by a signal: 128 + N */
        r = run(f, "/", "kill -TERM $$", NULL, &o, &e, 10000, &code, &err);
        assert_int_equal(r, 0);
        assert_int_equal(code, 128 + SIGTERM);
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);

        /* the timeout */
        uint64_t t0 = now_mono_msec();
        r = run(f, "/", "sleep 30", NULL, &o, &e, 300, &code, &err);
        assert_int_equal(r, -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "ran longer than 300 ms"));
        assert_true(now_mono_msec() - t0 < 5000);
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);

        /* the port was let go of mid-command: it rests, then serves again */
        r = run(f, "/", "echo again", NULL, &o, &e, 10000, &code, &err);
        assert_int_equal(r, 0);
        assert_string_equal(o.data, "again\n");
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);
}

struct sig_ud {
        atomic_int calls;
        uint64_t t0;
        bool sent;
        struct bg_ssh_buf out;
};

static int sig_out(void *ud, int stream, const void *data, size_t len)
{
        struct sig_ud *u = ud;
        (void)stream;
        char *p = realloc(u->out.data, u->out.len + len + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p + u->out.len, data, len);
        u->out.data = p;
        u->out.len += len;
        p[u->out.len] = '\0';
        return 0;
}

/* SIGUSR1 once the command said it is ready. */
static int sig_take(void *ud)
{
        struct sig_ud *u = ud;
        if (!u->sent && u->out.data && strstr(u->out.data, "ready")) {
                u->sent = true;
                return SIGUSR1;
        }
        return 0;
}

/* A signal from ExecInput reaches the command through the agent. */
static void test_signal(void **state)
{
        struct fx *f = *state;
        add_port(f, PORT_AGENT);
        struct sig_ud u = {0};
        struct bg_ssh_io io = {.out = sig_out, .ud = &u, .timeout_ms = 20000};
        char cmd[512];
        char *argv[] = {"sh", "-c",
                        "trap 'echo got-usr1; exit 7' USR1; echo ready; "
                        "while :; do sleep 0.1; done"};
        assert_int_equal(bg_ssh_workspace_command("/", 3, argv, cmd, sizeof(cmd)), 0);
        struct bg_error err = {0};
        int code = -1;
        assert_int_equal(ws_run_command(&f->rn, &f->vm, cmd, &io, sig_take, NULL, &code, &err), 0);
        assert_int_equal(code, 7);
        assert_non_null(strstr(u.out.data, "got-usr1"));
        free(u.out.data);
}

struct par {
        struct fx *f;
        int r, code;
        char out[64];
};

static void *par_thread(void *arg)
{
        struct par *p = arg;
        struct bg_ssh_buf o = {0}, e = {0};
        struct bg_error err = {0};
        p->r = run(p->f, "/", "sleep 0.5; echo done", NULL, &o, &e, 20000, &p->code, &err);
        snprintf(p->out, sizeof(p->out), "%s", o.data ? o.data : "");
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);
        return NULL;
}

static void *release_later(void *arg)
{
        usleep(2500 * 1000);
        ws_agent_close(arg);
        return NULL;
}

/* Two ports, three commands at once: the third waits for a free port. While
 * both are held, a fourth gives up after the runner's wait, naming the
 * limit. */
static void test_pool(void **state)
{
        struct fx *f = *state;
        add_port(f, PORT_AGENT);
        add_port(f, PORT_AGENT);
        struct par p[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
                p[i] = (struct par){.f = f, .r = -1};
                assert_int_equal(pthread_create(&t[i], NULL, par_thread, &p[i]), 0);
        }
        for (int i = 0; i < 3; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(p[i].r, 0);
                assert_int_equal(p[i].code, 0);
                assert_string_equal(p[i].out, "done\n");
        }

        struct ws_agent_lease a, b, c;
        struct bg_error err = {0};
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &a, &err), 0);
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &b, &err), 0);
        assert_int_not_equal(a.port, b.port);
        uint64_t t0 = now_mono_msec();
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &c, &err), -EBUSY);
        assert_true(now_mono_msec() - t0 >= WAIT_MS - 50);
        assert_non_null(strstr(err.msg, "all 2 exec ports"));
        /* the whole path falls back to SSH, which this VM lacks: both reasons */
        struct bg_ssh_buf o = {0}, e = {0};
        int code;
        assert_true(run(f, "/", "true", NULL, &o, &e, 5000, &code, &err) < 0);
        assert_non_null(strstr(err.msg, "all 2 exec ports"));
        assert_non_null(strstr(err.msg, "no address"));
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);
        /* Both held, and sshd cannot be reached either: the command waits
         * longer for a port rather than fail; one frees after 2.5 s, past
         * the runner's wait (e2e_workspace: twelve commands on eight ports
         * of a loaded guest, sshd stopped). */
        pthread_t rel;
        assert_int_equal(pthread_create(&rel, NULL, release_later, &a), 0);
        t0 = now_mono_msec();
        int r = run(f, "/", "echo late", NULL, &o, &e, 30000, &code, &err);
        if (r < 0)
                fail_msg("run while the ports were busy: %s", err.msg);
        assert_true(now_mono_msec() - t0 >= 2400);
        assert_int_equal(code, 0);
        assert_string_equal(o.data, "late\n");
        pthread_join(rel, NULL);
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);
        ws_agent_close(&b);
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &c, &err), 0);
        ws_agent_close(&c);
}

/* No exec ports (a VM or template from before them): SSH, and why. A port
 * whose agent answers garbage is not used, and the VM goes to SSH for a while
 * without probing again. */
static void test_fallback(void **state)
{
        struct fx *f = *state;
        struct ws_agent_lease l;
        struct bg_error err = {0};
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &l, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "no exec ports"));

        add_port(f, PORT_HOSTILE);
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &l, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "does not answer"));
        uint64_t t0 = now_mono_msec();
        assert_int_equal(ws_agent_open(f->pool, f->vms, &f->vm, WAIT_MS, &l, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "lately"));
        assert_true(now_mono_msec() - t0 < 500);
}

/* The agent running a command dies and another one starts on the port (an
 * OOM kill took banger-agent.service down, systemd restarted it): the host
 * learns it from the new agent's announcement at once and says so, instead
 * of waiting for an end that never comes. */
static void test_agent_restart(void **state)
{
        struct fx *f = *state;
        add_port(f, PORT_RESTART);
        struct bg_ssh_buf o = {0}, e = {0};
        struct bg_error err = {0};
        int code = -1;
        uint64_t t0 = now_mono_msec();
        int r = run(f, "/", "echo started; exec sleep 8", NULL, &o, &e, 0, &code, &err);
        assert_int_equal(r, -ECONNRESET);
        assert_non_null(strstr(err.msg, "agent restarted"));
        assert_true(now_mono_msec() - t0 < 5000);
        assert_string_equal(o.data, "started\n");
        bg_ssh_buf_free(&o);
        bg_ssh_buf_free(&e);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_run, setup, teardown),
            cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
            cmocka_unit_test_setup_teardown(test_agent_restart, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
