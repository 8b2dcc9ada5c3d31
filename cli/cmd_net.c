/* `banger net status|leases|teardown`. */
#include "cmd_net.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/net.pb-c.h"

/* One NetService call through the gateway. *ret is freed by the caller with
 * protobuf_c_message_free_unpacked. Returns 0 or an exit code (message
 * printed). */
static int net_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
                    const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret,
                    uint32_t deadline_ms, bool idempotent)
{
        struct rpc_status st = {0};
        char full[96];
        snprintf(full, sizeof(full), "/banger.v1.NetService/%s", method);
        int r = cli_call(cli, full, in, out_desc, ret, deadline_ms,
                         idempotent ? RPC_CALL_IDEMPOTENT : 0, &st);
        if (r < 0)
                return cli_fail_status(&st);
        return 0;
}

int cmd_net_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__NetStatusRequest in = BANGER__V1__NET_STATUS_REQUEST__INIT;
        Banger__V1__NetStatusResponse *s = NULL;
        int r = net_call(cli, "Status", &in.base, &banger__v1__net_status_response__descriptor,
                         (ProtobufCMessage **)&s, 10000, true);
        if (r != 0)
                return r;
        if (cli_flag(cli, "json")) {
                json_t *dns = json_array();
                for (size_t i = 0; i < s->n_dns_listen; i++)
                        json_array_append_new(dns, json_string(s->dns_listen[i]));
                json_t *o = json_pack(
                    "{s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:b,s:o,s:b,s:s,s:{s:i,s:i,s:i,s:s},s:i,"
                    "s:b}",
                    "bridge", s->bridge, "subnet", s->subnet, "gateway", s->gateway, "uplink",
                    s->uplink, "set_up", s->set_up, "setup_error", s->setup_error, "bridge_present",
                    s->bridge_present, "nft_present", s->nft_present, "dns_listen", dns,
                    "resolver_routed", s->resolver_routed, "resolver", s->resolver_text, "tap_pool",
                    "size", (int)s->pool_size, "warm", (int)s->pool_warm, "in_use",
                    (int)s->taps_in_use, "error", s->pool_error, "leases", (int)s->lease_count,
                    "isolate_vms", s->isolate_vms);
                cli_print_json(o);
        } else {
                printf("network    %s\n", s->set_up ? "set up" : "NOT set up");
                if (s->setup_error[0])
                        printf("problem    %s\n", cli_safe(s->setup_error));
                printf("bridge     %s (%s), gateway %s, subnet %s\n", cli_safe(s->bridge),
                       s->bridge_present ? "present" : "missing", cli_safe(s->gateway),
                       cli_safe(s->subnet));
                printf("uplink     %s\n", s->uplink[0] ? cli_safe(s->uplink)
                                                       : "(none found: NAT out of any non-bridge "
                                                         "interface)");
                printf("nftables   table inet banger %s\n",
                       s->nft_present ? "present" : "missing or out of date");
                printf("isolation  %s\n", s->isolate_vms ? "VMs cannot reach each other"
                                                         : "off (VMs can reach each other)");
                printf("dns        ");
                for (size_t i = 0; i < s->n_dns_listen; i++)
                        printf("%s%s", i ? ", " : "", cli_safe(s->dns_listen[i]));
                printf("%s\n", s->n_dns_listen ? "" : "not running");
                printf("resolver   %s\n", cli_safe(s->resolver_text));
                printf("tap pool   %u warm of %u, %u in use\n", s->pool_warm, s->pool_size,
                       s->taps_in_use);
                if (s->pool_error[0])
                        printf("pool error %s\n", cli_safe(s->pool_error));
                printf("leases     %u\n", s->lease_count);
        }
        bool ok = s->set_up;
        banger__v1__net_status_response__free_unpacked(s, NULL);
        return ok ? 0 : rpc_code_to_exit(RPC_FAILED_PRECONDITION);
}

int cmd_net_leases(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__NetListLeasesRequest in = BANGER__V1__NET_LIST_LEASES_REQUEST__INIT;
        Banger__V1__NetListLeasesResponse *l = NULL;
        int r =
            net_call(cli, "ListLeases", &in.base, &banger__v1__net_list_leases_response__descriptor,
                     (ProtobufCMessage **)&l, 10000, true);
        if (r != 0)
                return r;
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < l->n_leases; i++) {
                        Banger__V1__NetLease *e = l->leases[i];
                        json_array_append_new(
                            arr, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", e->vm_name, "ip", e->ip,
                                           "mac", e->mac, "gateway", e->gateway, "created_unix_ms",
                                           (json_int_t)e->created_unix_ms));
                }
                cli_print_json(json_pack("{s:o}", "leases", arr));
        } else {
                printf("%-24s %-15s %-17s %s\n", "NAME", "IP", "MAC", "LEASED");
                for (size_t i = 0; i < l->n_leases; i++) {
                        Banger__V1__NetLease *e = l->leases[i];
                        char when[32] = "-";
                        time_t t = (time_t)(e->created_unix_ms / 1000);
                        struct tm tm;
                        if (t > 0 && localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                        printf("%-24s %-15s %-17s %s\n", cli_safe(e->vm_name), cli_safe(e->ip),
                               cli_safe(e->mac), when);
                }
                if (l->n_leases == 0)
                        printf("(no leases)\n");
        }
        banger__v1__net_list_leases_response__free_unpacked(l, NULL);
        return 0;
}

/* Asks on a terminal; off a terminal --force is required (so a script never
 * tears the network down by accident and never hangs on a prompt). */
static int confirm_teardown(struct cli *cli, bool purge)
{
        if (cli_flag(cli, "force"))
                return 0;
        if (!isatty(STDIN_FILENO))
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "net teardown removes the bridge, every tap and the NAT rules "
                                "(running VMs lose their network); pass --force to confirm "
                                "when stdin is not a terminal");
        fprintf(stderr,
                "This removes banger's bridge, every tap (running VMs lose their network), the\n"
                "nftables table inet banger, DNS and resolver routing%s.\nContinue? [y/N] ",
                purge ? ", and forgets every lease" : "");
        char line[16];
        if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
                return cli_fail(RPC_ABORTED, "teardown cancelled");
        return 0;
}

int cmd_net_teardown(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool purge = cli_flag(cli, "purge");
        int r = confirm_teardown(cli, purge);
        if (r != 0)
                return r;
        Banger__V1__NetTeardownRequest in = BANGER__V1__NET_TEARDOWN_REQUEST__INIT;
        in.purge_leases = purge;
        Banger__V1__NetTeardownResponse *t = NULL;
        r = net_call(cli, "Teardown", &in.base, &banger__v1__net_teardown_response__descriptor,
                     (ProtobufCMessage **)&t, 60000, false);
        if (r != 0)
                return r;
        printf("network torn down: %u taps removed%s", t->taps_removed, purge ? ", " : "\n");
        if (purge)
                printf("%u leases forgotten\n", t->leases_removed);
        banger__v1__net_teardown_response__free_unpacked(t, NULL);
        return 0;
}
