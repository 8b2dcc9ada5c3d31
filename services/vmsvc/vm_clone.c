#include "vm_clone.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "disk/disk.h"
#include "identity.h"
#include "log/log.h"
#include "reconcile.h"
#include "util/fs.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "log_watch.h"
#include "vm_boot.h"
#include "vm_net.h"

const char *const vm_clone_stages[] = {"reserve", "network", "disks", "restore", "identity"};
const size_t vm_n_clone_stages = ELEMENTSOF(vm_clone_stages);

/* How long a restored guest's agent has to answer Reidentify: the guest is
 * already running, so this is seconds even under emulation. */
#define CLONE_AGENT_MS 20000

struct clone {
        struct vm_env *env;
        const struct tpl_record *t;
        char tdir[VMM_PATH_MAX];
        struct vm_record rec;
        struct vmm_spec spec;
        struct vmm_handle h;
        const struct vmm_driver *drv;
        struct vm_kernel_info k;
        struct vm_net_info net;
        bool have_lease;
        struct vm_host_key hk; /* the clone's own sshd key, handed to the guest */
        const char *ws_host, *ws_guest;
        step_progress_fn progress;
        void *pctx;
        const atomic_bool *cancel;
        uint64_t stage_ms[8]; /* when each stage started (monotonic) */
        size_t n_stages;
};

