#include "agent_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_frame.h"
#include "util/macro.h"
#include "util/timeutil.h"

/* After the command ended, output still arriving is sent until the streams
 * close or stay quiet this long (a background child may hold them open). */
#define DRAIN_QUIET_MS 200

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "USER=root",
    "LOGNAME=root",
    "SHELL=/bin/sh",
};

static bool env_name_ok(const char *s, size_t len)
{
        if (len == 0 || len > 128 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_'))
                        return false;
        }
        return true;
}

int agent_exec_validate(const Banger__V1__AgentExecStart *req, char *msg, size_t msglen)
{
        if (req->n_argv < 1 || req->n_argv > AGENT_EXEC_ARGV_MAX) {
                snprintf(msg, msglen, "exec needs 1 to %d argv words, got %zu", AGENT_EXEC_ARGV_MAX,
                         req->n_argv);
                return -EINVAL;
        }
        if (!req->argv[0][0]) {
                snprintf(msg, msglen, "exec: the program name is empty");
                return -EINVAL;
        }
        if (req->n_env > AGENT_EXEC_ENV_MAX) {
                snprintf(msg, msglen, "exec: at most %d environment entries, got %zu",
                         AGENT_EXEC_ENV_MAX, req->n_env);
                return -EINVAL;
        }
        for (size_t i = 0; i < req->n_env; i++) {
                const char *eq = strchr(req->env[i], '=');
                if (!eq || !env_name_ok(req->env[i], (size_t)(eq - req->env[i]))) {
                        snprintf(msg, msglen,
                                 "exec: environment entry %zu is not KEY=VALUE with KEY a name "
                                 "([A-Za-z_][A-Za-z0-9_]*)",
                                 i + 1);
                        return -EINVAL;
                }
        }
        if (req->cwd[0] && req->cwd[0] != '/') {
                snprintf(msg, msglen, "exec: the working directory must be absolute");
                return -EINVAL;
        }
        if (req->rows > 10000 || req->cols > 10000) {
                snprintf(msg, msglen, "exec: window size %ux%u is too large", req->rows, req->cols);
                return -EINVAL;
        }
        return 0;
}

struct session {
        const struct agent_exec_env *env;
        int fd; /* the host stream */
        uint64_t id;
        bool tty;
        pid_t pid;
        int pidfd;        /* -1: poll with waitpid */
        int in_fd;        /* the command's stdin (pipe, or the pty master); -1 once closed */
        int out_fd;       /* stdout pipe or the pty master */
        int err_fd;       /* stderr pipe; -1 with a tty */
        uint8_t *pending; /* input the command has not read yet (one frame at most) */
        size_t pending_len, pending_off;
        bool eof_after_pending;
        bool exited;
        int status;
};

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* Writes all of buf. No deadline: a host that reads slowly slows the
 * command down. But a host that went away ends it: a virtio-serial port
 * whose host side closed polls HUP without OUT (its writes would wait for
 * the next host), a socket fails with EPIPE. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
        size_t done = 0;
        bool sock = true;
        while (done < len) {
                ssize_t n = sock ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                                 : write(fd, buf + done, len - done);
                if (n < 0 && sock && errno == ENOTSOCK) {
                        sock = false;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        struct pollfd p = {.fd = fd, .events = POLLOUT};
                        if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                return -errno;
                        if ((p.revents & (POLLHUP | POLLERR | POLLNVAL)) && !(p.revents & POLLOUT))
                                return -ECONNRESET;
                        continue;
                }
                if (n < 0)
                        return errno == EPIPE ? -ECONNRESET : -errno;
                done += (size_t)n;
        }
        return 0;
}

static int send_response(struct session *s, Banger__V1__AgentResponse *resp)
{
        resp->id = s->id;
        size_t len = banger__v1__agent_response__get_packed_size(resp);
        if (len > AGENT_FRAME_MAX)
                return -EMSGSIZE;
        _cleanup_free_ uint8_t *buf = malloc(len + 4);
        if (!buf)
                return -ENOMEM;
        buf[0] = (uint8_t)(len >> 24);
        buf[1] = (uint8_t)(len >> 16);
        buf[2] = (uint8_t)(len >> 8);
        buf[3] = (uint8_t)len;
        banger__v1__agent_response__pack(resp, buf + 4);
        return write_all(s->fd, buf, len + 4);
}

