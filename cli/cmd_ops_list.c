/* `banger ops`: the long operations of every service (VM creates and
 * starts, image pulls and builds, kernel imports and pulls, template builds,
 * workspace prepares and execs) through each one's ListOperations. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "banger/v1/rpc.pb-c.h"
#include "cli.h"
#include "cmd_extra.h"
#include "cmd_ops.h"
#include "util/macro.h"
#include "util/timeutil.h"

#define OPS_DEADLINE_MS 10000

static const struct {
        const char *service; /* protobuf service */
        const char *short_name;
} op_services[] = {
    {"banger.v1.VmService", "vm"},
    {"banger.v1.TemplateService", "template"},
    {"banger.v1.ImageService", "image"},
    {"banger.v1.KernelService", "kernel"},
    {"banger.v1.WorkspaceService", "workspace"},
};

static const char *op_state(const Banger__V1__Operation *op)
{
        if (!op->done)
                return "running";
        if (!op->status)
                return "failed";
        if ((int)op->status->code == RPC_OK)
                return "done";
        const char *s = rpc_code_to_string(op->status->code);
        return s ? s : "failed";
}

static json_t *op_json(const char *svc, const Banger__V1__Operation *op)
{
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:s,s:I,s:I}", "service", svc, "id", cli_utf8(op->id),
            "kind", cli_utf8(op->kind), "target", cli_utf8(op->target), "stage",
            cli_utf8(op->stage), "done_bytes", (json_int_t)op->done_bytes, "total_bytes",
            (json_int_t)op->total_bytes, "done", op->done, "state", op_state(op), "started_unix_ms",
            (json_int_t)op->started_unix_ms, "updated_unix_ms", (json_int_t)op->updated_unix_ms);
        if (o && op->done && op->status && op->status->message[0])
                json_object_set_new(o, "message", json_string(cli_utf8(op->status->message)));
        return o;
}

static void op_row(const char *svc, const Banger__V1__Operation *op, int64_t now_ms)
{
        char progress[48] = "-";
        if (op->total_bytes) {
                char d[32], t[32];
                cli_format_bytes(d, sizeof(d), op->done_bytes);
                cli_format_bytes(t, sizeof(t), op->total_bytes);
                snprintf(progress, sizeof(progress), "%s/%s", d, t);
        } else if (op->done_bytes) {
                cli_format_bytes(progress, sizeof(progress), op->done_bytes);
        }
        int64_t age = op->started_unix_ms && now_ms > op->started_unix_ms
                          ? (now_ms - op->started_unix_ms) / 1000
                          : 0;
        printf("%-9s %-16s %-16s %-24s %-10s %-20s %-9s %llds\n", svc, cli_safe(op->id),
               cli_safe(op->kind), cli_safe(op->target), cli_safe(op->stage), progress,
               op_state(op), (long long)age);
}

int cmd_ops_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool json = cli_flag(cli, "json");
        json_t *all = json ? json_array() : NULL;
        int code = CLI_EXIT_OK;
        size_t shown = 0;
        int64_t now_ms = (int64_t)now_real_msec();

        if (!json)
                printf("%-9s %-16s %-16s %-24s %-10s %-20s %-9s %s\n", "SERVICE", "ID", "KIND",
                       "TARGET", "STAGE", "PROGRESS", "STATE", "AGE");
        for (size_t s = 0; s < ELEMENTSOF(op_services); s++) {
                Banger__V1__ListOperationsRequest req = BANGER__V1__LIST_OPERATIONS_REQUEST__INIT;
                Banger__V1__ListOperationsResponse *resp = NULL;
                struct rpc_status st = {0};
                char method[96];
                req.include_done = cli_flag(cli, "all");
                snprintf(method, sizeof(method), "/%s/ListOperations", op_services[s].service);
                if (cli_call(cli, method, &req.base,
                             &banger__v1__list_operations_response__descriptor,
                             (ProtobufCMessage **)&resp, OPS_DEADLINE_MS, RPC_CALL_IDEMPOTENT,
                             &st) < 0) {
                        /* One service down does not hide the others' work. */
                        fprintf(stderr, "banger: %s operations: %s\n", op_services[s].short_name,
                                cli_safe(st.message));
                        code = rpc_code_to_exit(st.code);
                        continue;
                }
                for (size_t i = 0; i < resp->n_operations; i++) {
                        if (json)
                                json_array_append_new(
                                    all, op_json(op_services[s].short_name, resp->operations[i]));
                        else
                                op_row(op_services[s].short_name, resp->operations[i], now_ms);
                        shown++;
                }
                banger__v1__list_operations_response__free_unpacked(resp, NULL);
        }
        if (json)
                cli_print_json(all);
        else if (!shown)
                fprintf(stderr, "no %soperations\n", cli_flag(cli, "all") ? "" : "running ");
        return code;
}
