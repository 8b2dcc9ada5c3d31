#include "ws_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_exec_client.h"
#include "agent/agent_frame.h"
#include "log/log.h"
#include "util/macro.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"

/* The agent's vsock port under Firecracker (fc_config.h FC_AGENT_VSOCK_PORT). */
#define FC_AGENT_PORT 1024
/* A frame that started must be complete within this; input must be taken
 * within WRITE_MS. */
#define STALL_MS 5000
#define WRITE_MS 30000
/* How long a port let go of mid-command rests before it is handed out again. */
#define COOL_MS 1000
/* Frames read in one turn of the loop before input gets its turn again. */
#define FRAMES_PER_TURN 64

struct pool_vm {
        char id[64];
        uint32_t busy; /* bit N: exec port N is leased */
        /* Monotonic ms: port N was let go of in the middle of a command; the
         * agent may not have seen the hang-up before then. */
        uint64_t cool_until[VMM_EXEC_PORTS_MAX];
        uint64_t dead_until; /* monotonic ms: use SSH until then */
        struct pool_vm *next;
};

struct ws_agent_pool {
        pthread_mutex_t mu;
        pthread_cond_t cv; /* a port was given back */
        struct pool_vm *vms;
};

int ws_agent_pool_new(struct ws_agent_pool **ret, struct bg_error *err)
{
        struct ws_agent_pool *p = calloc(1, sizeof(*p));
        if (!p)
                return bg_error_set(err, ENOMEM, "out of memory");
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&p->mu, NULL);
        *ret = p;
        return 0;
}

void ws_agent_pool_free(struct ws_agent_pool *p)
{
        if (!p)
                return;
        while (p->vms) {
                struct pool_vm *v = p->vms;
                p->vms = v->next;
                free(v);
        }
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
}

/* The entry of vm id, made when missing; with p->mu held. NULL: no memory. */
static struct pool_vm *vm_get_locked(struct ws_agent_pool *p, const char *id)
{
        for (struct pool_vm *v = p->vms; v; v = v->next)
                if (streq(v->id, id))
                        return v;
        struct pool_vm *v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        snprintf(v->id, sizeof(v->id), "%s", id);
        v->next = p->vms;
        p->vms = v;
        return v;
}

/* Drops entries that hold nothing and remember nothing; with p->mu held. */
static void purge_locked(struct ws_agent_pool *p, uint64_t now)
{
        for (struct pool_vm **pp = &p->vms; *pp;) {
                struct pool_vm *v = *pp;
                bool cooling = false;
                for (unsigned i = 0; i < VMM_EXEC_PORTS_MAX; i++)
                        cooling |= v->cool_until[i] > now;
                if (!v->busy && v->dead_until <= now && !cooling) {
                        *pp = v->next;
                        free(v);
                } else {
                        pp = &v->next;
                }
        }
}

