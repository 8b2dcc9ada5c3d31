#include "cmd_kernel.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banger/v1/kernel.pb-c.h"
#include "cmd_ops.h"
#include "format.h"
#include "util/macro.h"

#define KERNEL_SERVICE "banger.v1.KernelService"
#define CALL_DEADLINE_MS 30000

static json_t *strv_json(char **v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *kernel_json(const Banger__V1__Kernel *k)
{
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(k->name));
        json_object_set_new(o, "version", json_string(k->version));
        json_object_set_new(o, "format", json_string(k->format));
        json_object_set_new(o, "compression", json_string(k->compression));
        json_object_set_new(o, "size", json_integer((json_int_t)k->size));
        json_object_set_new(o, "sha256", json_string(k->sha256));
        json_object_set_new(o, "source", json_string(k->source));
        json_object_set_new(o, "banner", json_string(k->banner));
        json_object_set_new(o, "created_unix_ms", json_integer((json_int_t)k->created_unix_ms));
        json_object_set_new(o, "dir", json_string(k->dir));
        json_object_set_new(o, "bzimage", json_string(k->bzimage_path));
        json_object_set_new(o, "vmlinux", json_string(k->vmlinux_path));
        json_object_set_new(o, "initramfs", json_string(k->initramfs_path));
        json_object_set_new(o, "modules", json_string(k->modules_path));
        json_object_set_new(o, "initrd", json_string(k->initrd_path));
        json_object_set_new(o, "initramfs_modules",
                            strv_json(k->initramfs_modules, k->n_initramfs_modules));
        json_object_set_new(o, "missing_modules",
                            strv_json(k->missing_modules, k->n_missing_modules));
        return o;
}

static void format_time(int64_t ms, char *buf, size_t len)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static void print_kernel(const Banger__V1__Kernel *k)
{
        char size[32], when[32];
        cli_format_bytes(size, sizeof(size), k->size);
        format_time(k->created_unix_ms, when, sizeof(when));
        printf("name:        %s\n", cli_safe(k->name));
        printf("version:     %s\n", k->version[0] ? cli_safe(k->version) : "-");
        printf("format:      %s%s%s%s\n", cli_safe(k->format), k->compression[0] ? " (" : "",
               cli_safe(k->compression), k->compression[0] ? ")" : "");
        printf("size:        %s\n", size);
        printf("sha256:      %s\n", cli_safe(k->sha256));
        printf("source:      %s\n", cli_safe(k->source));
        printf("created:     %s\n", when);
        printf("directory:   %s\n", cli_safe(k->dir));
        printf("bzImage:     %s\n", k->bzimage_path[0] ? cli_safe(k->bzimage_path) : "-");
        printf("vmlinux:     %s\n", cli_safe(k->vmlinux_path));
        printf("initramfs:   %s\n", cli_safe(k->initramfs_path));
        printf("modules:     %s\n", k->modules_path[0] ? cli_safe(k->modules_path) : "- (none)");
        if (k->initrd_path[0])
                printf("initrd:      %s\n", cli_safe(k->initrd_path));
        printf("initramfs modules (load order):%s\n", k->n_initramfs_modules ? "" : " none");
        for (size_t i = 0; i < k->n_initramfs_modules; i++)
                printf("  %s\n", cli_safe(k->initramfs_modules[i]));
        if (k->n_missing_modules) {
                printf("not found (neither built in nor modules):");
                for (size_t i = 0; i < k->n_missing_modules; i++)
                        printf(" %s", cli_safe(k->missing_modules[i]));
                printf("\n");
        }
}

/* Runs a method that answers with an Operation, follows it, and prints the
 * resulting Kernel. */
static int run_kernel_op(struct cli *cli, const char *method, const ProtobufCMessage *req)
{
        bool json = cli_flag(cli, "json");
        struct rpc_status st = {0};
        Banger__V1__Kernel *k = NULL;
        /* method is "/banger.v1.KernelService/Name": the name after the last '/' */
        const char *name = strrchr(method, '/') + 1;
        int r = cli_op_call(cli, KERNEL_SERVICE, name, req, false, &banger__v1__kernel__descriptor,
                            (ProtobufCMessage **)&k, &st);
        if (r < 0)
                return cli_fail_status(&st);
        if (json)
                cli_print_json(kernel_json(k));
        else
                print_kernel(k);
        banger__v1__kernel__free_unpacked(k, NULL);
        return 0;
}

