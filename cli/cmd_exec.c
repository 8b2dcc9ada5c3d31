#include "cmd_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent_exec_client.h"
#include "agent/agent_frame.h"
#include "ssh/ssh.h"
#include "util/fileio.h"
#include "util/macro.h"
#include "util/run.h"
#include "util/timeutil.h"

/* The guest agent's vsock port under Firecracker (fc_config.h). */
#define EXEC_FC_AGENT_PORT 1024
/* How long the agent may take to answer before the CLI uses SSH instead
 * (another client holds a QEMU virtio-serial channel: it serves one at a
 * time). */
#define EXEC_AGENT_PROBE_MS 1500
/* How long the probes of a busy agent channel go on before ssh takes over. */
#define EXEC_AGENT_WAIT_MS 5000
/* After --timeout: SIGTERM, SIGKILL this much later, then give up. */
#define EXEC_KILL_AFTER_MS 2000
#define EXEC_GIVE_UP_MS 5000

int exec_parse_duration(const char *s, uint64_t *ret_ms)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v <= 0)
                return -EINVAL;
        double mult;
        if (!*end || streq(end, "s"))
                mult = 1000;
        else if (streq(end, "ms"))
                mult = 1;
        else if (streq(end, "m"))
                mult = 60000;
        else if (streq(end, "h"))
                mult = 3600000;
        else
                return -EINVAL;
        double ms = v * mult;
        if (ms < 1 || ms > 30.0 * 24 * 3600000)
                return -ERANGE;
        *ret_ms = (uint64_t)ms;
        return 0;
}

