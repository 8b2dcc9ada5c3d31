#include "vmsvc.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "agent/agent_client.h"
#include <curl/curl.h>
#include <arpa/inet.h>
#include "log/log.h"
#include "reconcile.h"
#include "util/names.h"
#include "util/timeutil.h"
#include "idle.h"
#include "ssh_files.h"
#include "vm_store.h"
#include "vmm/firecracker/fc_version.h"
#include "vmm/vmm_proc.h"

/* The schema lives with the registry code (vm_store.c). */
const struct store_migration *const vmsvc_migrations = vm_store_migrations;

const struct vmm_driver *vmsvc_driver_for(const char *vmm)
{
        if (strcmp(vmm, "qemu") == 0)
                return &vmm_qemu_driver;
        if (strcmp(vmm, "firecracker") == 0)
                return &vmm_firecracker_driver;
        return NULL;
}

/* Rewrites CONFIG/ssh/{config,known_hosts} from the VM records (see
 * ssh_files.h). Failures are logged: ssh access is a convenience next to the
 * VM itself. */
static void ssh_refresh(void *ud)
{
        struct vmsvc *v = ud;
        struct bg_error err = {0};
        struct vm_record *all = NULL;
        size_t n = 0;
        char dir[PATH_MAX], key[PATH_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/ssh", v->d->paths.config_dir);
        snprintf(key, sizeof(key), "%s/id_ed25519", dir);
        pthread_mutex_lock(&v->ssh_mu);
        pthread_mutex_lock(&v->mu);
        int r = vm_store_list(v->d->db, &all, &n, &err);
        pthread_mutex_unlock(&v->mu);
        if (r >= 0)
                r = ssh_files_write(dir, key, all, n, &err);
        pthread_mutex_unlock(&v->ssh_mu);
        free(all);
        if (r < 0)
                log_warn("could not update the ssh config for VMs: %s", err.msg);
}

/* ---- calls to the other services (struct vm_deps) ---- */

static int call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, const char *what,
                struct bg_error *err)
{
        struct rpc_status st;
        struct rpc_call_opts o = {.deadline_ms = 20000, .connect_wait_ms = 2000};
        int r = rpc_call(c, method, in, od, out, &o, &st);
        if (r < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code), "%s: %s", what, st.message);
        return 0;
}

static int dep_kernel(void *ud, const char *name, struct vm_kernel_info *ret, struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__ShowKernelRequest req = BANGER__V1__SHOW_KERNEL_REQUEST__INIT;
        Banger__V1__Kernel *k = NULL;
        req.name = (char *)name;
        int r = call(v->imagesvc, "/banger.v1.KernelService/Show", &req.base,
                     &banger__v1__kernel__descriptor, (ProtobufCMessage **)&k, "kernel", err);
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->bzimage, sizeof(ret->bzimage), "%s", k->bzimage_path);
        snprintf(ret->vmlinux, sizeof(ret->vmlinux), "%s", k->vmlinux_path);
        snprintf(ret->initramfs, sizeof(ret->initramfs), "%s", k->initramfs_path);
        snprintf(ret->modules, sizeof(ret->modules), "%s", k->modules_path);
        banger__v1__kernel__free_unpacked(k, NULL);
        return 0;
}

static int dep_image(void *ud, const char *name, struct vm_image_info *ret, struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *img = NULL;
        req.name = (char *)name;
        int r = call(v->imagesvc, "/banger.v1.ImageService/Show", &req.base,
                     &banger__v1__image__descriptor, (ProtobufCMessage **)&img, "image", err);
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->rootfs, sizeof(ret->rootfs), "%s", img->rootfs_path);
        snprintf(ret->work_seed, sizeof(ret->work_seed), "%s", img->work_seed_path);
        ret->has_init = img->has_init;
        ret->has_sshd = img->has_sshd;
        banger__v1__image__free_unpacked(img, NULL);
        return 0;
}

