/* `banger vm …`: the VM lifecycle verbs, through the gateway to VmService. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/agent.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "cmd_ops.h"
#include "multi.h"
#include "vm_forwards.h"
#include "vm_labels.h"
#include "util/names.h"
#include "util/timeutil.h"

#define VM_SERVICE "banger.v1.VmService"

static int vm_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
                   const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                   uint32_t deadline_ms, unsigned flags, struct rpc_status *st)
{
        char m[128];
        snprintf(m, sizeof(m), "/" VM_SERVICE "/%s", method);
        return cli_call(cli, m, in, od, out, deadline_ms, flags, st);
}

/* A probe of a guest's agent (Ports, Stats, AgentHealth). vmsvc runs one per
 * VM at a time and refuses another at once (ABORTED, "busy"); for a healthy
 * guest that one ends in milliseconds, so the call is tried again for up to
 * 3 s before the busy error is shown. */
static int vm_probe_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
                         const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                         uint32_t deadline_ms, struct rpc_status *st)
{
        uint64_t until = now_mono_msec() + 3000;
        for (;;) {
                int r = vm_call(cli, method, in, od, out, deadline_ms, RPC_CALL_IDEMPOTENT, st);
                if (r >= 0 || st->code != RPC_ABORTED || now_mono_msec() >= until)
                        return r;
                sleep_msec(100);
        }
}

/* --json: strings exact (jansson escapes control characters); bytes that
 * are not UTF-8 cannot be in JSON and become U+FFFD (cli_utf8). */
json_t *cli_vm_json(const Banger__V1__Vm *v)
{
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,"
            "s:s}",
            "id", cli_utf8(v->id), "name", cli_utf8(v->name), "state", cli_utf8(v->state), "vcpu",
            v->vcpu, "memory_mib", v->memory_mib, "work_disk_bytes", (json_int_t)v->work_disk_bytes,
            "image", cli_utf8(v->image), "kernel", cli_utf8(v->kernel), "vmm", cli_utf8(v->vmm),
            "accel", cli_utf8(v->accel), "ip", cli_utf8(v->ip), "mac", cli_utf8(v->mac), "tap",
            cli_utf8(v->tap), "pid", v->pid, "created_unix_ms", (json_int_t)v->created_unix_ms,
            "updated_unix_ms", (json_int_t)v->updated_unix_ms, "host_key", cli_utf8(v->host_key));
        if (o && v->error[0])
                json_object_set_new(o, "error", json_string(cli_utf8(v->error)));
        if (o) {
                json_object_set_new(o, "template", json_string(cli_utf8(v->template_)));
                json_object_set_new(o, "root_disk", json_string(cli_utf8(v->root_disk)));
                json_object_set_new(o, "init", json_string(cli_utf8(v->init)));
                json_object_set_new(o, "labels", cli_vm_labels_json(v));
                json_object_set_new(o, "forwards", cli_vm_forwards_json(v));
                if (v->root_disk_path[0])
                        json_object_set_new(o, "root_disk_path",
                                            json_string(cli_utf8(v->root_disk_path)));
        }
        return o;
}

static void vm_print(const Banger__V1__Vm *v)
{
        printf("name:      %s\nid:        %s\nstate:     %s\n", cli_safe(v->name), cli_safe(v->id),
               cli_safe(v->state));
        if (v->error[0])
                printf("error:     %s\n", cli_safe(v->error));
        printf("vcpu:      %u\nmemory:    %u MiB\n", v->vcpu, v->memory_mib);
        char disk[32];
        cli_format_bytes(disk, sizeof(disk), v->work_disk_bytes);
        printf("work disk: %s\nimage:     %s\nkernel:    %s\nvmm:       %s%s%s%s\n", disk,
               cli_safe(v->image), cli_safe(v->kernel), cli_safe(v->vmm), v->accel[0] ? " (" : "",
               cli_safe(v->accel), v->accel[0] ? ")" : "");
        if (v->root_disk[0])
                printf("root disk: %s\n", cli_safe(v->root_disk));
        if (streq(v->init, "agent"))
                printf("init:      banger's agent (no sshd)\n");
        if (v->ip[0])
                printf("address:   %s (%s.vm)\nmac:       %s\n", cli_safe(v->ip), cli_safe(v->name),
                       cli_safe(v->mac));
        if (v->tap[0])
                printf("tap:       %s\n", cli_safe(v->tap));
        if (v->pid)
                printf("pid:       %d\n", v->pid);
        if (v->host_key[0])
                printf("host key:  %s\n", cli_safe(v->host_key));
        if (v->template_[0])
                printf("template:  %s (its root disk reads through the template's)\n",
                       cli_safe(v->template_));
        for (size_t i = 0; i < v->n_labels; i++)
                printf("%-10s %s=%s\n", i ? "" : "labels:", cli_safe(v->labels[i]->key),
                       cli_safe(v->labels[i]->value));
        cli_vm_forwards_print(v);
}