static void port_put(struct ws_agent_pool *p, const char *vm_id, int port, bool dead, bool dirty)
{
        pthread_mutex_lock(&p->mu);
        struct pool_vm *v = vm_get_locked(p, vm_id);
        if (v) {
                if (port >= 0) {
                        v->busy &= ~(1u << port);
                        v->cool_until[port] = dirty ? now_mono_msec() + COOL_MS : 0;
                }
                if (dead)
                        v->dead_until = now_mono_msec() + WS_AGENT_RETRY_MS;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
}

/* A unix socket of ours at path: root in system mode never acts on a path
 * in a directory the owner can write, and the owner's daemons only on their
 * own sockets. */
static bool own_socket(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == geteuid();
}

/* Waits for a free one of the n exec ports of vm; -EBUSY when they stayed
 * busy, -EAGAIN when the VM's agent is marked unusable. */
static int port_take(struct ws_agent_pool *p, const struct ws_vm *vm, unsigned n, uint32_t wait_ms,
                     int *ret, struct bg_error *err)
{
        struct timespec until = timespec_after_ms(CLOCK_MONOTONIC, wait_ms);
        uint64_t until_ms = now_mono_msec() + wait_ms;
        pthread_mutex_lock(&p->mu);
        purge_locked(p, now_mono_msec());
        int r = 0;
        for (;;) {
                struct pool_vm *v = vm_get_locked(p, vm->id);
                if (!v) {
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                if (v->dead_until > now_mono_msec()) {
                        r = bg_error_set(err, EAGAIN,
                                         "the guest agent of VM %s did not answer on its exec "
                                         "ports lately",
                                         vm->name);
                        break;
                }
                int free_port = -1;
                uint64_t now = now_mono_msec();
                bool cooling = false;
                for (unsigned i = 0; i < n && free_port < 0; i++) {
                        if (v->busy & (1u << i))
                                continue;
                        if (v->cool_until[i] > now)
                                cooling = true;
                        else
                                free_port = (int)i;
                }
                if (free_port >= 0) {
                        v->busy |= 1u << free_port;
                        *ret = free_port;
                        break;
                }
                /* A cooling port frees itself without a signal: look again soon. */
                struct timespec wake = until;
                if (cooling) {
                        struct timespec soon = timespec_after_ms(CLOCK_MONOTONIC, 100);
                        if (soon.tv_sec < wake.tv_sec ||
                            (soon.tv_sec == wake.tv_sec && soon.tv_nsec < wake.tv_nsec))
                                wake = soon;
                }
                if (pthread_cond_timedwait(&p->cv, &p->mu, &wake) == ETIMEDOUT &&
                    now_mono_msec() >= until_ms) {
                        r = bg_error_set(err, EBUSY,
                                         "all %u exec ports of VM %s stayed busy for %u ms "
                                         "(one command each)",
                                         n, vm->name, wait_ms);
                        break;
                }
        }
        pthread_mutex_unlock(&p->mu);
        return r;
}

static int probe(struct agent_conn *c, struct bg_error *err)
{
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *h = NULL;
        struct bg_error herr = {0};
        int r = agent_health(c, WS_AGENT_PROBE_MS, &h, &herr);
        if (r < 0)
                return bg_error_set(err, EAGAIN, "the guest agent does not answer: %s", herr.msg);
        int fl = fcntl(agent_conn_fd(c), F_GETFL);
        if (fl < 0 || fcntl(agent_conn_fd(c), F_SETFL, fl | O_NONBLOCK) < 0)
                return bg_error_errno(err, -errno, "agent connection");
        return 0;
}

int ws_agent_open(struct ws_agent_pool *p, const char *vms_dir, const struct ws_vm *vm,
                  uint32_t wait_ms, struct ws_agent_lease *ret, struct bg_error *err)
{
        struct ws_agent_lease l = {.pool = p, .port = -1};
        snprintf(l.vm_id, sizeof(l.vm_id), "%s", vm->id);
        char path[PATH_MAX];
        int r;
        if (streq(vm->vmm, "firecracker")) {
                snprintf(path, sizeof(path), "%s/%s/" VMM_FILE_AGENT, vms_dir, vm->id);
                if (!own_socket(path))
                        return bg_error_set(err, EAGAIN, "no agent socket of ours at %s", path);
                struct bg_error cerr = {0};
                r = agent_conn_open_hybrid_vsock(path, FC_AGENT_PORT, 2000, &l.c, &cerr);
                if (r < 0)
                        return bg_error_set(err, EAGAIN, "cannot reach the guest agent: %s",
                                            cerr.msg);
        } else {
                unsigned n = 0;
                for (; n < VMM_EXEC_PORTS_MAX; n++) {
                        snprintf(path, sizeof(path), "%s/%s/" VMM_FILE_EXEC_FMT, vms_dir, vm->id,
                                 n);
                        if (!own_socket(path))
                                break;
                }
                if (n == 0)
                        return bg_error_set(err, EAGAIN,
                                            "VM %s has no exec ports (made before them, or "
                                            "its agent uses vhost-vsock)",
                                            vm->name);
                r = port_take(p, vm, n, wait_ms, &l.port, err);
                if (r < 0)
                        return r;
                snprintf(path, sizeof(path), "%s/%s/" VMM_FILE_EXEC_FMT, vms_dir, vm->id,
                         (unsigned)l.port);
                struct bg_error cerr = {0};
                r = agent_conn_open_unix(path, 1000, &l.c, &cerr);
                if (r < 0) {
                        port_put(p, vm->id, l.port, true, false);
                        return bg_error_set(err, EAGAIN, "cannot reach exec port %d: %s", l.port,
                                            cerr.msg);
                }
        }
        r = probe(l.c, err);
        if (r < 0) {
                /* An agent from before exec ports leaves them unserved. */
                l.c = agent_conn_free(l.c);
                if (l.port >= 0)
                        port_put(p, vm->id, l.port, true, false);
                return r;
        }
        *ret = l;
        return 0;
}

void ws_agent_close(struct ws_agent_lease *l)
{
        l->c = agent_conn_free(l->c);
        if (l->port >= 0 && l->pool)
                port_put(l->pool, l->vm_id, l->port, false, !l->clean);
        l->port = -1;
}

static int send_input(int fd, uint64_t id, const void *data, size_t len, bool eof, unsigned rows,
                      unsigned cols, int sig, struct bg_error *err)
{
        _cleanup_free_ uint8_t *out = NULL;
        size_t n = 0;
        int r = agent_exec_pack_input(id, data, len, eof, rows, cols, sig, &out, &n);
        if (r >= 0)
                r = agent_frame_write(fd, out, n, agent_deadline_after_ms(WRITE_MS));
        return r < 0 ? bg_error_errno(err, r, "send to the guest agent") : 0;
}

/* An exit status the way sshd reports it: 0..255, 128 + N for signal N. */
static int exit_status(int code, int sig)
{
        if (sig > 0)
                return sig < 128 ? 128 + sig : 255;
        return code >= 0 && code <= 255 ? code : 255;
}

int ws_agent_run(struct ws_agent_lease *l, const char *cmd, const struct bg_ssh_io *io,
                 ws_agent_signal_fn take_signal,
                 void (*on_transport)(void *ud, enum ws_transport t), int *exit_code,
                 struct bg_error *err)
{
        char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)cmd};
        char *tty_env[] = {(char *)"TERM=xterm"}; /* what sshd's pty request sets */
        struct agent_exec_spec spec = {
            .argv = argv,
            .argc = ELEMENTSOF(argv),
            .env = io->tty ? tty_env : NULL,
            .n_env = io->tty ? 1 : 0,
            .cwd = "/", /* cmd changes to its directory itself */
            .tty = io->tty,
            .rows = io->rows,
            .cols = io->cols,
            .want_stdin = io->in != NULL,
        };
        uint64_t id;
        int r = agent_exec_start(l->c, &spec, 10000, &id, err);
        if (r < 0)
                return r;
        if (on_transport)
                on_transport(io->ud, WS_TRANSPORT_AGENT);
        int fd = agent_conn_fd(l->c);
        _cleanup_free_ uint8_t *buf = malloc(AGENT_EXEC_INPUT_MAX);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        bool in_open = io->in != NULL;
        uint64_t t0 = now_mono_msec(), cancel_at = 0;
        for (;;) {
                bool busy = false;
                struct pollfd pw = {.fd = fd, .events = POLLOUT};
                if (in_open && poll(&pw, 1, 0) > 0 && (pw.revents & POLLOUT)) {
                        ssize_t n = io->in(io->ud, buf, AGENT_EXEC_INPUT_MAX);
                        if (n == 0) {
                                in_open = false;
                                r = send_input(fd, id, NULL, 0, true, 0, 0, 0, err);
                        } else if (n > 0) {
                                busy = true;
                                r = send_input(fd, id, buf, (size_t)n, false, 0, 0, 0, err);
                        } else if (n != -EAGAIN) {
                                r = bg_error_errno(err, (int)n, "reading the command's input");
                        }
                        if (r < 0)
                                break;
                }
                if (io->control) {
                        unsigned wr = 0, wc = 0;
                        io->control(io->ud, &wr, &wc);
                        if (io->tty && wr > 0 && wc > 0 &&
                            (r = send_input(fd, id, NULL, 0, false, wr, wc, 0, err)) < 0)
                                break;
                }
                int sig = take_signal ? take_signal(io->ud) : 0;
                if (sig > 0 && (r = send_input(fd, id, NULL, 0, false, 0, 0, sig, err)) < 0)
                        break;
                uint64_t now = now_mono_msec();
                if (io->cancel && atomic_load(io->cancel) && !cancel_at) {
                        cancel_at = now;
                        if ((r = send_input(fd, id, NULL, 0, false, 0, 0, SIGTERM, err)) < 0)
                                break;
                }
                if (cancel_at && now - cancel_at > 2000) {
                        r = bg_error_set(err, ECANCELED, "cancelled");
                        break;
                }
                if (io->timeout_ms && now - t0 > io->timeout_ms) {
                        /* Closing the connection kills the rest of its group. */
                        (void)send_input(fd, id, NULL, 0, false, 0, 0, SIGKILL, err);
                        r = bg_error_set(err, ETIMEDOUT, "the command ran longer than %u ms",
                                         io->timeout_ms);
                        break;
                }
                /* While input flows, its callback does the waiting. */
                struct pollfd pr = {.fd = fd, .events = POLLIN};
                int k = poll(&pr, 1, busy || in_open ? 0 : 100);
                if (k < 0 && errno != EINTR) {
                        r = bg_error_errno(err, -errno, "poll");
                        break;
                }
                bool done = false;
                for (int f = 0; k > 0 && f < FRAMES_PER_TURN && !done && r >= 0; f++) {
                        _cleanup_free_ uint8_t *in = NULL;
                        size_t inlen = 0;
                        r = agent_frame_read(fd, AGENT_FRAME_MAX, agent_deadline_after_ms(STALL_MS),
                                             STALL_MS, &in, &inlen);
                        if (r == 0) {
                                r = bg_error_set(err, ECONNRESET,
                                                 "the guest agent closed the connection before "
                                                 "the command ended");
                                break;
                        }
                        if (r < 0) {
                                r = bg_error_errno(err, r, "read from the guest agent");
                                break;
                        }
                        struct agent_exec_event ev = {0};
                        r = agent_exec_decode(id, in, inlen, &ev, err);
                        if (r == 1 && ev.kind == AGENT_EXEC_EVENT_OUTPUT) {
                                r = io->out
                                        ? io->out(io->ud, ev.stream == 2 ? 2 : 1, ev.data, ev.len)
                                        : 0;
                                if (r < 0)
                                        bg_error_errno(err, r, "the command's output");
                        } else if (r == 1) {
                                *exit_code = exit_status(ev.code, ev.signal);
                                l->clean = true;
                                done = true;
                        }
                        agent_exec_event_clear(&ev);
                        pr.revents = 0;
                        k = poll(&pr, 1, 0);
                }
                if (r < 0)
                        break;
                if (done)
                        return 0;
        }
        return r;
}