static int send_error(struct session *s, int code, const char *msg)
{
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentError e = BANGER__V1__AGENT_ERROR__INIT;
        e.code = code;
        e.message = (char *)msg;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_ERROR;
        resp.error = &e;
        return send_response(s, &resp);
}

static int send_output(struct session *s, uint32_t stream, const uint8_t *data, size_t len)
{
        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentExecOutput o = BANGER__V1__AGENT_EXEC_OUTPUT__INIT;
        o.stream = stream;
        o.data.data = (uint8_t *)data;
        o.data.len = len;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_EXEC_OUTPUT;
        resp.exec_output = &o;
        return send_response(s, &resp);
}

/* Environment for the command: the defaults, each overridden by an entry of
 * the request with the same name, then the request's other entries. */
static char **build_env(const Banger__V1__AgentExecStart *req)
{
        size_t n = ELEMENTSOF(default_env) + req->n_env + 1;
        char **env = calloc(n, sizeof(char *));
        if (!env)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < ELEMENTSOF(default_env); i++) {
                size_t nl = (size_t)(strchr(default_env[i], '=') - default_env[i]) + 1;
                bool overridden = false;
                for (size_t j = 0; j < req->n_env; j++)
                        if (strncmp(req->env[j], default_env[i], nl) == 0)
                                overridden = true;
                if (!overridden)
                        env[k++] = (char *)default_env[i];
        }
        for (size_t j = 0; j < req->n_env; j++) {
                /* The last of duplicate names wins. */
                size_t nl = (size_t)(strchr(req->env[j], '=') - req->env[j]) + 1;
                bool later = false;
                for (size_t m = j + 1; m < req->n_env; m++)
                        if (strncmp(req->env[m], req->env[j], nl) == 0)
                                later = true;
                if (!later)
                        env[k++] = req->env[j];
        }
        env[k] = NULL;
        return env;
}

static int set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/* What the child reports through the close-on-exec pipe when it fails. */
struct child_failure {
        int stage; /* 1 chdir, 2 exec, 3 terminal */
        int err;
};

_Noreturn static void child_fail(int rep, int stage, int e)
{
        struct child_failure f = {.stage = stage, .err = e};
        ssize_t w = write(rep, &f, sizeof(f));
        (void)w;
        _exit(stage == 2 && e == ENOENT ? 127 : 126);
}

/* Starts the command. On failure after fork the child has been reaped and a
 * message for the host is in msg. */