static int dep_lease(void *ud, const char *vm, struct vm_net_info *ret, struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__NetLeaseRequest req = BANGER__V1__NET_LEASE_REQUEST__INIT;
        Banger__V1__NetLeaseResponse *resp = NULL;
        req.vm_name = (char *)vm;
        int r = call(v->netsvc, "/banger.v1.NetService/Lease", &req.base,
                     &banger__v1__net_lease_response__descriptor, (ProtobufCMessage **)&resp,
                     "network lease", err);
        if (r < 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        if (resp->lease) {
                snprintf(ret->ip, sizeof(ret->ip), "%s", resp->lease->ip);
                snprintf(ret->mac, sizeof(ret->mac), "%s", resp->lease->mac);
                snprintf(ret->gateway, sizeof(ret->gateway), "%s", resp->lease->gateway);
                /* netsvc's DNS server answers on the bridge address */
                snprintf(ret->dns, sizeof(ret->dns), "%s", resp->lease->gateway);
                ret->prefix = resp->lease->prefix;
        }
        banger__v1__net_lease_response__free_unpacked(resp, NULL);
        if (!ret->ip[0])
                return bg_error_set(err, EIO, "netsvc returned no address for %s", vm);
        return 0;
}

static int dep_release_lease(void *ud, const char *vm, struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__NetReleaseRequest req = BANGER__V1__NET_RELEASE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.vm_name = (char *)vm;
        int r = call(v->netsvc, "/banger.v1.NetService/Release", &req.base,
                     &banger__v1__net_release_response__descriptor, &resp, "release lease", err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

static int dep_write_work_disk(void *ud, const struct vm_record *rec, const char *work_disk,
                               bool fresh, const char *ws_host, const char *ws_guest,
                               struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__WriteWorkDiskRequest req = BANGER__V1__WRITE_WORK_DISK_REQUEST__INIT;
        Banger__V1__WriteWorkDiskResponse *resp = NULL;
        req.vm_id = (char *)rec->id;
        req.vm_name = (char *)rec->name;
        req.work_disk = (char *)work_disk;
        req.fresh = fresh;
        req.workspace_host_path = (char *)ws_host;
        req.workspace_guest_path = (char *)ws_guest;
        struct rpc_status st;
        /* A workspace of 100 MB is seconds; allow for much larger ones. */
        struct rpc_call_opts o = {.deadline_ms = ws_host[0] ? 30 * 60 * 1000 : 60000,
                                  .connect_wait_ms = 2000};
        int r = rpc_call(v->workspacesvc, "/banger.v1.WorkspaceService/WriteWorkDisk", &req.base,
                         &banger__v1__write_work_disk_response__descriptor,
                         (ProtobufCMessage **)&resp, &o, &st);
        if (r < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code), "workspacesvc: %s",
                                    st.message);
        for (size_t i = 0; i < resp->n_warnings; i++)
                log_warn("VM %s: %s", rec->name, resp->warnings[i]);
        banger__v1__write_work_disk_response__free_unpacked(resp, NULL);
        return 0;
}

static int dep_jail_start(void *ud, const struct vmm_spec *spec, pid_t *ret_pid,
                          struct bg_error *err)
{
        struct vmsvc *v = ud;
        char fc[PATH_MAX], jailer[PATH_MAX];
        int r = vmm_find_binary(spec->binary[0] ? spec->binary : "firecracker", fc, sizeof(fc));
        if (r < 0)
                return bg_error_errno(err, r, "firecracker binary '%s'", spec->binary);
        r = vmm_find_binary(v->d->cfg.firecracker.jailer_binary, jailer, sizeof(jailer));
        if (r < 0)
                return bg_error_errno(err, r, "jailer binary '%s' (config firecracker.jailer_binary)",
                                      v->d->cfg.firecracker.jailer_binary);
        Banger__V1__NetJailSpec req = BANGER__V1__NET_JAIL_SPEC__INIT;
        Banger__V1__NetJailStartResponse *resp = NULL;
        char *disks[VMM_MAX_DISKS];
        protobuf_c_boolean ro[VMM_MAX_DISKS];
        for (unsigned i = 0; i < spec->n_disks; i++) {
                disks[i] = (char *)spec->disks[i].path;
                ro[i] = spec->disks[i].read_only;
        }
        req.vm_id = (char *)spec->id;
        req.vm_dir = (char *)spec->dir;
        req.kernel_vmlinux = (char *)spec->kernel_vmlinux;
        req.initrd = (char *)spec->initrd;
        req.n_disks = spec->n_disks;
        req.disks = disks;
        req.n_disks_read_only = spec->n_disks;
        req.disks_read_only = ro;
        req.vcpu = spec->vcpu;
        req.memory_mib = spec->memory_mib;
        req.firecracker = fc;
        req.jailer = jailer;
        r = call(v->netsvc, "/banger.v1.NetService/JailStart", &req.base,
                 &banger__v1__net_jail_start_response__descriptor, (ProtobufCMessage **)&resp,
                 "netsvc JailStart", err);
        if (r < 0)
                return r;
        *ret_pid = resp->pid;
        banger__v1__net_jail_start_response__free_unpacked(resp, NULL);
        return *ret_pid > 0 ? 0 : bg_error_set(err, EIO, "netsvc returned no jailer pid");
}

static void dep_jail_clean(void *ud, const struct vmm_spec *spec)
{
        struct vmsvc *v = ud;
        Banger__V1__NetJailCleanRequest req = BANGER__V1__NET_JAIL_CLEAN_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct bg_error e = {0};
        req.vm_id = (char *)spec->id;
        req.vm_dir = (char *)spec->dir;
        if (call(v->netsvc, "/banger.v1.NetService/JailClean", &req.base,
                 &banger__v1__net_jail_clean_response__descriptor, &resp, "netsvc JailClean",
                 &e) < 0)
                log_warn("VM %s: the jail was not removed: %s", spec->name, e.msg);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
}

static void dep_forget_workspaces(void *ud, const char *vm_id)
{
        struct vmsvc *v = ud;
        Banger__V1__ForgetWorkspacesRequest req = BANGER__V1__FORGET_WORKSPACES_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct bg_error e = {0};
        req.vm_id = (char *)vm_id;
        if (call(v->workspacesvc, "/banger.v1.WorkspaceService/Forget", &req.base,
                 &banger__v1__forget_workspaces_response__descriptor, &resp, "forget workspaces",
                 &e) < 0)
                log_warn("%s (the workspace list may show a deleted VM)", e.msg);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
}

static int dep_acquire_tap(void *ud, const char *vm, char tap[16], struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__NetAcquireTapRequest req = BANGER__V1__NET_ACQUIRE_TAP_REQUEST__INIT;
        Banger__V1__NetAcquireTapResponse *resp = NULL;
        req.vm_name = (char *)vm;
        int r = call(v->netsvc, "/banger.v1.NetService/AcquireTap", &req.base,
                     &banger__v1__net_acquire_tap_response__descriptor, (ProtobufCMessage **)&resp,
                     "tap", err);
        if (r < 0)
                return r;
        snprintf(tap, 16, "%s", resp->tap);
        banger__v1__net_acquire_tap_response__free_unpacked(resp, NULL);
        return 0;
}

static int dep_release_tap(void *ud, const char *tap, struct bg_error *err)
{
        struct vmsvc *v = ud;
        Banger__V1__NetReleaseTapRequest req = BANGER__V1__NET_RELEASE_TAP_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.tap = (char *)tap;
        int r = call(v->netsvc, "/banger.v1.NetService/ReleaseTap", &req.base,
                     &banger__v1__net_release_tap_response__descriptor, &resp, "release tap", err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

/* ---- conversions ---- */

static char *dup_or_empty(const char *s)
{
        return strdup(s ? s : "");
}

static int fill_vm(const struct vm_record *r, Banger__V1__Vm *out)
{
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
        if (!out->id || !out->name || !out->state || !out->error || !out->image || !out->kernel ||
            !out->vmm || !out->accel || !out->ip || !out->mac || !out->tap || !out->host_key)
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
        pthread_mutex_lock(&v->mu);
        int x = vm_store_resolve(v->d->db, ref, r, err);
        pthread_mutex_unlock(&v->mu);
        return x;
}

static int reply_vm(struct vmsvc *v, const char *id, Banger__V1__Vm *out, struct bg_error *err);

/* ---- operations ---- */

struct vm_op {
        struct vmsvc *v;
        char id[33];
        bool fresh;
        bool restart;
        char ws_host[4096]; /* workspace for the new VM's work disk, or "" */
        char ws_guest[4096];
};

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
        r = op->fresh ? vm_create(&op->v->env, op->id, op->ws_host, op->ws_guest, op_progress, ctx,
                                  err)
                      : vm_start(&op->v->env, op->id, op_progress, ctx, err);
        if (r < 0)
                return r;
        struct vm_record rec;
        r = get_record(op->v, op->id, &rec, err);
        if (r < 0)
                return r;
        Banger__V1__Vm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__vm__init(vm);
        r = fill_vm(&rec, vm);
        if (r == 0)
                r = ops_ctx_set_result(ctx, &vm->base);
        banger__v1__vm__free_unpacked(vm, NULL);
        return r < 0 ? bg_error_set(err, -r, "out of memory") : 0;
}

static int start_op(struct vmsvc *v, const struct vm_record *rec, bool fresh, bool restart,
                    const Banger__V1__CreateVmRequest *create, Banger__V1__Operation *out,
                    struct bg_error *err)
{
        struct vm_op *op = calloc(1, sizeof(*op));
        if (!op)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (create) {
                snprintf(op->ws_host, sizeof(op->ws_host), "%s", create->workspace_host_path);
                snprintf(op->ws_guest, sizeof(op->ws_guest), "%s", create->workspace_guest_path);
        }
        op->v = v;
        op->fresh = fresh;
        op->restart = restart;
        snprintf(op->id, sizeof(op->id), "%s", rec->id);
        struct ops_start s = {
            .kind = fresh     ? "vm.create"
                    : restart ? "vm.restart"
                              : "vm.start",
            .target = rec->name,
            .stages = (const char *const *)vm_create_stages,
            .n_stages = vm_n_create_stages,
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
                      s[i] == ':' || s[i] == '/'))
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
                        return bg_error_set(err, EINVAL, "a workspace guest path needs a host path");
                return 0;
        }
        if (h[0] != '/' || strlen(h) >= 4096)
                return bg_error_set(err, EINVAL, "workspace path \"%.200s\" must be absolute", h);
        if (stat(h, &st) < 0 || !S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOENT, "workspace %.200s is not a directory", h);
        if (g[0] && ((strncmp(g, "/root/", 6) != 0 && strncmp(g, "~/", 2) != 0) ||
                     strstr(g, "/../") || strlen(g) >= 4096 ||
                     (strlen(g) >= 3 && strcmp(g + strlen(g) - 3, "/..") == 0)))
                return bg_error_set(err, EINVAL,
                                    "workspace guest path \"%.200s\" must be below /root, without \"..\"",
                                    g);
        return 0;
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
        if (!name_ok(kernel, 64))
                return bg_error_set(err, EINVAL, "kernel name '%.80s' is not valid", kernel);
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
        snprintf(rec.image, sizeof(rec.image), "%s", image);
        snprintf(rec.kernel, sizeof(rec.kernel), "%s", kernel);
        snprintf(rec.vmm, sizeof(rec.vmm), "%s", v->env.vmm);
        vm_new_id(rec.id);
        rec.created_unix_ms = rec.updated_unix_ms = (int64_t)now_real_msec();

        pthread_mutex_lock(&v->mu);
        if (in->name[0])
                snprintf(rec.name, sizeof(rec.name), "%s", in->name);
        else
                r = vm_generate_name(v->d->db, rec.id, rec.name, err);
        if (r >= 0)
                r = vm_store_insert(v->d->db, &rec, err);
        pthread_mutex_unlock(&v->mu);
        if (r < 0)
                return r;
        ssh_refresh(v);
        log_info("creating VM %s (%s) from image %s, kernel %s", rec.name, rec.id, image, kernel);
        return start_op(v, &rec, true, false, in, out, err);
}

static int vm_start_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Operation *out,
                      const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        if (rec.state == VM_RUNNING || rec.state == VM_STARTING || rec.state == VM_STOPPING)
                return bg_error_set(err, EBUSY, "VM %s is %s", rec.name,
                                    vm_state_to_string(rec.state));
        return start_op(v, &rec, false, false, NULL, out, err);
}

