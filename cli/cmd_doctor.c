/* `banger doctor`: runs lib/doctor's checks against this host and banger's
 * running services, prints PASS/WARN/FAIL rows with fix hints (or JSON), and
 * exits 5 (FAILED_PRECONDITION) when any row fails. This file supplies the
 * environment operations that need banger's own modules: Gateway/Health,
 * NetService/Status, KernelService/List plus the KVM boot probe, and the
 * netlink route-overlap check. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/accel_probe.h"
#include "banger/v1/gateway.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "cli.h"
#include "output.h"
#include "cmd_sysinstall.h"
#include "config/config.h"
#include "doctor.h"
#include "hostnet/netlink.h"
#include "hostnet/resolved.h"
#include "util/version.h"

struct doctor_cli {
        struct cli *cli;
        const struct bg_config *cfg;
        bool net_done;
        struct doctor_net net;
};

/* One idempotent call through the gateway; *ret owned by the caller. */
static int gw_call(struct doctor_cli *d, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret,
                   uint32_t deadline_ms, char *error, size_t len)
{
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        int r = cli_gateway(d->cli, &c, &st);
        if (r < 0) {
                snprintf(error, len, "%s", st.message);
                return r;
        }
        struct rpc_call_opts o = {.deadline_ms = deadline_ms, .flags = RPC_CALL_IDEMPOTENT};
        r = rpc_call(c, method, req, desc, ret, &o, &st);
        rpc_client_close(c);
        if (r < 0) {
                snprintf(error, len, "%s", st.message);
                return r;
        }
        return 0;
}

static int op_health(void *ud, struct doctor_health **ret, size_t *ret_n, char *error, size_t len)
{
        struct doctor_cli *d = ud;
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        Banger__V1__GatewayHealthResponse *h = NULL;
        int r = gw_call(d, "/banger.v1.Gateway/Health", &req.base,
                        &banger__v1__gateway_health_response__descriptor, (ProtobufCMessage **)&h,
                        5000, error, len);
        if (r < 0)
                return r;
        struct doctor_health *out = calloc(h->n_services + 1, sizeof(*out));
        if (!out) {
                banger__v1__gateway_health_response__free_unpacked(h, NULL);
                return -ENOMEM;
        }
        snprintf(out[0].name, sizeof(out[0].name), "gateway");
        out[0].up = true;
        if (h->gateway) {
                snprintf(out[0].version, sizeof(out[0].version), "%s", h->gateway->version);
                snprintf(out[0].commit, sizeof(out[0].commit), "%s", h->gateway->commit);
        }
        for (size_t i = 0; i < h->n_services; i++) {
                Banger__V1__ServiceHealth *s = h->services[i];
                struct doctor_health *o = &out[i + 1];
                snprintf(o->name, sizeof(o->name), "%s", s->name);
                o->up = s->up;
                snprintf(o->error, sizeof(o->error), "%s", s->error ? s->error : "");
                if (s->up && s->health) {
                        snprintf(o->version, sizeof(o->version), "%s", s->health->version);
                        snprintf(o->commit, sizeof(o->commit), "%s", s->health->commit);
                }
        }
        *ret = out;
        *ret_n = h->n_services + 1;
        banger__v1__gateway_health_response__free_unpacked(h, NULL);
        return 0;
}

static int op_net_status(void *ud, struct doctor_net *ret)
{
        struct doctor_cli *d = ud;
        if (!d->net_done) {
                char error[256];
                Banger__V1__NetStatusRequest req = BANGER__V1__NET_STATUS_REQUEST__INIT;
                Banger__V1__NetStatusResponse *s = NULL;
                d->net_done = true;
                if (gw_call(d, "/banger.v1.NetService/Status", &req.base,
                            &banger__v1__net_status_response__descriptor, (ProtobufCMessage **)&s,
                            5000, error, sizeof(error)) == 0) {
                        d->net.known = true;
                        d->net.set_up = s->set_up;
                        d->net.nft_present = s->nft_present;
                        d->net.resolver_routed = s->resolver_routed;
                        d->net.jailer_usable = s->jailer_usable;
                        snprintf(d->net.jailer_why, sizeof(d->net.jailer_why), "%s",
                                 s->jailer_why ? s->jailer_why : "");
                        snprintf(d->net.setup_error, sizeof(d->net.setup_error), "%s",
                                 s->setup_error ? s->setup_error : "");
                        for (size_t i = 0; i < s->n_dns_listen &&
                                           d->net.n_dns_listen < ELEMENTSOF(d->net.dns_listen);
                             i++)
                                snprintf(d->net.dns_listen[d->net.n_dns_listen++],
                                         sizeof(d->net.dns_listen[0]), "%s", s->dns_listen[i]);
                        banger__v1__net_status_response__free_unpacked(s, NULL);
                }
        }
        *ret = d->net;
        return 0;
}

