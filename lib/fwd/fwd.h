/* TCP port forwarding: listeners on the host, each connection accepted
 * there relayed to a target address and port (a guest's, over the bridge).
 * One thread runs every listener and connection with poll(); buffers are
 * bounded (64 KiB per direction) and so is the number of connections open
 * at once: a listener stops accepting at the cap until one closes. A
 * half-close on one side is passed on to the other (shutdown), so request/
 * response protocols that end a request with EOF work. Used by `banger vm
 * forward`. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FWD_MAX_RULES 32

struct fwd_rule {
        char listen_addr[16]; /* IPv4, "127.0.0.1" */
        uint16_t listen_port; /* 0 = any free port (fwd_port says which) */
        char target_addr[16]; /* IPv4 */
        uint16_t target_port;
};

struct fwd;

/* Binds every rule's listener (all or none: a port in use fails naming it)
 * and starts relaying. max_conns caps the connections open at once over all
 * rules (>= 1). *ret is freed by fwd_stop. */
int fwd_start(const struct fwd_rule *rules, size_t n, unsigned max_conns, struct fwd **ret,
              struct bg_error *err);
/* The port rule i listens on. */
uint16_t fwd_port(const struct fwd *f, size_t i);
/* Connections accepted so far (for tests and messages). */
uint64_t fwd_accepted(struct fwd *f);
/* Closes the listeners and every connection and frees f. NULL is fine. */
void fwd_stop(struct fwd *f);

/* "[HOSTPORT:]GUESTPORT" (1-65535 each; HOSTPORT defaults to GUESTPORT,
 * 0 = any free port). */
int fwd_parse_spec(const char *spec, uint16_t *ret_host, uint16_t *ret_guest, struct bg_error *err);
