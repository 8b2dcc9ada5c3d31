#include "vm_boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "disk/disk.h"
#include "ext4.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"

const char *vm_root_file(const char *drv_name)
{
        return vm_root_is_qcow2(drv_name) ? VM_FILE_ROOT_QCOW2 : VM_FILE_ROOT_RAW;
}

bool vm_root_is_qcow2(const char *drv_name)
{
        return strcmp(drv_name, "qemu") == 0;
}

/* Copies the image's /root (its work seed) onto a fresh work disk, which the
 * guest mounts over /root. The seed is shared by every VM of the image and
 * only read: it is never closed with a flush (ext4_free). */
static int seed_work_disk(const char *seed_path, const char *work, uint64_t work_bytes,
                          struct bg_error *err)
{
        struct ext4_fs *seed = NULL, *w = NULL;
        int r = ext4_open(seed_path, &seed, err);
        if (r >= 0)
                r = ext4_open(work, &w, err);
        struct ext4_copy_opts o = {.max_bytes = work_bytes / 2};
        if (r >= 0)
                r = ext4_copy_tree(seed, "/", w, "/", &o, err);
        if (r >= 0)
                r = ext4_close(TAKE_PTR(w), err);
        if (w)
                ext4_free(w);
        if (seed)
                ext4_free(seed);
        return r < 0 ? bg_error_prefix(err, "copy the image's /root onto the work disk") : r;
}

int vm_root_disk_new(struct vm_env *env, const char *drv_name, const char *base,
                     const char *base_format, const char *dst, enum disk_clone_method *ret_method,
                     struct bg_error *err)
{
        enum disk_clone_method m = DISK_CLONE_QCOW2;
        int r = vm_root_is_qcow2(drv_name)
                    ? disk_qcow2_overlay(env->qemu_img, base, base_format, dst, err)
                    : disk_clone(base, dst, &m, err);
        if (r >= 0 && ret_method)
                *ret_method = m;
        return r;
}

int vm_disks_new(struct vm_env *env, const char *dir, const char *drv_name,
                 const struct vm_image_info *img, uint64_t work_bytes, const char *name,
                 char host_key_pub[IDENTITY_PUBKEY_MAX], enum disk_clone_method *ret_root,
                 struct bg_error *err)
{
        char root[VMM_PATH_MAX + 16], work[VMM_PATH_MAX + 16];
        (void)vmm_path(root, sizeof(root), dir, vm_root_file(drv_name));
        (void)vmm_path(work, sizeof(work), dir, VM_FILE_WORK);
        /* Root: copy-on-write over the image. */
        int r = vm_root_disk_new(env, drv_name, img->rootfs, "raw", root, ret_root, err);
        if (r < 0)
                return r;
        /* Work: a fresh ext4 with the guest's identity. */
        r = disk_make_work(env->mkfs, work, work_bytes, "banger-work", err);
        if (r >= 0 && img->work_seed[0])
                r = seed_work_disk(img->work_seed, work, work_bytes, err);
        if (r < 0)
                return r;
        struct vm_host_key hk;
        r = identity_host_key_new(name, &hk, err);
        if (r < 0)
                return r;
        r = identity_write_work_disk(work, env->authorized_keys, &hk, err);
        snprintf(host_key_pub, IDENTITY_PUBKEY_MAX, "%s", hk.public_line);
        identity_host_key_done(&hk);
        return r;
}

