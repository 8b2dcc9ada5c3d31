#include "gateway.h"
#include "fault/fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "banger/v1/gateway.pb-c.h"
#include "log/log.h"
#include "rpc/rpc_internal.h"
#include "util/timeutil.h"

#define HEALTH_DEADLINE_MS 1000
#define FORWARD_CONNECT_WAIT_MS 250

static struct gateway_route *route_for(struct gateway *g, const char *proto_service)
{
        for (size_t i = 0; i < g->n_routes; i++)
                for (size_t j = 0; j < BANGER_MAX_PROTO_SERVICES && g->routes[i].svc->proto[j]; j++)
                        if (strcmp(g->routes[i].svc->proto[j], proto_service) == 0)
                                return &g->routes[i];
        return NULL;
}

struct rpc_client *gateway_route(void *ud, const char *svc)
{
        struct gateway_route *r = route_for(ud, svc);
        if (!r || rpc_client_connections(r->client) == 0)
                return NULL; /* the worker path explains why */
        return r->client;
}

void gateway_relayed(void *ud, const char *svc, const char *method)
{
        (void)ud;
        (void)svc;
        fault_point2("gateway.forwarded", method);
}

int gateway_forward(void *ud, const Banger__V1__Request *req, const struct rpc_call *call,
                    nng_msg **ret_reply, struct bg_error *err)
{
        struct gateway *g = ud;
        char svc[RPC_METHOD_MAX], method[RPC_METHOD_MAX];
        struct rpc_status st = {0};

        if (rpc_split_method(req->method, svc, sizeof(svc), method, sizeof(method)) < 0)
                return bg_error_set(err, EINVAL, "bad method name '%.200s'", req->method);
        struct gateway_route *r = route_for(g, svc);
        if (!r)
                return bg_error_set(err, ENOSYS, "unknown service %.200s", svc);
        /* Fail fast: a service whose process is gone has no connection (a
         * moment's wait: one just back may be being dialed again). */
        if (rpc_client_connections(r->client) == 0 &&
            !rpc_client_wait_connected(r->client, FORWARD_CONNECT_WAIT_MS)) {
                if (g->d->paths.system)
                        return bg_error_set(err, ECONNREFUSED,
                                            "%s is down: nothing is listening on %s (`sudo "
                                            "systemctl restart banger-%s`; why it stopped: "
                                            "`journalctl -u banger-%s`)",
                                            r->svc->name, r->url + 6, r->svc->name, r->svc->name);
                return bg_error_set(err, ECONNREFUSED,
                                    "%s is down: nothing is listening on %s (start it with "
                                    "`banger daemon start`)",
                                    r->svc->name, r->url + 6);
        }
        uint32_t left = rpc_call_remaining_ms(call);
        if (left == 0)
                return bg_error_set(err, ETIMEDOUT, "deadline exceeded before reaching %s",
                                    r->svc->name);

        /* Re-stamp the envelope: our op_id, the authenticated caller, the
         * remaining budget. The body passes through untouched. */
        Banger__V1__Request fwd = *req;
        fwd.op_id = (char *)call->op_id;
        fwd.caller_uid = call->caller_uid;
        fwd.caller_pid = (uint32_t)call->caller_pid;
        fwd.deadline_ms = left;
        nng_msg *msg;
        int rv = rpc_pack_msg(&fwd.base, &msg);
        if (rv < 0)
                return bg_error_set(err, -rv, "out of memory");
        rv = rpc_call_raw(r->client, msg, left, ret_reply, &st);
        if (rv < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code), "%s: %s", r->svc->name,
                                    st.message);
        /* The service did it; the caller has not heard. */
        fault_point2("gateway.forwarded", method);
        return 0;
}

