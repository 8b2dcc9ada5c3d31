#include "ws_guest.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "log/log.h"
#include "util/macro.h"
#include "util/timeutil.h"

int ws_vm_lookup(struct rpc_client *vmsvc, const char *ref, struct ws_vm *vm, struct bg_error *err)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__Vm *v = NULL;
        struct rpc_status st;
        struct rpc_call_opts o = {.deadline_ms = 10000, .connect_wait_ms = 2000};
        req.ref = (char *)ref;
        if (rpc_call(vmsvc, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                     (ProtobufCMessage **)&v, &o, &st) < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code), "%s", st.message);
        memset(vm, 0, sizeof(*vm));
        snprintf(vm->id, sizeof(vm->id), "%s", v->id);
        snprintf(vm->name, sizeof(vm->name), "%s", v->name);
        snprintf(vm->state, sizeof(vm->state), "%s", v->state);
        snprintf(vm->ip, sizeof(vm->ip), "%s", v->ip);
        snprintf(vm->host_key, sizeof(vm->host_key), "%s", v->host_key);
        snprintf(vm->vmm, sizeof(vm->vmm), "%s", v->vmm);
        vm->vcpu = v->vcpu;
        vm->no_sshd = v->init && streq(v->init, "agent");
        banger__v1__vm__free_unpacked(v, NULL);
        return 0;
}

int ws_vm_connect(const struct ws_vm *vm, const char *key_path, struct bg_ssh **ret,
                  struct bg_error *err)
{
        if (strcmp(vm->state, "running") != 0)
                return bg_error_set(err, EBUSY, "VM %s is %s; start it first (banger vm start %s)",
                                    vm->name, vm->state, vm->name);
        if (vm->no_sshd)
                return bg_error_set(err, EBUSY,
                                    "VM %s has no sshd: banger's agent is its init (vm create "
                                    "--init agent); run commands with banger vm exec and copy "
                                    "files with banger vm cp",
                                    vm->name);
        if (!vm->ip[0] || !vm->host_key[0])
                return bg_error_set(err, EBUSY, "VM %s has no address or host key yet", vm->name);
        struct bg_ssh_target t = {
            .host = vm->ip,
            .key_path = key_path,
            .host_key = vm->host_key,
            .connect_timeout_ms = 5000,
        };
        uint64_t until = now_mono_msec() + 20000;
        for (;;) {
                int r = bg_ssh_connect(&t, ret, err);
                if (r >= 0 || (r != -ECONNREFUSED && r != -ETIMEDOUT && r != -EHOSTUNREACH) ||
                    now_mono_msec() > until)
                        return r < 0 ? bg_error_prefix(err, "VM %s", vm->name) : r;
                sleep_msec(300);
        }
}

/* ---- copy: a tar stream written by a thread into a pipe, fed to ssh ---- */

struct tar_job {
        const struct ws_repo *repo;
        const atomic_bool *cancel;
        int fd; /* pipe write end */
        int part, nparts; /* this stream carries every nparts-th file, and all directories */
        uint64_t idx;
        struct archive *a;
        struct ws_walk_stats stats;
        atomic_uint_fast64_t *bytes; /* shared by the streams */
        ws_progress_fn progress;     /* reported from this thread (TCP path), or NULL */
        void *progress_ud;
        uint64_t last_ms;
        char *buf;
        int rc;
        struct bg_error err;
};