void vm_spec_machine(struct vm_env *env, struct vmm_spec *s, const char *drv_name, uint32_t vcpu,
                     uint32_t memory_mib, const struct vm_kernel_info *k, const char *tap,
                     const char *mac, const struct vm_net_info *net)
{
        bool qcow2 = vm_root_is_qcow2(drv_name);
        snprintf(s->binary, sizeof(s->binary), "%s", env->binary);
        s->vcpu = vcpu;
        s->memory_mib = memory_mib;
        snprintf(s->kernel_bzimage, sizeof(s->kernel_bzimage), "%s", k->bzimage);
        snprintf(s->kernel_vmlinux, sizeof(s->kernel_vmlinux), "%s", k->vmlinux);
        snprintf(s->initrd, sizeof(s->initrd), "%s", k->initramfs);
        (void)vmm_path(s->disks[0].path, sizeof(s->disks[0].path), s->dir, vm_root_file(drv_name));
        s->disks[0].format = qcow2 ? VMM_DISK_QCOW2 : VMM_DISK_RAW;
        s->disks[0].read_only = false;
        (void)vmm_path(s->disks[1].path, sizeof(s->disks[1].path), s->dir, VM_FILE_WORK);
        s->disks[1].format = VMM_DISK_RAW;
        s->disks[1].read_only = false;
        s->n_disks = 2;
        if (k->modules[0]) {
                snprintf(s->disks[2].path, sizeof(s->disks[2].path), "%s", k->modules);
                s->disks[2].format = VMM_DISK_RAW;
                s->disks[2].read_only = true;
                s->n_disks = 3;
        }
        snprintf(s->tap, sizeof(s->tap), "%s", tap);
        snprintf(s->mac, sizeof(s->mac), "%s", mac);
        s->accel = env->accel;
        s->exec_ports = strcmp(drv_name, "qemu") == 0 ? VM_EXEC_PORTS : 0;
        if (env->jailer && strcmp(drv_name, "firecracker") == 0) {
                s->jail_start = env->deps->jail_start;
                s->jail_clean = env->deps->jail_clean;
                s->jail_ud = env->deps->ud;
        }
        /* What the guest is told on its kernel command line; the driver
         * adds the machine's part and builds the line (lib/vmm/vmm_cmdline.h). */
        struct vmm_boot *b = &s->boot;
        snprintf(b->ip, sizeof(b->ip), "%s", net->ip);
        b->prefix = net->prefix;
        snprintf(b->gateway, sizeof(b->gateway), "%s", net->gateway);
        snprintf(b->dns, sizeof(b->dns), "%s", env->dns[0] ? env->dns : net->dns);
        b->modules_disk = k->modules[0] != '\0';
}

int vm_agent_connect(const struct vmm_spec *spec, const struct vmm_handle *h, uint64_t timeout_ms,
                     struct agent_conn **ret, struct bg_error *err)
{
        if (h->agent_transport == VMM_AGENT_VSOCK)
                return agent_conn_open_vsock(spec->vsock_cid, h->agent_port, timeout_ms, ret, err);
        if (h->agent_transport == VMM_AGENT_HYBRID_VSOCK)
                return agent_conn_open_hybrid_vsock(h->agent_path, h->agent_port, timeout_ms, ret,
                                                    err);
        return agent_conn_open_unix(h->agent_path, timeout_ms, ret, err);
}

/* True when the guest has a TCP listener on port 22. */
static bool sshd_listens(struct agent_conn *c, struct bg_error *err)
{
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *resp = NULL;
        if (agent_ports(c, 3000, &resp, err) < 0)
                return false;
        for (size_t i = 0; i < resp->ports->n_ports; i++) {
                const Banger__V1__AgentPort *p = resp->ports->ports[i];
                if (p->transport == BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP &&
                    p->port == 22)
                        return true;
        }
        bg_error_set(err, EAGAIN, "sshd does not listen yet");
        return false;
}

int vm_agent_wait(const struct vmm_driver *drv, const struct vmm_spec *spec,
                  const struct vmm_handle *h, uint32_t timeout_ms, bool want_sshd,
                  const atomic_bool *cancel, struct bg_error *err)
{
        uint64_t deadline = now_mono_msec() + timeout_ms;
        struct bg_error last = {0};
        while (now_mono_msec() < deadline) {
                if (cancel && atomic_load(cancel))
                        return bg_error_set(err, ECANCELED, "cancelled");
                if (!drv->alive(h)) {
                        (void)proc_reap(h->pid, 2000);
                        char reason[200] = "", tail[300];
                        if (drv->exit_reason)
                                drv->exit_reason(spec, -1, reason, sizeof(reason));
                        vmm_console_tail(spec->dir, tail, sizeof(tail));
                        return bg_error_set(err, EIO, "the VM exited while booting%s%s%s%s",
                                            reason[0] ? ": " : "", reason,
                                            tail[0] ? "; console: " : "", tail);
                }
                struct agent_conn *c = NULL;
                bg_error_clear(&last);
                if (vm_agent_connect(spec, h, 1000, &c, &last) == 0) {
                        Banger__V1__AgentResponse *resp = NULL;
                        int r = agent_health(c, 3000, &resp, &last);
                        agent_response_free(resp);
                        bool ready = r == 0 && (!want_sshd || sshd_listens(c, &last));
                        agent_conn_free(c);
                        if (ready)
                                return 0;
                }
                sleep_msec(200);
        }
        char tail[300];
        vmm_console_tail(spec->dir, tail, sizeof(tail));
        return bg_error_set(err, ETIMEDOUT,
                            "the guest agent did not answer within %u s (vm.boot_timeout; %s)%s%s",
                            timeout_ms / 1000, last.msg[0] ? last.msg : "no answer",
                            tail[0] ? "; console: " : "", tail);
}

