/* `banger vm ping VM`: one round trip to the VM's guest agent (CLI →
 * gateway → vmsvc → vsock → agent and back), for scripts that need to know
 * a VM is up: prints the round-trip time and exits 0, or retries until
 * --timeout and exits non-zero with the last reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banger/v1/agent.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "cmd_extra.h"
#include "util/timeutil.h"

#define PING_DEFAULT_TIMEOUT_S 5
#define PING_MAX_TIMEOUT_S 3600
#define PING_RETRY_MS 200

/* Failures that waiting cannot fix. */
static bool ping_final(enum rpc_code c)
{
        return c == RPC_NOT_FOUND || c == RPC_INVALID_ARGUMENT || c == RPC_PERMISSION_DENIED ||
               c == RPC_UNAUTHENTICATED;
}

int cmd_vm_ping(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        unsigned timeout_s = PING_DEFAULT_TIMEOUT_S;
        const char *v = cli_flag_value(cli, "timeout");
        if (v) {
                char *end;
                unsigned long t = strtoul(v, &end, 10);
                if (!v[0] || *end || t < 1 || t > PING_MAX_TIMEOUT_S)
                        return cli_fail(RPC_INVALID_ARGUMENT, "--timeout must be 1-%d seconds",
                                        PING_MAX_TIMEOUT_S);
                timeout_s = (unsigned)t;
        }
        bool json = cli_flag(cli, "json");
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = argv[0];
        struct rpc_status st = {0};
        uint64_t until = now_mono_msec() + (uint64_t)timeout_s * 1000;
        unsigned attempts = 0;
        for (;;) {
                Banger__V1__AgentHealth *h = NULL;
                uint64_t left = until > now_mono_msec() ? until - now_mono_msec() : 1;
                uint64_t t0 = now_mono_usec();
                attempts++;
                int r = cli_call(cli, "/banger.v1.VmService/AgentHealth", &req.base,
                                 &banger__v1__agent_health__descriptor, (ProtobufCMessage **)&h,
                                 (uint32_t)(left < 1000 ? 1000 : left), RPC_CALL_IDEMPOTENT, &st);
                uint64_t rtt_us = now_mono_usec() - t0;
                if (r == 0) {
                        if (json)
                                cli_print_json(json_pack(
                                    "{s:s,s:b,s:f,s:i,s:s,s:I}", "vm", cli_utf8(argv[0]), "ok", 1,
                                    "rtt_ms", (double)rtt_us / 1000.0, "attempts", attempts,
                                    "hostname", cli_utf8(h->hostname), "uptime_ms",
                                    (json_int_t)h->uptime_ms));
                        else
                                printf("%s answered in %.3f ms\n", cli_safe(argv[0]),
                                       (double)rtt_us / 1000.0);
                        banger__v1__agent_health__free_unpacked(h, NULL);
                        return CLI_EXIT_OK;
                }
                if (ping_final(st.code) || now_mono_msec() + PING_RETRY_MS >= until)
                        break;
                sleep_msec(PING_RETRY_MS);
        }
        if (json)
                cli_print_json(json_pack(
                    "{s:s,s:b,s:i,s:s,s:s}", "vm", cli_utf8(argv[0]), "ok", 0, "attempts", attempts,
                    "code", rpc_code_to_string(st.code) ? rpc_code_to_string(st.code) : "UNKNOWN",
                    "error", cli_utf8(st.message)));
        if (ping_final(st.code))
                return json ? rpc_code_to_exit(st.code) : cli_fail_status(&st);
        if (!json)
                return cli_fail(RPC_DEADLINE_EXCEEDED, "VM %s did not answer within %u s: %s",
                                argv[0], timeout_s, st.message);
        return rpc_code_to_exit(RPC_DEADLINE_EXCEEDED);
}
