#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "banger/v1/gateway.pb-c.h"
#include "cli.h"
#include "util/version.h"

int cmd_version(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        if (cli_flag(cli, "json")) {
                json_t *o = json_pack("{s:s,s:s,s:s}", "version", BANGER_VERSION, "commit",
                                      BANGER_COMMIT, "build_time", BANGER_BUILD_TIME);
                cli_print_json(o);
                return 0;
        }
        printf("banger %s\ncommit %s\nbuilt %s\n", BANGER_VERSION, BANGER_COMMIT,
               BANGER_BUILD_TIME);
        return 0;
}

static json_t *health_json(const Banger__V1__HealthResponse *h)
{
        return json_pack("{s:s,s:s,s:I,s:i,s:s}", "version", h->version, "commit", h->commit,
                         "uptime_ms", (json_int_t)h->uptime_ms, "pid", h->pid, "state", h->state);
}

static void print_duration(char *buf, size_t len, int64_t ms)
{
        int64_t s = ms / 1000;
        if (s < 60)
                snprintf(buf, len, "%llds", (long long)s);
        else if (s < 3600)
                snprintf(buf, len, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
        else
                snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600),
                         (long long)((s % 3600) / 60));
}

int cmd_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool json = cli_flag(cli, "json");
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        int r = cli_gateway(cli, &c, &st);
        if (r < 0) {
                if (json && st.code == RPC_UNAVAILABLE) {
                        json_t *o = json_pack("{s:{s:s,s:b,s:s},s:[]}", "gateway", "name",
                                              "gateway", "up", 0, "error", st.message, "services");
                        cli_print_json(o);
                        return rpc_code_to_exit(st.code);
                }
                return cli_fail_status(&st);
        }
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        Banger__V1__GatewayHealthResponse *resp = NULL;
        struct rpc_call_opts o = {.deadline_ms = 5000, .flags = RPC_CALL_IDEMPOTENT};
        r = rpc_call(c, "/banger.v1.Gateway/Health", &req.base,
                     &banger__v1__gateway_health_response__descriptor, (ProtobufCMessage **)&resp,
                     &o, &st);
        rpc_client_close(c);
        if (r < 0)
                return cli_fail_status(&st);

        bool all_up = true;
        for (size_t i = 0; i < resp->n_services; i++)
                all_up = all_up && resp->services[i]->up;

        if (json) {
                json_t *root = json_object();
                json_t *gw = health_json(resp->gateway);
                json_object_set_new(gw, "name", json_string("gateway"));
                json_object_set_new(gw, "up", json_true());
                json_object_set_new(root, "gateway", gw);
                json_t *arr = json_array();
                for (size_t i = 0; i < resp->n_services; i++) {
                        Banger__V1__ServiceHealth *s = resp->services[i];
                        json_t *e = s->up && s->health ? health_json(s->health) : json_object();
                        json_object_set_new(e, "name", json_string(s->name));
                        json_object_set_new(e, "up", json_boolean(s->up));
                        json_object_set_new(e, "latency_us",
                                            json_integer((json_int_t)s->latency_us));
                        if (!s->up)
                                json_object_set_new(e, "error", json_string(s->error));
                        json_array_append_new(arr, e);
                }
                json_object_set_new(root, "services", arr);
                json_object_set_new(root, "all_up", json_boolean(all_up));
                cli_print_json(root);
        } else {
                char up[32];
                printf("%-14s %-5s %10s %8s %-10s %s\n", "SERVICE", "STATE", "LATENCY", "PID",
                       "UPTIME", "VERSION");
                print_duration(up, sizeof(up), resp->gateway->uptime_ms);
                printf("%-14s %-5s %10s %8d %-10s %s\n", "gateway", "UP", "-", resp->gateway->pid,
                       up, cli_safe(resp->gateway->version));
                for (size_t i = 0; i < resp->n_services; i++) {
                        Banger__V1__ServiceHealth *s = resp->services[i];
                        if (s->up && s->health) {
                                char lat[32];
                                snprintf(lat, sizeof(lat), "%lluus",
                                         (unsigned long long)s->latency_us);
                                print_duration(up, sizeof(up), s->health->uptime_ms);
                                printf("%-14s %-5s %10s %8d %-10s %s\n", cli_safe(s->name), "UP",
                                       lat, s->health->pid, up, cli_safe(s->health->version));
                        } else {
                                printf("%-14s %-5s %10s %8s %-10s %s\n", cli_safe(s->name), "DOWN",
                                       "-", "-", "-", "-");
                        }
                }
                for (size_t i = 0; i < resp->n_services; i++)
                        if (!resp->services[i]->up)
                                printf("\n%s: %s", cli_safe(resp->services[i]->name),
                                       cli_safe(resp->services[i]->error));
                if (!all_up)
                        printf("\n");
        }
        banger__v1__gateway_health_response__free_unpacked(resp, NULL);
        return all_up ? 0 : rpc_code_to_exit(RPC_UNAVAILABLE);
}
