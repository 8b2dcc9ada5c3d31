/* VmService: the RPC handler table (vmsvc_vm_methods in vmsvc.h) and its
 * handlers. Each validates its request, then hands the work to the
 * lifecycle (vm_lifecycle.h: create and start run as operations, ops.h),
 * the registry (vm_store.h) or the probes (vm_probes.h). */
#include "vmsvc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "banger/v1/vm.pb-c.h"
#include "forwards.h"
#include "fwd/fwd.h"
#include "log/log.h"
#include "util/labels.h"
#include "util/macro.h"
#include "util/names.h"
#include "util/timeutil.h"
#include "vm_boot.h"
#include "vm_clone.h"
#include "vm_fetch.h"
#include "vm_probes.h"
#include "vm_store.h"

/* ---- conversions ---- */

static char *dup_or_empty(const char *s)
{
        return strdup(s ? s : "");
}

static int fill_vm(const struct vm_record *r, const char *tpl_name, Banger__V1__Vm *out)
{
        out->template_ = strdup(tpl_name);
        if (!out->template_)
                return -ENOMEM;
        out->id = dup_or_empty(r->id);
        out->name = dup_or_empty(r->name);
        out->state = dup_or_empty(vm_state_to_string(r->state));
        out->error = dup_or_empty(r->error);
        out->image = dup_or_empty(r->image);
        out->kernel = dup_or_empty(r->kernel);
        out->vmm = dup_or_empty(r->vmm);
        out->accel = dup_or_empty(r->accel);
        out->ip = dup_or_empty(r->ip);
        out->mac = dup_or_empty(r->mac);
        out->tap = dup_or_empty(r->tap);
        out->host_key = dup_or_empty(r->host_key);
        out->root_disk = dup_or_empty(r->root_disk);
        out->init = dup_or_empty(r->agent_init ? "agent" : "image");
        if (!out->id || !out->name || !out->state || !out->error || !out->image || !out->kernel ||
            !out->vmm || !out->accel || !out->ip || !out->mac || !out->tap || !out->host_key ||
            !out->root_disk || !out->init)
                return -ENOMEM;
        out->vcpu = r->vcpu;
        out->memory_mib = r->memory_mib;
        out->work_disk_bytes = r->work_disk_bytes;
        out->pid = r->pid;
        out->created_unix_ms = r->created_unix_ms;
        out->updated_unix_ms = r->updated_unix_ms;
        return 0;
}

static int get_record(struct vmsvc *v, const char *ref, struct vm_record *r, struct bg_error *err)
{
        return vm_load(&v->env, ref, r, err);
}

/* The name of the template a VM was cloned from ("" when it booted cold;
 * its id when the template is gone). */
static void template_name(struct vmsvc *v, const struct vm_record *r, char name[64])
{
        name[0] = '\0';
        if (!r->template_id[0])
                return;
        struct tpl_record t;
        struct bg_error e = {0};
        pthread_mutex_lock(&v->mu);
        int x = tpl_store_resolve(v->d->db, r->template_id, &t, &e);
        pthread_mutex_unlock(&v->mu);
        snprintf(name, 64, "%s", x == 0 ? t.name : r->template_id);
}

