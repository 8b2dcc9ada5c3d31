/* `banger template …`: snapshot templates, through the gateway to vmsvc's
 * TemplateService. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banger/v1/template.pb-c.h"
#include "cli.h"
#include "cmd_ops.h"
#include "term.h"
#include "util/names.h"

#define TPL_SERVICE "banger.v1.TemplateService"

static int tpl_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
                    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                    uint32_t deadline_ms, unsigned flags, struct rpc_status *st)
{
        char m[128];
        snprintf(m, sizeof(m), "/" TPL_SERVICE "/%s", method);
        return cli_call(cli, m, in, od, out, deadline_ms, flags, st);
}

static json_t *tpl_json(const Banger__V1__Template *t)
{
        json_t *clones = json_array();
        for (size_t i = 0; i < t->n_clones; i++)
                json_array_append_new(clones, json_string(t->clones[i]));
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:b,s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:o,"
            "s:I,s:I}",
            "id", t->id, "name", t->name, "state", t->state, "auto", t->auto_, "image", t->image,
            "kernel", t->kernel, "vcpu", t->vcpu, "memory_mib", t->memory_mib, "work_disk_bytes",
            (json_int_t)t->work_disk_bytes, "vmm", t->vmm, "accel", t->accel, "source_vm",
            t->source_vm, "dir", t->dir, "memory_file_bytes", (json_int_t)t->memory_file_bytes,
            "disk_bytes", (json_int_t)t->disk_bytes, "clones", clones, "created_unix_ms",
            (json_int_t)t->created_unix_ms, "updated_unix_ms", (json_int_t)t->updated_unix_ms);
        if (o && t->error[0])
                json_object_set_new(o, "error", json_string(cli_utf8(t->error)));
        return o;
}

static void tpl_print(const Banger__V1__Template *t)
{
        char mem[32], disk[32];
        cli_format_bytes(mem, sizeof(mem), t->memory_file_bytes);
        cli_format_bytes(disk, sizeof(disk), t->disk_bytes);
        printf("name:      %s%s\nid:        %s\nstate:     %s\n", t->name,
               t->auto_ ? " (automatic: vm.template = \"auto\")" : "", t->id, t->state);
        if (t->error[0])
                printf("error:     %s\n", cli_safe(t->error));
        if (t->source_vm[0])
                printf("from VM:   %s\n", t->source_vm);
        printf(
            "image:     %s\nkernel:    %s\nvcpu:      %u\nmemory:    %u MiB\nvmm:       %s%s%s%s\n",
            t->image, t->kernel, t->vcpu, t->memory_mib, t->vmm, t->accel[0] ? " (" : "", t->accel,
            t->accel[0] ? ")" : "");
        printf("on disk:   %s RAM file, %s disks and state\ndirectory: %s\n", mem, disk, t->dir);
        printf("clones:    ");
        for (size_t i = 0; i < t->n_clones; i++)
                printf("%s%s", i ? ", " : "", t->clones[i]);
        printf("%s\n", t->n_clones ? "" : "none");
}

int cmd_template_create(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__CreateTemplateRequest req = BANGER__V1__CREATE_TEMPLATE_REQUEST__INIT;
        struct bg_error err = {0};
        const char *v;
        if (bg_name_check_dns_label("template name", argv[0], &err) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        req.name = argv[0];
        if ((v = cli_flag_value(cli, "image")))
                req.image = (char *)v;
        if ((v = cli_flag_value(cli, "kernel")))
                req.kernel = (char *)v;
        if ((v = cli_flag_value(cli, "from")))
                req.from_vm = (char *)v;
        struct {
                const char *flag;
                uint32_t *dst, min, max;
        } nums[] = {{"vcpu", &req.vcpu, 1, 32}, {"mem", &req.memory_mib, 128, 262144}};
        for (size_t i = 0; i < ELEMENTSOF(nums); i++) {
                if (!(v = cli_flag_value(cli, nums[i].flag)))
                        continue;
                char *end;
                errno = 0;
                unsigned long n = strtoul(v, &end, 10);
                if (errno || *end || end == v || n < nums[i].min || n > nums[i].max)
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--%s: '%s' is not a number in %u..%u", nums[i].flag, v,
                                        nums[i].min, nums[i].max);
                *nums[i].dst = (uint32_t)n;
        }
        if (req.from_vm[0] && (req.image[0] || req.kernel[0] || req.vcpu || req.memory_mib))
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "--from takes the image, kernel, vcpu and memory of the VM; leave "
                                "--image, --kernel, --vcpu and --mem out");
        bool json = cli_flag(cli, "json");
        struct rpc_status st = {0};
        Banger__V1__Template *t = NULL;
        if (cli_op_call(cli, TPL_SERVICE, "Create", &req.base, json,
                        &banger__v1__template__descriptor, (ProtobufCMessage **)&t, &st) < 0)
                return cli_fail_status(&st);
        if (json) {
                cli_print_json(tpl_json(t));
        } else {
                char mem[32];
                cli_format_bytes(mem, sizeof(mem), t->memory_file_bytes);
                printf("template %s is ready (%s RAM file); banger vm run --template %s\n", t->name,
                       mem, t->name);
        }
        banger__v1__template__free_unpacked(t, NULL);
        return 0;
}

int cmd_template_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ListTemplatesRequest req = BANGER__V1__LIST_TEMPLATES_REQUEST__INIT;
        Banger__V1__ListTemplatesResponse *resp = NULL;
        struct rpc_status st = {0};
        if (tpl_call(cli, "List", &req.base, &banger__v1__list_templates_response__descriptor,
                     (ProtobufCMessage **)&resp, 10000, RPC_CALL_IDEMPOTENT, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < resp->n_templates; i++)
                        json_array_append_new(arr, tpl_json(resp->templates[i]));
                cli_print_json(arr);
        } else {
                printf("%-22s %-9s %-20s %5s %8s %9s %6s\n", "NAME", "STATE", "IMAGE", "VCPU",
                       "MEM", "RAM FILE", "CLONES");
                for (size_t i = 0; i < resp->n_templates; i++) {
                        const Banger__V1__Template *t = resp->templates[i];
                        char mem[16], ram[32];
                        snprintf(mem, sizeof(mem), "%uM", t->memory_mib);
                        cli_format_bytes(ram, sizeof(ram), t->memory_file_bytes);
                        printf("%-22s %-9s %-20s %5u %8s %9s %6zu\n", t->name, t->state,
                               t->source_vm[0] ? t->source_vm : t->image, t->vcpu, mem, ram,
                               t->n_clones);
                }
        }
        banger__v1__list_templates_response__free_unpacked(resp, NULL);
        return 0;
}

int cmd_template_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__TemplateRef req = BANGER__V1__TEMPLATE_REF__INIT;
        Banger__V1__Template *t = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (tpl_call(cli, "Get", &req.base, &banger__v1__template__descriptor,
                     (ProtobufCMessage **)&t, 10000, RPC_CALL_IDEMPOTENT, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json"))
                cli_print_json(tpl_json(t));
        else
                tpl_print(t);
        banger__v1__template__free_unpacked(t, NULL);
        return 0;
}

int cmd_template_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__TemplateRef req = BANGER__V1__TEMPLATE_REF__INIT;
        Banger__V1__DeleteTemplateResponse *resp = NULL;
        struct rpc_status st = {0};
        req.ref = argv[0];
        if (tpl_call(cli, "Delete", &req.base, &banger__v1__delete_template_response__descriptor,
                     (ProtobufCMessage **)&resp, 60000, 0, &st) < 0)
                return cli_fail_status(&st);
        printf("template %s deleted\n", resp->name);
        banger__v1__delete_template_response__free_unpacked(resp, NULL);
        return 0;
}