static int parse_u32(const char *flag, const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || end == s || v < min || v > max)
                return cli_fail(RPC_INVALID_ARGUMENT, "--%s: '%s' is not a number in %u..%u", flag,
                                s, min, max);
        *ret = (uint32_t)v;
        return 0;
}

/* Runs an Operation-returning call to its end and prints the VM. */
static int follow_vm_op(struct cli *cli, const char *method, const ProtobufCMessage *in)
{
        bool json = cli_flag(cli, "json");
        struct rpc_status st = {0};
        Banger__V1__Vm *vm = NULL;
        int r = cli_op_call(cli, VM_SERVICE, method, in, json, &banger__v1__vm__descriptor,
                            (ProtobufCMessage **)&vm, &st);
        if (r < 0)
                return cli_fail_status(&st);
        if (json)
                cli_print_json(cli_vm_json(vm));
        else
                printf("VM %s is %s%s%s\n", cli_safe(vm->name), cli_safe(vm->state),
                       vm->ip[0] ? " at " : "", cli_safe(vm->ip));
        banger__v1__vm__free_unpacked(vm, NULL);
        return 0;
}

int cmd_vm_create(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__CreateVmRequest req = BANGER__V1__CREATE_VM_REQUEST__INIT;
        struct bg_error err = {0};
        const char *v;
        int r;
        if ((v = cli_flag_value(cli, "name"))) {
                if (bg_name_check_dns_label("VM name", v, &err) < 0)
                        return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
                req.name = (char *)v;
        }
        if ((v = cli_flag_value(cli, "image")))
                req.image = (char *)v;
        if ((v = cli_flag_value(cli, "kernel")))
                req.kernel = (char *)v;
        if ((v = cli_flag_value(cli, "vcpu")) && (r = parse_u32("vcpu", v, 1, 32, &req.vcpu)))
                return r;
        if ((v = cli_flag_value(cli, "mem")) &&
            (r = parse_u32("mem", v, 128, 262144, &req.memory_mib)))
                return r;
        if ((v = cli_flag_value(cli, "disk")) &&
            (r = cli_parse_size("disk", v, &req.work_disk_bytes)))
                return r;
        char real[PATH_MAX];
        if ((v = cli_flag_value(cli, "workspace"))) {
                if (!realpath(v, real))
                        return cli_fail(RPC_NOT_FOUND, "workspace %s: %s", v, strerror(errno));
                req.workspace_host_path = real;
                if ((v = cli_flag_value(cli, "guest-path")))
                        req.workspace_guest_path = (char *)v;
        } else if (cli_flag_value(cli, "guest-path")) {
                return cli_fail(RPC_INVALID_ARGUMENT, "--guest-path goes with --workspace");
        }
        if ((v = cli_flag_value(cli, "template")))
                req.template_ = (char *)v;
        req.cold = cli_flag(cli, "cold");
        if (req.cold && req.template_[0])
                return cli_fail(RPC_INVALID_ARGUMENT, "--template and --cold exclude each other");
        req.no_start = cli_flag(cli, "no-start");
        if (req.no_start && req.template_[0])
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "--template and --no-start exclude each other");
        if ((v = cli_flag_value(cli, "init"))) {
                if (!streq(v, "image") && !streq(v, "agent"))
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--init %s: say image (the image's own init) or agent "
                                        "(banger's agent as PID 1)",
                                        v);
                if (streq(v, "agent") && req.template_[0])
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--template and --init agent exclude each other");
                req.init = (char *)v;
        }
        if ((r = cli_vm_labels_from_flags(cli, &req)) == 0)
                r = follow_vm_op(cli, "Create", &req.base);
        cli_vm_labels_free(&req);
        return r;
}

/* One VM of a verb that may name many (multi.h). */
struct vm_verb {
        const char *method;
        uint32_t deadline_ms;
        const char *done_word; /* "VM NAME stopped" */
        bool json, force, operation;
};