static int tar_entry(void *ud, const struct ws_entry *e, struct bg_error *err)
{
        struct tar_job *j = ud;
        if (!S_ISDIR(e->st->st_mode) && j->nparts > 1 && (j->idx++ % (uint64_t)j->nparts) != (uint64_t)j->part)
                return 0;
        struct archive_entry *ae = archive_entry_new();
        if (!ae)
                return bg_error_set(err, ENOMEM, "out of memory");
        archive_entry_set_pathname(ae, e->rel);
        archive_entry_set_mode(ae, e->st->st_mode);
        archive_entry_set_uid(ae, 0);
        archive_entry_set_gid(ae, 0);
        archive_entry_set_uname(ae, "root");
        archive_entry_set_gname(ae, "root");
        archive_entry_set_mtime(ae, e->st->st_mtim.tv_sec, e->st->st_mtim.tv_nsec);
        int fd = -1;
        if (S_ISREG(e->st->st_mode)) {
                fd = open(e->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        archive_entry_free(ae);
                        return bg_error_errno(err, -errno, "open %s", e->abs);
                }
                archive_entry_set_size(ae, e->st->st_size);
        } else {
                archive_entry_set_size(ae, 0);
                if (e->link)
                        archive_entry_set_symlink(ae, e->link);
        }
        int r = 0;
        if (archive_write_header(j->a, ae) != ARCHIVE_OK)
                r = bg_error_set(err, EIO, "tar %s: %s", e->rel, archive_error_string(j->a));
        archive_entry_free(ae);
        /* Exactly st_size bytes: a file that grows or shrinks meanwhile is
         * cut or padded, so the archive stays well-formed. */
        int64_t left = e->st->st_size;
        while (r == 0 && fd >= 0 && left > 0) {
                ssize_t n = read(fd, j->buf, left < (1 << 20) ? (size_t)left : (1 << 20));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        memset(j->buf, 0, 1 << 20);
                        n = left < (1 << 20) ? left : (1 << 20);
                }
                if (archive_write_data(j->a, j->buf, (size_t)n) != n)
                        r = bg_error_set(err, EIO, "tar %s: %s", e->rel, archive_error_string(j->a));
                left -= n;
                atomic_fetch_add(j->bytes, (uint64_t)n);
                if (j->progress && now_mono_msec() - j->last_ms > 250) {
                        j->last_ms = now_mono_msec();
                        j->progress(j->progress_ud, atomic_load(j->bytes));
                }
        }
        if (fd >= 0)
                close(fd);
        return r;
}

static void *tar_thread(void *p)
{
        struct tar_job *j = p;
        j->a = archive_write_new();
        j->buf = malloc(1 << 20);
        if (!j->a || !j->buf) {
                j->rc = bg_error_set(&j->err, ENOMEM, "out of memory");
        } else if (archive_write_set_format_pax_restricted(j->a) != ARCHIVE_OK ||
                   archive_write_set_bytes_per_block(j->a, 64 * 1024) != ARCHIVE_OK ||
                   archive_write_open_fd(j->a, j->fd) != ARCHIVE_OK) {
                j->rc = bg_error_set(&j->err, EIO, "tar: %s", archive_error_string(j->a));
        } else {
                j->rc = ws_repo_walk(j->repo, tar_entry, j, j->cancel, &j->stats, &j->err);
                if (archive_write_close(j->a) != ARCHIVE_OK && j->rc >= 0)
                        j->rc = bg_error_set(&j->err, EIO, "tar: %s", archive_error_string(j->a));
        }
        if (j->a)
                archive_write_free(j->a);
        free(j->buf);
        /* End of data for the guest's tar. On a socket shutdown() does it
         * even while copy_stream_tcp holds a dup; on a pipe it is a no-op. */
        shutdown(j->fd, SHUT_WR);
        close(j->fd);
        return NULL;
}

/* The last bytes of a remote stderr: the reason is at the end. */
struct tail {
        char s[512];
        size_t len;
};

static void tail_add(struct tail *t, const void *data, size_t len)
{
        const char *d = data;
        for (size_t i = 0; i < len; i++) {
                if (t->len == sizeof(t->s) - 1) {
                        memmove(t->s, t->s + 1, t->len - 1);
                        t->len--;
                }
                t->s[t->len++] = d[i];
        }
        t->s[t->len] = '\0';
}

struct feed {
        int fd; /* pipe read end */
        struct tar_job *job;
        ws_progress_fn progress;
        void *progress_ud;
        uint64_t last_ms;
        struct tail err;
};

