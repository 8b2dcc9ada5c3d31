/* `banger vm list` (also `vm ps` and `banger ps`): the VMs as a table, names
 * (-q), a --format of their fields, or JSON, filtered by --state, --image
 * and --label. The WORKSPACE column comes from WorkspaceService. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "cli.h"
#include "cmd_ops.h"
#include "format.h"
#include "util/macro.h"
#include "vm_labels.h"

enum {
        F_NAME,
        F_ID,
        F_STATE,
        F_IP,
        F_VCPU,
        F_MEM,
        F_DISK,
        F_IMAGE,
        F_KERNEL,
        F_VMM,
        F_ACCEL,
        F_TEMPLATE,
        F_WORKSPACE,
        F_LABELS,
        F_CREATED,
        F_PID,
        F_MAC,
        F_ERROR,
        F_FULL_ID,
        _F_MAX,
};

static const struct cli_field vm_fields[_F_MAX] = {
    [F_NAME] = {"name", "NAME", false},
    [F_ID] = {"id", "ID", false},
    [F_STATE] = {"state", "STATE", false},
    [F_IP] = {"ip", "IP", false},
    [F_VCPU] = {"vcpu", "VCPU", true},
    [F_MEM] = {"mem", "MEM", true},
    [F_DISK] = {"disk", "DISK", true},
    [F_IMAGE] = {"image", "IMAGE", false},
    [F_KERNEL] = {"kernel", "KERNEL", false},
    [F_VMM] = {"vmm", "VMM", false},
    [F_ACCEL] = {"accel", "ACCEL", false},
    [F_TEMPLATE] = {"template", "TEMPLATE", false},
    [F_WORKSPACE] = {"workspace", "WORKSPACE", false},
    [F_LABELS] = {"labels", "LABELS", false},
    [F_CREATED] = {"created", "CREATED", false},
    [F_PID] = {"pid", "PID", true},
    [F_MAC] = {"mac", "MAC", false},
    [F_ERROR] = {"error", "ERROR", false},
    [F_FULL_ID] = {"full_id", "ID", false},
};

#define VM_DEFAULT_COLS "name,state,ip,vcpu,mem,vmm,workspace,id"

static const char *const vm_states[] = {"created",  "starting", "running", "paused",
                                        "stopping", "stopped",  "error"};

static bool uses_field(const struct cli_format *f, size_t field)
{
        for (size_t i = 0; i < f->n_cols; i++)
                if (f->cols[i] == field)
                        return true;
        for (size_t i = 0; i < f->n_parts; i++)
                if (!f->parts[i].text && f->parts[i].field == field)
                        return true;
        return false;
}

/* Every VM's newest workspace host path, by VM id; NULL when workspacesvc
 * does not answer (the column then shows "-"). */
static Banger__V1__ListWorkspacesResponse *list_workspaces(struct cli *cli)
{
        Banger__V1__ListWorkspacesRequest req = BANGER__V1__LIST_WORKSPACES_REQUEST__INIT;
        Banger__V1__ListWorkspacesResponse *resp = NULL;
        struct rpc_status st = {0};
        req.vm = "";
        if (cli_call(cli, "/banger.v1.WorkspaceService/List", &req.base,
                     &banger__v1__list_workspaces_response__descriptor, (ProtobufCMessage **)&resp,
                     10000, RPC_CALL_IDEMPOTENT, &st) < 0)
                return NULL;
        return resp;
}

/* The host path of the VM's newest workspace, "~/…" below $HOME; NULL when
 * it has none. The caller frees. */