/* Runs cmd on lease l (closed here); -ENOTSUP when nothing ran. */
static int run_on_lease(struct ws_agent_lease *l, const char *cmd, const struct bg_ssh_io *io,
                        uint32_t timeout_ms, ws_agent_signal_fn take_signal,
                        void (*on_transport)(void *ud, enum ws_transport t), int *exit_code,
                        struct bg_error *err)
{
        int r = ws_agent_run(l, cmd, io, take_signal, on_transport, exit_code, err);
        ws_agent_close(l);
        if (r == -ETIMEDOUT && timeout_ms)
                r = bg_error_set(err, ETIMEDOUT, "the command ran longer than %u ms", timeout_ms);
        return r;
}

int ws_run_command(const struct ws_runner *rn, const struct ws_vm *vm, const char *cmd,
                   const struct bg_ssh_io *io_in, ws_agent_signal_fn take_signal,
                   void (*on_transport)(void *ud, enum ws_transport t), int *exit_code,
                   struct bg_error *err)
{
        /* Waiting for a port counts against the command's time: a plain
         * Exec still answers within its call's deadline. */
        struct bg_ssh_io io = *io_in;
        uint32_t wait = rn->port_wait_ms ? rn->port_wait_ms : WS_AGENT_PORT_WAIT_MS;
        if (io.timeout_ms && wait > io.timeout_ms / 2)
                wait = io.timeout_ms / 2;
        uint64_t t0 = now_mono_msec();
        struct bg_error aerr = {0};
        struct ws_agent_lease l = {.port = -1};
        int r = ws_agent_open(rn->pool, rn->vms_dir, vm, wait, &l, &aerr);
        uint64_t spent = now_mono_msec() - t0;
        if (io.timeout_ms)
                io.timeout_ms = spent < io.timeout_ms ? io.timeout_ms - (uint32_t)spent : 1;
        if (r >= 0) {
                r = run_on_lease(&l, cmd, &io, io_in->timeout_ms, take_signal, on_transport,
                                 exit_code, err);
                if (r != -ENOTSUP)
                        return r;
                aerr = *err; /* nothing ran */
        } else if (r != -EAGAIN && r != -EBUSY) {
                *err = aerr;
                return r;
        }
        bool busy = r == -EBUSY;
        log_debug("VM %s: running a command over SSH: %s", vm->name, aerr.msg);
        struct bg_ssh *s = NULL;
        r = ws_vm_connect(vm, rn->key_path, &s, err);
        if (r < 0 && busy) {
                /* sshd cannot take it either (stopped, or an image without
                 * one): the agent's ports stay the way, busy as they are,
                 * for up to WS_AGENT_PORT_WAIT_MORE_MS more (within the
                 * command's own time). */
                uint32_t more = WS_AGENT_PORT_WAIT_MORE_MS;
                if (io.timeout_ms && more > io.timeout_ms / 2)
                        more = io.timeout_ms / 2;
                struct bg_error berr = {0};
                t0 = now_mono_msec();
                int br = ws_agent_open(rn->pool, rn->vms_dir, vm, more, &l, &berr);
                spent = now_mono_msec() - t0;
                if (io.timeout_ms)
                        io.timeout_ms = spent < io.timeout_ms ? io.timeout_ms - (uint32_t)spent : 1;
                if (br >= 0) {
                        br = run_on_lease(&l, cmd, &io, io_in->timeout_ms, take_signal,
                                          on_transport, exit_code, err);
                        if (br != -ENOTSUP)
                                return br;
                } else {
                        aerr = berr;
                }
        }
        if (r < 0)
                return bg_error_prefix(err, "the guest agent could not take the command (%s); SSH",
                                       aerr.msg);
        if (on_transport)
                on_transport(io.ud, WS_TRANSPORT_SSH);
        r = bg_ssh_exec(s, cmd, &io, exit_code, err);
        bg_ssh_close(s);
        if (r == -ETIMEDOUT && io_in->timeout_ms)
                r = bg_error_set(err, ETIMEDOUT, "the command ran longer than %u ms",
                                 io_in->timeout_ms);
        return r;
}