static ssize_t feed_in(void *ud, void *buf, size_t len)
{
        struct feed *f = ud;
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (f->progress && now_mono_msec() - f->last_ms > 250) {
                f->last_ms = now_mono_msec();
                f->progress(f->progress_ud, atomic_load(f->job->bytes));
        }
        int pr = poll(&p, 1, 20);
        if (pr == 0)
                return -EAGAIN;
        ssize_t n = read(f->fd, buf, len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? -EAGAIN : -errno;
        return n;
}

static int keep_err(void *ud, int stream, const void *data, size_t len)
{
        struct feed *f = ud;
        if (stream == 2)
                tail_add(&f->err, data, len);
        return 0;
}

static void trim(char *s)
{
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

/* ---- the same tar over TCP to the guest agent (guest/agent/agent_recv.h) ----
 *
 * sshd's per-packet work is what limits a copy under emulation (about
 * 24 MB/s where plain TCP does hundreds), so the bulk data skips it: over
 * the SSH session `banger-agent recv-tar` gets a one-time token on stdin and
 * answers with a port; the tar goes to that port behind the token. SSH still
 * authenticates the guest (pinned host key) and carries the token and the
 * result; the data crosses only the host's own bridge. */

#define RECV_PORT_PREFIX "banger-recv "
#define AGENT_TOKEN_HEX 64 /* AGENT_RECV_TOKEN_LEN */
#define AGENT_NO_CLIENT 75 /* AGENT_RECV_NO_CLIENT */

struct tcp_feed {
        const struct ws_vm *vm;
        struct tar_job *job;
        char token[AGENT_TOKEN_HEX + 2]; /* hex + '\n' */
        size_t token_given;
        char line[64];
        size_t line_len;
        bool port_seen;
        int sock_shut;   /* our dup of the data socket, for shutdown() */
        int connect_err; /* < 0: the port could not be reached */
        bool thread_started;
        pthread_t th;
        struct tail err;
};

static ssize_t tcp_in(void *ud, void *buf, size_t len)
{
        struct tcp_feed *f = ud;
        size_t left = strlen(f->token) - f->token_given;
        if (left == 0)
                return 0; /* EOF: the agent reads nothing more from stdin */
        if (len > left)
                len = left;
        memcpy(buf, f->token + f->token_given, len);
        f->token_given += len;
        return (ssize_t)len;
}

/* TCP connect to ip:port within timeout_ms; the socket or -errno. */
static int dial_tcp(const char *ip, unsigned port, int timeout_ms)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
                return -EINVAL;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                int e = -errno;
                close(fd);
                return e;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r;
        while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
                ;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (r == 0)
                soerr = ETIMEDOUT;
        else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
        if (soerr) {
                close(fd);
                return -soerr;
        }
        /* Blocking from here on, but never stuck on a guest that stopped
         * reading: a send that makes no progress for a minute fails. */
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = {.tv_sec = 60};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        return fd;
}

/* The port line arrived: connect, send the token, start the tar thread. */
static int tcp_start(struct tcp_feed *f, unsigned port)
{
        int fd = dial_tcp(f->vm->ip, port, 5000);
        if (fd < 0)
                return f->connect_err = fd;
        size_t off = 0;
        while (off < AGENT_TOKEN_HEX) {
                ssize_t w = write(fd, f->token + off, AGENT_TOKEN_HEX - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        int e = w < 0 ? -errno : -EPIPE;
                        close(fd);
                        return f->connect_err = e;
                }
                off += (size_t)w;
        }
        f->sock_shut = dup(fd);
        f->job->fd = fd; /* the thread closes it: EOF for the guest's tar */
        int r = pthread_create(&f->th, NULL, tar_thread, f->job);
        if (r != 0) {
                close(fd);
                return f->connect_err = -r;
        }
        f->thread_started = true;
        return 0;
}

static int tcp_out(void *ud, int stream, const void *data, size_t len)
{
        struct tcp_feed *f = ud;
        const char *d = data;
        if (stream == 2) {
                tail_add(&f->err, data, len);
                return 0;
        }
        for (size_t i = 0; i < len && !f->port_seen; i++) {
                if (d[i] != '\n') {
                        if (f->line_len < sizeof(f->line) - 1)
                                f->line[f->line_len++] = d[i];
                        continue;
                }
                f->line[f->line_len] = '\0';
                f->line_len = 0;
                char *end = NULL;
                if (strncmp(f->line, RECV_PORT_PREFIX, strlen(RECV_PORT_PREFIX)) != 0)
                        continue;
                unsigned long port = strtoul(f->line + strlen(RECV_PORT_PREFIX), &end, 10);
                if (!end || *end || port < 1 || port > 65535)
                        return f->connect_err = -EPROTO;
                f->port_seen = true;
                return tcp_start(f, (unsigned)port);
        }
        return 0;
}

/* One tar stream over TCP into qpath. -EPROTONOSUPPORT when this route is
 * not available (an agent without recv-tar, a port the host cannot reach):
 * nothing was unpacked then, and the caller copies over SSH instead. */
static int copy_stream_tcp(struct bg_ssh *s, const struct ws_vm *vm, const struct ws_repo *repo,
                           const char *qpath, int part, int nparts, const atomic_bool *cancel,
                           atomic_uint_fast64_t *bytes, ws_progress_fn progress, void *progress_ud,
                           struct ws_walk_stats *stats, char why[160], struct bg_error *err)
{
        unsigned char rnd[AGENT_TOKEN_HEX / 2];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                snprintf(why, 160, "no random token: %s", strerror(errno));
                return -EPROTONOSUPPORT;
        }
        struct tar_job job = {.repo = repo,
                              .cancel = cancel,
                              .fd = -1,
                              .part = part,
                              .nparts = nparts,
                              .bytes = bytes,
                              .progress = progress,
                              .progress_ud = progress_ud};
        struct tcp_feed f = {.vm = vm, .job = &job, .sock_shut = -1};
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(f.token + 2 * i, 3, "%02x", rnd[i]);
        f.token[AGENT_TOKEN_HEX] = '\n';
        f.token[AGENT_TOKEN_HEX + 1] = '\0';
        explicit_bzero(rnd, sizeof(rnd));

        char cmd[8600];
        snprintf(cmd, sizeof(cmd), "mkdir -p %s && cd %s && exec /usr/sbin/banger-agent recv-tar",
                 qpath, qpath);
        int code = 255;
        struct bg_ssh_io io = {.in = tcp_in, .out = tcp_out, .ud = &f, .cancel = cancel};
        int r = bg_ssh_exec(s, cmd, &io, &code, err);
        if (f.thread_started) {
                if (r < 0 || code != 0)
                        shutdown(f.sock_shut, SHUT_RDWR); /* unblock a writer */
                pthread_join(f.th, NULL);
        }
        if (f.sock_shut >= 0)
                close(f.sock_shut);
        explicit_bzero(f.token, sizeof(f.token));
        if (stats)
                *stats = job.stats;
        trim(f.err.s);
        if (!f.port_seen || f.connect_err < 0) {
                if (f.connect_err < 0)
                        snprintf(why, 160, "the agent's port is not reachable: %s",
                                 strerror(-f.connect_err));
                else
                        snprintf(why, 160, "the agent has no recv-tar (exit %d%s%.80s)", code,
                                 f.err.len ? ": " : "", f.err.s);
                if (r < 0 && !(cancel && atomic_load(cancel)) && f.connect_err == 0 && code == 255)
                        return r; /* the SSH session itself failed */
                return cancel && atomic_load(cancel) ? r : -EPROTONOSUPPORT;
        }
        if (r < 0)
                return r;
        if (code == AGENT_NO_CLIENT) {
                /* It never took our connection (others kept it busy): tar
                 * never ran, so nothing was unpacked. */
                snprintf(why, 160, "the agent did not take the connection: %.100s", f.err.s);
                return -EPROTONOSUPPORT;
        }
        if (code != 0)
                return bg_error_set(err, EIO, "unpacking in the VM failed (exit %d)%s%s", code,
                                    f.err.len ? ": " : "", f.err.s);
        if (job.rc < 0) {
                *err = job.err;
                return job.rc;
        }
        return 0;
}