static int gw_health(struct gateway *g, const Banger__V1__HealthRequest *in,
                     Banger__V1__GatewayHealthResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        out->gateway = calloc(1, sizeof(*out->gateway));
        out->services = calloc(g->n_routes, sizeof(*out->services));
        if (!out->gateway || !out->services)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__health_response__init(out->gateway);
        int r = daemon_fill_health(g->d, out->gateway);
        if (r < 0)
                return bg_error_set(err, -r, "out of memory");

        for (size_t i = 0; i < g->n_routes; i++) {
                struct gateway_route *rt = &g->routes[i];
                Banger__V1__ServiceHealth *sh = calloc(1, sizeof(*sh));
                if (!sh)
                        return bg_error_set(err, ENOMEM, "out of memory");
                banger__v1__service_health__init(sh);
                out->services[out->n_services++] = sh;
                sh->name = strdup(rt->svc->name);
                if (!sh->name)
                        return bg_error_set(err, ENOMEM, "out of memory");

                struct rpc_status st = {0};
                ProtobufCMessage *resp = NULL;
                Banger__V1__HealthRequest hreq = BANGER__V1__HEALTH_REQUEST__INIT;
                struct rpc_call_opts o = {
                    .deadline_ms = HEALTH_DEADLINE_MS,
                    .flags = RPC_CALL_IDEMPOTENT,
                    .connect_wait_ms = 1,
                };
                if (rpc_client_connections(rt->client) == 0) {
                        char m[300];
                        snprintf(m, sizeof(m), "%s is down: nothing is listening on %s",
                                 rt->svc->name, rt->url + 6);
                        sh->error = strdup(m);
                        if (!sh->error)
                                return bg_error_set(err, ENOMEM, "out of memory");
                        continue;
                }
                uint64_t t0 = now_mono_usec();
                int rv = rpc_call(rt->client, rt->svc->health_method, &hreq.base,
                                  &banger__v1__health_response__descriptor, &resp, &o, &st);
                sh->latency_us = now_mono_usec() - t0;
                if (rv < 0) {
                        sh->up = false;
                        sh->latency_us = 0;
                        sh->error = strdup(st.message);
                        if (!sh->error)
                                return bg_error_set(err, ENOMEM, "out of memory");
                } else {
                        sh->up = true;
                        sh->health = (Banger__V1__HealthResponse *)resp;
                }
        }
        return 0;
}

const struct rpc_method_impl gateway_methods[] = {
    RPC_METHOD("Health", gw_health),
};
const size_t gateway_n_methods = ELEMENTSOF(gateway_methods);

int gateway_setup(struct gateway *g, struct bg_error *err)
{
        size_t n;
        const struct banger_service *svcs = banger_services(&n);
        for (size_t i = 0; i < n && i < ELEMENTSOF(g->routes); i++) {
                struct gateway_route *r = &g->routes[g->n_routes];
                r->svc = &svcs[i];
                int rv = bg_paths_socket_url(&g->d->paths, svcs[i].name, r->url, sizeof(r->url));
                if (rv < 0)
                        return bg_error_set(err, -rv, "socket path for %s is too long",
                                            svcs[i].name);
                rv = rpc_client_open(r->url, NULL, &r->client, err);
                if (rv < 0)
                        return rv;
                g->n_routes++;
        }
        /* Services that are already listening get connected before we serve,
         * so the first Health after start does not report them down. */
        uint64_t until = now_mono_msec() + 1000;
        for (size_t i = 0; i < g->n_routes; i++) {
                struct stat st;
                if (stat(g->routes[i].url + 6, &st) < 0)
                        continue;
                while (rpc_client_connections(g->routes[i].client) == 0 &&
                       now_mono_msec() < until) {
                        sleep_msec(2);
                }
        }
        return rpc_server_add_service(g->d->srv, &banger__v1__gateway__descriptor, gateway_methods,
                                      gateway_n_methods, g, err);
}

void gateway_teardown(struct gateway *g)
{
        for (size_t i = 0; i < g->n_routes; i++)
                rpc_client_close(TAKE_PTR(g->routes[i].client));
        g->n_routes = 0;
}
