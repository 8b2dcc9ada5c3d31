#include "cmd_ops.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "util/macro.h"
#include "util/timeutil.h"

#define POLL_MS 200
#define BAR_WIDTH 24

/* Ctrl-C count. A signal handler can only reach static storage. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        interrupted++;
}

void cli_format_bytes(char *buf, size_t len, uint64_t b)
{
        if (b < 1024)
                snprintf(buf, len, "%llu B", (unsigned long long)b);
        else if (b < 1024ull * 1024)
                snprintf(buf, len, "%.1f KiB", (double)b / 1024);
        else if (b < 1024ull * 1024 * 1024)
                snprintf(buf, len, "%.1f MiB", (double)b / (1024.0 * 1024));
        else
                snprintf(buf, len, "%.2f GiB", (double)b / (1024.0 * 1024 * 1024));
}

void cli_op_status(const Banger__V1__Operation *op, struct rpc_status *st)
{
        memset(st, 0, sizeof(*st));
        st->code = op->status ? (enum rpc_code)op->status->code : RPC_UNKNOWN;
        snprintf(st->message, sizeof(st->message), "%s",
                 op->status && op->status->message[0] ? op->status->message : "operation failed");
        snprintf(st->op_id, sizeof(st->op_id), "%s", op->id);
}

static size_t stage_index(const Banger__V1__Operation *op)
{
        for (size_t i = 0; i < op->n_stages; i++)
                if (streq(op->stages[i], op->stage))
                        return i + 1;
        return 0;
}

#define MAX_PARTS_SHOWN 128

struct view {
        bool tty;
        char last_stage[64];
        int last_decile;
        bool drew;
        unsigned lines; /* lines of the last TTY frame below its first */
        bool part_reported[MAX_PARTS_SHOWN];
};

/* " [#####-----]  42%  1.2 MiB / 3.0 MiB" */
static void print_bar(uint64_t done_b, uint64_t total_b)
{
        char done[32], total[32];
        cli_format_bytes(done, sizeof(done), done_b);
        cli_format_bytes(total, sizeof(total), total_b);
        if (!total_b) {
                if (done_b)
                        fprintf(stderr, " %s", done);
                return;
        }
        int fill = (int)(done_b * BAR_WIDTH / total_b);
        if (fill > BAR_WIDTH)
                fill = BAR_WIDTH;
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, " [%s] %3d%%  %s / %s", bar, (int)(done_b * 100 / total_b), done, total);
}

/* "sha256:0123456789ab" from a digest; other names unchanged (escaped). */
static void short_part_name(const char *name, char *buf, size_t len)
{
        char cut[20];
        snprintf(cut, sizeof(cut), "%.19s", name);
        snprintf(buf, len, "%s", cli_safe(cut));
}

static void draw(struct view *v, const Banger__V1__Operation *op)
{
        size_t idx = stage_index(op);
        char done[32], total[32];
        cli_format_bytes(done, sizeof(done), op->done_bytes);
        cli_format_bytes(total, sizeof(total), op->total_bytes);
        if (v->tty) {
                char step[32] = "";
                if (idx)
                        snprintf(step, sizeof(step), "[%zu/%zu] ", idx, op->n_stages);
                /* Back to the first line of the last frame, clear to the end. */
                if (v->lines)
                        fprintf(stderr, "\033[%uA", v->lines);
                fprintf(stderr, "\r\033[J%s%-10s", step, cli_safe(op->stage));
                print_bar(op->done_bytes, op->total_bytes);
                v->lines = 0;
                for (size_t i = 0; i < op->n_parts && i < MAX_PARTS_SHOWN; i++) {
                        char name[24];
                        short_part_name(op->parts[i]->name, name, sizeof(name));
                        fprintf(stderr, "\n  %-19s", name);
                        print_bar(op->parts[i]->done_bytes, op->parts[i]->total_bytes);
                        v->lines++;
                }
                fflush(stderr);
                v->drew = true;
                return;
        }
        if (!streq(v->last_stage, op->stage)) {
                snprintf(v->last_stage, sizeof(v->last_stage), "%s", op->stage);
                v->last_decile = -1;
                memset(v->part_reported, 0, sizeof(v->part_reported));
                if (idx)
                        fprintf(stderr, "stage %zu/%zu: %s\n", idx, op->n_stages,
                                cli_safe(op->stage));
                else
                        fprintf(stderr, "stage: %s\n", cli_safe(op->stage));
        }
        for (size_t i = 0; i < op->n_parts && i < MAX_PARTS_SHOWN; i++) {
                const Banger__V1__OperationPart *p = op->parts[i];
                if (v->part_reported[i] || !p->total_bytes || p->done_bytes < p->total_bytes)
                        continue;
                v->part_reported[i] = true;
                char name[24], size[32];
                short_part_name(p->name, name, sizeof(name));
                cli_format_bytes(size, sizeof(size), p->total_bytes);
                fprintf(stderr, "  %s: %s done\n", name, size);
        }
        if (op->total_bytes) {
                int decile = (int)(op->done_bytes * 10 / op->total_bytes);
                if (decile > v->last_decile) {
                        v->last_decile = decile;
                        fprintf(stderr, "  %s: %d%% (%s of %s)\n", cli_safe(op->stage), decile * 10,
                                done, total);
                }
        }
}

