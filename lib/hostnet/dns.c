#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "syserr.h"

#define DNS_HEADER_LEN 12
#define DNS_UDP_MAX 512   /* without EDNS */
#define DNS_EDNS_UDP 1232 /* the size we advertise and honour at most */
#define DNS_UDP_BURST 64  /* datagrams handled per wakeup before polling again */
#define DNS_ZONE "vm"

DEFINE_TRIVIAL_CLEANUP_FUNC(ldns_pkt *, ldns_pkt_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ldns_rr *, ldns_rr_free);

void dns_server_config_default(struct dns_server_config *cfg)
{
        *cfg = (struct dns_server_config){
            .addr.s_addr = htonl(INADDR_LOOPBACK),
            .port = DNS_DEFAULT_PORT,
            .ttl = DNS_DEFAULT_TTL,
            .max_tcp = DNS_DEFAULT_MAX_TCP,
            .tcp_timeout_ms = DNS_DEFAULT_TCP_TIMEOUT_MS,
        };
}

/* ---- answering ---------------------------------------------------------- */

/* Header-only reply for packets ldns cannot parse: same id and opcode, QR,
 * the RD bit echoed, no sections. */
static int header_reply(const uint8_t *q, uint8_t rcode, uint8_t **ret, size_t *ret_len)
{
        uint8_t *r = calloc(1, DNS_HEADER_LEN);
        if (!r)
                return -ENOMEM;
        r[0] = q[0];
        r[1] = q[1];
        r[2] = (uint8_t)(0x80 | (q[2] & 0x78) | (q[2] & 0x01)); /* QR, opcode, RD */
        r[3] = rcode & 0x0f;
        *ret = r;
        *ret_len = DNS_HEADER_LEN;
        return 1;
}

/* Splits a wire-format owner name into lowercase labels. Returns the label
 * count (root not counted) or -1 when malformed. */