/* One tar stream over session s into qpath (quoted guest path), through
 * sshd. */
static int copy_stream_ssh(struct bg_ssh *s, const struct ws_repo *repo, const char *qpath,
                           int part, int nparts, const atomic_bool *cancel,
                           atomic_uint_fast64_t *bytes, ws_progress_fn progress, void *progress_ud,
                           struct ws_walk_stats *stats, struct bg_error *err)
{
        char cmd[8600];
        /* 128 KiB reads (-b 256, -B: full records from a pipe): far fewer
         * read calls than tar's default 10 KiB, which matters under emulation. */
        snprintf(cmd, sizeof(cmd), "mkdir -p %s && cd %s && exec tar -b 256 -B -xf - --no-same-owner",
                 qpath, qpath);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "pipe");
        struct tar_job job = {.repo = repo, .cancel = cancel, .fd = p[1], .part = part,
                              .nparts = nparts, .bytes = bytes};
        pthread_t th;
        int r = pthread_create(&th, NULL, tar_thread, &job);
        if (r != 0) {
                close(p[0]);
                close(p[1]);
                return bg_error_errno(err, -r, "thread");
        }
        struct feed f = {.fd = p[0], .job = &job, .progress = progress, .progress_ud = progress_ud};
        int code = 255;
        struct bg_ssh_io io = {.in = feed_in, .out = keep_err, .ud = &f, .cancel = cancel};
        r = bg_ssh_exec(s, cmd, &io, &code, err);
        close(p[0]); /* a writer still going gets EPIPE and stops */
        pthread_join(th, NULL);
        if (stats)
                *stats = job.stats;
        if (r < 0)
                return r;
        if (job.rc < 0) {
                *err = job.err;
                return job.rc;
        }
        if (code != 0) {
                trim(f.err.s);
                return bg_error_set(err, EIO, "unpacking in the VM failed (exit %d)%s%s", code,
                                    f.err.len ? ": " : "", f.err.s);
        }
        return 0;
}