static int vm_restart_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Operation *out,
                        const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        if (rec.state == VM_STARTING || rec.state == VM_STOPPING)
                return bg_error_set(err, EBUSY, "VM %s is %s", rec.name,
                                    vm_state_to_string(rec.state));
        return start_op(v, &rec, false, true, NULL, out, err);
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
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s/console.log", v->env.vms_dir, rec.id);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                out->next_offset = in->offset;
                return errno == ENOENT ? 0 : bg_error_errno(err, -errno, "open %s", path);
        }
        struct stat st;
        fstat(fd, &st);
        out->size = (uint64_t)st.st_size;
        uint32_t max = in->max_bytes && in->max_bytes <= (1u << 20) ? in->max_bytes : 65536;
        uint64_t off = in->offset <= (uint64_t)st.st_size ? in->offset : (uint64_t)st.st_size;
        out->data.data = malloc(max);
        if (!out->data.data) {
                close(fd);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        ssize_t n = pread(fd, out->data.data, max, (off_t)off);
        close(fd);
        out->data.len = n > 0 ? (size_t)n : 0;
        out->next_offset = off + out->data.len;
        return 0;
}

static int vm_stats_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__VmStats *out,
                      const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        int r = vm_agent_open(&v->env, in->ref, &c, &rec, err);
        if (r < 0)
                return r;
        out->name = strdup(rec.name);
        /* Host side: the VMM process from /proc. */
        pid_t pid = 0;
        if (vm_process(&v->env, &rec, &pid, err) == 0) {
                char p[64], buf[1024];
                snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
                FILE *f = fopen(p, "re");
                if (f && fgets(buf, sizeof(buf), f)) {
                        char *rp = strrchr(buf, ')');
                        unsigned long long ut = 0, stt = 0;
                        if (rp &&
                            sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                   &ut, &stt) == 2)
                                out->vmm_cpu_ms =
                                    (ut + stt) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
                }
                if (f)
                        fclose(f);
                snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
                f = fopen(p, "re");
                while (f && fgets(buf, sizeof(buf), f)) {
                        unsigned long long kb;
                        if (sscanf(buf, "VmRSS: %llu kB", &kb) == 1)
                                out->vmm_rss_bytes = kb * 1024;
                }
                if (f)
                        fclose(f);
        }
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_stats(c, 5000, &resp, err);
        agent_conn_free(c);
        if (r < 0)
                return r;
        out->guest = resp->stats;
        resp->stats = NULL;
        resp->kind_case = BANGER__V1__AGENT_RESPONSE__KIND__NOT_SET;
        agent_response_free(resp);
        return out->name ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