static int start(struct session *s, const Banger__V1__AgentExecStart *req, char *msg, size_t msglen)
{
        int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep[2] = {-1, -1};
        int master = -1, devnull = -1;
        char slave[128] = "";
        const char *cwd = req->cwd[0] ? req->cwd : "/root";
        _cleanup_free_ char **env = build_env(req);
        _cleanup_free_ char **argv = calloc(req->n_argv + 1, sizeof(char *));
        int r = 0;
        if (!env || !argv)
                return -ENOMEM;
        for (size_t i = 0; i < req->n_argv; i++)
                argv[i] = req->argv[i];

        if (pipe2(rep, O_CLOEXEC) < 0)
                goto fail_errno;
        if (s->tty) {
                master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
                    ptsname_r(master, slave, sizeof(slave)) != 0)
                        goto fail_errno;
                struct winsize ws = {.ws_row = req->rows ? (unsigned short)req->rows : 24,
                                     .ws_col = req->cols ? (unsigned short)req->cols : 80};
                (void)ioctl(master, TIOCSWINSZ, &ws);
        } else {
                if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0)
                        goto fail_errno;
                if (req->stdin) {
                        if (pipe2(in_p, O_CLOEXEC) < 0)
                                goto fail_errno;
                } else {
                        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (devnull < 0)
                                goto fail_errno;
                }
        }

        pid_t pid = fork();
        if (pid < 0)
                goto fail_errno;
        if (pid == 0) {
                /* The child: only async-signal-safe calls from here. */
                close(rep[0]);
                (void)setsid();
                if (s->tty) {
                        int sl = open(slave, O_RDWR);
                        if (sl < 0 || ioctl(sl, TIOCSCTTY, 0) < 0)
                                child_fail(rep[1], 3, errno);
                        if (dup2(sl, 0) < 0 || dup2(sl, 1) < 0 || dup2(sl, 2) < 0)
                                child_fail(rep[1], 3, errno);
                        if (sl > 2)
                                close(sl);
                } else {
                        if (dup2(req->stdin ? in_p[0] : devnull, 0) < 0 || dup2(out_p[1], 1) < 0 ||
                            dup2(err_p[1], 2) < 0)
                                child_fail(rep[1], 3, errno);
                }
                for (int sig = 1; sig < NSIG; sig++)
                        if (sig != SIGKILL && sig != SIGSTOP)
                                signal(sig, SIG_DFL);
                /* The agent shields itself from the OOM killer; its commands
                 * are ordinary processes. */
                int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
                if (oom >= 0) {
                        (void)!write(oom, "0", 1);
                        close(oom);
                }
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                if (chdir(cwd) < 0)
                        child_fail(rep[1], 1, errno);
                execvpe(argv[0], argv, env);
                child_fail(rep[1], 2, errno);
        }

        close_fd(&rep[1]);
        close_fd(&devnull);
        close_fd(&in_p[0]);
        close_fd(&out_p[1]);
        close_fd(&err_p[1]);
        struct child_failure f = {0};
        ssize_t n;
        do
                n = read(rep[0], &f, sizeof(f));
        while (n < 0 && errno == EINTR);
        close_fd(&rep[0]);
        if (n == (ssize_t)sizeof(f)) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (f.stage == 1)
                        snprintf(msg, msglen, "cannot change to directory %s: %s", cwd,
                                 strerror(f.err));
                else if (f.stage == 2)
                        snprintf(msg, msglen, "cannot run %s: %s", argv[0], strerror(f.err));
                else
                        snprintf(msg, msglen, "cannot set up the command's terminal: %s",
                                 strerror(f.err));
                r = -(f.err ? f.err : EIO);
                goto fail;
        }
        s->pid = pid;
        s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (s->tty) {
                s->in_fd = master;
                s->out_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
                if (s->out_fd < 0) {
                        s->out_fd = master;
                        s->in_fd = -1;
                }
                master = -1;
        } else {
                s->in_fd = in_p[1];
                in_p[1] = -1;
                s->out_fd = out_p[0];
                s->err_fd = err_p[0];
                out_p[0] = err_p[0] = -1;
        }
        if (s->in_fd >= 0)
                (void)set_nonblock(s->in_fd);
        (void)set_nonblock(s->out_fd);
        if (s->err_fd >= 0)
                (void)set_nonblock(s->err_fd);
        return 0;

fail_errno:
        r = -errno;
        snprintf(msg, msglen, "cannot set up the command: %s", strerror(errno));
fail:
        close_fd(&rep[0]);
        close_fd(&rep[1]);
        close_fd(&in_p[0]);
        close_fd(&in_p[1]);
        close_fd(&out_p[0]);
        close_fd(&out_p[1]);
        close_fd(&err_p[0]);
        close_fd(&err_p[1]);
        close_fd(&master);
        close_fd(&devnull);
        return r;
}

static void reap(struct session *s, bool block)
{
        if (s->exited)
                return;
        int st;
        pid_t p;
        do
                p = waitpid(s->pid, &st, block ? 0 : WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p == s->pid) {
                s->exited = true;
                s->status = st;
        } else if (p < 0) {
                /* Reaped elsewhere (PID 1 reaping everything): report 255. */
                s->exited = true;
                s->status = 255 << 8;
        }
}

static void kill_all(struct session *s)
{
        if (!s->exited) {
                kill(-s->pid, SIGKILL);
                kill(s->pid, SIGKILL);
                reap(s, true);
        }
}

static void close_stdin(struct session *s)
{
        if (s->tty) {
                /* A terminal has no end of input: type the EOF character. */
                if (s->in_fd >= 0) {
                        char eof = 4;
                        ssize_t w = write(s->in_fd, &eof, 1);
                        (void)w;
                }
                return;
        }
        close_fd(&s->in_fd);
}