int cli_op_follow(struct rpc_client *c, const char *service, const Banger__V1__Operation *op,
                  bool quiet, Banger__V1__Operation **ret_final, struct rpc_status *st)
{
        char get_m[160], cancel_m[160];
        snprintf(get_m, sizeof(get_m), "/%s/GetOperation", service);
        snprintf(cancel_m, sizeof(cancel_m), "/%s/CancelOperation", service);
        struct view v = {.tty = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO), .last_decile = -1};
        quiet = quiet || cli_quiet(); /* --quiet: no progress at all */
        if (!quiet)
                fprintf(stderr, "operation %s: %s %s%s\n", cli_safe(op->id), cli_safe(op->kind),
                        cli_safe(op->target), v.tty ? " (Ctrl-C cancels)" : "");

        struct sigaction sa = {.sa_handler = on_sigint}, old;
        sigemptyset(&sa.sa_mask);
        interrupted = 0;
        sigaction(SIGINT, &sa, &old);

        Banger__V1__Operation *cur = NULL;
        bool cancel_sent = false;
        int r = 0;
        const Banger__V1__Operation *view = op;
        for (;;) {
                if (!quiet)
                        draw(&v, view);
                if (view->done)
                        break;
                if (interrupted > 1) {
                        memset(st, 0, sizeof(*st));
                        st->code = RPC_CANCELLED;
                        snprintf(st->message, sizeof(st->message),
                                 "stopped waiting; operation %s is being cancelled", op->id);
                        snprintf(st->op_id, sizeof(st->op_id), "%s", op->id);
                        r = -EINTR;
                        break;
                }
                if (interrupted && !cancel_sent) {
                        Banger__V1__CancelOperationRequest cr =
                            BANGER__V1__CANCEL_OPERATION_REQUEST__INIT;
                        cr.id = op->id;
                        Banger__V1__Operation *co = NULL;
                        struct rpc_call_opts o = {.deadline_ms = 5000,
                                                  .flags = RPC_CALL_IDEMPOTENT};
                        struct rpc_status cst = {0};
                        if (v.tty && v.drew)
                                fputc('\n', stderr);
                        if (rpc_call(c, cancel_m, &cr.base, &banger__v1__operation__descriptor,
                                     (ProtobufCMessage **)&co, &o, &cst) == 0) {
                                fprintf(stderr,
                                        "cancelling operation %s (Ctrl-C again to stop "
                                        "waiting)\n",
                                        cli_safe(op->id));
                                banger__v1__operation__free_unpacked(co, NULL);
                        } else {
                                char buf[768];
                                rpc_status_format(&cst, buf, sizeof(buf));
                                fprintf(stderr, "banger: cannot cancel: %s\n", cli_safe(buf));
                        }
                        cancel_sent = true;
                }
                (void)sleep_msec_interruptible(POLL_MS); /* Ctrl-C cuts it short */
                Banger__V1__GetOperationRequest gr = BANGER__V1__GET_OPERATION_REQUEST__INIT;
                gr.id = op->id;
                Banger__V1__Operation *next = NULL;
                struct rpc_call_opts o = {.deadline_ms = 5000, .flags = RPC_CALL_IDEMPOTENT};
                r = rpc_call(c, get_m, &gr.base, &banger__v1__operation__descriptor,
                             (ProtobufCMessage **)&next, &o, st);
                if (r < 0)
                        break;
                if (cur)
                        banger__v1__operation__free_unpacked(cur, NULL);
                cur = next;
                view = cur;
        }
        sigaction(SIGINT, &old, NULL);
        if (!quiet && v.tty && v.drew)
                fputc('\n', stderr);
        if (r < 0) {
                if (cur)
                        banger__v1__operation__free_unpacked(cur, NULL);
                return r;
        }
        if (!cur) {
                /* Done at once: hand back a copy of what we were given. */
                size_t len = protobuf_c_message_get_packed_size(&op->base);
                uint8_t *buf = malloc(len ? len : 1);
                if (!buf)
                        return -ENOMEM;
                protobuf_c_message_pack(&op->base, buf);
                cur = banger__v1__operation__unpack(NULL, len, buf);
                free(buf);
                if (!cur)
                        return -ENOMEM;
        }
        *ret_final = cur;
        return 0;
}