static bool env_entry_ok(const char *s)
{
        const char *eq = strchr(s, '=');
        if (!eq || eq == s || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (const char *p = s; p < eq; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

int exec_opts_parse(struct cli *cli, struct exec_opts *o)
{
        *o = (struct exec_opts){0};
        /* argv strings, never written through */
        o->env = (char **)cli_flag_values(cli, "env", &o->n_env);
        for (size_t i = 0; i < o->n_env; i++)
                if (!env_entry_ok(o->env[i]))
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "-e '%s': expected KEY=VALUE with KEY a name "
                                        "([A-Za-z_][A-Za-z0-9_]*)",
                                        cli_safe(o->env[i]));
        if (o->n_env > 256)
                return cli_fail(RPC_INVALID_ARGUMENT, "at most 256 -e options");
        o->cwd = cli_flag_value(cli, "workdir");
        if (o->cwd && o->cwd[0] != '/')
                return cli_fail(RPC_INVALID_ARGUMENT, "-w '%s': the directory must be absolute",
                                cli_safe(o->cwd));
        o->tty = cli_flag(cli, "tty");
        o->in = cli_flag(cli, "interactive");
        o->force_ssh = cli_flag(cli, "ssh");
        const char *t = cli_flag_value(cli, "timeout");
        if (t && exec_parse_duration(t, &o->timeout_ms) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "--timeout '%s': expected a duration like 30s, 500ms, 5m or 2h "
                                "(at most 30 days)",
                                cli_safe(t));
        return 0;
}

void exec_agent_socket(struct cli *cli, const char *vm_id, char *buf, size_t len)
{
        snprintf(buf, len, "%s/vms/%s/agent.sock", cli->paths.state_dir, vm_id);
}

int exec_refuse_ssh(const char *name, const char *init, const char *what)
{
        if (!init || !streq(init, "agent"))
                return 0;
        return cli_fail(RPC_FAILED_PRECONDITION,
                        "VM %s has no sshd: banger's agent is its init (vm create --init agent), "
                        "so %s cannot use ssh; banger vm exec and vm cp (without --ssh) run "
                        "through the agent",
                        cli_safe(name), what);
}

char *exec_ssh_line(const struct exec_opts *o, const char *line)
{
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        if (!m)
                return NULL;
        for (size_t i = 0; i < o->n_env; i++) {
                char q[8192];
                if (bg_shell_quote(o->env[i], q, sizeof(q)) < 0) {
                        fclose(m);
                        free(out);
                        return NULL;
                }
                fprintf(m, "export %s; ", q);
        }
        fputs(line, m);
        if (fclose(m) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

/* ---- the agent session ---- */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_int, sig_winch, sig_term;

static void on_signal(int sig)
{
        int e = errno;
        if (sig == SIGINT)
                sig_int++;
        else if (sig == SIGWINCH)
                sig_winch = 1;
        else
                sig_term = sig;
        char b = 0;
        ssize_t w = write(sig_pipe[1], &b, 1);
        (void)w;
        errno = e;
}

struct saved_signals {
        struct sigaction intr, winch, term, hup;
};

static void install_signals(struct saved_signals *old, bool with_int)
{
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        if (with_int)
                sigaction(SIGINT, &sa, &old->intr);
        sigaction(SIGWINCH, &sa, &old->winch);
        sigaction(SIGTERM, &sa, &old->term);
        sigaction(SIGHUP, &sa, &old->hup);
}

static void restore_signals(const struct saved_signals *old, bool with_int)
{
        if (with_int)
                sigaction(SIGINT, &old->intr, NULL);
        sigaction(SIGWINCH, &old->winch, NULL);
        sigaction(SIGTERM, &old->term, NULL);
        sigaction(SIGHUP, &old->hup, NULL);
}

static void window_size(unsigned *rows, unsigned *cols)
{
        struct winsize ws = {0};
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
                ws = (struct winsize){0};
        *rows = ws.ws_row;
        *cols = ws.ws_col;
}

static int open_agent(struct cli *cli, const char *vm_id, const char *vmm, struct agent_conn **ret,
                      struct bg_error *err)
{
        char sock[PATH_MAX];
        exec_agent_socket(cli, vm_id, sock, sizeof(sock));
        struct stat st;
        /* Only a socket of our own: root running the CLI in system mode
         * does not act on a path in the owner's directory. */
        if (lstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
                return bg_error_set(err, EAGAIN, "no agent socket of yours at %s", sock);
        /* QEMU's agent channel takes one connection at a time, and vmsvc
         * uses it too (boot, stats, stop): a probe that gets no answer is
         * made again, on a new connection, before ssh takes over. */
        uint64_t until = now_mono_msec() + EXEC_AGENT_WAIT_MS;
        for (;;) {
                int r;
                if (streq(vmm, "firecracker"))
                        r = agent_conn_open_hybrid_vsock(sock, EXEC_FC_AGENT_PORT, 2000, ret, err);
                else
                        r = agent_conn_open_unix(sock, 2000, ret, err);
                if (r < 0)
                        return bg_error_set(err, EAGAIN, "cannot reach the guest agent: %s",
                                            err->msg);
                _cleanup_(agent_response_freep) Banger__V1__AgentResponse *h = NULL;
                struct bg_error herr = {0};
                if (agent_health(*ret, EXEC_AGENT_PROBE_MS, &h, &herr) >= 0)
                        return 0;
                *ret = agent_conn_free(*ret);
                if (now_mono_msec() + EXEC_AGENT_PROBE_MS > until)
                        return bg_error_set(err, EAGAIN,
                                            "the guest agent is busy or not answering: %s",
                                            herr.msg);
                sleep_msec(200);
        }
}

struct session {
        struct agent_conn *c;
        uint64_t id;
        const struct exec_io *io;
        bool tty;
        bool in_open;
        int code;
        bool done;
        uint64_t sent, received;
};

static int on_event(struct session *s, struct agent_exec_event *ev, struct bg_error *err)
{
        if (ev->kind == AGENT_EXEC_EVENT_OUTPUT) {
                int fd = ev->stream == 2 ? s->io->err_fd : s->io->out_fd;
                int r = loop_write(fd, ev->data, ev->len);
                if (r < 0)
                        return bg_error_errno(err, r, "write the command's output");
                if (ev->stream == 1) {
                        s->received += ev->len;
                        if (s->io->on_bytes)
                                s->io->on_bytes(s->io->ud, s->sent, s->received);
                }
                return 0;
        }
        s->code = ev->signal > 0 ? 128 + ev->signal : ev->code;
        s->done = true;
        return 0;
}

int exec_via_agent(struct cli *cli, const char *vm_id, const char *vmm, size_t argc,
                   char *const *argv, const char *cwd, const struct exec_opts *o,
                   const struct exec_io *io, int *ret_code, struct bg_error *err)
{
        _cleanup_(agent_conn_freep) struct agent_conn *c = NULL;
        int r = open_agent(cli, vm_id, vmm, &c, err);
        if (r < 0)
                return r;

        /* The environment: -e entries, and TERM for a terminal unless given. */
        _cleanup_free_ char **env = calloc(o->n_env + 1, sizeof(char *));
        if (!env)
                return bg_error_set(err, ENOMEM, "out of memory");
        size_t n_env = 0;
        bool have_term = false;
        for (size_t i = 0; i < o->n_env; i++) {
                env[n_env++] = o->env[i];
                have_term |= strncmp(o->env[i], "TERM=", 5) == 0;
        }
        char term[128];
        if (o->tty && !have_term) {
                const char *t = getenv("TERM");
                snprintf(term, sizeof(term), "TERM=%s", t && t[0] && strlen(t) < 100 ? t : "xterm");
                env[n_env++] = term;
        }
        struct agent_exec_spec spec = {
            .argv = argv,
            .argc = argc,
            .env = env,
            .n_env = n_env,
            .cwd = cwd,
            .tty = o->tty,
            .want_stdin = o->in && io->in_fd >= 0,
        };
        if (o->tty)
                window_size(&spec.rows, &spec.cols);
        struct session s = {.c = c, .io = io, .tty = o->tty, .in_open = spec.want_stdin};
        r = agent_exec_start(c, &spec, 10000, &s.id, err);
        if (r == -ENOTSUP)
                return bg_error_set(err, EAGAIN, "%s", err->msg);
        if (r == -ENOENT || r == -EACCES || r == -ENOTDIR) {
                fprintf(stderr, "banger: %s\n", cli_safe(err->msg));
                *ret_code = r == -EACCES ? 126 : 127;
                return 0;
        }
        if (r < 0)
                return r;

        if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return bg_error_errno(err, -errno, "pipe");
        /* A closed output is an error of write(), not a fatal signal. */
        struct sigaction pipe_ign = {.sa_handler = SIG_IGN}, pipe_old;
        sigemptyset(&pipe_ign.sa_mask);
        sigaction(SIGPIPE, &pipe_ign, &pipe_old);
        sig_int = sig_winch = sig_term = 0;
        struct saved_signals old;
        bool raw = o->tty && o->in && isatty(io->in_fd);
        install_signals(&old, !io->quiet_signals);
        struct termios saved_tio;
        if (raw && tcgetattr(io->in_fd, &saved_tio) == 0) {
                struct termios t = saved_tio;
                cfmakeraw(&t);
                tcsetattr(io->in_fd, TCSAFLUSH, &t);
        } else {
                raw = false;
        }

        uint64_t start = now_mono_msec();
        int stage = 0; /* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
        bool timed_out = false;
        int ints_sent = 0;
        int fd = agent_conn_fd(c);
        r = 0;
        while (!s.done && r >= 0) {
                int timeout = -1;
                uint64_t now = now_mono_msec();
                if (o->timeout_ms) {
                        uint64_t at = start + o->timeout_ms +
                                      (stage >= 1 ? EXEC_KILL_AFTER_MS : 0) +
                                      (stage >= 2 ? EXEC_GIVE_UP_MS : 0);
                        if (now >= at) {
                                timed_out = true;
                                if (stage == 2) {
                                        r = bg_error_set(err, ETIMEDOUT,
                                                         "the command did not end after SIGKILL");
                                        break;
                                }
                                stage++;
                                r = agent_exec_send(c, s.id, NULL, 0, false, 0, 0,
                                                    stage == 1 ? SIGTERM : SIGKILL);
                                continue;
                        }
                        timeout = (int)(at - now);
                }
                struct pollfd p[3];
                int n = 0, pi = -1;
                p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
                p[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
                if (s.in_open) {
                        pi = n;
                        p[n++] = (struct pollfd){.fd = io->in_fd, .events = POLLIN};
                }
                int k = poll(p, (nfds_t)n, timeout);
                if (k < 0 && errno != EINTR) {
                        r = bg_error_errno(err, -errno, "poll");
                        break;
                }
                if (k <= 0)
                        continue;
                if (p[1].revents) {
                        char buf[64];
                        while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
                                ;
                        if (sig_winch && o->tty) {
                                sig_winch = 0;
                                unsigned rows, cols;
                                window_size(&rows, &cols);
                                if (rows && cols)
                                        r = agent_exec_send(c, s.id, NULL, 0, false, rows, cols, 0);
                        }
                        while (r >= 0 && ints_sent < sig_int) {
                                ints_sent++;
                                if (ints_sent >= 3) {
                                        r = bg_error_set(err, EINTR, "interrupted");
                                        break;
                                }
                                r = agent_exec_send(c, s.id, NULL, 0, false, 0, 0, SIGINT);
                        }
                        if (r >= 0 && sig_term) {
                                int sg = sig_term;
                                sig_term = 0;
                                r = agent_exec_send(c, s.id, NULL, 0, false, 0, 0, sg);
                        }
                }
                if (r >= 0 && pi >= 0 && p[pi].revents) {
                        uint8_t buf[AGENT_EXEC_INPUT_MAX];
                        ssize_t got = read(io->in_fd, buf, sizeof(buf));
                        if (got < 0 && (errno == EINTR || errno == EAGAIN))
                                got = -1;
                        else if (got <= 0) {
                                s.in_open = false;
                                r = agent_exec_send(c, s.id, NULL, 0, true, 0, 0, 0);
                        } else {
                                r = agent_exec_send(c, s.id, buf, (size_t)got, false, 0, 0, 0);
                                s.sent += (uint64_t)got;
                                if (r >= 0 && io->on_bytes)
                                        io->on_bytes(io->ud, s.sent, s.received);
                        }
                        if (r < 0)
                                r = bg_error_errno(err, r, "send input to the guest agent");
                }
                if (r >= 0 && p[0].revents) {
                        struct agent_exec_event ev = {0};
                        r = agent_exec_next(c, s.id, 0, &ev, err);
                        if (r >= 0)
                                r = on_event(&s, &ev, err);
                        agent_exec_event_clear(&ev);
                }
        }
        if (raw)
                tcsetattr(io->in_fd, TCSAFLUSH, &saved_tio);
        restore_signals(&old, !io->quiet_signals);
        sigaction(SIGPIPE, &pipe_old, NULL);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
        if (r == -EINTR) {
                *ret_code = 130;
                return 0;
        }
        if (r == -EPIPE) {
                /* Whoever read the output went away (`| head`): as SIGPIPE. */
                *ret_code = 128 + SIGPIPE;
                return 0;
        }
        if (timed_out && (s.done || r == -ETIMEDOUT)) {
                fprintf(stderr, "banger: the command ran out of time (--timeout)\n");
                *ret_code = EXEC_EXIT_TIMEOUT;
                return 0;
        }
        if (r < 0)
                return r;
        *ret_code = s.code;
        return 0;
}

int exec_ssh_tty(struct cli *cli, const char *vm_name, const char *line, bool in,
                 uint64_t timeout_ms)
{
        char cfg[PATH_MAX], host[96];
        snprintf(cfg, sizeof(cfg), "%s/ssh/config", cli->paths.config_dir);
        snprintf(host, sizeof(host), "%s.vm", vm_name);
        _cleanup_free_ char *full = NULL;
        if (timeout_ms) {
                /* timeout(1) in the guest stops the command and exits 124. */
                char q[65536 + 4096];
                if (bg_shell_quote(line, q, sizeof(q)) < 0)
                        return cli_fail(RPC_INVALID_ARGUMENT, "the command is too long");
                if (asprintf(&full, "timeout --foreground -k 2 %.3f sh -c %s",
                             (double)timeout_ms / 1000.0, q) < 0)
                        return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        const char *av[] = {"ssh", "-F", cfg, "-tt", host, "--", full ? full : line, NULL};
        int in_fd = in ? BG_RUN_INHERIT : BG_RUN_NULL;
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGINT, &ign, &old);
        int r = bg_run_wait(av, in_fd, BG_RUN_INHERIT, BG_RUN_INHERIT, NULL, NULL);
        sigaction(SIGINT, &old, NULL);
        if (r < 0)
                return cli_fail(RPC_FAILED_PRECONDITION, "cannot run ssh: %s", strerror(-r));
        return r;
}