/* Which route the streams of one copy took, for the log. */
struct route {
        atomic_uint tcp, ssh;
        atomic_flag warned;
};

/* One tar stream: over TCP to the agent, else (an older image, a port the
 * host cannot reach) over sshd. */
static int copy_stream(struct bg_ssh *s, const struct ws_vm *vm, const struct ws_repo *repo,
                       const char *qpath, int part, int nparts, const atomic_bool *cancel,
                       atomic_uint_fast64_t *bytes, ws_progress_fn progress, void *progress_ud,
                       struct ws_walk_stats *stats, struct route *route, struct bg_error *err)
{
        char why[160] = "";
        int r = copy_stream_tcp(s, vm, repo, qpath, part, nparts, cancel, bytes, progress,
                                progress_ud, stats, why, err);
        if (r != -EPROTONOSUPPORT) {
                if (r >= 0)
                        atomic_fetch_add(&route->tcp, 1);
                return r;
        }
        if (!atomic_flag_test_and_set(&route->warned))
                log_warn("VM %s: copying over ssh (slower): %s", vm->name, why);
        atomic_fetch_add(&route->ssh, 1);
        return copy_stream_ssh(s, repo, qpath, part, nparts, cancel, bytes, progress, progress_ud,
                               stats, err);
}

struct helper {
        const struct ws_vm *vm;
        const char *key_path;
        const struct ws_repo *repo;
        const char *qpath;
        int part, nparts;
        const atomic_bool *cancel;
        atomic_uint_fast64_t *bytes;
        struct route *route;
        int rc;
        struct bg_error err;
};

static void *helper_thread(void *p)
{
        struct helper *h = p;
        struct bg_ssh *s = NULL;
        h->rc = ws_vm_connect(h->vm, h->key_path, &s, &h->err);
        if (h->rc >= 0)
                h->rc = copy_stream(s, h->vm, h->repo, h->qpath, h->part, h->nparts, h->cancel,
                                    h->bytes, NULL, NULL, NULL, h->route, &h->err);
        bg_ssh_close(s);
        return NULL;
}