static void vm_verb_one(struct cli *cli, const char *ref, void *userdata,
                        struct cli_multi_result *res)
{
        const struct vm_verb *vv = userdata;
        Banger__V1__Vm *vm = NULL;
        int r;
        if (vv->operation) {
                Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
                req.ref = (char *)ref;
                r = cli_op_call(cli, VM_SERVICE, vv->method, &req.base, vv->json,
                                &banger__v1__vm__descriptor, (ProtobufCMessage **)&vm, &res->st);
        } else if (strcmp(vv->method, "Delete") == 0) {
                Banger__V1__DeleteVmRequest req = BANGER__V1__DELETE_VM_REQUEST__INIT;
                Banger__V1__DeleteVmResponse *resp = NULL;
                req.ref = (char *)ref;
                req.force = vv->force;
                r = vm_call(cli, "Delete", &req.base, &banger__v1__delete_vm_response__descriptor,
                            (ProtobufCMessage **)&resp, vv->deadline_ms, 0, &res->st);
                if (r < 0)
                        return;
                res->ok = true;
                if (vv->json)
                        res->json = json_pack("{s:s,s:s}", "id", cli_utf8(resp->id), "name",
                                              cli_utf8(resp->name));
                else if (asprintf(&res->out, "VM %s deleted", cli_safe(resp->name)) < 0)
                        res->out = NULL;
                banger__v1__delete_vm_response__free_unpacked(resp, NULL);
                return;
        } else {
                Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
                req.ref = (char *)ref;
                r = vm_call(cli, vv->method, &req.base, &banger__v1__vm__descriptor,
                            (ProtobufCMessage **)&vm, vv->deadline_ms, 0, &res->st);
        }
        if (r < 0)
                return;
        res->ok = true;
        if (vv->json)
                res->json = cli_vm_json(vm);
        else if (vv->operation)
                r = asprintf(&res->out, "VM %s is %s%s%s", cli_safe(vm->name), cli_safe(vm->state),
                             vm->ip[0] ? " at " : "", cli_safe(vm->ip));
        else
                r = asprintf(&res->out, "VM %s %s", cli_safe(vm->name), vv->done_word);
        if (r < 0)
                res->out = NULL;
        banger__v1__vm__free_unpacked(vm, NULL);
}

static int vm_verb(struct cli *cli, int argc, char **argv, struct vm_verb vv)
{
        vv.json = cli_flag(cli, "json");
        vv.force = cli_flag(cli, "force");
        /* Operations (start, restart) one after the other, each with its
         * progress and Ctrl-C; the quick verbs side by side. */
        return cli_multi_run(cli, argc, argv, !vv.operation, vm_verb_one, &vv);
}

int cmd_vm_start(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(cli, argc, argv, (struct vm_verb){.method = "Start", .operation = true});
}

int cmd_vm_stop(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(
            cli, argc, argv,
            (struct vm_verb){.method = "Stop", .deadline_ms = 60000, .done_word = "stopped"});
}

int cmd_vm_pause(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(
            cli, argc, argv,
            (struct vm_verb){.method = "Pause", .deadline_ms = 15000, .done_word = "paused"});
}

int cmd_vm_resume(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(
            cli, argc, argv,
            (struct vm_verb){.method = "Resume", .deadline_ms = 15000, .done_word = "resumed"});
}

int cmd_vm_kill(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(
            cli, argc, argv,
            (struct vm_verb){.method = "Kill", .deadline_ms = 30000, .done_word = "killed"});
}

int cmd_vm_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(
            cli, argc, argv,
            (struct vm_verb){.method = "Delete", .deadline_ms = 60000, .done_word = "deleted"});
}