static char *workspace_of(const Banger__V1__ListWorkspacesResponse *ws, const char *vm_id)
{
        const Banger__V1__Workspace *best = NULL;
        for (size_t i = 0; ws && i < ws->n_workspaces; i++) {
                const Banger__V1__Workspace *w = ws->workspaces[i];
                if (streq(w->vm_id, vm_id) &&
                    (!best || w->prepared_unix_ms > best->prepared_unix_ms))
                        best = w;
        }
        if (!best || !best->host_path[0])
                return NULL;
        const char *home = getenv("HOME");
        size_t hl = home ? strlen(home) : 0;
        char *s = NULL;
        if (hl > 1 && strncmp(best->host_path, home, hl) == 0 &&
            (best->host_path[hl] == '/' || best->host_path[hl] == '\0')) {
                if (asprintf(&s, "~%s", best->host_path + hl) < 0)
                        s = NULL;
                return s;
        }
        return strdup(best->host_path);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
        va_list ap;
        char *s = NULL;
        va_start(ap, f);
        if (vasprintf(&s, f, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

static void vm_row(const Banger__V1__Vm *v, const char *workspace, char **row)
{
        char when[32] = "";
        time_t t = (time_t)(v->created_unix_ms / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
        row[F_NAME] = strdup(v->name);
        row[F_ID] = fmt("%.12s", v->id);
        row[F_FULL_ID] = strdup(v->id);
        row[F_STATE] = strdup(v->state);
        row[F_IP] = strdup(v->ip);
        row[F_VCPU] = fmt("%u", v->vcpu);
        row[F_MEM] = fmt("%uM", v->memory_mib);
        char disk[32];
        cli_format_bytes(disk, sizeof(disk), v->work_disk_bytes);
        row[F_DISK] = strdup(disk);
        row[F_IMAGE] = strdup(v->image);
        row[F_KERNEL] = strdup(v->kernel);
        row[F_VMM] = strdup(v->vmm);
        row[F_ACCEL] = strdup(v->accel);
        row[F_TEMPLATE] = strdup(v->template_);
        row[F_WORKSPACE] = workspace ? strdup(workspace) : NULL;
        row[F_LABELS] = cli_vm_labels_join(v);
        row[F_CREATED] = strdup(when);
        row[F_PID] = v->pid ? fmt("%d", v->pid) : NULL;
        row[F_MAC] = strdup(v->mac);
        row[F_ERROR] = strdup(v->error);
}

/* The parts of a list command every list shares: -q, --format. */
int cli_list_format(struct cli *cli, const struct cli_field *fields, size_t n_fields,
                    const char *default_cols, struct cli_format *ret)
{
        struct bg_error err = {0};
        if (cli_flag(cli, "json") && (cli_flag(cli, "quiet") || cli_flag_value(cli, "format")))
                return cli_fail(RPC_INVALID_ARGUMENT, "--json excludes -q and --format");
        if (cli_format_parse(cli_flag_value(cli, "format"), cli_flag(cli, "quiet"), fields,
                             n_fields, default_cols, ret, &err) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        return 0;
}

int cmd_vm_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct cli_format f = {0};
        struct cli_filter flt = {0};
        struct bg_error err = {0};
        int r = cli_list_format(cli, vm_fields, _F_MAX, VM_DEFAULT_COLS, &f);
        if (r)
                return r;
        flt.state = cli_flag_value(cli, "state");
        flt.image = cli_flag_value(cli, "image");
        if (flt.state) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(vm_states); i++)
                        known = known || streq(flt.state, vm_states[i]);
                if (!known) {
                        cli_format_done(&f);
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "--state '%s': use created, starting, running, paused, "
                                        "stopping, stopped or error",
                                        flt.state);
                }
        }
        size_t nl = 0;
        const char *const *labels = cli_flag_values(cli, "label", &nl);
        if (cli_filter_labels(&flt, labels, nl, &err) < 0) {
                cli_format_done(&f);
                cli_filter_done(&flt);
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        }

        /* The service keeps only VMs with every --label (ListVmsRequest.labels);
         * --state and --image are applied here. */
        Banger__V1__ListVmsRequest req = BANGER__V1__LIST_VMS_REQUEST__INIT;
        req.labels = (char **)labels;
        req.n_labels = nl;
        struct cli_filter here = flt;
        here.n_labels = 0;
        Banger__V1__ListVmsResponse *resp = NULL;
        struct rpc_status st = {0};
        if (cli_call(cli, "/banger.v1.VmService/List", &req.base,
                     &banger__v1__list_vms_response__descriptor, (ProtobufCMessage **)&resp, 10000,
                     RPC_CALL_IDEMPOTENT, &st) < 0) {
                cli_format_done(&f);
                cli_filter_done(&flt);
                return cli_fail_status(&st);
        }
        bool json = cli_flag(cli, "json");
        Banger__V1__ListWorkspacesResponse *ws =
            json || uses_field(&f, F_WORKSPACE) ? list_workspaces(cli) : NULL;

        json_t *arr = json ? json_array() : NULL;
        char ***rows = calloc(resp->n_vms ? resp->n_vms : 1, sizeof(*rows));
        size_t n_rows = 0;
        for (size_t i = 0; rows && i < resp->n_vms; i++) {
                const Banger__V1__Vm *v = resp->vms[i];
                if (!cli_filter_match(&here, v->state, v->image, NULL, NULL, 0))
                        continue;
                char *w = workspace_of(ws, v->id);
                if (json) {
                        json_t *o = cli_vm_json(v);
                        json_object_set_new(o, "workspace",
                                            w ? json_string(cli_utf8(w)) : json_null());
                        json_array_append_new(arr, o);
                } else if ((rows[n_rows] = calloc(_F_MAX, sizeof(char *)))) {
                        vm_row(v, w, rows[n_rows]);
                        n_rows++;
                }
                free(w);
        }
        if (json)
                cli_print_json(arr);
        else
                cli_format_print(&f, vm_fields, _F_MAX, (const char *const *const *)rows, n_rows,
                                 stdout);
        for (size_t i = 0; i < n_rows; i++) {
                for (size_t c = 0; c < _F_MAX; c++)
                        free(rows[i][c]);
                free(rows[i]);
        }
        free(rows);
        if (ws)
                banger__v1__list_workspaces_response__free_unpacked(ws, NULL);
        banger__v1__list_vms_response__free_unpacked(resp, NULL);
        cli_format_done(&f);
        cli_filter_done(&flt);
        return 0;
}