/* The VM's labels into out->labels (entries owned by out). */
static int fill_labels(struct vmsvc *v, const struct vm_record *r, Banger__V1__Vm *out)
{
        char **k = NULL, **val = NULL;
        size_t n = 0;
        struct bg_error e = {0};
        pthread_mutex_lock(&v->mu);
        int x = vm_store_get_labels(v->d->db, r->id, &k, &val, &n, &e);
        pthread_mutex_unlock(&v->mu);
        if (x < 0)
                return x;
        if (n == 0)
                return 0;
        out->labels = calloc(n, sizeof(*out->labels));
        if (!out->labels) {
                bg_labels_free(k, val, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                Banger__V1__Vm__LabelsEntry *le = malloc(sizeof(*le));
                if (!le) {
                        bg_labels_free(k, val, n);
                        return -ENOMEM;
                }
                banger__v1__vm__labels_entry__init(le);
                le->key = TAKE_PTR(k[i]);
                le->value = TAKE_PTR(val[i]);
                out->labels[out->n_labels++] = le;
        }
        bg_labels_free(k, val, n);
        return 0;
}

static int fill_vm_of(struct vmsvc *v, const struct vm_record *r, Banger__V1__Vm *out)
{
        char tname[64];
        template_name(v, r, tname);
        int x = fill_vm(r, tname, out);
        if (x >= 0) {
                char root[VMM_PATH_MAX + 64 + 16];
                snprintf(root, sizeof(root), "%s/%s/%s", v->env.vms_dir, r->id,
                         vm_root_file(r->vmm));
                out->root_disk_path = strdup(root);
                out->root_disk_format = strdup(vm_root_is_qcow2(r->vmm) ? "qcow2" : "raw");
                if (!out->root_disk_path || !out->root_disk_format)
                        x = -ENOMEM;
        }
        if (x >= 0)
                x = fill_labels(v, r, out);
        return x < 0 ? x : forwards_fill(v->fwds, r->id, out);
}

static int reply_vm(struct vmsvc *v, const char *id, Banger__V1__Vm *out, struct bg_error *err);

/* ---- operations ---- */

struct vm_op {
        struct vmsvc *v;
        char id[33];
        bool fresh;
        bool restart;
        bool clone; /* resume from tpl instead of booting */
        struct tpl_record tpl;
        struct tpl_request want_auto; /* name set: build this template after a cold create */
        char ws_host[4096];           /* workspace for the new VM's work disk, or "" */
        char ws_guest[4096];
        bool no_start;         /* make the VM, leave it stopped */
        struct vm_fetch fetch; /* image/kernel operations a cold create waits for */
};

/* The VM of a create that never reached its steps is left in state error
 * with the reason (as a failed step leaves it). */
static void op_mark_error(struct vmsvc *v, const char *id, const struct bg_error *why)
{
        struct vm_record rec;
        struct bg_error e = {0};
        if (vm_load(&v->env, id, &rec, &e) < 0)
                return;
        rec.state = VM_ERROR;
        snprintf(rec.error, sizeof(rec.error), "%s", why->msg);
        if (vm_save(&v->env, &rec, &e) < 0)
                log_error("VM %s: could not record its error: %s", rec.name, e.msg);
        log_warn("VM %s failed to create: %s", rec.name, why->msg);
}

static void op_progress(void *ctx, const char *stage)
{
        ops_ctx_stage(ctx, stage);
}

static int vm_op_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct vm_op *op = ud;
        int r = 0;
        if (op->restart) {
                struct vm_record cur;
                r = get_record(op->v, op->id, &cur, err);
                if (r >= 0 && cur.state == VM_RUNNING)
                        r = vm_stop(&op->v->env, op->id, err);
                if (r < 0)
                        return r;
        }
        struct vm_progress p = {.fn = op_progress, .ctx = ctx, .cancel = ops_ctx_cancel_flag(ctx)};
        if (op->fresh && !op->clone &&
            (r = vm_fetch_wait(&op->v->peers, &op->fetch, ctx, err)) < 0) {
                op_mark_error(op->v, op->id, err);
                return r;
        }
        if (op->clone)
                r = vm_clone(&op->v->env, op->id, &op->tpl, op->ws_host, op->ws_guest, &p, err);
        else if (op->fresh && op->no_start)
                r = vm_create_stopped(&op->v->env, op->id, op->ws_host, op->ws_guest, &p, err);
        else if (op->fresh)
                r = vm_create(&op->v->env, op->id, op->ws_host, op->ws_guest, &p, err);
        else
                r = vm_start(&op->v->env, op->id, &p, err);
        if (r < 0)
                return r;
        /* vm.template = "auto": the first VM of its kind is up; the template
         * for the next ones is made now, in the background. */
        if (op->want_auto.name[0])
                tpl_auto_build(&op->v->tpl, &op->want_auto);
        struct vm_record rec;
        r = get_record(op->v, op->id, &rec, err);
        if (r < 0)
                return r;
        Banger__V1__Vm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__vm__init(vm);
        r = fill_vm_of(op->v, &rec, vm);
        if (r == 0)
                r = ops_ctx_set_result(ctx, &vm->base);
        banger__v1__vm__free_unpacked(vm, NULL);
        return r < 0 ? bg_error_set(err, -r, "out of memory") : 0;
}