static int op_route_overlap(void *ud, struct in_addr subnet, uint8_t prefix, const char *bridge,
                            char *route, size_t len)
{
        struct ipam_net n = {.network = subnet, .prefix = prefix};
        struct bg_error err = {0};
        return netlink_route_find_overlap(&n, bridge, route, len, &err);
}

static bool op_resolved_running(void *ud)
{
        return resolved_running(NULL);
}

/* Boots each installed kernel (up to three) under -accel kvm through the
 * vmsvc probe; the kernels come from KernelService/List. */
static enum doctor_accel op_accel_probe(void *ud, char *detail, size_t len)
{
        struct doctor_cli *d = ud;
        char error[256];
        Banger__V1__ListKernelsRequest req = BANGER__V1__LIST_KERNELS_REQUEST__INIT;
        Banger__V1__ListKernelsResponse *k = NULL;
        if (gw_call(d, "/banger.v1.KernelService/List", &req.base,
                    &banger__v1__list_kernels_response__descriptor, (ProtobufCMessage **)&k, 5000,
                    error, sizeof(error)) < 0) {
                snprintf(detail, len, "cannot list the installed kernels (%s)", error);
                return DOCTOR_ACCEL_UNKNOWN;
        }
        const char *cache = d->cli->paths.cache_dir;
        if (access(cache, W_OK) < 0)
                cache = NULL;
        const char *qemu = d->cfg->qemu.binary;
        enum doctor_accel res = DOCTOR_ACCEL_UNKNOWN;
        size_t tested = 0;
        detail[0] = '\0';
        for (size_t i = 0; i < k->n_kernels && tested < 3; i++) {
                const Banger__V1__Kernel *kn = k->kernels[i];
                if (!kn->bzimage_path || !kn->bzimage_path[0])
                        continue;
                enum vmm_accel a;
                char why[256] = "";
                int r = accel_probe(qemu, kn->bzimage_path, kn->initramfs_path, cache, &a, why,
                                    sizeof(why));
                if (r < 0) {
                        snprintf(detail, len, "kernel %s: probe failed: %s", kn->name, why);
                        continue;
                }
                tested++;
                if (a != VMM_ACCEL_KVM) {
                        snprintf(detail, len, "kernel %s: %s", kn->name, why);
                        res = DOCTOR_ACCEL_TCG;
                        break;
                }
                res = DOCTOR_ACCEL_KVM;
                size_t n = strlen(detail);
                snprintf(detail + n, len - n, "%skernel %s boots under KVM", n ? ", " : "",
                         kn->name);
        }
        if (k->n_kernels == 0)
                snprintf(detail, len, "no kernel installed to test with (`banger kernel pull`)");
        banger__v1__list_kernels_response__free_unpacked(k, NULL);
        return res;
}

static json_t *report_json(const struct doctor_report *rep)
{
        json_t *rows = json_array();
        size_t count[3] = {0};
        for (size_t i = 0; i < rep->n; i++) {
                const struct doctor_row *r = &rep->rows[i];
                count[r->status]++;
                json_t *o = json_pack("{s:s,s:s,s:s}", "id", r->id, "status",
                                      doctor_status_to_string(r->status), "message", r->message);
                if (r->hint[0])
                        json_object_set_new(o, "hint", json_string(r->hint));
                json_array_append_new(rows, o);
        }
        return json_pack("{s:o,s:{s:I,s:I,s:I},s:b}", "rows", rows, "summary", "pass",
                         (json_int_t)count[DOCTOR_PASS], "warn", (json_int_t)count[DOCTOR_WARN],
                         "fail", (json_int_t)count[DOCTOR_FAIL], "ok", !doctor_any_fail(rep));
}

static void report_text(const struct doctor_report *rep)
{
        size_t count[3] = {0};
        bool tty = cli_color(stdout); /* not on a pipe, not with NO_COLOR */
        for (size_t i = 0; i < rep->n; i++) {
                const struct doctor_row *r = &rep->rows[i];
                count[r->status]++;
                const char *color = !tty                       ? ""
                                    : r->status == DOCTOR_PASS ? "\033[32m"
                                    : r->status == DOCTOR_WARN ? "\033[33m"
                                                               : "\033[31m";
                /* Rows quote what services report (their errors, versions). */
                printf("%s%s%s  %-22s %s\n", color, doctor_status_to_string(r->status),
                       tty ? "\033[0m" : "", r->id, cli_safe(r->message));
                if (r->hint[0])
                        printf("      %-22s fix: %s\n", "", cli_safe(r->hint));
        }
        printf("\n%zu passed, %zu warnings, %zu failed\n", count[DOCTOR_PASS], count[DOCTOR_WARN],
               count[DOCTOR_FAIL]);
}