#define DNS_MAX_LABELS 128
static int split_labels(const ldns_rdf *dname, char labels[][64], int max)
{
        const uint8_t *p = ldns_rdf_data(dname);
        size_t n = ldns_rdf_size(dname), i = 0;
        int count = 0;
        while (i < n) {
                uint8_t l = p[i++];
                if (l == 0)
                        return i == n ? count : -1;
                if (l > 63 || i + l > n || count >= max)
                        return -1;
                for (uint8_t k = 0; k < l; k++) {
                        uint8_t c = p[i + k];
                        labels[count][k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
                }
                labels[count][l] = '\0';
                /* An embedded NUL would make the label compare short: mark it. */
                if (memchr(p + i, 0, l))
                        labels[count][0] = '\x01';
                i += l;
                count++;
        }
        return -1;
}

/* A host label banger can have leased: [a-z0-9-]{1,63}, no leading/trailing
 * hyphen (labels were lowercased already). */
static bool label_is_hostname(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static ldns_rr *make_soa(uint32_t ttl)
{
        char text[160];
        snprintf(text, sizeof(text),
                 DNS_ZONE ". %u IN SOA ns." DNS_ZONE ". hostmaster." DNS_ZONE
                          ". 1 3600 600 86400 %u",
                 ttl, ttl);
        ldns_rr *rr = NULL;
        if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
                return NULL;
        return rr;
}

static ldns_rr *make_a(const ldns_rdf *owner, uint32_t ttl, struct in_addr a)
{
        _cleanup_(ldns_rr_freep) ldns_rr *rr = ldns_rr_new();
        if (!rr)
                return NULL;
        ldns_rdf *o = ldns_rdf_clone(owner);
        ldns_rdf *d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &a.s_addr);
        if (!o || !d) {
                ldns_rdf_deep_free(o);
                ldns_rdf_deep_free(d);
                return NULL;
        }
        ldns_rr_set_owner(rr, o);
        ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
        ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
        ldns_rr_set_ttl(rr, ttl);
        if (!ldns_rr_push_rdf(rr, d)) {
                ldns_rdf_deep_free(d);
                return NULL;
        }
        return TAKE_PTR(rr);
}

static bool push(ldns_pkt *p, ldns_pkt_section s, ldns_rr *rr)
{
        if (!rr)
                return false;
        if (!ldns_pkt_push_rr(p, s, rr)) {
                ldns_rr_free(rr);
                return false;
        }
        return true;
}

int dns_answer(const uint8_t *query, size_t len, uint32_t ttl, dns_lookup_fn lookup, void *userdata,
               uint8_t **ret, size_t *ret_len)
{
        if (!query || len < DNS_HEADER_LEN || (query[2] & 0x80))
                return 0; /* runt or a response: never answer (no reflection loops) */
        uint8_t opcode = (query[2] >> 3) & 0x0f;
        if (opcode != LDNS_PACKET_QUERY)
                return header_reply(query, LDNS_RCODE_NOTIMPL, ret, ret_len);

        _cleanup_(ldns_pkt_freep) ldns_pkt *q = NULL;
        if (ldns_wire2pkt(&q, query, len) != LDNS_STATUS_OK || !q || ldns_pkt_qdcount(q) != 1 ||
            ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1)
                return header_reply(query, LDNS_RCODE_FORMERR, ret, ret_len);

        ldns_rr *qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
        ldns_rdf *qname = ldns_rr_owner(qrr);
        ldns_rr_type qtype = ldns_rr_get_type(qrr);
        ldns_rr_class qclass = ldns_rr_get_class(qrr);
        if (!qname || ldns_rdf_get_type(qname) != LDNS_RDF_TYPE_DNAME)
                return header_reply(query, LDNS_RCODE_FORMERR, ret, ret_len);

        _cleanup_(ldns_pkt_freep) ldns_pkt *p = ldns_pkt_new();
        if (!p)
                return -ENOMEM;
        ldns_pkt_set_id(p, ldns_pkt_id(q));
        ldns_pkt_set_qr(p, true);
        ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
        ldns_pkt_set_rd(p, ldns_pkt_rd(q));
        ldns_pkt_set_cd(p, ldns_pkt_cd(q));
        if (!push(p, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr)))
                return -ENOMEM;
        if (ldns_pkt_edns(q))
                ldns_pkt_set_edns_udp_size(p, DNS_EDNS_UDP);

        char lab[DNS_MAX_LABELS][64];
        int nl = split_labels(qname, lab, DNS_MAX_LABELS);
        if (nl < 0)
                return header_reply(query, LDNS_RCODE_FORMERR, ret, ret_len);

        uint8_t rcode = LDNS_RCODE_NOERROR;
        bool in_zone = nl >= 1 && streq(lab[nl - 1], DNS_ZONE);
        if (!in_zone || (qclass != LDNS_RR_CLASS_IN && qclass != LDNS_RR_CLASS_ANY) ||
            qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR) {
                rcode = LDNS_RCODE_REFUSED;
        } else {
                ldns_pkt_set_aa(p, true);
                if (nl == 1) { /* the apex: only the SOA exists */
                        if (qtype == LDNS_RR_TYPE_SOA || qtype == LDNS_RR_TYPE_ANY) {
                                if (!push(p, LDNS_SECTION_ANSWER, make_soa(ttl)))
                                        return -ENOMEM;
                        } else if (!push(p, LDNS_SECTION_AUTHORITY, make_soa(ttl))) {
                                return -ENOMEM;
                        }
                } else {
                        struct in_addr a;
                        int found = 0;
                        if (nl == 2 && label_is_hostname(lab[0]))
                                found = lookup ? lookup(userdata, lab[0], &a) : 0;
                        if (found < 0) {
                                rcode = LDNS_RCODE_SERVFAIL;
                                ldns_pkt_set_aa(p, false);
                        } else if (found == 0) {
                                rcode = LDNS_RCODE_NXDOMAIN;
                                if (!push(p, LDNS_SECTION_AUTHORITY, make_soa(ttl)))
                                        return -ENOMEM;
                        } else if (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY) {
                                if (!push(p, LDNS_SECTION_ANSWER, make_a(qname, ttl, a)))
                                        return -ENOMEM;
                        } else if (!push(p, LDNS_SECTION_AUTHORITY, make_soa(ttl))) {
                                return -ENOMEM; /* NODATA: AAAA and other types */
                        }
                }
        }
        ldns_pkt_set_rcode(p, rcode);

        uint8_t *wire = NULL;
        size_t wlen = 0;
        if (ldns_pkt2wire(&wire, p, &wlen) != LDNS_STATUS_OK || !wire) {
                free(wire);
                return -ENOMEM;
        }
        *ret = wire;
        *ret_len = wlen;
        return 1;
}