static int start_op(struct vmsvc *v, const struct vm_record *rec, bool fresh, bool restart,
                    const Banger__V1__CreateVmRequest *create, const struct tpl_record *tpl,
                    const struct tpl_request *want_auto, const struct vm_fetch *fetch,
                    Banger__V1__Operation *out, struct bg_error *err)
{
        struct vm_op *op = calloc(1, sizeof(*op));
        if (!op)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (tpl) {
                op->clone = true;
                op->tpl = *tpl;
        }
        if (want_auto)
                op->want_auto = *want_auto;
        if (fetch)
                op->fetch = *fetch;
        if (create) {
                op->no_start = create->no_start;
                snprintf(op->ws_host, sizeof(op->ws_host), "%s", create->workspace_host_path);
                snprintf(op->ws_guest, sizeof(op->ws_guest), "%s", create->workspace_guest_path);
        }
        op->v = v;
        op->fresh = fresh;
        op->restart = restart;
        snprintf(op->id, sizeof(op->id), "%s", rec->id);
        /* A fetch first: "image" and "kernel", then the create's own stages. */
        static const char *const stopped_fetch_stages[] = {"image", "kernel", "reserve", "disks"};
        const char *const *stages = vm_create_stages;
        size_t n_stages = vm_n_create_stages;
        bool fetching = op->fetch.image_op[0] || op->fetch.kernel_op[0];
        if (op->clone) {
                stages = vm_clone_stages;
                n_stages = vm_n_clone_stages;
        } else if (op->no_start) {
                stages = fetching ? stopped_fetch_stages : vm_create_stopped_stages;
                n_stages = fetching ? ELEMENTSOF(stopped_fetch_stages) : vm_n_create_stopped_stages;
        } else if (fetching) {
                stages = vm_fetch_create_stages;
                n_stages = vm_n_fetch_create_stages;
        }
        struct ops_start s = {
            .kind = fresh     ? "vm.create"
                    : restart ? "vm.restart"
                              : "vm.start",
            .target = rec->name,
            .stages = stages,
            .n_stages = n_stages,
            .dedup = true,
            .fn = vm_op_work,
            .userdata = op,
            .free_userdata = free,
        };
        return ops_start_fill(v->ops, &s, out, err);
}

/* ---- handlers ---- */

static int vm_health(struct vmsvc *v, const Banger__V1__HealthRequest *in,
                     Banger__V1__HealthResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

static bool name_ok(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.' ||
                      s[i] == ':' || s[i] == '/' || s[i] == '@'))
                        return false;
        return true;
}

/* The workspace of a create: checked here too, so that a bad one leaves no
 * row (workspacesvc checks again when it writes). */
static int workspace_args_check(const Banger__V1__CreateVmRequest *in, struct bg_error *err)
{
        const char *h = in->workspace_host_path, *g = in->workspace_guest_path;
        struct stat st;
        if (!h[0]) {
                if (g[0])
                        return bg_error_set(err, EINVAL,
                                            "a workspace guest path needs a host path");
                return 0;
        }
        if (h[0] != '/' || strlen(h) >= 4096)
                return bg_error_set(err, EINVAL, "workspace path \"%.200s\" must be absolute", h);
        if (stat(h, &st) < 0 || !S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOENT, "workspace %.200s is not a directory", h);
        if (g[0] &&
            ((strncmp(g, "/root/", 6) != 0 && strncmp(g, "~/", 2) != 0) || strstr(g, "/../") ||
             strlen(g) >= 4096 || (strlen(g) >= 3 && strcmp(g + strlen(g) - 3, "/..") == 0)))
                return bg_error_set(
                    err, EINVAL,
                    "workspace guest path \"%.200s\" must be below /root, without \"..\"", g);
        return 0;
}

