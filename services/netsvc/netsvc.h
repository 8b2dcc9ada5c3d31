/* banger-netsvc: the narrow root service: bridge, tap pool, IPAM, NAT and the
 * `.vm` DNS server. Owns net.db. A static core (this folder) plus main.c.
 *
 * Lifecycle: netsvc_init (config → fields, pool created paused) →
 * netsvc_start (Setup: bridge, nftables, DNS, resolver routing; reconcile
 * net.db with the kernel; warm the pool) → serve → netsvc_stop (threads
 * stopped; bridge, taps and rules stay for running VMs and the next start). */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>

#include "daemon/daemon.h"
#include "hostnet/dns.h"
#include "hostnet/ipam_addr.h"
#include "netdb.h"
#include "tap_pool.h"

#define NETSVC_POOL_PARALLEL 4 /* concurrent tap warm-ups */

struct netsvc {
        struct daemon *d;
        sqlite3 *db;
        uint32_t owner_uid;

        /* From config.toml, fixed for the life of the process. */
        char bridge[IFNAMSIZ];
        struct ipam_net net;
        struct in_addr gateway;    /* the bridge address */
        char uplink_cfg[IFNAMSIZ]; /* "" = the default route's */
        struct in_addr dns_addr;   /* dns_listen */
        uint16_t dns_port;
        bool isolate_vms;
        unsigned pool_size;
        bool host_netns; /* resolver routing only in the host's namespace */

        pthread_mutex_t setup_lock; /* serialises Setup and Teardown */
        pthread_mutex_t lock;       /* db, the pool, and the fields below */
        bool set_up;
        char setup_error[BG_ERROR_MSG_MAX];
        char uplink[IFNAMSIZ]; /* as applied; "" = any non-bridge interface */
        bool resolver_routed;
        struct dns_server *dns[2]; /* dns_listen, and the bridge address */
        struct tap_pool *pool;
};

extern const struct rpc_method_impl netsvc_net_methods[];
extern const size_t netsvc_n_net_methods;

/* Fails with a message naming each missing capability. */
int netsvc_check_privileges(struct bg_error *err);
int netsvc_register(struct netsvc *v, struct bg_error *err);

/* Reads d->cfg.network (validating every value) and creates the paused pool.
 * d->db must be open. */
int netsvc_init(struct netsvc *v, struct daemon *d, struct bg_error *err);
/* Setup at start, then reconcile and warm. A failed Setup (say, a subnet
 * overlapping a host route) is logged and kept for Status; the service still
 * serves, and tap operations fail naming the reason. */
int netsvc_start(struct netsvc *v, struct bg_error *err);
void netsvc_stop(struct netsvc *v);

/* Idempotent: bridge, ip_forward, nftables table, DNS listeners, resolver
 * routing, reconcile, pool warming. */
int netsvc_setup(struct netsvc *v, struct bg_error *err);
/* Removes taps, nftables table, resolver routing, DNS listeners and the
 * bridge; leases too when purge_leases. */
int netsvc_teardown(struct netsvc *v, bool purge_leases, unsigned *ret_taps, size_t *ret_leases,
                    struct bg_error *err);

/* DNS lookup callback over the leases (thread-safe). */
int netsvc_dns_lookup(void *userdata, const char *name, struct in_addr *ret);
