/* IPAM over net.db: one lease (IP + MAC) per VM name.
 *
 * Allocation policy ("never the same IP twice"): addresses are handed out in
 * ascending order above a high-water mark kept in net.db (meta.ip_hwm), so a
 * released address is not given to another VM while the subnet still has
 * addresses that were never used, across releases and restarts. Only when
 * the mark reaches the end of the subnet is a released address reused, and
 * then the one released longest ago (released_ips.seq). An address is never
 * given out while it is leased. A name keeps its lease (stable IP and MAC)
 * until it is released.
 *
 * No locking here: callers serialise use of the connection. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostnet/ipam_addr.h"
#include "util/error.h"
#include "validate.h"

struct lease {
        char vm_name[NETSVC_VM_NAME_MAX + 1];
        struct in_addr ip;
        char ip_str[INET_ADDRSTRLEN];
        char mac[IPAM_MAC_STRLEN];
        int64_t created_unix_ms;
};

/* The lease of name, created when it has none. requested (may be NULL) asks
 * for that exact address: it must be a guest address of net (see
 * netsvc_validate_guest_ip) not leased to another name (EEXIST). A name
 * holding a lease outside net (the subnet was reconfigured) gets a new one.
 * *ret_created tells whether a lease was created. One transaction. */
int lease_get_or_create(sqlite3 *db, const struct ipam_net *net, struct in_addr gateway,
                        const char *name, const struct in_addr *requested, struct lease *ret,
                        bool *ret_created, struct bg_error *err);

/* Frees the lease of name; *ret_released = false when it held none. */
int lease_release(sqlite3 *db, const char *name, bool *ret_released, struct bg_error *err);

/* Every lease, ordered by address. *ret is malloc'd (caller frees). */
int lease_list(sqlite3 *db, struct lease **ret, size_t *ret_n, struct bg_error *err);

/* 1 with *ret when name holds a lease, 0 when not, < 0 on error. */
int lease_lookup(sqlite3 *db, const char *name, struct in_addr *ret);

int lease_count(sqlite3 *db, size_t *ret, struct bg_error *err);

/* Forgets every lease (teardown --purge); the high-water mark stays. */
int lease_purge(sqlite3 *db, size_t *ret_n, struct bg_error *err);