/* The labels of a create, against config vm.max_labels and
 * vm.max_label_value (RPC clients choose them: each cost has a cap). */
static int labels_check(const struct bg_config *cfg, const Banger__V1__CreateVmRequest *in,
                        struct bg_error *err)
{
        size_t n = in->n_labels;
        if (n > cfg->vm.max_labels)
                return bg_error_set(err, EFBIG, "%zu labels; at most %u (config vm.max_labels)", n,
                                    cfg->vm.max_labels);
        const char **k = calloc(n ? n : 1, sizeof(char *));
        const char **val = calloc(n ? n : 1, sizeof(char *));
        int r = 0;
        if (!k || !val)
                r = bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < n; i++) {
                k[i] = in->labels[i]->key;
                val[i] = in->labels[i]->value;
        }
        if (r == 0)
                r = bg_labels_check(k, val, n, cfg->vm.max_labels, cfg->vm.max_label_value, err);
        free(k);
        free(val);
        return r;
}

static int store_labels(struct vmsvc *v, const char *id, const Banger__V1__CreateVmRequest *in,
                        struct bg_error *err)
{
        size_t n = in->n_labels;
        const char **k = calloc(n ? n : 1, sizeof(char *));
        const char **val = calloc(n ? n : 1, sizeof(char *));
        int r = 0;
        if (!k || !val)
                r = bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r == 0 && i < n; i++) {
                k[i] = in->labels[i]->key;
                val[i] = in->labels[i]->value;
        }
        if (r == 0)
                r = vm_store_set_labels(v->d->db, id, k, val, n, err);
        free(k);
        free(val);
        return r;
}

static int vm_create_h(struct vmsvc *v, const Banger__V1__CreateVmRequest *in,
                       Banger__V1__Operation *out, const struct rpc_call *call,
                       struct bg_error *err)
{
        const struct bg_config *cfg = &v->d->cfg;
        struct vm_record rec = {.state = VM_CREATED};
        int r = 0;

        /* Validate everything before a row exists: a bad request leaves none. */
        if (in->name[0] && (r = bg_name_check_dns_label("VM name", in->name, err)) < 0)
                return r;
        const char *image = in->image[0] ? in->image : cfg->vm.default_image;
        const char *kernel = in->kernel[0] ? in->kernel : cfg->vm.default_kernel;
        if (!name_ok(image, 200))
                return bg_error_set(err, EINVAL, "image name '%.80s' is not valid", image);
        if (in->kernel[0] && !name_ok(in->kernel, 64))
                return bg_error_set(err, EINVAL, "kernel name '%.80s' is not valid", in->kernel);
        rec.vcpu = in->vcpu ? in->vcpu : cfg->vm.vcpu;
        rec.memory_mib = in->memory_mib ? in->memory_mib : cfg->vm.memory_mib;
        rec.work_disk_bytes = in->work_disk_bytes ? in->work_disk_bytes : cfg->vm.work_disk_size;
        if (rec.vcpu < 1 || rec.vcpu > 32)
                return bg_error_set(err, EINVAL, "vcpu %u is outside 1..32", rec.vcpu);
        if (rec.memory_mib < 128 || rec.memory_mib > 262144)
                return bg_error_set(err, EINVAL, "memory %u MiB is outside 128..262144",
                                    rec.memory_mib);
        if (rec.work_disk_bytes < (64ull << 20) || rec.work_disk_bytes > (16ull << 40))
                return bg_error_set(err, EINVAL, "work disk size %llu is outside 64 MiB..16 TiB",
                                    (unsigned long long)rec.work_disk_bytes);
        if ((r = workspace_args_check(in, err)) < 0)
                return r;
        if ((r = labels_check(cfg, in, err)) < 0)
                return r;
        if (in->template_[0] && in->cold)
                return bg_error_set(err, EINVAL, "a template and a cold boot exclude each other");
        if (in->init[0] && !streq(in->init, "image") && !streq(in->init, "agent"))
                return bg_error_set(err, EINVAL, "init '%.40s' is neither image nor agent",
                                    in->init);
        rec.agent_init = streq(in->init, "agent");
        /* A template is made and resumed by its sshd being up (template.c):
         * the agent as init boots every VM cold. */
        if (rec.agent_init && in->template_[0])
                return bg_error_set(err, EINVAL,
                                    "a template and --init agent exclude each other (a VM with "
                                    "the agent as init has no sshd; it always boots cold)");
        if (in->template_[0] &&
            (r = bg_name_check_dns_label("template name", in->template_, err)) < 0)
                return r;
        if (in->template_[0] && in->no_start)
                return bg_error_set(err, EINVAL,
                                    "a template and no-start exclude each other (a clone "
                                    "resumes a running machine)");
        /* What is missing is pulled or built by imagesvc (vm_fetch.h); an
         * unknown image name fails here, before a row exists. A template
         * names its own image and kernel. */
        struct vm_fetch fetch = {0};
        if (!in->template_[0]) {
                /* No --kernel: the kernel the image records, else the default. */
                if ((r = vm_fetch_plan(&v->peers, image, cfg->vm.default_image, in->kernel,
                                       cfg->vm.default_kernel, &fetch, err)) < 0)
                        return r;
                image = fetch.image;
                kernel = fetch.kernel;
                if (!name_ok(kernel, 64))
                        return bg_error_set(err, EINVAL,
                                            "image %s records kernel '%.80s', which is not a valid "
                                            "kernel name; give --kernel",
                                            image, kernel);
        }
        snprintf(rec.image, sizeof(rec.image), "%s", image);
        snprintf(rec.kernel, sizeof(rec.kernel), "%s", kernel);
        snprintf(rec.vmm, sizeof(rec.vmm), "%s", v->env.vmm);