static size_t discard(void *p, size_t s, size_t n, void *ud)
{
        return s * n;
}

/* Does ip:port answer HTTP, or HTTPS? Returns the URL scheme or NULL. */
static const char *probe_http(const char *ip, uint32_t port)
{
        static const char *const schemes[] = {"http", "https"};
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
                CURL *h = curl_easy_init();
                if (!h)
                        return NULL;
                char url[64];
                snprintf(url, sizeof(url), "%s://%s:%u/", schemes[i], ip, port);
                curl_easy_setopt(h, CURLOPT_URL, url);
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1500L);
                curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* only asking "is it TLS+HTTP" */
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
                CURLcode rc = curl_easy_perform(h);
                long code = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
                curl_easy_cleanup(h);
                if (rc == CURLE_OK && code > 0)
                        return schemes[i];
        }
        return NULL;
}

static int vm_ports_h(struct vmsvc *v, const Banger__V1__VmRef *in,
                      Banger__V1__VmPortsResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        int r = vm_agent_open(&v->env, in->ref, &c, &rec, err);
        if (r < 0)
                return r;
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_ports(c, 5000, &resp, err);
        agent_conn_free(c);
        if (r < 0)
                return r;
        Banger__V1__AgentPorts *ap = resp->ports;
        size_t n = ap ? ap->n_ports : 0;
        out->ports = calloc(n ? n : 1, sizeof(*out->ports));
        if (!out->ports) {
                agent_response_free(resp);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                Banger__V1__AgentPort *p = ap->ports[i];
                Banger__V1__VmPort *vp = calloc(1, sizeof(*vp));
                if (!vp)
                        break;
                banger__v1__vm_port__init(vp);
                out->ports[out->n_ports++] = vp;
                vp->proto = strdup(p->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP
                                       ? "udp"
                                       : "tcp");
                vp->address = strdup(p->address);
                vp->port = p->port;
                vp->processes = calloc(p->n_processes ? p->n_processes : 1, sizeof(char *));
                for (size_t k = 0; vp->processes && k < p->n_processes; k++)
                        vp->processes[vp->n_processes++] = strdup(p->processes[k]->name);
                const char *scheme = NULL;
                bool loopback_only =
                    strncmp(p->address, "127.", 4) == 0 || strcmp(p->address, "::1") == 0;
                if (p->transport != BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP &&
                    !loopback_only && rec.ip[0])
                        scheme = probe_http(rec.ip, p->port);
                char url[128] = "";
                if (scheme)
                        snprintf(url, sizeof(url), "%s://%s.vm:%u/", scheme, rec.name, p->port);
                vp->url = strdup(url);
        }
        agent_response_free(resp);
        return 0;
}

