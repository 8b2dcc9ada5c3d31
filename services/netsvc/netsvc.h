/* banger-netsvc: the narrow root service: bridge, taps, NAT, DNS. Owns net.db. */
#pragma once

#include "daemon/daemon.h"

struct netsvc {
        struct daemon *d;
};

extern const struct store_migration netsvc_migrations[];
extern const size_t netsvc_n_migrations;
extern const struct rpc_method_impl netsvc_net_methods[];
extern const size_t netsvc_n_net_methods;

/* Fails with a message naming each missing capability. */
int netsvc_check_privileges(struct bg_error *err);
int netsvc_register(struct netsvc *v, struct bg_error *err);