        /* Resume a template, or boot cold (and maybe make the template). */
        struct tpl_record tpl;
        struct tpl_request want_auto;
        int clone = tpl_pick(&v->tpl, cfg->vm.template_, in->template_,
                             in->cold || in->no_start || rec.agent_init, image, kernel, rec.vcpu,
                             rec.memory_mib, rec.work_disk_bytes, &tpl, &want_auto, err);
        if (clone < 0)
                return clone;
        if (clone) {
                /* The template is the machine: what the request sets must agree. */
                if ((in->image[0] && !streq(image, tpl.image)) ||
                    (in->kernel[0] && !streq(in->kernel, tpl.kernel)) ||
                    (in->vcpu && in->vcpu != tpl.vcpu) ||
                    (in->memory_mib && in->memory_mib != tpl.memory_mib))
                        return bg_error_set(err, EINVAL,
                                            "template %s is image %s, kernel %s, %u vCPU, %u MiB; "
                                            "leave those out or ask for a cold boot",
                                            tpl.name, tpl.image, tpl.kernel, tpl.vcpu,
                                            tpl.memory_mib);
                snprintf(rec.image, sizeof(rec.image), "%s", tpl.image);
                snprintf(rec.kernel, sizeof(rec.kernel), "%s", tpl.kernel);
                rec.vcpu = tpl.vcpu;
                rec.memory_mib = tpl.memory_mib;
                rec.work_disk_bytes = tpl.work_disk_bytes;
                snprintf(rec.vmm, sizeof(rec.vmm), "%s", tpl.vmm);
                snprintf(rec.template_id, sizeof(rec.template_id), "%s", tpl.id);
        }
        vm_new_id(rec.id);
        rec.created_unix_ms = rec.updated_unix_ms = (int64_t)now_real_msec();