static int step_reserve(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        struct vm_env *env = c->env;
        c->rec.state = VM_STARTING;
        c->rec.error[0] = '\0';
        snprintf(c->rec.vmm, sizeof(c->rec.vmm), "%s", c->t->vmm);
        snprintf(c->rec.template_id, sizeof(c->rec.template_id), "%s", c->t->id);
        c->drv = env->driver_for(c->rec.vmm);
        if (!c->drv || !(c->drv->caps & VMM_CAP_SNAPSHOT))
                return bg_error_set(err, ENOTSUP, "the %s driver cannot restore snapshots",
                                    c->rec.vmm);
        int r = vm_save(env, &c->rec, err);
        if (r < 0)
                return r;
        /* The template's kernel: its modules disk is attached to the clone. */
        r = env->deps->kernel(env->deps->ud, c->rec.kernel, &c->k, err);
        if (r < 0)
                return r;
        if (mkdir(c->spec.dir, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", c->spec.dir);
        return 0;
}

static int undo_reserve(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        return rm_rf(c->spec.dir, err);
}

static int step_network(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        int r =
            vm_net_take(c->env->deps, c->rec.name, &c->net, c->rec.tap, &c->have_lease, NULL, err);
        if (r < 0)
                return r;
        snprintf(c->rec.ip, sizeof(c->rec.ip), "%s", c->net.ip);
        snprintf(c->rec.mac, sizeof(c->rec.mac), "%s", c->net.mac);
        return vm_save(c->env, &c->rec, err);
}

static int undo_network(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        return vm_net_give_back(c->env->deps, c->rec.name, c->rec.tap, c->have_lease, false, err);
}

static int step_disks(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        struct vm_env *env = c->env;
        char troot[VMM_PATH_MAX + 16], twork[VMM_PATH_MAX + 16];
        char root[VMM_PATH_MAX + 16], work[VMM_PATH_MAX + 16];
        const char *rootname = vm_root_file(c->drv->name);
        (void)vmm_path(troot, sizeof(troot), c->tdir, rootname);
        (void)vmm_path(twork, sizeof(twork), c->tdir, VM_FILE_WORK);
        (void)vmm_path(root, sizeof(root), c->spec.dir, rootname);
        (void)vmm_path(work, sizeof(work), c->spec.dir, VM_FILE_WORK);
        /* Root: the template's frozen disk stays read-only under the clone's
         * overlay (QEMU), or is copied (Firecracker: reflink where it can). */
        enum disk_clone_method how;
        int r = vm_root_disk_new(env, c->drv->name, troot, "qcow2", root, &how, err);
        if (r >= 0)
                snprintf(c->rec.root_disk, sizeof(c->rec.root_disk), "%s",
                         disk_clone_method_to_string(how));
        /* Work: a copy of its own, sparse (a few MB). The template gave it up
         * (unmounted) before it was saved, so it can be written here like a
         * cold boot's: file_sync, the git identity, the workspace. The guest
         * mounts it at Reidentify. */
        if (r >= 0)
                r = disk_clone(twork, work, NULL, err);
        if (r >= 0)
                r = vm_user_files(env, &c->rec, work, true, c->ws_host, c->ws_guest, err);
        if (r < 0)
                return r;
        r = identity_host_key_new(c->rec.name, &c->hk, err);
        if (r < 0)
                return r;
        snprintf(c->rec.host_key, sizeof(c->rec.host_key), "%s", c->hk.public_line);
        return vm_save(env, &c->rec, err);
}

static int step_restore(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        struct vmm_spec *s = &c->spec;
        vm_spec_machine(c->env, s, c->drv->name, c->t->vcpu, c->t->memory_mib, &c->k, c->rec.tap,
                        c->rec.mac, &c->net);
        (void)vmm_path(s->mem.path, sizeof(s->mem.path), c->tdir, TPL_FILE_MEM);
        s->mem.shared = false;
        (void)vmm_path(s->restore, sizeof(s->restore), c->tdir, TPL_FILE_STATE);
        /* The snapshot's device set: a template from before exec ports has
         * none, and its clones run API commands over SSH. */
        int r = tpl_exec_ports_read(c->tdir, &s->exec_ports, err);
        if (r < 0)
                return bg_error_prefix(err, "template %s", c->t->name);
        vm_console_fresh(c->env, s->dir);
        const struct vm_vmm_note n = {&c->rec.pid, &c->rec.pid_start, c->rec.accel};
        r = vm_vmm_launch(c->env, c->drv, s, &c->h, &n, err);
        if (r < 0)
                return r;
        c->rec.launched = true;
        r = vm_save(c->env, &c->rec, err);
        if (r >= 0)
                r = c->drv->resume(s, &c->h, err);
        return r < 0 ? bg_error_prefix(err, "resume the restored guest") : r;
}

static int undo_restore(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        const struct vm_vmm_note n = {&c->rec.pid, &c->rec.pid_start, c->rec.accel};
        return vm_vmm_kill(c->drv, &c->h, &n, err);
}

/* The dns list the guest is told, as for a cold boot's banger.dns. */
static size_t split_dns(char *list, char *out[3])
{
        size_t n = 0;
        char *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && n < 3; t = strtok_r(NULL, ",", &save))
                out[n++] = t;
        return n;
}

static int step_identity(void *ctx, struct bg_error *err)
{
        struct clone *c = ctx;
        struct vm_env *env = c->env;
        Banger__V1__AgentReidentifyRequest req = BANGER__V1__AGENT_REIDENTIFY_REQUEST__INIT;
        char address[32], dns[80], *dns_v[3], machine_id[33];
        uint8_t entropy[64], idb[16];
        snprintf(address, sizeof(address), "%s/%u", c->net.ip, c->net.prefix);
        snprintf(dns, sizeof(dns), "%s", env->dns[0] ? env->dns : c->net.dns);
        if (getrandom(entropy, sizeof(entropy), 0) != (ssize_t)sizeof(entropy) ||
            getrandom(idb, sizeof(idb), 0) != (ssize_t)sizeof(idb))
                return bg_error_errno(err, -errno, "getrandom");
        idb[6] = (idb[6] & 0x0f) | 0x40; /* a v4 UUID, as systemd makes machine-ids */
        idb[8] = (idb[8] & 0x3f) | 0x80;
        for (size_t i = 0; i < sizeof(idb); i++)
                snprintf(machine_id + 2 * i, 3, "%02x", idb[i]);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        req.hostname = c->rec.name;
        req.address = address;
        req.gateway = c->net.gateway;
        req.n_dns = split_dns(dns, dns_v);
        req.dns = dns_v;
        req.mac = c->rec.mac;
        req.time_unix_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        req.entropy.data = entropy;
        req.entropy.len = sizeof(entropy);
        req.ssh_host_key = c->hk.private_openssh;
        req.ssh_host_key_pub = c->hk.public_line;
        req.machine_id = machine_id;
        req.authorized_keys = (char *)env->authorized_keys;

        struct agent_conn *ac = NULL;
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *resp = NULL;
        uint64_t t0 = now_mono_msec();
        int r = vm_agent_connect(&c->spec, &c->h, CLONE_AGENT_MS, &ac, err);
        uint64_t t1 = now_mono_msec();
        if (r >= 0)
                r = agent_reidentify(ac, &req, CLONE_AGENT_MS, &resp, err);
        agent_conn_free(ac);
        explicit_bzero(entropy, sizeof(entropy));
        if (r < 0)
                return bg_error_prefix(err, "give the clone its identity");
        for (size_t i = 0; i < resp->reidentify->n_warnings; i++)
                log_warn("VM %s: %s", c->rec.name, resp->reidentify->warnings[i]);
        log_info("VM %s reidentified (agent reached in %llu ms, answered in %llu ms; clock "
                 "stepped %lld ms)",
                 c->rec.name, (unsigned long long)(t1 - t0),
                 (unsigned long long)(now_mono_msec() - t1),
                 (long long)resp->reidentify->clock_step_ms);
        c->rec.state = VM_RUNNING;
        return vm_save(env, &c->rec, err);
}

static const struct step clone_steps[] = {
    {"reserve", step_reserve, undo_reserve},
    {"network", step_network, undo_network},
    {"disks", step_disks, NULL},
    {"restore", step_restore, undo_restore},
    {"identity", step_identity, NULL},
};
_Static_assert(ELEMENTSOF(clone_steps) == ELEMENTSOF(vm_clone_stages), "stages out of sync");

static void clone_progress(void *ctx, const char *stage)
{
        struct clone *c = ctx;
        if (c->n_stages < ELEMENTSOF(c->stage_ms))
                c->stage_ms[c->n_stages++] = now_mono_msec();
        if (c->progress)
                c->progress(c->pctx, stage);
}

int vm_clone(struct vm_env *env, const char *id, const struct tpl_record *t, const char *ws_host,
             const char *ws_guest, const struct vm_progress *p, struct bg_error *err)
{
        struct clone *c = calloc(1, sizeof(*c));
        if (!c)
                return bg_error_set(err, ENOMEM, "out of memory");
        c->env = env;
        c->t = t;
        c->ws_host = ws_host;
        c->ws_guest = ws_guest;
        c->progress = p ? p->fn : NULL;
        c->pctx = p ? p->ctx : NULL;
        c->cancel = p ? p->cancel : NULL;
        int r = vmm_path(c->tdir, sizeof(c->tdir), env->templates_dir, t->id);
        if (r < 0)
                r = bg_error_set(err, ENAMETOOLONG, "template directory too long");
        if (r >= 0)
                r = vm_load(env, id, &c->rec, err);
        if (r >= 0)
                r = vm_spec_identity(&c->rec, env->vms_dir, &c->spec, err);
        if (r >= 0) {
                uint64_t t0 = now_mono_msec();
                r = steps_run(clone_steps, ELEMENTSOF(clone_steps), c, clone_progress, c->cancel,
                              NULL, err);
                if (r >= 0) {
                        /* Where the time went, stage by stage. */
                        char times[160] = "";
                        size_t used = 0;
                        uint64_t end = now_mono_msec();
                        for (size_t i = 0; i < c->n_stages && used < sizeof(times); i++) {
                                uint64_t next = i + 1 < c->n_stages ? c->stage_ms[i + 1] : end;
                                used +=
                                    (size_t)snprintf(times + used, sizeof(times) - used,
                                                     "%s%s %llu", i ? ", " : "", vm_clone_stages[i],
                                                     (unsigned long long)(next - c->stage_ms[i]));
                        }
                        log_info("VM %s running, cloned from template %s in %llu ms (%s ms; "
                                 "pid %d, %s)",
                                 c->rec.name, t->name, (unsigned long long)(end - t0), times,
                                 c->rec.pid, c->rec.accel);
                }
        }
        if (r < 0 && c->rec.id[0]) {
                c->rec.state = VM_ERROR;
                snprintf(c->rec.error, sizeof(c->rec.error), "%s", err->msg);
                c->rec.pid = 0;
                c->rec.pid_start = 0;
                struct bg_error e = {0};
                if (vm_save(env, &c->rec, &e) < 0)
                        log_error("VM %s: could not record its error: %s", c->rec.name, e.msg);
                log_warn("VM %s failed to clone template %s: %s", c->rec.name, t->name, err->msg);
        }
        identity_host_key_done(&c->hk);
        free(c);
        return r;
}