static int vm_agent_health_h(struct vmsvc *v, const Banger__V1__VmRef *in,
                             Banger__V1__AgentHealth *out, const struct rpc_call *call,
                             struct bg_error *err)
{
        struct vm_record rec;
        struct agent_conn *c = NULL;
        int r = vm_agent_open(&v->env, in->ref, &c, &rec, err);
        if (r < 0)
                return r;
        Banger__V1__AgentResponse *resp = NULL;
        r = agent_health(c, 5000, &resp, err);
        agent_conn_free(c);
        if (r < 0)
                return r;
        Banger__V1__AgentHealth *h = resp->health;
        out->uptime_ms = h->uptime_ms;
        out->boot_id = strdup(h->boot_id);
        out->agent_version = strdup(h->agent_version);
        out->hostname = strdup(h->hostname);
        out->kernel_release = strdup(h->kernel_release);
        agent_response_free(resp);
        return out->boot_id && out->agent_version && out->hostname && out->kernel_release
                   ? 0
                   : bg_error_set(err, ENOMEM, "out of memory");
}

static int vm_prune_h(struct vmsvc *v, const Banger__V1__PruneVmsRequest *in,
                      Banger__V1__PruneVmsResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&v->mu);
        int r = vm_store_list(v->d->db, &all, &n, err);
        pthread_mutex_unlock(&v->mu);
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
        r = fill_vm(&rec, out);
        return r < 0 ? bg_error_set(err, ENOMEM, "out of memory") : 0;
}