int ws_copy_over_ssh(struct bg_ssh *s, const struct ws_vm *vm, const char *key_path,
                     unsigned streams, const struct ws_repo *repo, const char *guest_abs,
                     const char *branch, const char *from, const atomic_bool *cancel,
                     ws_progress_fn progress, void *progress_ud, struct ws_walk_stats *stats,
                     char head[64], struct bg_error *err)
{
        char qpath[4200], qb[600], cmd[6000];
        if (bg_shell_quote(guest_abs, qpath, sizeof(qpath)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "guest path too long");
        if (streams < 1)
                streams = 1;
        if (streams > WS_MAX_STREAMS)
                streams = WS_MAX_STREAMS;
        atomic_uint_fast64_t bytes = 0;
        struct route route = {.warned = ATOMIC_FLAG_INIT};
        struct helper hs[WS_MAX_STREAMS];
        pthread_t th[WS_MAX_STREAMS];
        unsigned started = 0;
        for (unsigned i = 1; i < streams; i++) {
                hs[i] = (struct helper){.vm = vm,
                                        .key_path = key_path,
                                        .repo = repo,
                                        .qpath = qpath,
                                        .part = (int)i,
                                        .nparts = (int)streams,
                                        .cancel = cancel,
                                        .bytes = &bytes,
                                        .route = &route};
                if (pthread_create(&th[i], NULL, helper_thread, &hs[i]) != 0)
                        break;
                started = i;
        }
        int r = copy_stream(s, vm, repo, qpath, 0, (int)streams, cancel, &bytes, progress,
                            progress_ud, stats, &route, err);
        for (unsigned i = 1; i <= started; i++) {
                pthread_join(th[i], NULL);
                if (r >= 0 && hs[i].rc < 0) {
                        *err = hs[i].err;
                        r = hs[i].rc;
                }
        }
        if (r >= 0 && started + 1 != streams)
                r = bg_error_set(err, EAGAIN, "could not start %u copy streams", streams);
        if (r < 0)
                return bg_error_prefix(err, "copying into %s in the VM", guest_abs);
        if (progress)
                progress(progress_ud, atomic_load(&bytes));
        log_info("VM %s: %u stream(s) over tcp to the agent, %u over ssh", vm->name,
                 atomic_load(&route.tcp), atomic_load(&route.ssh));

        /* Then, in the copy: the branch or commit asked for, and mise. */
        size_t n = (size_t)snprintf(cmd, sizeof(cmd), "set -e; cd %s; ", qpath);
        if (branch && branch[0]) {
                if (bg_shell_quote(branch, qb, sizeof(qb)) < 0)
                        return bg_error_set(err, ENAMETOOLONG, "branch name too long");
                n += (size_t)snprintf(cmd + n, sizeof(cmd) - n,
                                      "if git rev-parse -q --verify refs/heads/%s >/dev/null; then "
                                      "git checkout -q %s; else git checkout -q -b %s; fi; ",
                                      qb, qb, qb);
        } else if (from && from[0]) {
                if (bg_shell_quote(from, qb, sizeof(qb)) < 0)
                        return bg_error_set(err, ENAMETOOLONG, "revision too long");
                n += (size_t)snprintf(cmd + n, sizeof(cmd) - n,
                                      "git checkout -q -f --detach %s; git clean -q -fd; ", qb);
        }
        snprintf(cmd + n, sizeof(cmd) - n,
                 "if command -v mise >/dev/null 2>&1; then mise trust -q . >/dev/null 2>&1 || "
                 "true; fi; git rev-parse -q --verify HEAD || true");
        struct bg_ssh_buf out = {.max = 256}, eb = {.max = 2048};
        int code = 255;
        r = bg_ssh_run(s, cmd, NULL, 0, &out, &eb, 5 * 60 * 1000, cancel, &code, err);
        if (r >= 0 && code != 0) {
                trim(eb.data);
                r = bg_error_set(err, EIO, "in the VM's copy of %s: %s (exit %d)", guest_abs,
                                 eb.data[0] ? eb.data : "git failed", code);
        }
        head[0] = '\0';
        if (r >= 0) {
                trim(out.data);
                const char *last = strrchr(out.data, '\n');
                snprintf(head, 64, "%s", last ? last + 1 : out.data);
        }
        bg_ssh_buf_free(&out);
        bg_ssh_buf_free(&eb);
        return r;
}

/* ---- export ---- */

struct export_out {
        int fd;
        const struct ws_export_limits *lim;
        uint64_t written;
        int stop; /* -EFBIG / -ECANCELED: why the export stopped early */
        uint32_t files;
        bool at_line_start;
        char pfx[12];
        size_t pfx_len;
        char errtail[1024];
        size_t errlen;
        int werr;
};

static int export_data(void *ud, int stream, const void *data, size_t len)
{
        struct export_out *x = ud;
        const char *d = data;
        if (stream == 2) {
                size_t take = sizeof(x->errtail) - 1 - x->errlen;
                if (take > len)
                        take = len;
                memcpy(x->errtail + x->errlen, d, take);
                x->errlen += take;
                x->errtail[x->errlen] = '\0';
                return 0;
        }
        if (x->written + len > x->lim->max_bytes) {
                x->stop = -EFBIG;
                return -EFBIG;
        }
        if (x->lim->client_pidfd >= 0) {
                struct pollfd p = {.fd = x->lim->client_pidfd, .events = POLLIN};
                if (poll(&p, 1, 0) > 0) {
                        x->stop = -ECANCELED;
                        return -ECANCELED;
                }
        }
        x->written += len;
        for (size_t off = 0; off < len;) {
                ssize_t w = write(x->fd, d + off, len - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += (size_t)w;
        }
        /* count "diff --git " at line starts */
        static const char key[] = "diff --git ";
        for (size_t i = 0; i < len; i++) {
                if (x->at_line_start) {
                        x->pfx_len = 0;
                        x->at_line_start = false;
                }
                if (x->pfx_len < sizeof(key) - 1) {
                        if (d[i] == key[x->pfx_len]) {
                                if (++x->pfx_len == sizeof(key) - 1)
                                        x->files++;
                        } else {
                                x->pfx_len = sizeof(key); /* no match on this line */
                        }
                }
                if (d[i] == '\n')
                        x->at_line_start = true;
        }
        return 0;
}

int ws_export_patch(struct bg_ssh *s, const char *guest_abs, const char *base, int out_fd,
                    const struct ws_export_limits *lim, char base_used[64], uint32_t *files,
                    struct bg_error *err)
{
        char qpath[4200], qbase[128], cmd[6000];
        if (bg_shell_quote(guest_abs, qpath, sizeof(qpath)) < 0 ||
            bg_shell_quote(base ? base : "", qbase, sizeof(qbase)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "guest path too long");
        /* A private index: the guest's real one (what its user staged) is
         * never touched. */
        snprintf(cmd, sizeof(cmd),
                 "set -e; cd %s; base=%s; "
                 "if [ -z \"$base\" ] || ! git cat-file -e \"$base^{commit}\" 2>/dev/null; then "
                 "base=$(git rev-parse -q --verify HEAD || "
                 "echo 4b825dc642cb6eb9a060e54bf8d69288fbee4904); fi; "
                 "idx=$(mktemp); trap 'rm -f \"$idx\"' EXIT; "
                 "if [ -f .git/index ]; then cp .git/index \"$idx\"; else rm -f \"$idx\"; fi; "
                 "export GIT_INDEX_FILE=\"$idx\"; git add -A; "
                 "echo \"banger-base $base\" >&2; "
                 "git -c core.quotepath=off diff --cached --binary --full-index \"$base\"",
                 qpath, qbase);
        struct export_out x = {.fd = out_fd, .lim = lim, .at_line_start = true};
        struct bg_ssh_io io = {.out = export_data, .ud = &x, .timeout_ms = lim->timeout_ms};
        int code = 255;
        int r = bg_ssh_exec(s, cmd, &io, &code, err);
        if (x.stop == -EFBIG)
                return bg_error_set(err, EFBIG,
                                    "the patch is over %llu bytes (workspace.export_max); "
                                    "export stopped",
                                    (unsigned long long)lim->max_bytes);
        if (x.stop == -ECANCELED)
                return bg_error_set(err, ECANCELED, "the caller went away; export stopped");
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT,
                                    "git diff in the VM did not finish within the call's %u s",
                                    lim->timeout_ms / 1000);
        if (r < 0)
                return r;
        const char *m = strstr(x.errtail, "banger-base ");
        base_used[0] = '\0';
        if (m)
                sscanf(m + 12, "%63[0-9a-f]", base_used);
        if (code != 0) {
                trim(x.errtail);
                return bg_error_set(err, EIO, "git in the VM failed (exit %d): %s", code,
                                    x.errtail[0] ? x.errtail : "no message");
        }
        *files = x.files;
        return 0;
}