static const char *code_name(enum rpc_code code)
{
        const char *s = rpc_code_to_string(code);
        return s ? s : "?";
}

int cli_op_run(struct rpc_client *c, const char *service, const char *method,
               const ProtobufCMessage *in, bool quiet,
               const ProtobufCMessageDescriptor *result_desc, ProtobufCMessage **ret_result,
               struct rpc_status *st)
{
        char m[160];
        Banger__V1__Operation *op = NULL, *fin = NULL;
        snprintf(m, sizeof(m), "/%s/%s", service, method);
        struct rpc_call_opts o = {.deadline_ms = 30000};
        uint64_t t0 = now_mono_msec();
        int r = rpc_call(c, m, in, &banger__v1__operation__descriptor, (ProtobufCMessage **)&op, &o,
                         st);
        if (cli_verbose())
                fprintf(stderr, "banger: %s: %s in %llu ms%s%s\n", m,
                        code_name(r < 0 ? st->code : RPC_OK),
                        (unsigned long long)(now_mono_msec() - t0), r < 0 ? "" : ", operation ",
                        r < 0 ? "" : cli_safe(op->id));
        if (r < 0)
                return r;
        r = cli_op_follow(c, service, op, quiet, &fin, st);
        banger__v1__operation__free_unpacked(op, NULL);
        if (r < 0)
                return r;
        cli_op_status(fin, st);
        if (cli_verbose())
                fprintf(stderr, "banger: operation %s: %s after %llu ms\n", cli_safe(fin->id),
                        code_name(st->code), (unsigned long long)(now_mono_msec() - t0));
        if (st->code != RPC_OK) {
                banger__v1__operation__free_unpacked(fin, NULL);
                return -rpc_code_to_errno(st->code);
        }
        ProtobufCMessage *res = NULL;
        if (result_desc) {
                res =
                    protobuf_c_message_unpack(result_desc, NULL, fin->result.len, fin->result.data);
                if (!res) {
                        banger__v1__operation__free_unpacked(fin, NULL);
                        st->code = RPC_INTERNAL;
                        snprintf(st->message, sizeof(st->message),
                                 "the operation finished without a %s in its result",
                                 result_desc->short_name);
                        return -EIO;
                }
        }
        banger__v1__operation__free_unpacked(fin, NULL);
        if (ret_result)
                *ret_result = res;
        else if (res)
                protobuf_c_message_free_unpacked(res, NULL);
        return 0;
}

int cli_op_call(struct cli *cli, const char *service, const char *method,
                const ProtobufCMessage *in, bool quiet,
                const ProtobufCMessageDescriptor *result_desc, ProtobufCMessage **ret_result,
                struct rpc_status *st)
{
        struct rpc_client *c = NULL;
        int r = cli_gateway(cli, &c, st);
        if (r < 0)
                return r;
        r = cli_op_run(c, service, method, in, quiet, result_desc, ret_result, st);
        rpc_client_close(c);
        return r;
}
