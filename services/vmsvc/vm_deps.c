#include "vm_deps.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "log/log.h"
#include "vmm/vmm_proc.h"

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

/* netsvc's calls that name a VM (Lease, AcquireTap, Release) are idempotent:
 * a second Lease or AcquireTap for the same name answers what the first
 * recorded, a second Release finds nothing left. When netsvc dies during one
 * (its restart is a second or two away under systemd), the call is sent once
 * more after it is back, so a VM being made does not fail, or leave its
 * address behind, because netsvc restarted under it. ReleaseTap (by tap
 * name) is not retried: the tap may be someone else's by then. */
#define NET_RESTART_WAIT_MS 10000

static int net_call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                    const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                    const char *what, struct bg_error *err)
{
        struct rpc_status st;
        struct rpc_call_opts o = {.deadline_ms = 20000,
                                  .connect_wait_ms = NET_RESTART_WAIT_MS,
                                  .flags = RPC_CALL_IDEMPOTENT};
        int r = rpc_call(c, method, in, od, out, &o, &st);
        if (r < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code), "%s: %s", what, st.message);
        return 0;
}

static int dep_kernel(void *ud, const char *name, struct vm_kernel_info *ret, struct bg_error *err)
{
        struct vm_peers *p = ud;
        Banger__V1__ShowKernelRequest req = BANGER__V1__SHOW_KERNEL_REQUEST__INIT;
        Banger__V1__Kernel *k = NULL;
        req.name = (char *)name;
        int r = call(p->imagesvc, "/banger.v1.KernelService/Show", &req.base,
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
        struct vm_peers *p = ud;
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *img = NULL;
        req.name = (char *)name;
        int r = call(p->imagesvc, "/banger.v1.ImageService/Show", &req.base,
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
        struct vm_peers *p = ud;
        Banger__V1__NetLeaseRequest req = BANGER__V1__NET_LEASE_REQUEST__INIT;
        Banger__V1__NetLeaseResponse *resp = NULL;
        req.vm_name = (char *)vm;
        int r = net_call(p->netsvc, "/banger.v1.NetService/Lease", &req.base,
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
        struct vm_peers *p = ud;
        Banger__V1__NetReleaseRequest req = BANGER__V1__NET_RELEASE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.vm_name = (char *)vm;
        int r = net_call(p->netsvc, "/banger.v1.NetService/Release", &req.base,
                     &banger__v1__net_release_response__descriptor, &resp, "release lease", err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

static int dep_write_work_disk(void *ud, const struct vm_record *rec, const char *work_disk,
                               bool fresh, const char *ws_host, const char *ws_guest,
                               struct bg_error *err)
{
        struct vm_peers *p = ud;
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
        int r = rpc_call(p->workspacesvc, "/banger.v1.WorkspaceService/WriteWorkDisk", &req.base,
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
        struct vm_peers *p = ud;
        char fc[PATH_MAX], jailer[PATH_MAX];
        int r = vmm_find_binary(spec->binary[0] ? spec->binary : "firecracker", fc, sizeof(fc));
        if (r < 0)
                return bg_error_errno(err, r, "firecracker binary '%s'", spec->binary);
        r = vmm_find_binary(p->jailer_binary, jailer, sizeof(jailer));
        if (r < 0)
                return bg_error_errno(err, r,
                                      "jailer binary '%s' (config firecracker.jailer_binary)",
                                      p->jailer_binary);
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
        req.console_log_max = p->console_log_max;
        r = call(p->netsvc, "/banger.v1.NetService/JailStart", &req.base,
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
        struct vm_peers *p = ud;
        Banger__V1__NetJailCleanRequest req = BANGER__V1__NET_JAIL_CLEAN_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct bg_error e = {0};
        req.vm_id = (char *)spec->id;
        req.vm_dir = (char *)spec->dir;
        if (call(p->netsvc, "/banger.v1.NetService/JailClean", &req.base,
                 &banger__v1__net_jail_clean_response__descriptor, &resp, "netsvc JailClean",
                 &e) < 0)
                log_warn("VM %s: the jail was not removed: %s", spec->name, e.msg);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
}

static void dep_forget_workspaces(void *ud, const char *vm_id)
{
        struct vm_peers *p = ud;
        Banger__V1__ForgetWorkspacesRequest req = BANGER__V1__FORGET_WORKSPACES_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct bg_error e = {0};
        req.vm_id = (char *)vm_id;
        if (call(p->workspacesvc, "/banger.v1.WorkspaceService/Forget", &req.base,
                 &banger__v1__forget_workspaces_response__descriptor, &resp, "forget workspaces",
                 &e) < 0)
                log_warn("%s (the workspace list may show a deleted VM)", e.msg);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
}

static int dep_acquire_tap(void *ud, const char *vm, char tap[16], struct bg_error *err)
{
        struct vm_peers *p = ud;
        Banger__V1__NetAcquireTapRequest req = BANGER__V1__NET_ACQUIRE_TAP_REQUEST__INIT;
        Banger__V1__NetAcquireTapResponse *resp = NULL;
        req.vm_name = (char *)vm;
        int r = net_call(p->netsvc, "/banger.v1.NetService/AcquireTap", &req.base,
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
        struct vm_peers *p = ud;
        Banger__V1__NetReleaseTapRequest req = BANGER__V1__NET_RELEASE_TAP_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.tap = (char *)tap;
        int r = call(p->netsvc, "/banger.v1.NetService/ReleaseTap", &req.base,
                     &banger__v1__net_release_tap_response__descriptor, &resp, "release tap", err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, NULL);
        return r;
}

static int open_peer(const struct bg_paths *paths, const char *name, struct rpc_client **ret,
                     struct bg_error *err)
{
        char url[200];
        bg_paths_socket_url(paths, name, url, sizeof(url));
        return rpc_client_open(url, NULL, ret, err);
}

int vm_peers_open(struct vm_peers *p, const struct bg_paths *paths, const char *jailer_binary,
                  struct bg_error *err)
{
        p->jailer_binary = jailer_binary;
        int r = open_peer(paths, "imagesvc", &p->imagesvc, err);
        if (r >= 0)
                r = open_peer(paths, "netsvc", &p->netsvc, err);
        if (r >= 0)
                r = open_peer(paths, "workspacesvc", &p->workspacesvc, err);
        return r;
}

void vm_peers_close(struct vm_peers *p)
{
        rpc_client_close(TAKE_PTR(p->imagesvc));
        rpc_client_close(TAKE_PTR(p->netsvc));
        rpc_client_close(TAKE_PTR(p->workspacesvc));
}

void vm_peers_deps(struct vm_peers *p, struct vm_deps *ret)
{
        *ret = (struct vm_deps){
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
            .ud = p,
        };
}

int vm_peers_release_tap(void *peers, const char *tap, struct bg_error *err)
{
        return dep_release_tap(peers, tap, err);
}

int vm_peers_release_lease(void *peers, const char *vm, struct bg_error *err)
{
        return dep_release_lease(peers, vm, err);
}
