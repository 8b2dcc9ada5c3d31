/* The authoritative DNS server for banger's `.vm` zone.
 *
 * Answers `<name>.vm` A queries from a caller-supplied lookup (the leases),
 * NXDOMAIN with AA and the zone SOA for unknown `.vm` names, NODATA (AA, SOA)
 * for other types of known names (AAAA included), REFUSED for anything
 * outside `.vm`, FORMERR for packets that do not parse, NOTIMP for opcodes
 * other than QUERY. Wire format via ldns. Responses (QR set) and packets
 * shorter than a DNS header are dropped, never answered.
 *
 * The server runs on its own thread over one UDP and one TCP socket on the
 * same address and port; TCP connections are bounded in number and by an
 * idle timeout. dns_server_stop() wakes the thread (eventfd) and joins it. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define DNS_DEFAULT_PORT 42069
#define DNS_DEFAULT_TTL 5
#define DNS_DEFAULT_MAX_TCP 16
#define DNS_DEFAULT_TCP_TIMEOUT_MS 5000

/* Looks up `name` (one DNS label, lowercase, without ".vm"). Returns 1 and
 * writes *ret when known, 0 when unknown, < 0 on failure (SERVFAIL). Called
 * on the server thread, so it must be thread-safe with respect to whatever
 * the caller does concurrently. */
typedef int (*dns_lookup_fn)(void *userdata, const char *name, struct in_addr *ret);

struct dns_server_config {
        struct in_addr addr;     /* listen address */
        uint16_t port;           /* 0: pick a free port (see dns_server_port) */
        uint32_t ttl;            /* of answers and of the SOA (negative caching) */
        unsigned max_tcp;        /* concurrent TCP connections; more are closed */
        unsigned tcp_timeout_ms; /* a TCP connection idle this long is closed */
        dns_lookup_fn lookup;
        void *userdata;
};

/* 127.0.0.1:42069, TTL 5, 16 TCP connections, 5 s TCP timeout, no lookup. */
void dns_server_config_default(struct dns_server_config *cfg);

struct dns_server;

/* Binds UDP and TCP and starts the thread. cfg is copied; cfg->lookup is
 * required. */
int dns_server_start(const struct dns_server_config *cfg, struct dns_server **ret,
                     struct bg_error *err);

/* The bound port (useful with cfg.port = 0). */
uint16_t dns_server_port(const struct dns_server *s);

/* Stops the thread, closes every socket and frees s. Accepts NULL; returns
 * NULL. */
struct dns_server *dns_server_stop(struct dns_server *s);

/* Answers one query in wire format (the transport-independent core, exposed
 * for tests). Returns 1 with *ret (malloc'd, caller frees) and *ret_len set,
 * 0 when the packet must be dropped without answer, -ENOMEM on allocation
 * failure. Never reads outside query[0..len). */
int dns_answer(const uint8_t *query, size_t len, uint32_t ttl, dns_lookup_fn lookup, void *userdata,
               uint8_t **ret, size_t *ret_len);
