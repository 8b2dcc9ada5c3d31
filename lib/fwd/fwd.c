#include "fwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

struct pipe_buf {
        char data[BUF_SIZE];
        size_t len, off; /* bytes [off, len) still to write */
        bool eof;        /* the reading side ended */
        bool shut;       /* the writing side was shut down after eof */
};

struct conn {
        int fd[2];             /* 0: accepted client, 1: target */
        bool connecting;       /* fd[1]'s non-blocking connect is under way */
        struct pipe_buf to[2]; /* to[i]: bytes going to fd[i] */
        uint64_t last_ms;      /* when a byte last moved (or it was accepted) */
};

struct fwd {
        struct fwd_rule rules[FWD_MAX_RULES];
        int lfd[FWD_MAX_RULES];
        uint16_t port[FWD_MAX_RULES];
        size_t n;
        unsigned max_conns;
        unsigned idle_ms;          /* 0 = never */
        struct fwd_budget *budget; /* may be NULL */
        int wake;                  /* eventfd: fwd_stop asks the thread to end */
        pthread_t thread;
        pthread_mutex_t mu;
        uint64_t accepted; /* under mu */
        unsigned open;     /* under mu */
        /* Owned by the thread: */
        struct conn **conns;
        size_t n_conns;
};

int fwd_parse_spec(const char *spec, uint16_t *ret_host, uint16_t *ret_guest, struct bg_error *err)
{
        unsigned long v[2];
        int nv = 0;
        const char *p = spec;
        while (nv < 2) {
                char *end;
                if (*p < '0' || *p > '9')
                        break;
                errno = 0;
                v[nv] = strtoul(p, &end, 10);
                if (errno || end - p > 5 || v[nv] > 65535)
                        break;
                nv++;
                p = end;
                if (*p != ':' || nv == 2)
                        break;
                p++;
        }
        if (nv == 0 || *p || (nv == 1 && strchr(spec, ':')))
                return bg_error_set(err, EINVAL, "'%.40s' is not [HOSTPORT:]GUESTPORT", spec);
        uint16_t host = (uint16_t)v[0], guest = (uint16_t)(nv == 2 ? v[1] : v[0]);
        if (guest == 0 || (nv == 1 && host == 0))
                return bg_error_set(err, EINVAL, "'%.40s': the guest port must be 1-65535", spec);
        *ret_host = host;
        *ret_guest = guest;
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Takes one slot of the shared budget, if there is one left. */
static bool budget_take(struct fwd_budget *b)
{
        if (!b)
                return true;
        unsigned u = atomic_load(&b->used);
        while (u < b->max)
                if (atomic_compare_exchange_weak(&b->used, &u, u + 1))
                        return true;
        return false;
}

static bool budget_room(const struct fwd_budget *b)
{
        return !b || atomic_load(&b->used) < b->max;
}

static void conn_close(struct fwd *f, struct conn *c)
{
        if (f->budget)
                atomic_fetch_sub(&f->budget->used, 1);
        pthread_mutex_lock(&f->mu);
        f->open--;
        pthread_mutex_unlock(&f->mu);
        if (c->fd[0] >= 0)
                close(c->fd[0]);
        if (c->fd[1] >= 0)
                close(c->fd[1]);
        free(c);
}

static int listen_on(const struct fwd_rule *r, uint16_t *ret_port, struct bg_error *err)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->listen_port)};
        if (inet_pton(AF_INET, r->listen_addr, &a.sin_addr) != 1)
                return bg_error_set(err, EINVAL, "'%s' is not an IPv4 address", r->listen_addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return bg_error_set(err, errno, "socket: %s", strerror(errno));
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
                int e = errno;
                close(fd);
                return bg_error_set(
                    err, e, "listen on %s:%u: %s%s", r->listen_addr, r->listen_port, strerror(e),
                    e == EADDRINUSE ? " (pick another host port: HOSTPORT:GUESTPORT)" : "");
        }
        socklen_t len = sizeof(a);
        getsockname(fd, (struct sockaddr *)&a, &len);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static void accept_one(struct fwd *f, size_t rule)
{
        if (!budget_take(f->budget))
                return; /* left in the backlog until a slot frees */
        int cfd = accept4(f->lfd[rule], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (f->budget)
                        atomic_fetch_sub(&f->budget->used, 1);
                return;
        }
        struct sockaddr_in t = {.sin_family = AF_INET,
                                .sin_port = htons(f->rules[rule].target_port)};
        inet_pton(AF_INET, f->rules[rule].target_addr, &t.sin_addr);
        int tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct conn *c = calloc(1, sizeof(*c));
        struct conn **nc = c ? realloc(f->conns, (f->n_conns + 1) * sizeof(*nc)) : NULL;
        if (nc)
                f->conns = nc;
        if (tfd < 0 || !c || !nc ||
            (connect(tfd, (struct sockaddr *)&t, sizeof(t)) < 0 && errno != EINPROGRESS)) {
                close(cfd);
                if (tfd >= 0)
                        close(tfd);
                free(c);
                if (f->budget)
                        atomic_fetch_sub(&f->budget->used, 1);
                return;
        }
        c->fd[0] = cfd;
        c->fd[1] = tfd;
        c->connecting = true;
        c->last_ms = now_ms();
        f->conns[f->n_conns++] = c;
        pthread_mutex_lock(&f->mu);
        f->accepted++;
        f->open++;
        pthread_mutex_unlock(&f->mu);
}