int cmd_vm_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__Vm *vm = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (vm_call(cli, "Get", &req.base, &banger__v1__vm__descriptor, (ProtobufCMessage **)&vm,
                    10000, RPC_CALL_IDEMPOTENT, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json"))
                cli_print_json(cli_vm_json(vm));
        else
                vm_print(vm);
        banger__v1__vm__free_unpacked(vm, NULL);
        return 0;
}

int cmd_vm_restart(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        return vm_verb(cli, argc, argv, (struct vm_verb){.method = "Restart", .operation = true});
}

int cmd_vm_set(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__SetVmRequest req = BANGER__V1__SET_VM_REQUEST__INIT;
        Banger__V1__Vm *vm = NULL;
        struct rpc_status st = {0};
        const char *v;
        int r;
        req.ref = argv[0];
        if ((v = cli_flag_value(cli, "vcpu")) && (r = parse_u32("vcpu", v, 1, 32, &req.vcpu)))
                return r;
        if ((v = cli_flag_value(cli, "mem")) &&
            (r = parse_u32("mem", v, 128, 262144, &req.memory_mib)))
                return r;
        if ((v = cli_flag_value(cli, "disk")) &&
            (r = cli_parse_size("disk", v, &req.work_disk_bytes)))
                return r;
        if (!req.vcpu && !req.memory_mib && !req.work_disk_bytes)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "nothing to set: give --vcpu, --mem or --disk");
        if (vm_call(cli, "Set", &req.base, &banger__v1__vm__descriptor, (ProtobufCMessage **)&vm,
                    120000, 0, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json"))
                cli_print_json(cli_vm_json(vm));
        else
                printf("VM %s: %u vCPU, %u MiB\n", cli_safe(vm->name), vm->vcpu, vm->memory_mib);
        banger__v1__vm__free_unpacked(vm, NULL);
        return 0;
}

int cmd_vm_logs(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool follow = cli_flag(cli, "follow");
        /* The console is the guest's: raw into a pipe or file, escaped on a
         * terminal (it could retitle it, clear it, or worse). */
        bool tty = isatty(STDOUT_FILENO);
        struct cli_safe_stream esc = {0};
        uint64_t off = 0;
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &c, &st) < 0)
                return cli_fail_status(&st);
        for (;;) {
                Banger__V1__VmLogsRequest req = BANGER__V1__VM_LOGS_REQUEST__INIT;
                Banger__V1__VmLogsResponse *resp = NULL;
                req.ref = argv[0];
                req.offset = off;
                req.max_bytes = 1 << 20;
                struct rpc_call_opts o = {.deadline_ms = 10000, .flags = RPC_CALL_IDEMPOTENT};
                if (rpc_call(c, "/banger.v1.VmService/Logs", &req.base,
                             &banger__v1__vm_logs_response__descriptor, (ProtobufCMessage **)&resp,
                             &o, &st) < 0) {
                        rpc_client_close(c);
                        return cli_fail_status(&st);
                }
                if (resp->data.len && tty)
                        cli_safe_write(stdout, &esc, resp->data.data, resp->data.len);
                else if (resp->data.len)
                        fwrite(resp->data.data, 1, resp->data.len, stdout);
                fflush(stdout);
                bool more = resp->next_offset < resp->size;
                off = resp->next_offset;
                banger__v1__vm_logs_response__free_unpacked(resp, NULL);
                if (more)
                        continue;
                if (!follow)
                        break;
                sleep_msec(300);
        }
        if (tty)
                cli_safe_flush(stdout, &esc);
        rpc_client_close(c);
        return 0;
}

int cmd_vm_stats(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__VmStats *s = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (vm_probe_call(cli, "Stats", &req.base, &banger__v1__vm_stats__descriptor,
                    (ProtobufCMessage **)&s, 15000, &st) < 0)
                return cli_fail_status(&st);
        Banger__V1__AgentStats *g = s->guest;
        if (cli_flag(cli, "json")) {
                json_t *o = json_pack("{s:s,s:I,s:I}", "name", cli_utf8(s->name), "vmm_cpu_ms",
                                      (json_int_t)s->vmm_cpu_ms, "vmm_rss_bytes",
                                      (json_int_t)s->vmm_rss_bytes);
                if (g && g->memory && g->cpu)
                        json_object_set_new(
                            o, "guest",
                            json_pack("{s:i,s:I,s:I,s:I}", "cpus", g->cpu->count, "mem_total_bytes",
                                      (json_int_t)g->memory->total_bytes, "mem_available_bytes",
                                      (json_int_t)g->memory->available_bytes, "cpu_idle_ms",
                                      (json_int_t)g->cpu->idle_ms));
                cli_print_json(o);
        } else {
                char rss[32];
                cli_format_bytes(rss, sizeof(rss), s->vmm_rss_bytes);
                printf("VM %s\nhost:  VMM cpu %.1f s, rss %s\n", cli_safe(s->name),
                       (double)s->vmm_cpu_ms / 1000.0, rss);
                if (g && g->memory && g->cpu) {
                        char tot[32], av[32];
                        cli_format_bytes(tot, sizeof(tot), g->memory->total_bytes);
                        cli_format_bytes(av, sizeof(av), g->memory->available_bytes);
                        printf("guest: %u CPUs, memory %s (%s available)\n", g->cpu->count, tot,
                               av);
                        if (g->load)
                                printf("       load %.2f %.2f %.2f\n", g->load->load1,
                                       g->load->load5, g->load->load15);
                        for (size_t i = 0; i < g->n_disks; i++) {
                                char u[32], t[32];
                                cli_format_bytes(u, sizeof(u),
                                                 g->disks[i]->total_bytes -
                                                     g->disks[i]->free_bytes);
                                cli_format_bytes(t, sizeof(t), g->disks[i]->total_bytes);
                                printf("       %s: %s of %s used\n", cli_safe(g->disks[i]->path), u,
                                       t);
                        }
                }
        }
        banger__v1__vm_stats__free_unpacked(s, NULL);
        return 0;
}

