/* The rpc server's listening socket: the ipc path made safe to bind, the
 * socket file's mode and owner set through a descriptor, and the listener
 * guard, which opens the listener again when nng stops taking connections
 * on it. The rest of the server is server.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "log/log.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "rpc/server_internal.h"
#include "util/macro.h"
#include "util/timeutil.h"

/* An existing socket file is replaced only when the caller holds the
 * service's lock (cfg.replace_socket); otherwise it is refused. Never probe
 * a socket by connecting to it: nng 1.5.2 listeners stop accepting (and spin
 * their poller on EPOLLHUP) after a peer connects and closes before the SP
 * handshake. */
int rpc_listener_prepare_path(const struct rpc_server *s, struct bg_error *err)
{
        if (strncmp(s->url, "ipc://", 6) != 0)
                return 0;
        const char *path = s->url + 6;
        struct stat st;
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return bg_error_set(err, ENAMETOOLONG, "socket path %s is too long", path);
        if (lstat(path, &st) < 0)
                return 0;
        if (!S_ISSOCK(st.st_mode))
                return bg_error_set(err, EEXIST, "%s exists and is not a socket", path);
        if (!s->cfg.replace_socket)
                return bg_error_set(err, EADDRINUSE,
                                    "%s already exists (another server, or a stale socket)", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return bg_error_errno(err, -errno, "remove stale socket %s", path);
        return 0;
}

/* Gives the ipc socket file its mode and owner through a descriptor, never
 * by path: the name is opened without following a symlink and must be a
 * socket of this process's uid (the one bind just made), else nothing is
 * changed. nng's own NNG_OPT_IPC_PERMISSIONS is not used: it chmods by path,
 * and between bind and that chmod whoever can write the directory could put
 * a symlink there. Mode first, so the socket is never more open than asked;
 * the mode goes through /proc/self/fd (fchmod refuses O_PATH descriptors). */
static int socket_set_perms(const struct rpc_server *s, struct bg_error *err)
{
        const char *path = s->url + 6;
        _cleanup_close_ int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open the socket %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat %s", path);
        if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
                return bg_error_set(err, EPERM,
                                    "%s is not the socket this process made (it is %s of uid %u): "
                                    "someone replaced it; its mode and owner are left alone",
                                    path, S_ISSOCK(st.st_mode) ? "a socket" : "not a socket",
                                    (unsigned)st.st_uid);
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, (mode_t)s->cfg.socket_mode) < 0)
                return bg_error_errno(err, -errno, "chmod %s", path);
        gid_t gid = s->cfg.socket_gid > 0 ? (gid_t)s->cfg.socket_gid : (gid_t)-1;
        if ((s->cfg.socket_uid >= 0 || s->cfg.socket_gid > 0) &&
            fchownat(fd, "", (uid_t)s->cfg.socket_uid, gid, AT_EMPTY_PATH) < 0)
                return bg_error_errno(err, -errno, "chown %s to uid %d gid %d", path,
                                      s->cfg.socket_uid, s->cfg.socket_gid);
        return 0;
}

/* Creates and starts s->listener on s->url with the socket's mode, owner and
 * size limit. */
int rpc_listener_open(struct rpc_server *s, struct bg_error *err)
{
        int rv = nng_listener_create(&s->listener, s->sock, s->url);
        if (rv != 0)
                return bg_error_set(err, rpc_nng_errno(rv), "listen on %s: %s", s->url,
                                    nng_strerror(rv));
        bool ipc = strncmp(s->url, "ipc://", 6) == 0;
        int r = 0;
        nng_listener_set_size(s->listener, NNG_OPT_RECVMAXSZ, s->cfg.recv_max);
        rv = nng_listener_start(s->listener, 0);
        if (rv != 0)
                r = bg_error_set(err, rpc_nng_errno(rv), "listen on %s: %s", s->url,
                                 nng_strerror(rv));
        else if (ipc)
                r = socket_set_perms(s, err);
        if (r < 0)
                nng_listener_close(s->listener);
        return r;
}

/* Listener guard.
 *
 * nng 1.5.2's ipc listener writes its handshake header as soon as it accepts
 * a connection. When the peer has already hung up, that write fails with
 * EPIPE, which nng reports to the socket's listener as NNG_ECLOSED; the
 * listener takes that as its own shutdown and never asks for another
 * connection. From then on connections still complete the handshake (so
 * clients believe they are connected) but are never attached to the socket:
 * every request hangs until its deadline. Any client that connects and
 * closes quickly (a port scanner, a crashed CLI, a client of another
 * implementation) can trigger it.
 *
 * The guard thread watches the listener's error counters (nng statistics).
 * After an accept error (or every GUARD_IDLE_PROBE_MS when nng was built
 * without statistics, or again at once after a probe that could not tell)
 * it probes:
 * it connects a client of its own and waits for the server socket to attach
 * a pipe (PIPE_EV_ADD_POST), which needs no worker thread and so works while
 * every handler is busy. When the probe's handshake completes and no pipe
 * is attached within GUARD_ATTACH_WAIT_MS, the listener is closed and opened
 * again on the same path; clients dial again by themselves
 * (connections to the old listener are closed, so a call in flight on one
 * ends with "connection lost, outcome unknown" rather than hanging). */
#define GUARD_TICK_MS 250
#define GUARD_IDLE_PROBE_MS 10000
#define GUARD_HANDSHAKE_WAIT_MS 10000
#define GUARD_ATTACH_WAIT_MS 3000