        pthread_mutex_lock(&v->mu);
        if (in->name[0])
                snprintf(rec.name, sizeof(rec.name), "%s", in->name);
        else
                r = vm_generate_name(v->d->db, rec.id, rec.name, err);
        /* The row names its template under the same lock a template delete
         * takes: a template cannot go while a clone of it is being made. */
        struct tpl_record again;
        if (r >= 0 && clone && tpl_store_resolve(v->d->db, tpl.id, &again, err) < 0)
                r = bg_error_set(err, ENOENT, "template %s was deleted just now", tpl.name);
        if (r >= 0 && clone) {
                again.updated_unix_ms = rec.created_unix_ms; /* most recently used */
                r = tpl_store_update(v->d->db, &again, err);
        }
        if (r >= 0)
                r = vm_store_insert(v->d->db, &rec, err);
        if (r >= 0 && in->n_labels && (r = store_labels(v, rec.id, in, err)) < 0) {
                struct bg_error e2 = {0};
                (void)vm_store_delete(v->d->db, rec.id, &e2); /* no row without its labels */
        }
        pthread_mutex_unlock(&v->mu);
        if (r < 0)
                return r;
        vmsvc_ssh_refresh(v);
        if (clone)
                log_info("creating VM %s (%s) from template %s", rec.name, rec.id, tpl.name);
        else
                log_info("creating VM %s (%s) from image %s, kernel %s", rec.name, rec.id, image,
                         kernel);
        return start_op(v, &rec, true, false, in, clone ? &tpl : NULL,
                        want_auto.name[0] && !in->no_start ? &want_auto : NULL,
                        clone ? NULL : &fetch, out, err);
}

/* Start (restart false) or restart a VM: refused while it is starting or
 * stopping, and for a start while it runs. */
static int boot_existing(struct vmsvc *v, const char *ref, bool restart, Banger__V1__Operation *out,
                         struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, ref, &rec, err);
        if (r < 0)
                return r;
        if ((!restart && rec.state == VM_RUNNING) || rec.state == VM_STARTING ||
            rec.state == VM_STOPPING)
                return bg_error_set(err, EBUSY, "VM %s is %s", rec.name,
                                    vm_state_to_string(rec.state));
        return start_op(v, &rec, false, restart, NULL, NULL, NULL, NULL, out, err);
}

static int vm_start_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Operation *out,
                      const struct rpc_call *call, struct bg_error *err)
{
        return boot_existing(v, in->ref, false, out, err);
}

static int vm_restart_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Operation *out,
                        const struct rpc_call *call, struct bg_error *err)
{
        return boot_existing(v, in->ref, true, out, err);
}

static int vm_set_h(struct vmsvc *v, const Banger__V1__SetVmRequest *in, Banger__V1__Vm *out,
                    const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        r = vm_set(&v->env, rec.id, in->vcpu, in->memory_mib, in->work_disk_bytes, err);
        return r < 0 ? r : reply_vm(v, rec.id, out, err);
}

static int vm_logs_h(struct vmsvc *v, const Banger__V1__VmLogsRequest *in,
                     Banger__V1__VmLogsResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return vm_probe_logs(&v->env, in, out, err);
}

static int vm_stats_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__VmStats *out,
                      const struct rpc_call *call, struct bg_error *err)
{
        return vm_probe_stats(&v->env, in->ref, out, err);
}

static int vm_ports_h(struct vmsvc *v, const Banger__V1__VmRef *in,
                      Banger__V1__VmPortsResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        return vm_probe_ports(&v->env, in->ref, out, err);
}

static int vm_agent_health_h(struct vmsvc *v, const Banger__V1__VmRef *in,
                             Banger__V1__AgentHealth *out, const struct rpc_call *call,
                             struct bg_error *err)
{
        return vm_probe_health(&v->env, in->ref, out, err);
}

static int vm_prune_h(struct vmsvc *v, const Banger__V1__PruneVmsRequest *in,
                      Banger__V1__PruneVmsResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        int r = vm_load_all(&v->env, &all, &n, err);
        if (r < 0)
                return r;
        out->deleted = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; out->deleted && i < n; i++) {
                if (all[i].state != VM_STOPPED && all[i].state != VM_ERROR &&
                    all[i].state != VM_CREATED)
                        continue;
                struct bg_error e = {0};
                if (vm_delete(&v->env, all[i].id, false, &e) < 0) {
                        log_warn("prune: VM %s: %s", all[i].name, e.msg);
                        continue;
                }
                out->deleted[out->n_deleted++] = strdup(all[i].name);
        }
        free(all);
        return out->deleted ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

static int reply_vm(struct vmsvc *v, const char *id, Banger__V1__Vm *out, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, id, &rec, err);
        if (r < 0)
                return r;
        r = fill_vm_of(v, &rec, out);
        return r < 0 ? bg_error_set(err, ENOMEM, "out of memory") : 0;
}