void vm_cpu_times(const Banger__V1__AgentCpu *u, uint64_t *ret_busy, uint64_t *ret_total)
{
        uint64_t b = u->user_ms + u->nice_ms + u->system_ms + u->irq_ms + u->softirq_ms;
        *ret_busy = b;
        *ret_total = b + u->idle_ms + u->iowait_ms + u->steal_ms;
}

uint64_t vm_agent_settle(const struct vmm_spec *spec, const struct vmm_handle *h, double busy_frac,
                         uint64_t max_ms, const atomic_bool *cancel)
{
        uint64_t t0 = now_mono_msec(), busy0 = 0, total0 = 0;
        int quiet = 0;
        bool have = false;
        while (now_mono_msec() - t0 < max_ms && quiet < 2 && !(cancel && atomic_load(cancel))) {
                struct agent_conn *c = NULL;
                Banger__V1__AgentResponse *resp = NULL;
                struct bg_error e = {0};
                if (vm_agent_connect(spec, h, 2000, &c, &e) >= 0 &&
                    agent_stats(c, 3000, &resp, &e) >= 0 && resp->stats && resp->stats->cpu) {
                        uint64_t busy, total;
                        vm_cpu_times(resp->stats->cpu, &busy, &total);
                        if (have && total > total0 && busy >= busy0)
                                quiet =
                                    (double)(busy - busy0) / (double)(total - total0) < busy_frac
                                        ? quiet + 1
                                        : 0;
                        busy0 = busy;
                        total0 = total;
                        have = true;
                }
                agent_response_free(resp);
                agent_conn_free(c);
                if (quiet < 2)
                        sleep_msec(500);
        }
        return now_mono_msec() - t0;
}

int vm_vmm_launch(struct vm_env *env, const struct vmm_driver *drv, const struct vmm_spec *spec,
                  struct vmm_handle *h, const struct vm_vmm_note *n, struct bg_error *err)
{
        struct vmm_spec s = *spec;
        int con = -1, r;
        /* A jailed Firecracker's pump is started by netsvc, as the owner,
         * with the same cap (JailStart's console_log_max): the jailer runs
         * as root and holds no descriptor of ours. */
        if (env->console_pump[0] && !spec->jail_start) {
                r = vmm_console_pump_start(env->console_pump, spec->dir,
                                           env->console_log_max ? env->console_log_max
                                                                : 16u << 20,
                                           &con, err);
                if (r < 0)
                        return bg_error_prefix(err, "VM console");
                s.console_fd = con;
        }
        r = drv->launch(&s, h, err);
        /* The VMM holds its own copy; without one the pump sees end of file. */
        if (con >= 0)
                close(con);
        if (r < 0) {
                if (con >= 0 || spec->jail_start)
                        (void)vmm_console_pump_wait(spec->dir, 2000);
                return r;
        }
        *n->pid = h->pid;
        *n->pid_start = h->start_time;
        snprintf(n->accel, sizeof(h->accel), "%s", h->accel);
        return 0;
}

int vm_vmm_kill(const struct vmm_driver *drv, const struct vmm_handle *h,
                const struct vm_vmm_note *n, struct bg_error *err)
{
        int r = drv->kill(h, err);
        (void)proc_reap(h->pid, 2000);
        *n->pid = 0;
        *n->pid_start = 0;
        return r;
}