int cmd_kernel_import(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        /* The service resolves nothing relative to our cwd: send absolute paths. */
        char path[PATH_MAX], initrd[PATH_MAX] = "", modules[PATH_MAX] = "";
        if (!realpath(argv[0], path))
                return cli_fail(errno == ENOENT ? RPC_NOT_FOUND : RPC_INVALID_ARGUMENT,
                                "kernel image %s: %s", argv[0], strerror(errno));
        const char *v = cli_flag_value(cli, "initrd");
        if (v && !realpath(v, initrd))
                return cli_fail(errno == ENOENT ? RPC_NOT_FOUND : RPC_INVALID_ARGUMENT,
                                "--initrd %s: %s", v, strerror(errno));
        v = cli_flag_value(cli, "modules");
        if (v && !realpath(v, modules))
                return cli_fail(errno == ENOENT ? RPC_NOT_FOUND : RPC_INVALID_ARGUMENT,
                                "--modules %s: %s", v, strerror(errno));
        Banger__V1__ImportKernelRequest req = BANGER__V1__IMPORT_KERNEL_REQUEST__INIT;
        req.path = path;
        req.initrd = initrd;
        req.modules_dir = modules;
        v = cli_flag_value(cli, "name");
        if (v)
                req.name = (char *)v;
        return run_kernel_op(cli, "/" KERNEL_SERVICE "/Import", &req.base);
}

int cmd_kernel_pull(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__PullKernelRequest req = BANGER__V1__PULL_KERNEL_REQUEST__INIT;
        req.name = argv[0];
        const char *v = cli_flag_value(cli, "catalog");
        char url[PATH_MAX + 8];
        if (v) {
                /* A local catalog file may be named by its path. */
                char abs[PATH_MAX];
                if (!strstr(v, "://") && realpath(v, abs)) {
                        snprintf(url, sizeof(url), "file://%s", abs);
                        req.catalog_url = url;
                } else {
                        req.catalog_url = (char *)v;
                }
        }
        return run_kernel_op(cli, "/" KERNEL_SERVICE "/Pull", &req.base);
}

static int call(struct cli *cli, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
        struct rpc_status st = {0};
        int r = cli_call(cli, method, req, desc, ret, CALL_DEADLINE_MS, RPC_CALL_IDEMPOTENT, &st);
        return r < 0 ? cli_fail_status(&st) : 0;
}

static const struct cli_field kernel_fields[] = {
    {"name", "NAME", false},       {"version", "VERSION", false},
    {"format", "FORMAT", false},   {"compression", "COMPRESSION", false},
    {"size", "SIZE", true},        {"modules", "MODULES", false},
    {"created", "CREATED", false}, {"sha256", "SHA256", false},
    {"source", "SOURCE", false},   {"dir", "DIR", false},
};

int cmd_kernel_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ListKernelsRequest req = BANGER__V1__LIST_KERNELS_REQUEST__INIT;
        Banger__V1__ListKernelsResponse *resp = NULL;
        struct cli_format f = {0};
        int r = cli_list_format(cli, kernel_fields, ELEMENTSOF(kernel_fields),
                                "name,version,format,size,modules,created", &f);
        if (r)
                return r;
        r = call(cli, "/" KERNEL_SERVICE "/List", &req.base,
                 &banger__v1__list_kernels_response__descriptor, (ProtobufCMessage **)&resp);
        if (r != 0) {
                cli_format_done(&f);
                return r;
        }
        if (cli_flag(cli, "json")) {
                json_t *a = json_array();
                for (size_t i = 0; i < resp->n_kernels; i++)
                        json_array_append_new(a, kernel_json(resp->kernels[i]));
                cli_print_json(a);
        } else if (resp->n_kernels == 0 && f.kind == CLI_FORMAT_TABLE &&
                   !cli_flag_value(cli, "format")) {
                printf("No kernels. Get one with `banger kernel pull %s` or `banger kernel "
                       "import PATH`.\n",
                       "debian-cloud-amd64");
        } else {
                size_t nf = ELEMENTSOF(kernel_fields);
                char **cells = calloc((resp->n_kernels ? resp->n_kernels : 1) * nf, sizeof(char *));
                const char **rows[resp->n_kernels ? resp->n_kernels : 1];
                for (size_t i = 0; cells && i < resp->n_kernels; i++) {
                        Banger__V1__Kernel *k = resp->kernels[i];
                        char **c = cells + i * nf, size[32], when[32];
                        cli_format_bytes(size, sizeof(size), k->size);
                        format_time(k->created_unix_ms, when, sizeof(when));
                        c[0] = strdup(k->name);
                        c[1] = strdup(k->version);
                        c[2] = strdup(k->format);
                        c[3] = strdup(k->compression);
                        c[4] = strdup(size);
                        c[5] = strdup(k->modules_path[0] ? "yes" : "no");
                        c[6] = strdup(when);
                        c[7] = strdup(k->sha256);
                        c[8] = strdup(k->source);
                        c[9] = strdup(k->dir);
                        rows[i] = (const char **)c;
                }
                if (cells)
                        cli_format_print(&f, kernel_fields, nf, (const char *const *const *)rows,
                                         resp->n_kernels, stdout);
                for (size_t i = 0; cells && i < resp->n_kernels * nf; i++)
                        free(cells[i]);
                free(cells);
        }
        cli_format_done(&f);
        banger__v1__list_kernels_response__free_unpacked(resp, NULL);
        return 0;
}