/* Moves bytes for side i of c as poll said (rev); false when c is done. */
static bool pump(struct conn *c, int i, short rev)
{
        int o = 1 - i;
        struct pipe_buf *in = &c->to[o]; /* what we read from fd[i] goes to fd[o] */
        struct pipe_buf *out = &c->to[i];
        if (i == 1 && c->connecting) {
                if (!(rev & (POLLOUT | POLLERR | POLLHUP)))
                        return true;
                int e = 0;
                socklen_t l = sizeof(e);
                if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e)
                        return false; /* the guest refused: drop the client */
                c->connecting = false;
                return true;
        }
        if (rev & POLLERR)
                return false; /* reset, unreachable: drop the connection */
        if ((rev & (POLLIN | POLLHUP)) && !in->eof && in->len == 0) {
                ssize_t r = recv(c->fd[i], in->data, sizeof(in->data), 0);
                if (r > 0) {
                        in->len = (size_t)r;
                        in->off = 0;
                        c->last_ms = now_ms();
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                        in->eof = true;
                        if (r < 0)
                                return false;
                }
        }
        if ((rev & POLLOUT) && out->off < out->len) {
                /* MSG_NOSIGNAL: a peer gone away is an error here, not SIGPIPE. */
                ssize_t w = send(c->fd[i], out->data + out->off, out->len - out->off, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return false;
                if (w > 0) {
                        out->off += (size_t)w;
                        c->last_ms = now_ms();
                }
                if (out->off == out->len)
                        out->len = out->off = 0;
        }
        return true;
}

/* Passes a finished direction's EOF on; true when both are finished. */
static bool settle(struct conn *c)
{
        for (int i = 0; i < 2; i++) {
                struct pipe_buf *b = &c->to[i];
                if (b->eof && b->len == 0 && !b->shut && !(i == 1 && c->connecting)) {
                        shutdown(c->fd[i], SHUT_WR);
                        b->shut = true;
                }
        }
        return c->to[0].shut && c->to[1].shut;
}