/* Writes what it can of the pending input. */
static void flush_pending(struct session *s)
{
        while (s->pending && s->pending_off < s->pending_len) {
                if (s->in_fd < 0)
                        break;
                ssize_t n =
                    write(s->in_fd, s->pending + s->pending_off, s->pending_len - s->pending_off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n < 0) {
                        /* The command closed its stdin: drop the rest. */
                        close_fd(&s->in_fd);
                        break;
                }
                s->pending_off += (size_t)n;
        }
        free(s->pending);
        s->pending = NULL;
        s->pending_len = s->pending_off = 0;
        if (s->eof_after_pending) {
                s->eof_after_pending = false;
                close_stdin(s);
        }
}

static void handle_input(struct session *s, const Banger__V1__AgentExecInput *in)
{
        if (in->data.len > 0 && s->in_fd >= 0) {
                s->pending = malloc(in->data.len);
                if (s->pending) {
                        memcpy(s->pending, in->data.data, in->data.len);
                        s->pending_len = in->data.len;
                        s->pending_off = 0;
                }
        }
        if (in->eof) {
                if (s->pending)
                        s->eof_after_pending = true;
                else
                        close_stdin(s);
        }
        if (s->pending)
                flush_pending(s);
        if (in->rows > 0 && in->cols > 0 && in->rows <= 10000 && in->cols <= 10000 && s->tty) {
                int m = s->in_fd >= 0 ? s->in_fd : s->out_fd;
                struct winsize ws = {.ws_row = (unsigned short)in->rows,
                                     .ws_col = (unsigned short)in->cols};
                (void)ioctl(m, TIOCSWINSZ, &ws);
        }
        if (in->signal > 0 && in->signal < 32 && !s->exited) {
                if (kill(-s->pid, in->signal) < 0)
                        kill(s->pid, in->signal);
        }
}

/* One frame from the host. Returns 0, AGENT_EXEC_SHUTDOWN or -errno. */
static int handle_host_frame(struct session *s, const uint8_t *in, size_t len)
{
        Banger__V1__AgentRequest *req = banger__v1__agent_request__unpack(NULL, len, in);
        if (req && req->kind_case == BANGER__V1__AGENT_REQUEST__KIND_EXEC_INPUT) {
                if (req->id == s->id)
                        handle_input(s, req->exec_input);
                banger__v1__agent_request__free_unpacked(req, NULL);
                return 0;
        }
        if (req && req->kind_case == BANGER__V1__AGENT_REQUEST__KIND_EXEC) {
                uint64_t id = req->id;
                banger__v1__agent_request__free_unpacked(req, NULL);
                uint64_t own = s->id;
                s->id = id;
                int r = send_error(s, EBUSY, "this connection already runs a command");
                s->id = own;
                return r;
        }
        if (req)
                banger__v1__agent_request__free_unpacked(req, NULL);
        _cleanup_free_ uint8_t *out = NULL;
        size_t outlen = 0;
        bool shutdown = false;
        int r = s->env->handle(s->env->ud, in, len, &out, &outlen, &shutdown);
        if (r < 0)
                return r;
        uint8_t hdr[4] = {(uint8_t)(outlen >> 24), (uint8_t)(outlen >> 16), (uint8_t)(outlen >> 8),
                          (uint8_t)outlen};
        r = write_all(s->fd, hdr, sizeof(hdr));
        if (r >= 0)
                r = write_all(s->fd, out, outlen);
        if (r < 0)
                return r;
        return shutdown ? AGENT_EXEC_SHUTDOWN : 0;
}

/* Reads a chunk from *fd and sends it; closes *fd at its end. */
static int pump(struct session *s, int *fd, uint32_t stream, bool *moved)
{
        uint8_t buf[AGENT_EXEC_CHUNK];
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                /* End of stream; EIO on a pty master once the terminal is gone. */
                if (s->tty && *fd == s->out_fd && s->in_fd >= 0)
                        close_fd(&s->in_fd);
                close_fd(fd);
                return 0;
        }
        *moved = true;
        return send_output(s, stream, buf, (size_t)n);
}