void rpc_listener_pipe_attached_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
        (void)p;
        (void)ev;
        struct rpc_server *s = arg;
        atomic_fetch_add(&s->pipes_attached, 1);
}

/* Sum of the listener's accept-error counters, or -1 when nng keeps no
 * statistics. */
static int64_t listener_accept_errors(struct rpc_server *s)
{
        static const char *const counters[] = {"other",   "canceled", "disconnect",
                                               "timeout", "proto",    "oom"};
        nng_stat *all = NULL;
        if (nng_stats_get(&all) != 0)
                return -1;
        int64_t total = -1;
        nng_stat *ls = nng_stat_find_listener(all, s->listener);
        if (ls) {
                total = 0;
                for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
                        nng_stat *c = nng_stat_find(ls, counters[i]);
                        if (c)
                                total += (int64_t)nng_stat_value(c);
                }
        }
        nng_stats_free(all);
        return total;
}

static void client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
        (void)p;
        (void)ev;
        atomic_fetch_add((atomic_uint_fast64_t *)arg, 1);
}

enum probe_result {
        PROBE_ALIVE,   /* the server attached a pipe: the listener takes connections */
        PROBE_STUCK,   /* our handshake completed and nothing was attached */
        PROBE_UNKNOWN, /* could not tell (no handshake in time, no resources) */
};

static bool wait_change(const atomic_uint_fast64_t *v, uint64_t from, uint64_t until)
{
        while (now_mono_msec() < until) {
                if (atomic_load(v) != from)
                        return true;
                sleep_msec(5);
        }
        return atomic_load(v) != from;
}

/* Connects a client of our own and watches whether the server socket
 * attaches a pipe. Only a completed handshake with no attach after it counts
 * as stuck: a slow (loaded) machine gives UNKNOWN, never a restart. */
static enum probe_result listener_probe(struct rpc_server *s)
{
        nng_socket c;
        atomic_uint_fast64_t connected = 0;
        enum probe_result res = PROBE_UNKNOWN;

        if (nng_req0_open(&c) != 0)
                return PROBE_UNKNOWN;
        nng_pipe_notify(c, NNG_PIPE_EV_ADD_POST, client_pipe_cb, &connected);
        uint64_t before = atomic_load(&s->pipes_attached);
        if (nng_dial(c, s->url, NULL, NNG_FLAG_NONBLOCK) != 0) {
                nng_close(c);
                return PROBE_UNKNOWN;
        }
        /* Hang up only after our side finished the handshake, so the probe
         * cannot itself cause the failure it looks for. */
        bool hs = wait_change(&connected, 0, now_mono_msec() + GUARD_HANDSHAKE_WAIT_MS);
        if (atomic_load(&s->pipes_attached) != before)
                res = PROBE_ALIVE;
        else if (hs)
                res =
                    wait_change(&s->pipes_attached, before, now_mono_msec() + GUARD_ATTACH_WAIT_MS)
                        ? PROBE_ALIVE
                        : PROBE_STUCK;
        nng_close(c);
        return res;
}

/* Closes the listener (when open) and opens it again; false when that
 * failed (the guard tries again on its next tick). */
static bool listener_reopen(struct rpc_server *s)
{
        struct bg_error err = {0};
        if (s->listener_open) {
                nng_listener_close(s->listener); /* also removes the socket file */
                s->listener_open = false;
        }
        if (rpc_listener_open(s, &err) < 0) {
                log_error("%s: could not listen on %s again: %s; retrying", s->name, s->url,
                          err.msg);
                return false;
        }
        s->listener_open = true;
        s->listener_restarts++;
        return true;
}

void *rpc_listener_guard_main(void *arg)
{
        struct rpc_server *s = arg;
        uint64_t next_idle_probe = now_mono_msec() + GUARD_IDLE_PROBE_MS;
        int64_t e;
        /* The last probe could not tell: probe again on the next tick, not
         * only after another accept error (a stuck listener counts none). */
        bool unsure = false;
        s->accept_errors_seen = 0; /* a new listener's counters start at zero */

        pthread_mutex_lock(&s->mu);
        while (!s->guard_exit) {
                struct timespec until = timespec_after_ms(CLOCK_REALTIME, GUARD_TICK_MS);
                pthread_cond_timedwait(&s->guard_cond, &s->mu, &until);
                if (s->guard_exit)
                        break;
                pthread_mutex_unlock(&s->mu);

                if (!s->listener_open) {
                        if (listener_reopen(s))
                                s->accept_errors_seen = 0;
                        pthread_mutex_lock(&s->mu);
                        continue;
                }
                bool probe = unsure;
                e = listener_accept_errors(s);
                if (e >= 0 && (uint64_t)e != s->accept_errors_seen) {
                        s->accept_errors_seen = (uint64_t)e;
                        probe = true;
                }
                if (e < 0 && now_mono_msec() >= next_idle_probe)
                        probe = true; /* no statistics: probe now and then instead */
                if (probe) {
                        next_idle_probe = now_mono_msec() + GUARD_IDLE_PROBE_MS;
                        enum probe_result pr = listener_probe(s);
                        unsure = pr == PROBE_UNKNOWN;
                        if (pr == PROBE_STUCK) {
                                log_warn("%s: the listener on %s stopped taking connections (a "
                                         "client hung up during the handshake); opening it again",
                                         s->name, s->url);
                                if (listener_reopen(s))
                                        s->accept_errors_seen = 0; /* new counters */
                        }
                }
                pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

unsigned rpc_server_listener_restarts(const struct rpc_server *s)
{
        return s->listener_restarts;
}