static void *run(void *arg)
{
        struct fwd *f = arg;
        struct pollfd *pfd = NULL;
        size_t cap = 0;
        for (;;) {
                size_t need = 1 + f->n + 2 * f->n_conns;
                if (need > cap) {
                        struct pollfd *np = realloc(pfd, need * sizeof(*np));
                        if (!np)
                                break;
                        pfd = np;
                        cap = need;
                }
                size_t k = 0;
                pfd[k++] = (struct pollfd){.fd = f->wake, .events = POLLIN};
                bool room = f->n_conns < f->max_conns && budget_room(f->budget);
                /* Blocked on the shared budget: look again in a while (a
                 * slot freed by another fwd wakes nobody here). Idle
                 * connections: wake for the first to expire. */
                int timeout = f->n_conns < f->max_conns && !room ? 200 : -1;
                uint64_t now = now_ms();
                for (size_t i = 0; f->idle_ms && i < f->n_conns; i++) {
                        uint64_t end = f->conns[i]->last_ms + f->idle_ms;
                        int left = end > now ? (int)(end - now) : 0;
                        if (timeout < 0 || left < timeout)
                                timeout = left;
                }
                for (size_t i = 0; i < f->n; i++)
                        pfd[k++] = (struct pollfd){.fd = room ? f->lfd[i] : -1, .events = POLLIN};
                for (size_t i = 0; i < f->n_conns; i++) {
                        struct conn *c = f->conns[i];
                        for (int s = 0; s < 2; s++) {
                                short ev = 0;
                                if (s == 1 && c->connecting)
                                        ev = POLLOUT;
                                else {
                                        if (!c->to[1 - s].eof && c->to[1 - s].len == 0)
                                                ev |= POLLIN;
                                        if (c->to[s].off < c->to[s].len)
                                                ev |= POLLOUT;
                                }
                                pfd[k++] = (struct pollfd){.fd = c->fd[s], .events = ev};
                        }
                }
                if (poll(pfd, k, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents)
                        break;
                /* Connections first (their pollfds are in the current order),
                 * then new ones. */
                size_t w = 0;
                now = now_ms();
                for (size_t i = 0; i < f->n_conns; i++) {
                        struct conn *c = f->conns[i];
                        bool ok = pump(c, 0, pfd[1 + f->n + 2 * i].revents) &&
                                  pump(c, 1, pfd[1 + f->n + 2 * i + 1].revents);
                        bool idle = f->idle_ms && now >= c->last_ms + f->idle_ms;
                        if (!ok || idle || settle(c))
                                conn_close(f, c);
                        else
                                f->conns[w++] = c;
                }
                f->n_conns = w;
                for (size_t i = 0; i < f->n; i++)
                        if (pfd[1 + i].revents & POLLIN)
                                accept_one(f, i);
        }
        free(pfd);
        return NULL;
}

int fwd_start(const struct fwd_rule *rules, size_t n, unsigned max_conns, struct fwd **ret,
              struct bg_error *err)
{
        struct fwd_opts o = {.max_conns = max_conns};
        return fwd_start_opts(rules, n, &o, ret, err);
}

int fwd_start_opts(const struct fwd_rule *rules, size_t n, const struct fwd_opts *opts,
                   struct fwd **ret, struct bg_error *err)
{
        if (n == 0 || n > FWD_MAX_RULES)
                return bg_error_set(err, EINVAL, "between 1 and %d ports", FWD_MAX_RULES);
        struct fwd *f = calloc(1, sizeof(*f));
        if (!f)
                return bg_error_set(err, ENOMEM, "out of memory");
        f->n = n;
        f->max_conns = opts->max_conns ? opts->max_conns : 1;
        f->idle_ms = opts->idle_timeout_ms;
        f->budget = opts->budget;
        f->wake = -1;
        for (size_t i = 0; i < FWD_MAX_RULES; i++)
                f->lfd[i] = -1;
        memcpy(f->rules, rules, n * sizeof(*rules));
        pthread_mutex_init(&f->mu, NULL);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct in_addr t;
                if (inet_pton(AF_INET, rules[i].target_addr, &t) != 1)
                        r = bg_error_set(err, EINVAL, "'%s' is not an IPv4 address",
                                         rules[i].target_addr);
                else if ((r = listen_on(&rules[i], &f->port[i], err)) >= 0)
                        f->lfd[i] = r;
        }
        if (r >= 0 && (f->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
                r = bg_error_set(err, errno, "eventfd: %s", strerror(errno));
        if (r >= 0 && (errno = pthread_create(&f->thread, NULL, run, f)) != 0)
                r = bg_error_set(err, errno, "thread: %s", strerror(errno));
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        if (f->lfd[i] >= 0)
                                close(f->lfd[i]);
                if (f->wake >= 0)
                        close(f->wake);
                pthread_mutex_destroy(&f->mu);
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

uint16_t fwd_port(const struct fwd *f, size_t i)
{
        return i < f->n ? f->port[i] : 0;
}

uint64_t fwd_accepted(struct fwd *f)
{
        pthread_mutex_lock(&f->mu);
        uint64_t n = f->accepted;
        pthread_mutex_unlock(&f->mu);
        return n;
}

unsigned fwd_open_conns(struct fwd *f)
{
        pthread_mutex_lock(&f->mu);
        unsigned n = f->open;
        pthread_mutex_unlock(&f->mu);
        return n;
}

void fwd_stop(struct fwd *f)
{
        if (!f)
                return;
        uint64_t one = 1;
        if (write(f->wake, &one, sizeof(one)) < 0) {
                /* an eventfd write only fails on overflow: the thread is woken */
        }
        pthread_join(f->thread, NULL);
        for (size_t i = 0; i < f->n_conns; i++)
                conn_close(f, f->conns[i]);
        free(f->conns);
        for (size_t i = 0; i < f->n; i++)
                close(f->lfd[i]);
        close(f->wake);
        pthread_mutex_destroy(&f->mu);
        free(f);
}