/* ---- server ------------------------------------------------------------- */

struct tcp_conn {
        int fd; /* -1: slot free */
        uint8_t lenbuf[2];
        size_t got;   /* bytes of lenbuf, then of msg */
        uint8_t *msg; /* query being read (need bytes) */
        size_t need;
        uint8_t *out; /* response being written, with length prefix */
        size_t out_len, out_off;
        uint64_t deadline_ms;
};

struct dns_server {
        struct dns_server_config cfg;
        int udp_fd, tcp_fd, stop_fd;
        uint16_t port;
        pthread_t thread;
        bool thread_started;
        struct tcp_conn *conns; /* cfg.max_tcp slots */
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_close(struct tcp_conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        free(c->msg);
        free(c->out);
        *c = (struct tcp_conn){.fd = -1};
}

/* Largest UDP reply the client accepts (EDNS advertised size, capped). */
static size_t udp_limit(const uint8_t *q, size_t qlen)
{
        ldns_pkt *p = NULL;
        size_t lim = DNS_UDP_MAX;
        if (ldns_wire2pkt(&p, q, qlen) == LDNS_STATUS_OK && p && ldns_pkt_edns(p)) {
                size_t s = ldns_pkt_edns_udp_size(p);
                lim = s < DNS_UDP_MAX ? DNS_UDP_MAX : (s > DNS_EDNS_UDP ? DNS_EDNS_UDP : s);
        }
        ldns_pkt_free(p);
        return lim;
}

static void handle_udp(struct dns_server *s)
{
        uint8_t buf[65536];
        for (int i = 0; i < DNS_UDP_BURST; i++) {
                struct sockaddr_in from;
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(s->udp_fd, buf, sizeof(buf), MSG_DONTWAIT,
                                     (struct sockaddr *)&from, &fl);
                if (n < 0)
                        return; /* EAGAIN or a transient error: back to poll */
                uint8_t *resp = NULL;
                size_t rlen = 0;
                if (dns_answer(buf, (size_t)n, s->cfg.ttl, s->cfg.lookup, s->cfg.userdata, &resp,
                               &rlen) <= 0)
                        continue;
                if (rlen > udp_limit(buf, (size_t)n)) {
                        /* Too big for UDP: header only with TC, client retries on TCP. */
                        rlen = DNS_HEADER_LEN;
                        resp[2] |= 0x02;
                        memset(resp + 4, 0, 8);
                }
                (void)sendto(s->udp_fd, resp, rlen, MSG_DONTWAIT | MSG_NOSIGNAL,
                             (struct sockaddr *)&from, fl);
                free(resp);
        }
}

static void handle_accept(struct dns_server *s)
{
        for (;;) {
                int fd = accept4(s->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                struct tcp_conn *slot = NULL;
                for (unsigned i = 0; i < s->cfg.max_tcp; i++)
                        if (s->conns[i].fd < 0) {
                                slot = &s->conns[i];
                                break;
                        }
                if (!slot) {
                        close(fd); /* bounded: over the limit, refuse at once */
                        continue;
                }
                *slot =
                    (struct tcp_conn){.fd = fd, .deadline_ms = now_ms() + s->cfg.tcp_timeout_ms};
        }
}

/* Reads what is available; when a query is complete, prepares the reply.
 * Returns false when the connection must be closed. */
static bool conn_read(struct dns_server *s, struct tcp_conn *c)
{
        for (;;) {
                uint8_t *dst;
                size_t want;
                if (c->got < 2) {
                        dst = c->lenbuf + c->got;
                        want = 2 - c->got;
                } else {
                        dst = c->msg + (c->got - 2);
                        want = c->need - (c->got - 2);
                }
                ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
                if (n == 0)
                        return false;
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
                c->got += (size_t)n;
                if (c->got == 2) {
                        c->need = ((size_t)c->lenbuf[0] << 8) | c->lenbuf[1];
                        if (c->need == 0)
                                return false;
                        c->msg = malloc(c->need);
                        if (!c->msg)
                                return false;
                }
                if (c->got >= 2 && c->msg && c->got - 2 == c->need)
                        break;
        }
        uint8_t *resp = NULL;
        size_t rlen = 0;
        int r =
            dns_answer(c->msg, c->need, s->cfg.ttl, s->cfg.lookup, s->cfg.userdata, &resp, &rlen);
        free(c->msg);
        c->msg = NULL;
        c->got = c->need = 0;
        if (r <= 0 || rlen > 65535) {
                free(resp);
                return false;
        }
        c->out = malloc(rlen + 2);
        if (!c->out) {
                free(resp);
                return false;
        }
        c->out[0] = (uint8_t)(rlen >> 8);
        c->out[1] = (uint8_t)rlen;
        memcpy(c->out + 2, resp, rlen);
        free(resp);
        c->out_len = rlen + 2;
        c->out_off = 0;
        return true;
}

static bool conn_write(struct dns_server *s, struct tcp_conn *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
                c->out_off += (size_t)n;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        c->deadline_ms = now_ms() + s->cfg.tcp_timeout_ms; /* a query served: idle again */
        return true;
}

static void *server_thread(void *arg)
{
        struct dns_server *s = arg;
        size_t nfds = 3 + s->cfg.max_tcp;
        struct pollfd *pfd = calloc(nfds, sizeof(*pfd));
        struct tcp_conn **map = calloc(nfds, sizeof(*map));
        if (!pfd || !map) {
                /* Without memory there is nothing to serve with: wait for stop. */
                struct pollfd st = {.fd = s->stop_fd, .events = POLLIN};
                while (poll(&st, 1, -1) < 0 && errno == EINTR)
                        ;
                free(pfd);
                free(map);
                return NULL;
        }
        for (;;) {
                size_t n = 0;
                pfd[n++] = (struct pollfd){.fd = s->stop_fd, .events = POLLIN};
                pfd[n++] = (struct pollfd){.fd = s->udp_fd, .events = POLLIN};
                pfd[n++] = (struct pollfd){.fd = s->tcp_fd, .events = POLLIN};
                uint64_t now = now_ms(), next = UINT64_MAX;
                for (unsigned i = 0; i < s->cfg.max_tcp; i++) {
                        struct tcp_conn *c = &s->conns[i];
                        if (c->fd < 0)
                                continue;
                        if (c->deadline_ms <= now) {
                                conn_close(c); /* idle or too slow */
                                continue;
                        }
                        if (c->deadline_ms < next)
                                next = c->deadline_ms;
                        map[n] = c;
                        pfd[n++] =
                            (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
                }
                int timeout = next == UINT64_MAX ? -1 : (int)(next - now);
                int r = poll(pfd, n, timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents)
                        break;
                if (pfd[1].revents & POLLIN)
                        handle_udp(s);
                for (size_t i = 3; i < n; i++) {
                        struct tcp_conn *c = map[i];
                        if (!pfd[i].revents)
                                continue;
                        bool ok;
                        if (pfd[i].revents & (POLLERR | POLLNVAL))
                                ok = false;
                        else if (c->out)
                                ok = conn_write(s, c);
                        else
                                ok = conn_read(s, c) && (!c->out || conn_write(s, c));
                        if (!ok)
                                conn_close(c);
                }
                if (pfd[2].revents & POLLIN)
                        handle_accept(s);
        }
        free(pfd);
        free(map);
        return NULL;
}

static void server_free(struct dns_server *s)
{
        if (!s)
                return;
        if (s->conns)
                for (unsigned i = 0; i < s->cfg.max_tcp; i++)
                        conn_close(&s->conns[i]);
        free(s->conns);
        if (s->udp_fd >= 0)
                close(s->udp_fd);
        if (s->tcp_fd >= 0)
                close(s->tcp_fd);
        if (s->stop_fd >= 0)
                close(s->stop_fd);
        free(s);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dns_server *, server_free);

static int bind_sockets(struct dns_server *s, struct bg_error *err)
{
        char abuf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &s->cfg.addr, abuf, sizeof(abuf));
        /* With port 0 the UDP port is picked first; TCP may find it taken. */
        for (int attempt = 0; attempt < 8; attempt++) {
                struct sockaddr_in sa = {
                    .sin_family = AF_INET, .sin_addr = s->cfg.addr, .sin_port = htons(s->cfg.port)};
                _cleanup_close_ int u =
                    socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                _cleanup_close_ int t =
                    socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (u < 0 || t < 0)
                        return syserr(err, -errno, "DNS socket");
                int one = 1;
                (void)setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(u, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return syserr(err, -errno, "DNS: bind udp %s:%u", abuf,
                                      (unsigned)s->cfg.port);
                socklen_t sl = sizeof(sa);
                if (getsockname(u, (struct sockaddr *)&sa, &sl) < 0)
                        return syserr(err, -errno, "DNS: getsockname");
                if (bind(t, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                        int e = errno;
                        if (e == EADDRINUSE && s->cfg.port == 0)
                                continue;
                        return syserr(err, -e, "DNS: bind tcp %s:%u", abuf,
                                      (unsigned)ntohs(sa.sin_port));
                }
                if (listen(t, 64) < 0)
                        return syserr(err, -errno, "DNS: listen");
                s->port = ntohs(sa.sin_port);
                s->udp_fd = TAKE_FD(u);
                s->tcp_fd = TAKE_FD(t);
                return 0;
        }
        return bg_error_set(err, EADDRINUSE, "DNS: no free port on %s for both UDP and TCP", abuf);
}

/* Safe as root: binds only the configured address and port; untrusted
 * packets are parsed by ldns within their received length, answers are built
 * from the caller's lookup only, nothing is executed or written to disk, and
 * TCP clients are bounded in number, size (one 64 KiB message at a time) and
 * idle time. */
int dns_server_start(const struct dns_server_config *cfg, struct dns_server **ret,
                     struct bg_error *err)
{
        if (!cfg || !cfg->lookup)
                return bg_error_set(err, EINVAL, "DNS server needs a lookup function");
        _cleanup_(server_freep) struct dns_server *s = calloc(1, sizeof(*s));
        if (!s)
                return bg_error_set(err, ENOMEM, "out of memory");
        s->udp_fd = s->tcp_fd = s->stop_fd = -1;
        s->cfg = *cfg;
        if (s->cfg.ttl == 0)
                s->cfg.ttl = DNS_DEFAULT_TTL;
        if (s->cfg.max_tcp == 0)
                s->cfg.max_tcp = DNS_DEFAULT_MAX_TCP;
        if (s->cfg.tcp_timeout_ms == 0)
                s->cfg.tcp_timeout_ms = DNS_DEFAULT_TCP_TIMEOUT_MS;
        s->conns = calloc(s->cfg.max_tcp, sizeof(*s->conns));
        if (!s->conns)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (unsigned i = 0; i < s->cfg.max_tcp; i++)
                s->conns[i].fd = -1;
        s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->stop_fd < 0)
                return syserr(err, -errno, "DNS: eventfd");
        int r = bind_sockets(s, err);
        if (r < 0)
                return r;
        r = pthread_create(&s->thread, NULL, server_thread, s);
        if (r != 0)
                return syserr(err, -r, "DNS: start thread");
        s->thread_started = true;
        *ret = TAKE_PTR(s);
        return 0;
}

uint16_t dns_server_port(const struct dns_server *s)
{
        return s->port;
}

struct dns_server *dns_server_stop(struct dns_server *s)
{
        if (!s)
                return NULL;
        if (s->thread_started) {
                uint64_t one = 1;
                while (write(s->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
                        ;
                pthread_join(s->thread, NULL);
        }
        server_free(s);
        return NULL;
}