int cmd_vm_ports(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__VmPortsResponse *p = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (cli_flag(cli, "open"))
                return cli_vm_ports_open(cli, argv[0]);
        if (vm_probe_call(cli, "Ports", &req.base, &banger__v1__vm_ports_response__descriptor,
                    (ProtobufCMessage **)&p, 30000, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < p->n_ports; i++) {
                        Banger__V1__VmPort *x = p->ports[i];
                        json_t *procs = json_array();
                        for (size_t k = 0; k < x->n_processes; k++)
                                json_array_append_new(procs,
                                                      json_string(cli_utf8(x->processes[k])));
                        json_array_append_new(
                            arr, json_pack("{s:s,s:s,s:i,s:o,s:s}", "proto", cli_utf8(x->proto),
                                           "address", cli_utf8(x->address), "port", x->port,
                                           "processes", procs, "url", cli_utf8(x->url)));
                }
                cli_print_json(arr);
        } else {
                printf("%-5s %-24s %6s %-20s %s\n", "PROTO", "ADDRESS", "PORT", "PROCESS", "URL");
                for (size_t i = 0; i < p->n_ports; i++) {
                        Banger__V1__VmPort *x = p->ports[i];
                        printf("%-5s %-24s %6u %-20s %s\n", cli_safe(x->proto),
                               cli_safe(x->address), x->port,
                               x->n_processes ? cli_safe(x->processes[0]) : "-", cli_safe(x->url));
                }
        }
        banger__v1__vm_ports_response__free_unpacked(p, NULL);
        return 0;
}

int cmd_vm_health(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__AgentHealth *h = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (vm_probe_call(cli, "AgentHealth", &req.base, &banger__v1__agent_health__descriptor,
                    (ProtobufCMessage **)&h, 15000, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json"))
                cli_print_json(json_pack(
                    "{s:s,s:s,s:s,s:I,s:s}", "hostname", cli_utf8(h->hostname), "kernel_release",
                    cli_utf8(h->kernel_release), "agent_version", cli_utf8(h->agent_version),
                    "uptime_ms", (json_int_t)h->uptime_ms, "boot_id", cli_utf8(h->boot_id)));
        else
                printf("agent %s on %s (kernel %s), up %.0f s\n", cli_safe(h->agent_version),
                       cli_safe(h->hostname), cli_safe(h->kernel_release),
                       (double)h->uptime_ms / 1000.0);
        banger__v1__agent_health__free_unpacked(h, NULL);
        return 0;
}

int cmd_vm_prune(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        if (!cli_flag(cli, "force")) {
                if (!isatty(STDIN_FILENO))
                        return cli_fail(
                            RPC_INVALID_ARGUMENT,
                            "vm prune deletes every VM that is not running; pass --force "
                            "when not at a terminal");
                fprintf(stderr, "Delete every stopped, created and error VM and its disks? [y/N] ");
                char ans[8] = "";
                if (!fgets(ans, sizeof(ans), stdin) || (ans[0] != 'y' && ans[0] != 'Y'))
                        return cli_fail(RPC_CANCELLED, "nothing deleted");
        }
        Banger__V1__PruneVmsRequest req = BANGER__V1__PRUNE_VMS_REQUEST__INIT;
        Banger__V1__PruneVmsResponse *resp = NULL;
        struct rpc_status st = {0};
        if (vm_call(cli, "Prune", &req.base, &banger__v1__prune_vms_response__descriptor,
                    (ProtobufCMessage **)&resp, 120000, 0, &st) < 0)
                return cli_fail_status(&st);
        for (size_t i = 0; i < resp->n_deleted; i++)
                printf("VM %s deleted\n", cli_safe(resp->deleted[i]));
        if (!resp->n_deleted)
                printf("no stopped VMs\n");
        banger__v1__prune_vms_response__free_unpacked(resp, NULL);
        return 0;
}
