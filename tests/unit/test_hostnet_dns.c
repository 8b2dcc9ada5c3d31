/* The `.vm` DNS server of lib/hostnet: answers (in-process), malformed and
 * random input, and the live UDP/TCP server with its bounds and timeouts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "hostnet/dns.h"
#include "util/timeutil.h"

static int lookup(void *ud, const char *name, struct in_addr *ret)
{
        int *calls = ud;
        if (calls)
                (*calls)++;
        if (strcmp(name, "web") == 0)
                return inet_pton(AF_INET, "172.30.0.2", ret) == 1 ? 1 : -EINVAL;
        if (strcmp(name, "db-1") == 0)
                return inet_pton(AF_INET, "172.30.0.3", ret) == 1 ? 1 : -EINVAL;
        if (strcmp(name, "broken") == 0)
                return -EIO;
        return 0;
}

/* A query in wire format; *len set. flags e.g. LDNS_RD. */
static uint8_t *make_query(const char *name, ldns_rr_type type, ldns_rr_class cls, uint16_t id,
                           bool edns, size_t *len)
{
        ldns_rdf *dn = ldns_dname_new_frm_str(name);
        assert_non_null(dn);
        ldns_pkt *q = ldns_pkt_query_new(dn, type, cls, LDNS_RD);
        assert_non_null(q);
        ldns_pkt_set_id(q, id);
        if (edns)
                ldns_pkt_set_edns_udp_size(q, 4096);
        uint8_t *wire = NULL;
        assert_int_equal(ldns_pkt2wire(&wire, q, len), LDNS_STATUS_OK);
        ldns_pkt_free(q);
        return wire;
}

/* Answers a query in-process and parses the reply. */
static ldns_pkt *ask(const char *name, ldns_rr_type type, ldns_rr_class cls, int *calls)
{
        size_t qlen;
        uint8_t *q = make_query(name, type, cls, 0x1234, false, &qlen);
        uint8_t *r = NULL;
        size_t rlen = 0;
        assert_int_equal(dns_answer(q, qlen, 5, lookup, calls, &r, &rlen), 1);
        ldns_pkt *p = NULL;
        assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
        assert_int_equal(ldns_pkt_id(p), 0x1234);
        assert_true(ldns_pkt_qr(p));
        assert_true(ldns_pkt_rd(p));
        assert_false(ldns_pkt_ra(p));
        free(q);
        free(r);
        return p;
}

static void assert_a(ldns_pkt *p, const char *ip)
{
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_true(ldns_pkt_aa(p));
        assert_int_equal(ldns_pkt_ancount(p), 1);
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
        assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
        assert_int_equal(ldns_rr_ttl(rr), 5);
        char *s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        assert_string_equal(s, ip);
        free(s);
}

static void assert_soa_authority(ldns_pkt *p)
{
        assert_int_equal(ldns_pkt_nscount(p), 1);
        ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
        assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
        char *owner = ldns_rdf2str(ldns_rr_owner(soa));
        assert_string_equal(owner, "vm.");
        free(owner);
        assert_int_equal(ldns_rr_ttl(soa), 5);
}

