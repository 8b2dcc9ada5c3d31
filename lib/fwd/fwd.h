/* TCP port forwarding: listeners on the host, each connection accepted
 * there relayed to a target address and port (a guest's, over the bridge).
 * One thread runs every listener and connection with poll(); buffers are
 * bounded (64 KiB per direction) and so is the number of connections open
 * at once: a listener stops accepting at the cap until one closes. A
 * half-close on one side is passed on to the other (shutdown), so request/
 * response protocols that end a request with EOF work. A connection that
 * moves no byte either way for an idle timeout is closed (a guest that
 * accepts and never reads holds a slot only that long). Used by `banger vm
 * forward` in the foreground and by vmsvc for detached forwards (several
 * fwds of one VM share one connection budget). */
#pragma once

#include <stdatomic.h>
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

/* A cap on connections open at once shared by several fwds (those of one
 * VM): max is set by the owner, used is the fwds' own. It must outlive
 * every fwd started with it. */
struct fwd_budget {
        unsigned max;
        atomic_uint used;
};

struct fwd_opts {
        unsigned max_conns;        /* open at once over this fwd's rules (>= 1) */
        unsigned idle_timeout_ms;  /* close a connection idle this long; 0 = never */
        struct fwd_budget *budget; /* also count against this shared cap; may be NULL */
};

/* Binds every rule's listener (all or none: a port in use fails naming it)
 * and starts relaying. max_conns caps the connections open at once over all
 * rules (>= 1). *ret is freed by fwd_stop. */
int fwd_start(const struct fwd_rule *rules, size_t n, unsigned max_conns, struct fwd **ret,
              struct bg_error *err);
/* fwd_start with a shared budget and an idle timeout. */
int fwd_start_opts(const struct fwd_rule *rules, size_t n, const struct fwd_opts *opts,
                   struct fwd **ret, struct bg_error *err);
/* The port rule i listens on. */
uint16_t fwd_port(const struct fwd *f, size_t i);
/* Connections accepted so far (for tests and messages). */
uint64_t fwd_accepted(struct fwd *f);
/* Connections open now. */
unsigned fwd_open_conns(struct fwd *f);
/* Closes the listeners and every connection and frees f. NULL is fine. */
void fwd_stop(struct fwd *f);

/* "[HOSTPORT:]GUESTPORT" (1-65535 each; HOSTPORT defaults to GUESTPORT,
 * 0 = any free port). */
int fwd_parse_spec(const char *spec, uint16_t *ret_host, uint16_t *ret_guest, struct bg_error *err);