struct collect {
        const uint8_t *in;
        size_t in_len, in_off;
        struct bg_ssh_buf *bufs[3];
};

static ssize_t collect_in(void *ud, void *buf, size_t len)
{
        struct collect *u = ud;
        size_t n = u->in_len - u->in_off;
        if (n > len)
                n = len;
        memcpy(buf, u->in + u->in_off, n);
        u->in_off += n;
        return (ssize_t)n;
}

static int collect_out(void *ud, int stream, const void *data, size_t len)
{
        struct collect *u = ud;
        struct bg_ssh_buf *b = u->bufs[stream == 2 ? 2 : 1];
        if (!b)
                return 0;
        size_t max = b->max ? b->max : (1u << 20);
        size_t take = b->len < max ? max - b->len : 0;
        if (take > len)
                take = len;
        if (take) {
                char *p = realloc(b->data, b->len + take + 1);
                if (!p)
                        return -ENOMEM;
                memcpy(p + b->len, data, take);
                b->data = p;
                b->len += take;
                b->data[b->len] = '\0';
        }
        b->dropped += len - take;
        return 0;
}

int ws_run_collect(const struct ws_runner *rn, const struct ws_vm *vm, const char *cmd,
                   const void *in, size_t in_len, struct bg_ssh_buf *out, struct bg_ssh_buf *errout,
                   uint32_t timeout_ms, int *exit_code, struct bg_error *err)
{
        struct collect u = {.in = in, .in_len = in_len, .bufs = {NULL, out, errout}};
        for (int i = 1; i <= 2; i++)
                if (u.bufs[i] && !u.bufs[i]->data && !(u.bufs[i]->data = calloc(1, 1)))
                        return bg_error_set(err, ENOMEM, "out of memory");
        struct bg_ssh_io io = {
            .in = in ? collect_in : NULL,
            .out = collect_out,
            .ud = &u,
            .timeout_ms = timeout_ms,
        };
        return ws_run_command(rn, vm, cmd, &io, NULL, NULL, exit_code, err);
}