static int vm_stop_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                     const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        r = vm_stop(&v->env, rec.id, err);
        return r < 0 ? r : reply_vm(v, rec.id, out, err);
}

static int vm_kill_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                     const struct rpc_call *call, struct bg_error *err)
{
        struct vm_record rec;
        int r = get_record(v, in->ref, &rec, err);
        if (r < 0)
                return r;
        r = vm_kill(&v->env, rec.id, err);
        return r < 0 ? r : reply_vm(v, rec.id, out, err);
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

static int vm_list_h(struct vmsvc *v, const Banger__V1__ListVmsRequest *in,
                     Banger__V1__ListVmsResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&v->mu);
        int r = vm_store_list(v->d->db, &all, &n, err);
        pthread_mutex_unlock(&v->mu);
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
                if (fill_vm(&all[i], vm) < 0) {
                        free(all);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        free(all);
        return 0;
}

static int vm_get_h(struct vmsvc *v, const Banger__V1__VmRef *in, Banger__V1__Vm *out,
                    const struct rpc_call *call, struct bg_error *err)
{
        return reply_vm(v, in->ref, out, err);
}

static int vm_get_op_h(struct vmsvc *v, const Banger__V1__GetOperationRequest *in,
                       Banger__V1__Operation *out, const struct rpc_call *call,
                       struct bg_error *err)
{
        return ops_fill(v->ops, in->id, out, err);
}

static int vm_cancel_op_h(struct vmsvc *v, const Banger__V1__CancelOperationRequest *in,
                          Banger__V1__Operation *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        int r = ops_cancel(v->ops, in->id, err);
        return r < 0 ? r : ops_fill(v->ops, in->id, out, err);
}

static int vm_list_ops_h(struct vmsvc *v, const Banger__V1__ListOperationsRequest *in,
                         Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                         struct bg_error *err)
{
        return ops_list(v->ops, in->include_done, out, err);
}

const struct rpc_method_impl vmsvc_vm_methods[] = {
    RPC_METHOD("Health", vm_health),
    RPC_METHOD("Create", vm_create_h),
    RPC_METHOD("Start", vm_start_h),
    RPC_METHOD("Stop", vm_stop_h),
    RPC_METHOD("Kill", vm_kill_h),
    RPC_METHOD("Delete", vm_delete_h),
    RPC_METHOD("List", vm_list_h),
    RPC_METHOD("Get", vm_get_h),
    RPC_METHOD("GetOperation", vm_get_op_h),
    RPC_METHOD("CancelOperation", vm_cancel_op_h),
    RPC_METHOD("ListOperations", vm_list_ops_h),
    RPC_METHOD("Restart", vm_restart_h),
    RPC_METHOD("Set", vm_set_h),
    RPC_METHOD("Logs", vm_logs_h),
    RPC_METHOD("Stats", vm_stats_h),
    RPC_METHOD("Ports", vm_ports_h),
    RPC_METHOD("AgentHealth", vm_agent_health_h),
    RPC_METHOD("Prune", vm_prune_h),
};
const size_t vmsvc_n_vm_methods = ELEMENTSOF(vmsvc_vm_methods);

/* ---- set-up ---- */

/* The owner's key pair in CONFIG/ssh/, made on first use. */
static int owner_key(struct vmsvc *v, struct bg_error *err)
{
        char dir[512], priv[600], pub[600];
        snprintf(dir, sizeof(dir), "%s/ssh", v->d->paths.config_dir);
        snprintf(priv, sizeof(priv), "%s/id_ed25519", dir);
        snprintf(pub, sizeof(pub), "%s/id_ed25519.pub", dir);
        if (access(pub, R_OK) < 0) {
                if (mkdir_p(dir, 0700) < 0)
                        return bg_error_errno(err, -errno, "create %s", dir);
                ssh_key key = NULL;
                if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
                        return bg_error_set(err, EIO, "generate the owner's ssh key");
                mode_t old = umask(0077);
                int ok = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, priv) == SSH_OK;
                umask(old);
                char *b64 = NULL;
                ok = ok && ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK;
                ssh_key_free(key);
                if (!ok)
                        return bg_error_set(err, EIO, "write the owner's ssh key to %s", priv);
                FILE *f = fopen(pub, "we");
                if (!f) {
                        ssh_string_free_char(b64);
                        return bg_error_errno(err, -errno, "write %s", pub);
                }
                fprintf(f, "ssh-ed25519 %s banger-owner\n", b64);
                ssh_string_free_char(b64);
                fclose(f);
                log_info("made the owner's ssh key %s", priv);
        }
        FILE *f = fopen(pub, "re");
        if (!f)
                return bg_error_errno(err, -errno, "read %s", pub);
        char line[1024];
        if (!fgets(line, sizeof(line), f)) {
                fclose(f);
                return bg_error_set(err, EINVAL, "%s is empty", pub);
        }
        fclose(f);
        v->owner_pubkey = strdup(line);
        return v->owner_pubkey ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

/* The host's own upstream resolvers (from /etc/resolv.conf, IPv4, not
 * loopback: a stub on 127.0.0.53 cannot be reached from a guest), which
 * guests reach through the NAT. netsvc's server answers only .vm names. */
static void host_resolvers(char *buf, size_t len)
{
        buf[0] = '\0';
        FILE *f = fopen("/etc/resolv.conf", "re");
        if (!f)
                return;
        char line[256];
        int n = 0;
        while (fgets(line, sizeof(line), f) && n < 3) {
                char addr[64];
                struct in_addr a;
                if (sscanf(line, "nameserver %63s", addr) != 1 || inet_pton(AF_INET, addr, &a) != 1)
                        continue;
                if ((ntohl(a.s_addr) >> 24) == 127)
                        continue;
                size_t used = strlen(buf);
                if (used + strlen(addr) + 2 > len)
                        break;
                snprintf(buf + used, len - used, "%s%s", used ? "," : "", addr);
                n++;
        }
        fclose(f);
}

static int release_tap_seam(void *ud, const char *tap, struct bg_error *err)
{
        return dep_release_tap(ud, tap, err);
}

int vmsvc_setup(struct vmsvc *v, struct bg_error *err)
{
        char url[200];
        int r;

        pthread_mutex_init(&v->mu, NULL);
        pthread_mutex_init(&v->ssh_mu, NULL);
        curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread uses curl */
        if ((r = ops_registry_new(0, &v->ops, err)) < 0)
                return r;
        bg_paths_socket_url(&v->d->paths, "imagesvc", url, sizeof(url));
        if ((r = rpc_client_open(url, NULL, &v->imagesvc, err)) < 0)
                return r;
        bg_paths_socket_url(&v->d->paths, "netsvc", url, sizeof(url));
        if ((r = rpc_client_open(url, NULL, &v->netsvc, err)) < 0)
                return r;
        bg_paths_socket_url(&v->d->paths, "workspacesvc", url, sizeof(url));
        if ((r = rpc_client_open(url, NULL, &v->workspacesvc, err)) < 0)
                return r;
        if ((r = owner_key(v, err)) < 0)
                return r;

        v->deps = (struct vm_deps){
            .kernel = dep_kernel,
            .image = dep_image,
            .lease = dep_lease,
            .release_lease = dep_release_lease,
            .acquire_tap = dep_acquire_tap,
            .release_tap = dep_release_tap,
            .write_work_disk = dep_write_work_disk,
            .forget_workspaces = dep_forget_workspaces,
            .jail_start = dep_jail_start,
            .jail_clean = dep_jail_clean,
            .ud = v,
        };
        struct vm_env *e = &v->env;
        e->db = v->d->db;
        e->mu = &v->mu;
        snprintf(e->vms_dir, sizeof(e->vms_dir), "%s/vms", v->d->paths.state_dir);
        if (mkdir_p(e->vms_dir, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", e->vms_dir);
        e->deps = &v->deps;
        e->driver_for = vmsvc_driver_for;
        /* vmm = "auto": Firecracker when it is installed, new enough and
         * /dev/kvm is usable; QEMU otherwise. */
        const char *vmm = v->d->cfg.vmm == BG_VMM_FIRECRACKER ? "firecracker" : "qemu";
        if (v->d->cfg.vmm == BG_VMM_AUTO) {
                char why[256];
                vmm = fc_auto_pick(v->d->cfg.firecracker.binary, "/dev/kvm", why, sizeof(why));
                log_info("vmm = auto: new VMs use %s (%s)", vmm, why);
        }
        snprintf(e->vmm, sizeof(e->vmm), "%s", vmm);
        snprintf(e->binary, sizeof(e->binary), "%s",
                 streq(vmm, "firecracker") ? v->d->cfg.firecracker.binary : v->d->cfg.qemu.binary);
        e->accel = v->d->cfg.qemu.accel == BG_QEMU_ACCEL_KVM ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
        e->jailer = v->d->cfg.firecracker.jailer;
        if (e->jailer)
                log_info("Firecracker VMs start through the jailer (%s), staged by netsvc",
                         v->d->cfg.firecracker.jailer_binary);
        snprintf(e->qemu_img, sizeof(e->qemu_img), "qemu-img");
        snprintf(e->mkfs, sizeof(e->mkfs), "mkfs.ext4");
        e->authorized_keys = v->owner_pubkey;
        host_resolvers(e->dns, sizeof(e->dns));
        e->agent_timeout_ms = 120000;
        e->stop_timeout_ms = 10000;

        struct vm_net_ops net = {.release_tap = release_tap_seam, .ud = v};
        struct reconcile_result res;
        if ((r = vm_reconcile(v->d->db, e->vms_dir, vmsvc_driver_for, &net, &res, err)) < 0)
                return r;
        log_info("reconciled VMs: %zu adopted, %zu found stopped, %zu left alone", res.adopted,
                 res.stopped, res.failed);
        e->changed = ssh_refresh;
        e->changed_ud = v;
        ssh_refresh(v);
        if ((r = idle_watch_start(v, v->d->cfg.vm.auto_stop_after, &v->idle, err)) < 0)
                return r;
        return rpc_server_add_service(v->d->srv, &banger__v1__vm_service__descriptor,
                                      vmsvc_vm_methods, vmsvc_n_vm_methods, v, err);
}

void vmsvc_done(struct vmsvc *v)
{
        idle_watch_stop(TAKE_PTR(v->idle));
        v->ops = ops_registry_free(v->ops);
        rpc_client_close(TAKE_PTR(v->imagesvc));
        rpc_client_close(TAKE_PTR(v->netsvc));
        rpc_client_close(TAKE_PTR(v->workspacesvc));
        free(TAKE_PTR(v->owner_pubkey));
}