int agent_exec_session(const struct agent_exec_env *env, int fd, uint64_t id,
                       const Banger__V1__AgentExecStart *req)
{
        struct session s = {.env = env,
                            .fd = fd,
                            .id = id,
                            .tty = req->tty,
                            .pidfd = -1,
                            .in_fd = -1,
                            .out_fd = -1,
                            .err_fd = -1};
        char msg[512];
        int r = agent_exec_validate(req, msg, sizeof(msg));
        if (r < 0)
                return send_error(&s, -r, msg);
        /* Writing to a command that closed its stdin must not kill the agent. */
        signal(SIGPIPE, SIG_IGN);
        r = start(&s, req, msg, sizeof(msg));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return send_error(&s, -r, msg);

        Banger__V1__AgentResponse resp = BANGER__V1__AGENT_RESPONSE__INIT;
        Banger__V1__AgentExecStarted started = BANGER__V1__AGENT_EXEC_STARTED__INIT;
        started.pid = s.pid;
        resp.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_EXEC_STARTED;
        resp.exec_started = &started;
        r = send_response(&s, &resp);

        uint64_t quiet_since = 0;
        while (r >= 0) {
                if (s.exited && s.out_fd < 0 && s.err_fd < 0)
                        break;
                struct pollfd p[5];
                int n = 0, ih = -1, ii = -1, io = -1, ie = -1, ip = -1;
                if (!s.pending) {
                        ih = n;
                        p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
                } else if (s.in_fd >= 0) {
                        ii = n;
                        p[n++] = (struct pollfd){.fd = s.in_fd, .events = POLLOUT};
                }
                if (s.out_fd >= 0) {
                        io = n;
                        p[n++] = (struct pollfd){.fd = s.out_fd, .events = POLLIN};
                }
                if (s.err_fd >= 0) {
                        ie = n;
                        p[n++] = (struct pollfd){.fd = s.err_fd, .events = POLLIN};
                }
                if (!s.exited && s.pidfd >= 0) {
                        ip = n;
                        p[n++] = (struct pollfd){.fd = s.pidfd, .events = POLLIN};
                }
                int timeout = s.exited ? DRAIN_QUIET_MS : s.pidfd < 0 ? 50 : -1;
                int k = poll(p, (nfds_t)n, timeout);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        break;
                }
                if (!s.exited && (s.pidfd < 0 || (ip >= 0 && p[ip].revents)))
                        reap(&s, false);
                bool moved = false;
                if (io >= 0 && p[io].revents && s.out_fd >= 0)
                        r = pump(&s, &s.out_fd, 1, &moved);
                if (r >= 0 && ie >= 0 && p[ie].revents && s.err_fd >= 0)
                        r = pump(&s, &s.err_fd, 2, &moved);
                if (r >= 0 && ii >= 0 && p[ii].revents)
                        flush_pending(&s);
                if (r >= 0 && ih >= 0 && p[ih].revents) {
                        _cleanup_free_ uint8_t *in = NULL;
                        size_t len = 0;
                        int x = agent_frame_read(fd, AGENT_FRAME_MAX, 0, env->stall_ms, &in, &len);
                        if (x == 0)
                                r = -ECONNRESET;
                        else if (x < 0)
                                r = x;
                        else
                                r = handle_host_frame(&s, in, len);
                        if (r == AGENT_EXEC_SHUTDOWN)
                                break;
                        moved = true;
                }
                if (s.exited) {
                        uint64_t now = now_mono_msec();
                        if (moved || !quiet_since)
                                quiet_since = now;
                        else if (now - quiet_since >= DRAIN_QUIET_MS)
                                break;
                }
        }
        int result = r;
        if (result < 0 || result == AGENT_EXEC_SHUTDOWN) {
                kill_all(&s);
        } else {
                reap(&s, true);
                Banger__V1__AgentResponse done = BANGER__V1__AGENT_RESPONSE__INIT;
                Banger__V1__AgentExecExit ex = BANGER__V1__AGENT_EXEC_EXIT__INIT;
                if (WIFSIGNALED(s.status))
                        ex.signal = WTERMSIG(s.status);
                else
                        ex.code = WEXITSTATUS(s.status);
                done.kind_case = BANGER__V1__AGENT_RESPONSE__KIND_EXEC_EXIT;
                done.exec_exit = &ex;
                result = send_response(&s, &done);
        }
        free(s.pending);
        close_fd(&s.in_fd);
        close_fd(&s.out_fd);
        close_fd(&s.err_fd);
        close_fd(&s.pidfd);
        /* The host hung up: nothing more to serve on this stream. */
        return result == -ECONNRESET ? 0 : result;
}
