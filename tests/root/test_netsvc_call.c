/* netsvc_call: a tiny NetService client for the root tests (and people
 * poking at a running netsvc): one method per run, results as key=value
 * lines, failures as "CODE: message" on stderr with the CLI's exit code.
 *
 *   netsvc_call URL status|setup|health|leases|taps
 *   netsvc_call URL teardown [purge]
 *   netsvc_call URL lease NAME [IP] | release NAME
 *   netsvc_call URL acquire NAME | release-tap TAP
 *   netsvc_call URL acquire-loop PREFIX COUNT   (acquire PREFIX-1..COUNT)
 *   netsvc_call URL jail-start ID VMDIR KERNEL INITRD FIRECRACKER JAILER DISK...
 *   netsvc_call URL jail-clean ID VMDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banger/v1/net.pb-c.h"
#include "rpc/rpc.h"

static struct rpc_client *client;

static int call(const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **out)
{
        char full[128];
        snprintf(full, sizeof(full), "/banger.v1.NetService/%s", method);
        struct rpc_status st = {0};
        struct rpc_call_opts o = {.deadline_ms = 20000};
        int r = rpc_call(client, full, in, out_desc, out, &o, &st);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", rpc_code_to_string(st.code), st.message);
                exit(rpc_code_to_exit(st.code));
        }
        return 0;
}

static void print_status(const Banger__V1__NetStatusResponse *s)
{
        printf("bridge=%s\nsubnet=%s\ngateway=%s\nuplink=%s\nset_up=%d\nsetup_error=%s\n"
               "bridge_present=%d\nnft_present=%d\nresolver_routed=%d\npool_size=%u\n"
               "pool_warm=%u\ntaps_in_use=%u\nlease_count=%u\npool_error=%s\n",
               s->bridge, s->subnet, s->gateway, s->uplink, s->set_up, s->setup_error,
               s->bridge_present, s->nft_present, s->resolver_routed, s->pool_size, s->pool_warm,
               s->taps_in_use, s->lease_count, s->pool_error);
        for (size_t i = 0; i < s->n_dns_listen; i++)
                printf("dns_listen=%s\n", s->dns_listen[i]);
        printf("jailer_usable=%d\njailer_why=%s\n", s->jailer_usable, s->jailer_why);
}

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: %s URL METHOD [ARGS]\n", argv[0]);
                return 2;
        }
        struct bg_error err = {0};
        struct rpc_client_opts co = {.block_connect = true};
        if (rpc_client_open(argv[1], &co, &client, &err) < 0) {
                fprintf(stderr, "UNAVAILABLE: %s\n", err.msg);
                return 7;
        }
        const char *m = argv[2];
        const char *a1 = argc > 3 ? argv[3] : "";
        const char *a2 = argc > 4 ? argv[4] : "";
        ProtobufCMessage *out = NULL;
        if (streq(m, "jail-start") && argc >= 10) {
                Banger__V1__NetJailSpec in = BANGER__V1__NET_JAIL_SPEC__INIT;
                in.vm_id = argv[3];
                in.vm_dir = argv[4];
                in.kernel_vmlinux = argv[5];
                in.initrd = argv[6];
                in.firecracker = argv[7];
                in.jailer = argv[8];
                in.disks = argv + 9;
                in.n_disks = (size_t)(argc - 9);
                in.vcpu = 2;
                in.memory_mib = 256;
                const char *cmax = getenv("JAIL_CONSOLE_MAX"); /* console_log_max */
                if (cmax)
                        in.console_log_max = strtoull(cmax, NULL, 10);
                call("JailStart", &in.base, &banger__v1__net_jail_start_response__descriptor, &out);
                printf("pid=%d\n", ((Banger__V1__NetJailStartResponse *)out)->pid);
        } else if (streq(m, "jail-clean")) {
                Banger__V1__NetJailCleanRequest in = BANGER__V1__NET_JAIL_CLEAN_REQUEST__INIT;
                in.vm_id = (char *)a1;
                in.vm_dir = (char *)a2;
                call("JailClean", &in.base, &banger__v1__net_jail_clean_response__descriptor, &out);
                printf("cleaned\n");
        } else if (streq(m, "health")) {
                Banger__V1__HealthRequest in = BANGER__V1__HEALTH_REQUEST__INIT;
                call("Health", &in.base, &banger__v1__health_response__descriptor, &out);
                printf("pid=%d\n", ((Banger__V1__HealthResponse *)out)->pid);
        } else if (streq(m, "status") || streq(m, "setup")) {
                Banger__V1__NetStatusRequest in = BANGER__V1__NET_STATUS_REQUEST__INIT;
                Banger__V1__NetSetupRequest sin = BANGER__V1__NET_SETUP_REQUEST__INIT;
                call(streq(m, "status") ? "Status" : "Setup",
                     streq(m, "status") ? &in.base : &sin.base,
                     &banger__v1__net_status_response__descriptor, &out);
                print_status((Banger__V1__NetStatusResponse *)out);
        } else if (streq(m, "teardown")) {
                Banger__V1__NetTeardownRequest in = BANGER__V1__NET_TEARDOWN_REQUEST__INIT;
                in.purge_leases = streq(a1, "purge");
                call("Teardown", &in.base, &banger__v1__net_teardown_response__descriptor, &out);
                Banger__V1__NetTeardownResponse *t = (void *)out;
                printf("taps_removed=%u\nleases_removed=%u\n", t->taps_removed, t->leases_removed);
        } else if (streq(m, "lease")) {
                Banger__V1__NetLeaseRequest in = BANGER__V1__NET_LEASE_REQUEST__INIT;
                in.vm_name = (char *)a1;
                in.ip = (char *)a2;
                call("Lease", &in.base, &banger__v1__net_lease_response__descriptor, &out);
                Banger__V1__NetLeaseResponse *l = (void *)out;
                printf("ip=%s\nmac=%s\ngateway=%s\nprefix=%u\ncreated=%d\n", l->lease->ip,
                       l->lease->mac, l->lease->gateway, l->lease->prefix, l->created);
        } else if (streq(m, "release")) {
                Banger__V1__NetReleaseRequest in = BANGER__V1__NET_RELEASE_REQUEST__INIT;
                in.vm_name = (char *)a1;
                call("Release", &in.base, &banger__v1__net_release_response__descriptor, &out);
                Banger__V1__NetReleaseResponse *l = (void *)out;
                printf("released=%d\ntaps_released=%u\n", l->released, l->taps_released);
        } else if (streq(m, "leases")) {
                Banger__V1__NetListLeasesRequest in = BANGER__V1__NET_LIST_LEASES_REQUEST__INIT;
                call("ListLeases", &in.base, &banger__v1__net_list_leases_response__descriptor,
                     &out);
                Banger__V1__NetListLeasesResponse *l = (void *)out;
                for (size_t i = 0; i < l->n_leases; i++)
                        printf("%s %s %s\n", l->leases[i]->vm_name, l->leases[i]->ip,
                               l->leases[i]->mac);
        } else if (streq(m, "acquire")) {
                Banger__V1__NetAcquireTapRequest in = BANGER__V1__NET_ACQUIRE_TAP_REQUEST__INIT;
                in.vm_name = (char *)a1;
                call("AcquireTap", &in.base, &banger__v1__net_acquire_tap_response__descriptor,
                     &out);
                Banger__V1__NetAcquireTapResponse *t = (void *)out;
                printf("tap=%s\nfrom_pool=%d\nalready_held=%d\n", t->tap, t->from_pool,
                       t->already_held);
        } else if (streq(m, "acquire-loop")) {
                int n = atoi(a2);
                for (int i = 1; i <= n; i++) {
                        char name[64];
                        snprintf(name, sizeof(name), "%s-%d", a1, i);
                        Banger__V1__NetAcquireTapRequest in =
                            BANGER__V1__NET_ACQUIRE_TAP_REQUEST__INIT;
                        in.vm_name = name;
                        call("AcquireTap", &in.base,
                             &banger__v1__net_acquire_tap_response__descriptor, &out);
                        printf("%s %s\n", name, ((Banger__V1__NetAcquireTapResponse *)out)->tap);
                        fflush(stdout);
                        protobuf_c_message_free_unpacked(TAKE_PTR(out), NULL);
                }
        } else if (streq(m, "release-tap")) {
                Banger__V1__NetReleaseTapRequest in = BANGER__V1__NET_RELEASE_TAP_REQUEST__INIT;
                in.tap = (char *)a1;
                call("ReleaseTap", &in.base, &banger__v1__net_release_tap_response__descriptor,
                     &out);
                printf("to_pool=%d\n",
                       ((Banger__V1__NetReleaseTapResponse *)out)->returned_to_pool);
        } else if (streq(m, "taps")) {
                Banger__V1__NetListTapsRequest in = BANGER__V1__NET_LIST_TAPS_REQUEST__INIT;
                call("ListTaps", &in.base, &banger__v1__net_list_taps_response__descriptor, &out);
                Banger__V1__NetListTapsResponse *l = (void *)out;
                for (size_t i = 0; i < l->n_taps; i++)
                        printf("%s %s %s\n", l->taps[i]->name, l->taps[i]->state,
                               l->taps[i]->vm_name[0] ? l->taps[i]->vm_name : "-");
        } else {
                fprintf(stderr, "unknown method %s\n", m);
                rpc_client_close(client);
                return 2;
        }
        if (out)
                protobuf_c_message_free_unpacked(out, NULL);
        rpc_client_close(client);
        return 0;
}
