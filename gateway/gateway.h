/* banger-gateway: the one public socket. Authenticates the caller by peer uid
 * (owner and root only), stamps an op_id, routes each call by its protobuf
 * service name to the process serving it, and reports every service's health.
 * Owns nothing durable. */
#pragma once

#include "daemon/daemon.h"
#include "daemon/services.h"

struct gateway_route {
        const struct banger_service *svc;
        struct rpc_client *client;
        char url[160];
};

struct gateway {
        struct daemon *d;
        struct gateway_route routes[8];
        size_t n_routes;
};

extern const struct rpc_method_impl gateway_methods[];
extern const size_t gateway_n_methods;

/* Opens (non-blocking, auto-reconnecting) clients to every service and
 * registers the Gateway service and the forwarder on d->srv. */
int gateway_setup(struct gateway *g, struct bg_error *err);
void gateway_teardown(struct gateway *g);

/* The rpc_route_fn installed on the gateway's server (async fast path). */
struct rpc_client *gateway_route(void *ud, const char *svc);
/* rpc_relayed_fn: a relayed call was answered (fault point
 * gateway.forwarded.<Method>: the service did it, the caller has not heard). */
void gateway_relayed(void *ud, const char *svc, const char *method);

/* The rpc_forward_fn installed on the gateway's server. */
int gateway_forward(void *ud, const Banger__V1__Request *req, const struct rpc_call *call,
                    nng_msg **ret_reply, struct bg_error *err);