static void test_known_a(void **state)
{
        int calls = 0;
        ldns_pkt *p = ask("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, &calls);
        assert_a(p, "172.30.0.2");
        assert_int_equal(calls, 1);
        ldns_pkt_free(p);
        /* Case-insensitive; the owner keeps the query's case. */
        p = ask("DB-1.Vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, NULL);
        assert_a(p, "172.30.0.3");
        ldns_pkt_free(p);
        p = ask("web.vm.", LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_IN, NULL);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);
}

static void test_nxdomain(void **state)
{
        int calls = 0;
        ldns_pkt *p = ask("nope.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, &calls);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
        assert_true(ldns_pkt_aa(p));
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_soa_authority(p);
        assert_int_equal(calls, 1);
        ldns_pkt_free(p);
        /* Deeper names and labels banger never leases are not even looked up. */
        const char *names[] = {"a.web.vm.", "-bad.vm.", "under_score.vm.", "x\\032y.vm."};
        for (size_t i = 0; i < 4; i++) {
                calls = 0;
                p = ask(names[i], LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, &calls);
                assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
                assert_true(ldns_pkt_aa(p));
                assert_soa_authority(p);
                assert_int_equal(calls, 0);
                ldns_pkt_free(p);
        }
}

static void test_nodata(void **state)
{
        ldns_pkt *p = ask("web.vm.", LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_true(ldns_pkt_aa(p));
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_soa_authority(p);
        ldns_pkt_free(p);
        p = ask("web.vm.", LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_soa_authority(p);
        ldns_pkt_free(p);
        /* The apex: SOA on request, NODATA otherwise. */
        p = ask("vm.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_int_equal(ldns_pkt_ancount(p), 1);
        assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), 0)),
                         LDNS_RR_TYPE_SOA);
        ldns_pkt_free(p);
        p = ask("vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        assert_int_equal(ldns_pkt_ancount(p), 0);
        assert_soa_authority(p);
        ldns_pkt_free(p);
}

static void test_refused(void **state)
{
        const char *names[] = {"example.com.", "vm.example.com.", "web.vmx.", "."};
        for (size_t i = 0; i < 4; i++) {
                int calls = 0;
                ldns_pkt *p = ask(names[i], LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, &calls);
                assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
                assert_false(ldns_pkt_aa(p));
                assert_int_equal(ldns_pkt_ancount(p), 0);
                assert_int_equal(calls, 0);
                ldns_pkt_free(p);
        }
        ldns_pkt *p = ask("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        ldns_pkt_free(p);
        p = ask("vm.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        ldns_pkt_free(p);
        /* A lookup failure is SERVFAIL, not a lie. */
        p = ask("broken.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, NULL);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
        assert_false(ldns_pkt_aa(p));
        ldns_pkt_free(p);
}

static void test_edns_echo(void **state)
{
        size_t qlen;
        uint8_t *q = make_query("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 7, true, &qlen);
        uint8_t *r = NULL;
        size_t rlen;
        assert_int_equal(dns_answer(q, qlen, 5, lookup, NULL, &r, &rlen), 1);
        ldns_pkt *p = NULL;
        assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
        assert_true(ldns_pkt_edns(p));
        assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);
        free(q);
        free(r);
}

static void test_malformed(void **state)
{
        uint8_t *r = NULL;
        size_t rlen = 0;
        size_t qlen;
        uint8_t *q = make_query("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0xbeef, false, &qlen);

        /* Runts and responses are dropped. */
        assert_int_equal(dns_answer(q, 11, 5, lookup, NULL, &r, &rlen), 0);
        assert_int_equal(dns_answer(NULL, 0, 5, lookup, NULL, &r, &rlen), 0);
        q[2] |= 0x80;
        assert_int_equal(dns_answer(q, qlen, 5, lookup, NULL, &r, &rlen), 0);
        q[2] &= 0x7f;

        /* Truncated question: FORMERR with the id. */
        for (size_t cut = 12; cut < qlen; cut++) {
                assert_int_equal(dns_answer(q, cut, 5, lookup, NULL, &r, &rlen), 1);
                assert_true(rlen >= 12);
                assert_int_equal(r[0], 0xbe);
                assert_int_equal(r[1], 0xef);
                assert_true(r[2] & 0x80);
                assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
                free(r);
        }
        /* Two questions announced: FORMERR. */
        uint8_t *q2 = malloc(qlen);
        memcpy(q2, q, qlen);
        q2[5] = 2;
        assert_int_equal(dns_answer(q2, qlen, 5, lookup, NULL, &r, &rlen), 1);
        assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
        free(r);
        /* No question: FORMERR. */
        q2[5] = 0;
        assert_int_equal(dns_answer(q2, 12, 5, lookup, NULL, &r, &rlen), 1);
        assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
        free(r);
        /* Opcode NOTIFY (4): NOTIMP. */
        memcpy(q2, q, qlen);
        q2[2] = (uint8_t)((q2[2] & 0x87) | (4 << 3));
        assert_int_equal(dns_answer(q2, qlen, 5, lookup, NULL, &r, &rlen), 1);
        assert_int_equal(r[3] & 0x0f, LDNS_RCODE_NOTIMPL);
        assert_int_equal((r[2] >> 3) & 0x0f, 4);
        free(r);
        /* A compression pointer looping onto itself. */
        uint8_t loop[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
        assert_int_equal(dns_answer(loop, sizeof(loop), 5, lookup, NULL, &r, &rlen), 1);
        assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
        free(r);
        free(q2);
        free(q);
}

/* Random bytes and mutated queries: never a crash, and every reply parses
 * and carries the query's id. Deterministic seed. */
static void test_fuzz(void **state)
{
        srandom(12345);
        size_t qlen;
        uint8_t *base =
            make_query("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0x4242, true, &qlen);
        uint8_t buf[600];
        unsigned answered = 0;
        for (int i = 0; i < 60000; i++) {
                size_t len;
                if (i % 2 == 0) {
                        len = (size_t)(random() % sizeof(buf));
                        for (size_t k = 0; k < len; k++)
                                buf[k] = (uint8_t)random();
                } else {
                        len = qlen;
                        memcpy(buf, base, qlen);
                        int flips = 1 + (int)(random() % 4);
                        for (int f = 0; f < flips; f++)
                                buf[random() % qlen] ^= (uint8_t)(1u << (random() % 8));
                        if (random() % 4 == 0)
                                len = (size_t)(random() % (qlen + 1));
                }
                uint8_t *r = NULL;
                size_t rlen = 0;
                int ret = dns_answer(buf, len, 5, lookup, NULL, &r, &rlen);
                assert_true(ret == 0 || ret == 1);
                if (ret == 1) {
                        answered++;
                        assert_true(rlen >= 12);
                        assert_memory_equal(r, buf, 2);
                        assert_true(r[2] & 0x80);
                        ldns_pkt *p = NULL;
                        assert_int_equal(ldns_wire2pkt(&p, r, rlen), LDNS_STATUS_OK);
                        ldns_pkt_free(p);
                        free(r);
                }
        }
        assert_true(answered > 1000);
        free(base);
}

/* ---- live server ---- */

static struct dns_server *start(unsigned max_tcp, unsigned timeout_ms, int *calls)
{
        struct dns_server_config cfg;
        dns_server_config_default(&cfg);
        assert_int_equal(cfg.port, 42069);
        assert_int_equal(cfg.addr.s_addr, htonl(INADDR_LOOPBACK));
        cfg.port = 0;
        cfg.lookup = lookup;
        cfg.userdata = calls;
        if (max_tcp)
                cfg.max_tcp = max_tcp;
        if (timeout_ms)
                cfg.tcp_timeout_ms = timeout_ms;
        struct dns_server *s = NULL;
        struct bg_error err = {0};
        assert_int_equal(dns_server_start(&cfg, &s, &err), 0);
        assert_non_null(s);
        assert_true(dns_server_port(s) != 0);
        return s;
}

static struct sockaddr_in server_addr(struct dns_server *s)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(dns_server_port(s))};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sa;
}

static ldns_pkt *udp_ask(struct dns_server *s, const uint8_t *q, size_t qlen)
{
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = server_addr(s);
        assert_int_equal(sendto(fd, q, qlen, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)qlen);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 2000), 1);
        uint8_t buf[2048];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        assert_true(n > 0);
        close(fd);
        ldns_pkt *pkt = NULL;
        assert_int_equal(ldns_wire2pkt(&pkt, buf, (size_t)n), LDNS_STATUS_OK);
        return pkt;
}

static int tcp_connect(struct dns_server *s)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = server_addr(s);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static void tcp_send(int fd, const uint8_t *q, size_t qlen)
{
        uint8_t lb[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
        assert_int_equal(send(fd, lb, 2, MSG_NOSIGNAL), 2);
        assert_int_equal(send(fd, q, qlen, MSG_NOSIGNAL), (ssize_t)qlen);
}

/* Reads exactly n bytes within timeout; returns bytes read (0 on EOF). */
static size_t read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
        size_t got = 0;
        while (got < n) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, timeout_ms) != 1)
                        break;
                ssize_t r = recv(fd, buf + got, n - got, 0);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        return got;
}

static ldns_pkt *tcp_recv(int fd)
{
        uint8_t lb[2];
        assert_int_equal(read_full(fd, lb, 2, 2000), 2);
        size_t len = ((size_t)lb[0] << 8) | lb[1];
        uint8_t *buf = malloc(len);
        assert_int_equal(read_full(fd, buf, len, 2000), len);
        ldns_pkt *pkt = NULL;
        assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
        free(buf);
        return pkt;
}

/* True when the server closed fd (EOF within timeout). */
static bool closed_by_peer(int fd, int timeout_ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1)
                return false;
        uint8_t b;
        return recv(fd, &b, 1, 0) <= 0;
}

static void test_server_udp_tcp(void **state)
{
        struct dns_server *s = start(0, 0, NULL);
        size_t qlen;
        uint8_t *q = make_query("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 99, true, &qlen);
        ldns_pkt *p = udp_ask(s, q, qlen);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);

        /* TCP, two pipelined queries on one connection. */
        size_t q2len;
        uint8_t *q2 = make_query("nope.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 100, false, &q2len);
        int fd = tcp_connect(s);
        tcp_send(fd, q, qlen);
        tcp_send(fd, q2, q2len);
        p = tcp_recv(fd);
        assert_int_equal(ldns_pkt_id(p), 99);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);
        p = tcp_recv(fd);
        assert_int_equal(ldns_pkt_id(p), 100);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
        assert_true(ldns_pkt_aa(p));
        ldns_pkt_free(p);
        close(fd);

        /* Over UDP, refused outside .vm. */
        size_t q3len;
        uint8_t *q3 =
            make_query("example.com.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 101, false, &q3len);
        p = udp_ask(s, q3, q3len);
        assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
        ldns_pkt_free(p);

        uint16_t port = dns_server_port(s);
        assert_null(dns_server_stop(s));
        /* Stopped means the port is free again, TCP and UDP. */
        int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        assert_int_equal(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(bind(t, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(u);
        close(t);
        free(q);
        free(q2);
        free(q3);
}

static void test_server_garbage(void **state)
{
        /* Room for every junk connection below plus the real one: the bound
         * itself is tested in test_server_bounds. */
        struct dns_server *s = start(32, 0, NULL);
        srandom(777);
        struct sockaddr_in sa = server_addr(s);
        int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        uint8_t buf[1500];
        for (int i = 0; i < 2000; i++) {
                size_t len = (size_t)(random() % sizeof(buf));
                for (size_t k = 0; k < len; k++)
                        buf[k] = (uint8_t)random();
                (void)sendto(u, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa));
        }
        close(u);
        for (int i = 0; i < 20; i++) {
                int fd = tcp_connect(s);
                size_t len = (size_t)(random() % sizeof(buf));
                for (size_t k = 0; k < len; k++)
                        buf[k] = (uint8_t)random();
                (void)send(fd, buf, len, MSG_NOSIGNAL);
                close(fd);
        }
        /* Junk with a valid length prefix gets a FORMERR, the connection stays usable. */
        int fd = tcp_connect(s);
        uint8_t junk[20] = {0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0xff, 0xff};
        tcp_send(fd, junk, sizeof(junk));
        uint8_t lb[2], resp[12];
        assert_int_equal(read_full(fd, lb, 2, 2000), 2);
        assert_int_equal(((size_t)lb[0] << 8) | lb[1], 12);
        assert_int_equal(read_full(fd, resp, 12, 2000), 12);
        assert_int_equal(resp[0], 0xab);
        assert_int_equal(resp[3] & 0x0f, LDNS_RCODE_FORMERR);
        size_t qlen;
        uint8_t *q = make_query("db-1.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 5, false, &qlen);
        tcp_send(fd, q, qlen);
        ldns_pkt *p = tcp_recv(fd);
        assert_a(p, "172.30.0.3");
        ldns_pkt_free(p);
        close(fd);
        /* Still alive over UDP. */
        p = udp_ask(s, q, qlen);
        assert_a(p, "172.30.0.3");
        ldns_pkt_free(p);
        free(q);
        dns_server_stop(s);
}

static void test_server_bounds(void **state)
{
        struct dns_server *s = start(2, 300, NULL);
        int a = tcp_connect(s), b = tcp_connect(s);
        /* Let the server accept both before the third arrives. */
        sleep_msec(50);
        int c = tcp_connect(s);
        assert_true(closed_by_peer(c, 1000)); /* over the bound: closed at once */
        close(c);
        size_t qlen;
        uint8_t *q = make_query("web.vm.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 1, false, &qlen);
        tcp_send(a, q, qlen);
        ldns_pkt *p = tcp_recv(a);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);
        /* Idle connections are closed after the timeout; a half-sent query too. */
        uint8_t half[3] = {0, 40, 0};
        assert_int_equal(send(b, half, 3, MSG_NOSIGNAL), 3);
        assert_true(closed_by_peer(b, 2000));
        assert_true(closed_by_peer(a, 2000));
        close(a);
        close(b);
        /* Slots are free again. */
        int d = tcp_connect(s);
        tcp_send(d, q, qlen);
        p = tcp_recv(d);
        assert_a(p, "172.30.0.2");
        ldns_pkt_free(p);
        close(d);
        free(q);
        dns_server_stop(s);
}

static void test_server_refusals(void **state)
{
        struct dns_server_config cfg;
        dns_server_config_default(&cfg);
        struct dns_server *s = NULL;
        struct bg_error err = {0};
        assert_int_equal(dns_server_start(&cfg, &s, &err), -EINVAL); /* no lookup */
        assert_null(s);
        /* A port in use is reported with the address. */
        struct dns_server *first = start(0, 0, NULL);
        cfg.lookup = lookup;
        cfg.port = dns_server_port(first);
        int r = dns_server_start(&cfg, &s, &err);
        assert_int_equal(r, -EADDRINUSE);
        assert_non_null(strstr(err.msg, "127.0.0.1"));
        dns_server_stop(first);
        assert_null(dns_server_stop(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_known_a),
            cmocka_unit_test(test_nxdomain),
            cmocka_unit_test(test_nodata),
            cmocka_unit_test(test_refused),
            cmocka_unit_test(test_edns_echo),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_fuzz),
            cmocka_unit_test(test_server_udp_tcp),
            cmocka_unit_test(test_server_garbage),
            cmocka_unit_test(test_server_bounds),
            cmocka_unit_test(test_server_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