int cmd_doctor(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool json = cli_flag(cli, "json");
        int r = cli_paths(cli);
        if (r)
                return r;
        struct bg_config cfg;
        struct bg_error err = {0};
        char cfg_path[512];
        char cfg_error[BG_ERROR_MSG_MAX] = "";
        bg_paths_config_file(&cli->paths, cfg_path, sizeof(cfg_path));
        if (bg_config_load_file(cfg_path, &cfg, &err) < 0) {
                /* Check the rest against the defaults, and say so. */
                snprintf(cfg_error, sizeof(cfg_error), "%s", err.msg);
                if (bg_config_defaults(&cfg) < 0)
                        return cli_fail(RPC_INTERNAL, "out of memory");
        }

        /* --root DIR: a staged system install (what `system install --root`
         * wrote): its install.toml, units, runtime and state dirs. */
        const char *root = cli_flag_value(cli, "root");
        bool system = cli->paths.system || root;
        char run_dir[PATH_MAX], state_dir[PATH_MAX], net_run_dir[PATH_MAX];
        snprintf(run_dir, sizeof(run_dir), "%s", cli->paths.runtime_dir);
        snprintf(net_run_dir, sizeof(net_run_dir), "%s", cli->paths.net_runtime_dir);
        snprintf(state_dir, sizeof(state_dir), "%s", cli->paths.state_dir);
        if (root) {
                if (root[0] != '/')
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--root must be an absolute path, not '%s'", root);
                snprintf(run_dir, sizeof(run_dir), "%s/run/banger", root);
                snprintf(net_run_dir, sizeof(net_run_dir), "%s/run/banger-netsvc", root);
                snprintf(state_dir, sizeof(state_dir), "%s/var/lib/banger", root);
        }
        struct install_manifest m = {0};
        bool have_m = false;
        char m_error[BG_ERROR_MSG_MAX] = "";
        if (system) {
                bg_error_clear(&err);
                have_m = manifest_load(root ? root : "", &m, &err) == 0;
                if (!have_m)
                        snprintf(m_error, sizeof(m_error), "%s", err.msg);
        }

        struct doctor_cli dc = {.cli = cli, .cfg = &cfg};
        struct doctor_env env;
        doctor_env_real(&env);
        env.ud = &dc;
        env.health = op_health;
        env.net_status = op_net_status;
        env.route_overlap = op_route_overlap;
        env.resolved_running = op_resolved_running;
        env.accel_probe = op_accel_probe;

        struct doctor_input in = {
            .cfg = &cfg,
            .system_mode = system,
            .state_dir = state_dir,
            .runtime_dir = run_dir,
            .net_runtime_dir = net_run_dir,
            .cli_version = BANGER_VERSION,
            .cli_commit = BANGER_COMMIT,
            .manifest = have_m ? &m : NULL,
            .manifest_error = m_error,
            .install_root = root ? root : "",
        };
        struct doctor_report rep = {0};
        if (cfg_error[0])
                r = doctor_add(&rep, "config", DOCTOR_FAIL,
                               "fix the file (`banger config check` shows the same message); "
                               "the rows below use the defaults",
                               "%s", cfg_error);
        else
                r = doctor_add(&rep, "config", DOCTOR_PASS, NULL, "%s %s", cfg_path,
                               access(cfg_path, F_OK) == 0 ? "is valid"
                                                           : "does not exist: defaults apply");
        if (r >= 0)
                r = doctor_run(&env, &in, &rep);
        manifest_free(&m);
        bg_config_free(&cfg);
        if (r < 0) {
                doctor_report_free(&rep);
                return cli_fail(RPC_INTERNAL, "doctor: %s", strerror(-r));
        }
        if (json) {
                json_t *o = report_json(&rep);
                json_object_set_new(o, "mode", json_string(system ? "system" : "user"));
                json_dumpf(o, stdout, JSON_INDENT(2));
                fputc('\n', stdout);
                json_decref(o);
        } else {
                report_text(&rep);
        }
        bool fail = doctor_any_fail(&rep);
        doctor_report_free(&rep);
        return fail ? rpc_code_to_exit(RPC_FAILED_PRECONDITION) : 0;
}