int cmd_kernel_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ShowKernelRequest req = BANGER__V1__SHOW_KERNEL_REQUEST__INIT;
        req.name = argv[0];
        Banger__V1__Kernel *k = NULL;
        int r = call(cli, "/" KERNEL_SERVICE "/Show", &req.base, &banger__v1__kernel__descriptor,
                     (ProtobufCMessage **)&k);
        if (r != 0)
                return r;
        if (cli_flag(cli, "json"))
                cli_print_json(kernel_json(k));
        else
                print_kernel(k);
        banger__v1__kernel__free_unpacked(k, NULL);
        return 0;
}

int cmd_kernel_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__DeleteKernelRequest req = BANGER__V1__DELETE_KERNEL_REQUEST__INIT;
        req.name = argv[0];
        Banger__V1__DeleteKernelResponse *resp = NULL;
        struct rpc_status st = {0};
        /* Not idempotent on the wire: a retry would report NOT_FOUND. */
        int r = cli_call(cli, "/" KERNEL_SERVICE "/Delete", &req.base,
                         &banger__v1__delete_kernel_response__descriptor,
                         (ProtobufCMessage **)&resp, CALL_DEADLINE_MS, 0, &st);
        if (r < 0)
                return cli_fail_status(&st);
        banger__v1__delete_kernel_response__free_unpacked(resp, NULL);
        printf("deleted kernel %s\n", argv[0]);
        return 0;
}

int cmd_kernel_ops(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ListOperationsRequest req = BANGER__V1__LIST_OPERATIONS_REQUEST__INIT;
        req.include_done = cli_flag(cli, "all");
        Banger__V1__ListOperationsResponse *resp = NULL;
        int r = call(cli, "/" KERNEL_SERVICE "/ListOperations", &req.base,
                     &banger__v1__list_operations_response__descriptor, (ProtobufCMessage **)&resp);
        if (r != 0)
                return r;
        if (cli_flag(cli, "json")) {
                json_t *a = json_array();
                for (size_t i = 0; i < resp->n_operations; i++) {
                        Banger__V1__Operation *op = resp->operations[i];
                        json_t *o = json_pack(
                            "{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:I}", "id", op->id, "kind", op->kind,
                            "target", op->target, "stage", op->stage, "done_bytes",
                            (json_int_t)op->done_bytes, "total_bytes", (json_int_t)op->total_bytes,
                            "done", op->done, "started_unix_ms", (json_int_t)op->started_unix_ms);
                        if (op->done && op->status) {
                                const char *code = rpc_code_to_string(op->status->code);
                                json_object_set_new(o, "status", json_string(code ? code : "?"));
                                json_object_set_new(o, "message", json_string(op->status->message));
                        }
                        json_array_append_new(a, o);
                }
                cli_print_json(a);
        } else {
                printf("%-16s %-14s %-24s %-10s %s\n", "ID", "KIND", "TARGET", "STAGE", "STATE");
                for (size_t i = 0; i < resp->n_operations; i++) {
                        Banger__V1__Operation *op = resp->operations[i];
                        const char *state = "running";
                        if (op->done && op->status)
                                state = (int)op->status->code == RPC_OK
                                            ? "done"
                                            : rpc_code_to_string(op->status->code);
                        printf("%-16s %-14s %-24s %-10s %s\n", cli_safe(op->id), cli_safe(op->kind),
                               cli_safe(op->target), cli_safe(op->stage), state ? state : "failed");
                }
        }
        banger__v1__list_operations_response__free_unpacked(resp, NULL);
        return 0;
}