/* Resolves ref, runs act on the VM and answers with its record after. */
static int act_and_reply(struct vmsvc *v, const char *ref,
                         int (*act)(struct vm_env *env, const char *id, struct bg_error *err),
                         Banger__V1__Vm *out, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, ref, &rec, err);
        if (r >= 0)
                r = act(&v->env, rec.id, err);
        return r < 0 ? r : reply_vm(v, rec.id, out, err);
}

static int vm_stop_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                     const struct rpc_call *call, struct bg_error *err)
{
        return act_and_reply(v, in->ref, vm_stop, out, err);
}

static int vm_kill_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                     const struct rpc_call *call, struct bg_error *err)
{
        return act_and_reply(v, in->ref, vm_kill, out, err);
}

static int vm_delete_h(struct vmsvc *v, const Banger__V1__DeleteVmRequest *in,
                       Banger__V1__DeleteVmResponse *out, const struct rpc_call *call,
                       struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        r = vm_delete(&v->env, rec.id, in->force, err);
        if (r < 0)
                return r;
        out->id = strdup(rec.id);
        out->name = strdup(rec.name);
        return out->id && out->name ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

/* Whether vm (filled) carries every label filter of the request. */
static bool labels_match(const Banger__V1__ListVmsRequest *in, const Banger__V1__Vm *vm)
{
        const char *k[vm->n_labels ? vm->n_labels : 1], *val[vm->n_labels ? vm->n_labels : 1];
        for (size_t i = 0; i < vm->n_labels; i++) {
                k[i] = vm->labels[i]->key;
                val[i] = vm->labels[i]->value;
        }
        for (size_t i = 0; i < in->n_labels; i++)
                if (!bg_label_selector_match(in->labels[i], k, val, vm->n_labels))
                        return false;
        return true;
}

#define LIST_MAX_LABEL_FILTERS 64

static int vm_list_h(struct vmsvc *v, const Banger__V1__ListVmsRequest *in,
                     Banger__V1__ListVmsResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        if (in->n_labels > LIST_MAX_LABEL_FILTERS)
                return bg_error_set(err, EINVAL, "%zu label filters; at most %d", in->n_labels,
                                    LIST_MAX_LABEL_FILTERS);
        for (size_t i = 0; i < in->n_labels; i++)
                if (bg_label_selector_check(in->labels[i], err) < 0)
                        return -err->code;
        struct vm_record *all = NULL;
        size_t n = 0;
        int r = vm_load_all(&v->env, &all, &n, err);
        if (r < 0)
                return r;
        out->vms = calloc(n ? n : 1, sizeof(*out->vms));
        if (!out->vms) {
                free(all);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                Banger__V1__Vm *vm = calloc(1, sizeof(*vm));
                if (!vm) {
                        free(all);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
                banger__v1__vm__init(vm);
                out->vms[out->n_vms++] = vm;
                if (fill_vm_of(v, &all[i], vm) < 0) {
                        free(all);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
                if (!labels_match(in, vm)) {
                        /* out owns it until now: freed here, not sent */
                        banger__v1__vm__free_unpacked(out->vms[--out->n_vms], NULL);
                        out->vms[out->n_vms] = NULL;
                }
        }
        free(all);
        return 0;
}

static int vm_pause_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                      const struct rpc_call *call, struct bg_error *err)
{
        return act_and_reply(v, in->ref, vm_pause, out, err);
}

static int vm_resume_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                       const struct rpc_call *call, struct bg_error *err)
{
        return act_and_reply(v, in->ref, vm_resume, out, err);
}

static int vm_get_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                    const struct rpc_call *call, struct bg_error *err)
{
        return reply_vm(v, in->ref, out, err);
}

