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
#include "format.h"
#include "util/macro.h"
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

static const struct cli_field tpl_fields[] = {
    {"name", "NAME", false},
    {"id", "ID", false},
    {"state", "STATE", false},
    {"image", "IMAGE", false},
    {"kernel", "KERNEL", false},
    {"vcpu", "VCPU", true},
    {"mem", "MEM", true},
    {"ram_file", "RAM FILE", true},
    {"disk", "DISK", true},
    {"clones", "CLONES", true},
    {"vmm", "VMM", false},
    {"auto", "AUTO", false},
    {"source_vm", "SOURCE VM", false},
};

static const char *const tpl_states[] = {"building", "ready", "error"};

int cmd_template_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ListTemplatesRequest req = BANGER__V1__LIST_TEMPLATES_REQUEST__INIT;
        Banger__V1__ListTemplatesResponse *resp = NULL;
        struct rpc_status st = {0};
        struct cli_format f = {0};
        struct cli_filter flt = {.state = cli_flag_value(cli, "state"),
                                 .image = cli_flag_value(cli, "image")};
        if (flt.state) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(tpl_states); i++)
                        known = known || strcmp(flt.state, tpl_states[i]) == 0;
                if (!known)
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--state '%s': use building, ready or error", flt.state);
        }
        int r = cli_list_format(cli, tpl_fields, ELEMENTSOF(tpl_fields),
                                "name,state,image,vcpu,mem,ram_file,clones", &f);
        if (r)
                return r;
        if (tpl_call(cli, "List", &req.base, &banger__v1__list_templates_response__descriptor,
                     (ProtobufCMessage **)&resp, 10000, RPC_CALL_IDEMPOTENT, &st) < 0) {
                cli_format_done(&f);
                return cli_fail_status(&st);
        }
        size_t nf = ELEMENTSOF(tpl_fields), n = 0;
        json_t *arr = cli_flag(cli, "json") ? json_array() : NULL;
        char **cells = calloc((resp->n_templates ? resp->n_templates : 1) * nf, sizeof(char *));
        const char **rows[resp->n_templates ? resp->n_templates : 1];
        for (size_t i = 0; cells && i < resp->n_templates; i++) {
                const Banger__V1__Template *t = resp->templates[i];
                if (!cli_filter_match(&flt, t->state, t->image, NULL, NULL, 0))
                        continue;
                if (arr) {
                        json_array_append_new(arr, tpl_json(t));
                        continue;
                }
                char **c = cells + n * nf, ram[32], disk[32];
                cli_format_bytes(ram, sizeof(ram), t->memory_file_bytes);
                cli_format_bytes(disk, sizeof(disk), t->disk_bytes);
                c[0] = strdup(t->name);
                c[1] = strndup(t->id, 12);
                c[2] = strdup(t->state);
                c[3] = strdup(t->image);
                c[4] = strdup(t->kernel);
                if (asprintf(&c[5], "%u", t->vcpu) < 0)
                        c[5] = NULL;
                if (asprintf(&c[6], "%uM", t->memory_mib) < 0)
                        c[6] = NULL;
                c[7] = strdup(ram);
                c[8] = strdup(disk);
                if (asprintf(&c[9], "%zu", t->n_clones) < 0)
                        c[9] = NULL;
                c[10] = strdup(t->vmm);
                c[11] = strdup(t->auto_ ? "yes" : "no");
                c[12] = strdup(t->source_vm);
                rows[n++] = (const char **)c;
        }
        if (arr)
                cli_print_json(arr);
        else if (cells)
                cli_format_print(&f, tpl_fields, nf, (const char *const *const *)rows, n, stdout);
        for (size_t i = 0; cells && i < n * nf; i++)
                free(cells[i]);
        free(cells);
        cli_format_done(&f);
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