static int vm_forward_h(struct vmsvc *v, const Banger__V1__ForwardRequest *in,
                        Banger__V1__Vm *out, const struct rpc_call *call, struct bg_error *err)
{
        if (in->n_forwards == 0 || in->n_forwards > FWD_MAX_RULES)
                return bg_error_set(err, EINVAL, "between 1 and %d ports at once", FWD_MAX_RULES);
        for (size_t i = 0; i < in->n_forwards; i++) {
                const Banger__V1__VmForward *f = in->forwards[i];
                struct in_addr a;
                if (f->guest_port == 0 || f->guest_port > 65535 || f->host_port > 65535)
                        return bg_error_set(err, EINVAL,
                                            "ports are 1-65535 (host port 0 = any free one)");
                if (f->address[0] &&
                    (strlen(f->address) > 15 || inet_pton(AF_INET, f->address, &a) != 1))
                        return bg_error_set(err, EINVAL, "'%.40s' is not an IPv4 address",
                                            f->address);
                if (f->error[0])
                        return bg_error_set(err, EINVAL, "a requested forward has no error");
        }
        char id[33];
        int r = forwards_add(v->fwds, in->ref, in->forwards, in->n_forwards, id, err);
        return r < 0 ? r : reply_vm(v, id, out, err);
}

static int vm_unforward_h(struct vmsvc *v, const Banger__V1__UnforwardRequest *in,
                          Banger__V1__Vm *out, const struct rpc_call *call, struct bg_error *err)
{
        if (!in->all && in->n_host_ports == 0)
                return bg_error_set(err, EINVAL, "name host ports, or all");
        if (in->n_host_ports > 1024)
                return bg_error_set(err, EINVAL, "at most 1024 host ports at once");
        for (size_t i = 0; i < in->n_host_ports; i++)
                if (in->host_ports[i] == 0 || in->host_ports[i] > 65535)
                        return bg_error_set(err, EINVAL, "host ports are 1-65535");
        char id[33];
        int r = forwards_remove(v->fwds, in->ref, in->host_ports, in->n_host_ports, in->all, id,
                                err);
        return r < 0 ? r : reply_vm(v, id, out, err);
}

int vmsvc_get_op_h(struct vmsvc *v, const Banger__V1__GetOperationRequest *in,
                   Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err)
{
        return ops_rpc_get(v->ops, in, out, err);
}

int vmsvc_cancel_op_h(struct vmsvc *v, const Banger__V1__CancelOperationRequest *in,
                      Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err)
{
        return ops_rpc_cancel(v->ops, in, out, err);
}

int vmsvc_list_ops_h(struct vmsvc *v, const Banger__V1__ListOperationsRequest *in,
                     Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return ops_rpc_list(v->ops, in, out, err);
}

const struct rpc_method_impl vmsvc_vm_methods[] = {
    RPC_METHOD("Health", vm_health),
    RPC_METHOD("Create", vm_create_h),
    RPC_METHOD("Start", vm_start_h),
    /* Waits up to vm.stop_timeout + 3 s for a guest that may not answer. */
    RPC_METHOD_SLOW("Stop", vm_stop_h),
    RPC_METHOD("Kill", vm_kill_h),
    RPC_METHOD("Delete", vm_delete_h),
    RPC_METHOD("List", vm_list_h),
    RPC_METHOD("Get", vm_get_h),
    RPC_METHOD("GetOperation", vmsvc_get_op_h),
    RPC_METHOD("CancelOperation", vmsvc_cancel_op_h),
    RPC_METHOD("ListOperations", vmsvc_list_ops_h),
    RPC_METHOD("Restart", vm_restart_h),
    RPC_METHOD("Set", vm_set_h),
    RPC_METHOD("Logs", vm_logs_h),
    RPC_METHOD_GUEST("Stats", vm_stats_h),
    RPC_METHOD_GUEST("Ports", vm_ports_h),
    RPC_METHOD_GUEST("AgentHealth", vm_agent_health_h),
    RPC_METHOD("Prune", vm_prune_h),
    RPC_METHOD("Pause", vm_pause_h),
    RPC_METHOD("Resume", vm_resume_h),
    RPC_METHOD("Forward", vm_forward_h),
    RPC_METHOD("Unforward", vm_unforward_h),
};
const size_t vmsvc_n_vm_methods = ELEMENTSOF(vmsvc_vm_methods);
