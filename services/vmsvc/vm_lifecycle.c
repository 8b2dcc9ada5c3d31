#include "vm_lifecycle.h"
#include "vm_net.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "disk/disk.h"
#include "ext4.h"
#include "fault/fault.h"
#include "identity.h"
#include "log/log.h"
#include "reconcile.h"
#include "util/names.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "util/fs.h"
#include "log_watch.h"
#include "vm_boot.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"

const char *const vm_create_stages[] = {"reserve", "network", "disks", "boot", "agent"};
const size_t vm_n_create_stages = ELEMENTSOF(vm_create_stages);

struct run {
        struct vm_env *env;
        bool fresh; /* create (true) or start of an existing VM */
        struct vm_record rec;
        struct vmm_spec spec;
        struct vmm_handle h;
        const struct vmm_driver *drv;
        struct vm_kernel_info k;
        struct vm_image_info img;
        struct vm_net_info net;
        bool have_lease;
        const char *ws_host; /* workspace for a new VM's work disk, or "" */
        const char *ws_guest;
        step_progress_fn progress;
        void *pctx;
        const atomic_bool *cancel;
};

/* VMMs are children of the vmsvc that launched them: collect the exit of
 * one that is gone so it does not linger as a zombie (harmless when it is
 * not our child, e.g. adopted after a restart). */
static void reap(pid_t pid)
{
        (void)proc_reap(pid, 2000);
}

int vm_save(struct vm_env *env, struct vm_record *r, struct bg_error *err)
{
        r->updated_unix_ms = (int64_t)now_real_msec();
        pthread_mutex_lock(env->mu);
        int x = vm_store_update(env->db, r, err);
        pthread_mutex_unlock(env->mu);
        if (x >= 0 && env->changed)
                env->changed(env->changed_ud);
        return x;
}

int vm_load(struct vm_env *env, const char *ref, struct vm_record *r, struct bg_error *err)
{
        pthread_mutex_lock(env->mu);
        int x = vm_store_resolve(env->db, ref, r, err);
        pthread_mutex_unlock(env->mu);
        return x;
}

int vm_load_all(struct vm_env *env, struct vm_record **ret, size_t *ret_n, struct bg_error *err)
{
        pthread_mutex_lock(env->mu);
        int x = vm_store_list(env->db, ret, ret_n, err);
        pthread_mutex_unlock(env->mu);
        return x;
}

static void disk_path(const struct run *run, const char *file, char *buf, size_t len)
{
        snprintf(buf, len, "%s/%s", run->spec.dir, file);
}

/* ---- steps ---- */

static int step_reserve(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        struct vm_env *env = run->env;
        int r;

        run->rec.state = VM_STARTING;
        run->rec.error[0] = '\0';
        if (!run->rec.vmm[0])
                snprintf(run->rec.vmm, sizeof(run->rec.vmm), "%s", env->vmm);
        run->drv = env->driver_for(run->rec.vmm);
        if (!run->drv)
                return bg_error_set(err, EINVAL, "no VMM driver named '%s'", run->rec.vmm);
        if ((r = vm_save(env, &run->rec, err)) < 0)
                return r;
        r = env->deps->kernel(env->deps->ud, run->rec.kernel, &run->k, err);
        if (r < 0)
                return r;
        if (run->fresh) {
                r = env->deps->image(env->deps->ud, run->rec.image, &run->img, err);
                if (r < 0)
                        return r;
                if (mkdir(run->spec.dir, 0700) < 0)
                        return bg_error_errno(err, -errno, "create %s", run->spec.dir);
        }
        return 0;
}

static int undo_reserve(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        if (!run->fresh)
                return 0;
        return rm_rf(run->spec.dir, err);
}

static int step_network(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        int r =
            vm_net_take(run->env->deps, run->rec.name, &run->net, run->rec.tap, &run->have_lease,
                        run->fresh ? "vm.create.leased" : "vm.start.leased", err);
        if (r < 0)
                return r;
        snprintf(run->rec.ip, sizeof(run->rec.ip), "%s", run->net.ip);
        snprintf(run->rec.mac, sizeof(run->rec.mac), "%s", run->net.mac);
        return vm_save(run->env, &run->rec, err);
}

static int undo_network(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        /* A VM that never came to exist gives its address back too, even
         * when the Lease or AcquireTap answer was lost (netsvc died after
         * recording it): Release frees the name's lease and taps. */
        return vm_net_give_back(run->env->deps, run->rec.name, run->rec.tap, run->fresh, false,
                                err);
}

int vm_user_files(struct vm_env *env, const struct vm_record *rec, const char *work, bool fresh,
                  const char *ws_host, const char *ws_guest, struct bg_error *err)
{
        const struct vm_deps *d = env->deps;
        bool ws = fresh && ws_host && ws_host[0];
        if (!d->write_work_disk)
                return ws ? bg_error_set(err, ENOTSUP,
                                         "no workspace service to write the workspace")
                          : 0;
        struct bg_error e = {0};
        int r = d->write_work_disk(d->ud, rec, work, fresh, ws ? ws_host : "",
                                   ws && ws_guest ? ws_guest : "", &e);
        if (r >= 0)
                return 0;
        if (ws) {
                *err = e;
                return r;
        }
        log_warn("VM %s: file_sync and git identity skipped this boot: %s", rec->name, e.msg);
        return 0;
}

static int user_files(struct run *run, const char *work, struct bg_error *err)
{
        return vm_user_files(run->env, &run->rec, work, run->fresh, run->ws_host, run->ws_guest,
                             err);
}

static int step_disks(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        struct vm_env *env = run->env;
        char root[VMM_PATH_MAX + 16], work[VMM_PATH_MAX + 16];
        int r;

        disk_path(run, vm_root_file(run->drv->name), root, sizeof(root));
        disk_path(run, VM_FILE_WORK, work, sizeof(work));
        if (!run->fresh) {
                if (access(root, R_OK) < 0 || access(work, R_OK) < 0)
                        return bg_error_set(err, ENOENT, "the disks of VM %s are missing from %s",
                                            run->rec.name, run->spec.dir);
                return user_files(run, work, err);
        }
        enum disk_clone_method how;
        r = vm_disks_new(env, run->spec.dir, run->drv->name, &run->img, run->rec.work_disk_bytes,
                         run->rec.name, run->rec.host_key, &how, err);
        if (r < 0)
                return r;
        snprintf(run->rec.root_disk, sizeof(run->rec.root_disk), "%s",
                 disk_clone_method_to_string(how));
        r = user_files(run, work, err);
        if (r < 0)
                return r;
        return vm_save(env, &run->rec, err);
}

static int step_boot(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        vm_spec_machine(run->env, &run->spec, run->drv->name, run->rec.vcpu, run->rec.memory_mib,
                        &run->k, run->rec.tap, run->rec.mac, &run->net);
        run->spec.boot.agent_init = run->rec.agent_init;
        vm_console_fresh(run->env, run->spec.dir);
        const struct vm_vmm_note n = {&run->rec.pid, &run->rec.pid_start, run->rec.accel};
        int r = vm_vmm_launch(run->env, run->drv, &run->spec, &run->h, &n, err);
        if (r < 0)
                return r;
        /* The VMM runs; its pid is not in the row yet. */
        fault_point(run->fresh ? "vm.create.launched" : "vm.start.launched");
        run->rec.launched = true;
        return vm_save(run->env, &run->rec, err);
}

static int undo_boot(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        const struct vm_vmm_note n = {&run->rec.pid, &run->rec.pid_start, run->rec.accel};
        return vm_vmm_kill(run->drv, &run->h, &n, err);
}

static int step_agent(void *ctx, struct bg_error *err)
{
        struct run *run = ctx;
        int r = vm_agent_wait(run->drv, &run->spec, &run->h, run->env->agent_timeout_ms, false,
                              run->cancel, err);
        if (r < 0)
                return r;
        run->rec.state = VM_RUNNING;
        return vm_save(run->env, &run->rec, err);
}

static const struct step create_steps[] = {
    {"reserve", step_reserve, undo_reserve},
    {"network", step_network, undo_network},
    {"disks", step_disks, NULL},
    {"boot", step_boot, undo_boot},
    {"agent", step_agent, NULL},
};

static const struct step create_stopped_steps[] = {
    {"reserve", step_reserve, undo_reserve},
    {"disks", step_disks, NULL},
};
const char *const vm_create_stopped_stages[] = {"reserve", "disks"};
const size_t vm_n_create_stopped_stages = ELEMENTSOF(vm_create_stopped_stages);

static void run_progress(void *ctx, const char *stage)
{
        struct run *run = ctx;
        if (run->progress)
                run->progress(run->pctx, stage);
}

static int run_steps(struct vm_env *env, const char *id, bool fresh, bool boot, const char *ws_host,
                     const char *ws_guest, const struct vm_progress *p, struct bg_error *err)
{
        struct run *run = calloc(1, sizeof(*run));
        if (!run)
                return bg_error_set(err, ENOMEM, "out of memory");
        run->env = env;
        run->fresh = fresh;
        run->ws_host = ws_host;
        run->ws_guest = ws_guest;
        run->progress = p ? p->fn : NULL;
        run->pctx = p ? p->ctx : NULL;
        run->cancel = p ? p->cancel : NULL;
        int r = vm_load(env, id, &run->rec, err);
        if (r >= 0)
                r = vm_spec_identity(&run->rec, env->vms_dir, &run->spec, err);
        if (r < 0) {
                free(run);
                return r;
        }
        if (boot)
                r = steps_run(create_steps, ELEMENTSOF(create_steps), run, run_progress,
                              run->cancel, NULL, err);
        else
                r = steps_run(create_stopped_steps, ELEMENTSOF(create_stopped_steps), run,
                              run_progress, run->cancel, NULL, err);
        if (r >= 0 && !boot) {
                run->rec.state = VM_STOPPED;
                /* Complete, though never launched: reconcile must treat it
                 * as a made VM (kept), not as a create cut short (undone). */
                run->rec.launched = true;
                r = vm_save(env, &run->rec, err);
        }
        if (r >= 0)
                fault_point(fresh ? "vm.create.done" : "vm.start.done");
        if (r < 0) {
                run->rec.state = VM_ERROR;
                snprintf(run->rec.error, sizeof(run->rec.error), "%s", err->msg);
                run->rec.pid = 0;
                run->rec.pid_start = 0;
                struct bg_error e = {0};
                if (vm_save(env, &run->rec, &e) < 0)
                        log_error("VM %s: could not record its error: %s", run->rec.name, e.msg);
                log_warn("VM %s failed to %s: %s", run->rec.name, fresh ? "create" : "start",
                         err->msg);
        } else if (!boot) {
                log_info("VM %s made, not started (%s)", run->rec.name, run->rec.vmm);
        } else {
                log_info("VM %s running (pid %d, %s, %s)", run->rec.name, run->rec.pid,
                         run->rec.vmm, run->rec.accel);
        }
        free(run);
        return r;
}

int vm_create(struct vm_env *env, const char *id, const char *ws_host, const char *ws_guest,
              const struct vm_progress *p, struct bg_error *err)
{
        return run_steps(env, id, true, true, ws_host, ws_guest, p, err);
}

int vm_create_stopped(struct vm_env *env, const char *id, const char *ws_host, const char *ws_guest,
                      const struct vm_progress *p, struct bg_error *err)
{
        return run_steps(env, id, true, false, ws_host, ws_guest, p, err);
}

int vm_start(struct vm_env *env, const char *id, const struct vm_progress *p, struct bg_error *err)
{
        struct vm_record r;
        int x = vm_load(env, id, &r, err);
        if (x < 0)
                return x;
        if (r.state == VM_RUNNING || r.state == VM_STARTING || r.state == VM_STOPPING)
                return bg_error_set(err, EBUSY, "VM %s is %s", r.name, vm_state_to_string(r.state));
        return run_steps(env, r.id, false, true, NULL, NULL, p, err);
}

/* Re-attach to a VM's process; -ESRCH when it is gone. */
static int attach(struct vm_env *env, const struct vm_record *r, const struct vmm_driver **ret_drv,
                  struct vmm_spec *spec, struct vmm_handle *h, struct bg_error *err)
{
        const struct vmm_driver *drv = env->driver_for(r->vmm);
        if (!drv)
                return bg_error_set(err, EINVAL, "VM %s uses unknown VMM '%s'", r->name, r->vmm);
        int x = vm_spec_identity(r, env->vms_dir, spec, err);
        if (x < 0)
                return x;
        *ret_drv = drv;
        return drv->adopt(spec, h, err);
}

/* Once the VMM is gone its console pump writes what is left and ends; one
 * that does not is killed. */
static void pump_gone(struct vm_env *env, const char *id)
{
        char dir[VMM_PATH_MAX + 40];
        snprintf(dir, sizeof(dir), "%s/%s", env->vms_dir, id);
        int r = vmm_console_pump_wait(dir, 2000);
        if (r < 0)
                log_warn("VM %s: console pump: %s", id, strerror(-r));
}

static void finish_stopped(struct vm_env *env, struct vm_record *r, struct bg_error *err)
{
        reap(r->pid);
        pump_gone(env, r->id);
        if (r->tap[0]) {
                struct bg_error e = {0};
                if (env->deps->release_tap(env->deps->ud, r->tap, &e) < 0)
                        log_warn("VM %s: could not give tap %s back: %s", r->name, r->tap, e.msg);
                r->tap[0] = '\0';
        }
        r->state = VM_STOPPED;
        r->pid = 0;
        r->pid_start = 0;
        vm_save(env, r, err);
}

static bool wait_gone(const struct vmm_driver *drv, const struct vmm_handle *h, uint32_t ms)
{
        uint64_t until = now_mono_msec() + ms;
        while (drv->alive(h)) {
                if (now_mono_msec() >= until)
                        return false;
                sleep_msec(50);
        }
        return true;
}

/* What is left until deadline (at least 1 ms, at most cap). */
static uint32_t left_ms(uint64_t deadline, uint32_t cap)
{
        uint64_t now = now_mono_msec();
        uint64_t left = deadline > now ? deadline - now : 1;
        return left < cap ? (uint32_t)left : cap;
}

int vm_stop(struct vm_env *env, const char *id, struct bg_error *err)
{
        struct vm_record r;
        const struct vmm_driver *drv;
        struct vmm_spec spec;
        struct vmm_handle h;
        int x = vm_load(env, id, &r, err);
        if (x < 0)
                return x;
        if (r.state != VM_RUNNING && r.state != VM_PAUSED)
                return bg_error_set(err, EBUSY, "VM %s is %s, not running", r.name,
                                    vm_state_to_string(r.state));
        x = attach(env, &r, &drv, &spec, &h, err);
        if (x == -ESRCH) {
                finish_stopped(env, &r, err);
                return 0;
        }
        if (x < 0)
                return x;
        /* A paused guest cannot shut itself down: let it run first. */
        if (r.state == VM_PAUSED && drv->resume) {
                struct bg_error re = {0};
                if (drv->resume(&spec, &h, &re) < 0)
                        log_warn("VM %s: resume before stop: %s", r.name, re.msg);
        }
        r.state = VM_STOPPING;
        vm_save(env, &r, err);
        fault_point("vm.stop.stopping");

        /* 1. The agent syncs and reboots the guest; -no-reboot ends the VMM.
         * The agent's answer and the guest's power-off share
         * vm.stop_timeout. */
        uint64_t until = now_mono_msec() + env->stop_timeout_ms;
        struct agent_conn *c = NULL;
        struct bg_error e = {0};
        if (vm_agent_connect(&spec, &h, left_ms(until, 3000), &c, &e) == 0) {
                if (agent_shutdown(c, left_ms(until, 3000), &e) < 0)
                        log_warn("VM %s: agent shutdown: %s", r.name, e.msg);
                agent_conn_free(c);
        } else {
                log_warn("VM %s: agent unreachable (%s); asking the VMM", r.name, e.msg);
        }
        bool gone = wait_gone(drv, &h, left_ms(until, UINT32_MAX));
        /* 2. The VMM's own request (ACPI power button / Ctrl-Alt-Del). */
        if (!gone && drv->request_stop) {
                bg_error_clear(&e);
                drv->request_stop(&spec, &h, &e);
                gone = wait_gone(drv, &h, 3000);
        }
        /* 3. SIGKILL. */
        if (!gone) {
                log_warn("VM %s did not stop in time; killing it", r.name);
                x = drv->kill(&h, err);
                if (x < 0)
                        return x;
        }
        /* The VMM is gone; its tap and the row say otherwise yet. */
        fault_point("vm.stop.gone");
        finish_stopped(env, &r, err);
        return 0;
}

/* Loads VM id into *r (and its identity into *spec) and kills its VMM when
 * one runs; with refuse_running a running VMM is -EBUSY instead. */
static int load_and_kill(struct vm_env *env, const char *id, bool refuse_running,
                         struct vm_record *r, struct vmm_spec *spec, struct bg_error *err)
{
        const struct vmm_driver *drv;
        struct vmm_handle h = {0};
        int x = vm_load(env, id, r, err);
        if (x < 0)
                return x;
        x = attach(env, r, &drv, spec, &h, err);
        if (x == -ESRCH)
                return 0;
        if (x < 0)
                return x;
        if (refuse_running)
                return bg_error_set(
                    err, EBUSY, "VM %s is running; stop it first, or delete with --force", r->name);
        x = drv->kill(&h, err);
        if (x < 0)
                return x;
        reap(h.pid);
        pump_gone(env, r->id);
        return 0;
}

int vm_kill(struct vm_env *env, const char *id, struct bg_error *err)
{
        struct vm_record r;
        struct vmm_spec spec;
        int x = load_and_kill(env, id, false, &r, &spec, err);
        if (x < 0)
                return x;
        if (r.state == VM_RUNNING || r.state == VM_PAUSED || r.state == VM_STARTING ||
            r.state == VM_STOPPING || r.tap[0])
                finish_stopped(env, &r, err);
        return 0;
}

int vm_delete(struct vm_env *env, const char *id, bool force, struct bg_error *err)
{
        struct vm_record r;
        struct vmm_spec spec;
        int x = load_and_kill(env, id, !force, &r, &spec, err);
        if (x < 0)
                return x;
        fault_point("vm.delete.killed");
        const struct vm_deps *d = env->deps;
        /* A tap that cannot be given back by its name (netsvc died after
         * freeing it, before answering; or it is gone) is no reason to keep
         * the VM: Release below frees every tap still recorded for the VM's
         * name, and a delete that stopped here could never be done again. */
        if (r.tap[0]) {
                struct bg_error te = {0};
                if (d->release_tap(d->ud, r.tap, &te) < 0)
                        log_warn("VM %s: tap %s: %s (released with its lease)", r.name, r.tap,
                                 te.msg);
        }
        /* From here on the row says what is true: no process, no tap (given
         * back above, or by the Release below). A delete that stops short
         * (netsvc not back in time, vmsvc killed) leaves a stopped VM that
         * `vm delete` removes again -- never a row "running" with no
         * process, nor a tap name a later start or reconcile would give
         * back while it may be another VM's. */
        bool was_live = r.state == VM_RUNNING || r.state == VM_PAUSED ||
                        r.state == VM_STARTING || r.state == VM_STOPPING;
        if (was_live || r.tap[0] || r.pid) {
                r.tap[0] = '\0';
                if (was_live)
                        r.state = VM_STOPPED;
                r.pid = 0;
                r.pid_start = 0;
                if ((x = vm_save(env, &r, err)) < 0)
                        return x;
        }
        fault_point("vm.delete.tap");
        x = d->release_lease(d->ud, r.name, err);
        if (x < 0 && x != -ENOENT)
                return bg_error_prefix(err, "VM %s stopped, not deleted yet (vm delete again "
                                            "finishes it)", r.name);
        fault_point("vm.delete.lease");
        if (env->jailer && strcmp(r.vmm, "firecracker") == 0 && d->jail_clean)
                d->jail_clean(d->ud, &spec);
        /* The row goes before the directory: a vmsvc killed in between
         * leaves a directory no row names, which its next start removes
         * (reconcile), never a row whose disks are gone. */
        pthread_mutex_lock(env->mu);
        x = vm_store_delete(env->db, r.id, err);
        pthread_mutex_unlock(env->mu);
        if (x < 0)
                return x;
        fault_point("vm.delete.row");
        if (d->forget_workspaces)
                d->forget_workspaces(d->ud, r.id);
        if (env->changed)
                env->changed(env->changed_ud);
        return rm_rf(spec.dir, err);
}

/* pause (true) or resume (false) a VM's vCPUs. */
static int set_paused(struct vm_env *env, const char *id, bool pause, struct bg_error *err)
{
        struct vm_record r;
        const struct vmm_driver *drv;
        struct vmm_spec spec;
        struct vmm_handle h;
        int x = vm_load(env, id, &r, err);
        if (x < 0)
                return x;
        enum vm_state from = pause ? VM_RUNNING : VM_PAUSED;
        if (r.state != from)
                return bg_error_set(err, EBUSY, "VM %s is %s, not %s", r.name,
                                    vm_state_to_string(r.state), vm_state_to_string(from));
        x = attach(env, &r, &drv, &spec, &h, err);
        if (x == -ESRCH)
                return bg_error_set(err, EBUSY, "VM %s has no running VMM process", r.name);
        if (x < 0)
                return x;
        if (!(drv->caps & VMM_CAP_PAUSE) || !drv->pause || !drv->resume)
                return bg_error_set(err, ENOTSUP, "the %s driver cannot pause a VM", drv->name);
        x = pause ? drv->pause(&spec, &h, err) : drv->resume(&spec, &h, err);
        if (x < 0)
                return x;
        r.state = pause ? VM_PAUSED : VM_RUNNING;
        log_info("VM %s %s", r.name, pause ? "paused" : "resumed");
        return vm_save(env, &r, err);
}

int vm_pause(struct vm_env *env, const char *id, struct bg_error *err)
{
        return set_paused(env, id, true, err);
}

int vm_resume(struct vm_env *env, const char *id, struct bg_error *err)
{
        return set_paused(env, id, false, err);
}

int vm_process(struct vm_env *env, const struct vm_record *r, pid_t *ret_pid, struct bg_error *err)
{
        const struct vmm_driver *drv;
        struct vmm_spec spec;
        struct vmm_handle h;
        int x = attach(env, r, &drv, &spec, &h, err);
        if (x < 0)
                return x;
        *ret_pid = h.pid;
        return 0;
}

int vm_agent_open(struct vm_env *env, const char *id, struct agent_conn **ret,
                  struct vm_record *ret_rec, struct bg_error *err)
{
        const struct vmm_driver *drv;
        struct vmm_spec spec;
        struct vmm_handle h;
        struct vm_record own;
        if (!ret_rec)
                ret_rec = &own;
        int x = vm_load(env, id, ret_rec, err);
        if (x < 0)
                return x;
        if (ret_rec->state == VM_PAUSED)
                return bg_error_set(err, EBUSY,
                                    "VM %s is paused; resume it first (banger vm "
                                    "resume %s)",
                                    ret_rec->name, ret_rec->name);
        if (ret_rec->state != VM_RUNNING)
                return bg_error_set(err, EBUSY, "VM %s is %s, not running", ret_rec->name,
                                    vm_state_to_string(ret_rec->state));
        x = attach(env, ret_rec, &drv, &spec, &h, err);
        if (x == -ESRCH)
                return bg_error_set(err, EBUSY, "VM %s has no running VMM process", ret_rec->name);
        if (x < 0)
                return x;
        return vm_agent_connect(&spec, &h, env->probe_timeout_ms ? env->probe_timeout_ms : 5000,
                                ret, err);
}

int vm_set(struct vm_env *env, const char *id, uint32_t vcpu, uint32_t memory_mib,
           uint64_t work_disk_bytes, struct bg_error *err)
{
        struct vm_record r;
        int x = vm_load(env, id, &r, err);
        if (x < 0)
                return x;
        if (r.state != VM_STOPPED && r.state != VM_CREATED && r.state != VM_ERROR)
                return bg_error_set(err, EBUSY,
                                    "VM %s is %s; stop it first (vcpu, memory and disk size "
                                    "change only while it is stopped)",
                                    r.name, vm_state_to_string(r.state));
        if (vcpu && (vcpu < 1 || vcpu > 32))
                return bg_error_set(err, EINVAL, "vcpu %u is outside 1..32", vcpu);
        if (memory_mib && (memory_mib < 128 || memory_mib > 262144))
                return bg_error_set(err, EINVAL, "memory %u MiB is outside 128..262144",
                                    memory_mib);
        if (work_disk_bytes) {
                if (work_disk_bytes < r.work_disk_bytes)
                        return bg_error_set(err, EINVAL,
                                            "the work disk only grows (it is %llu bytes now)",
                                            (unsigned long long)r.work_disk_bytes);
                if (work_disk_bytes > r.work_disk_bytes) {
                        char path[VMM_PATH_MAX + 16], size[32], out[512];
                        snprintf(path, sizeof(path), "%s/%s/work.ext4", env->vms_dir, r.id);
                        if (truncate(path, (off_t)work_disk_bytes) < 0)
                                return bg_error_errno(err, -errno, "grow %s", path);
                        snprintf(size, sizeof(size), "%lluK",
                                 (unsigned long long)(work_disk_bytes / 1024));
                        char *fsck[] = {"e2fsck", "-fy", path, NULL};
                        int rc = disk_run(fsck, out, sizeof(out));
                        if (rc < 0 || rc > 2)
                                return bg_error_set(err, EIO,
                                                    "e2fsck of %s failed before the "
                                                    "resize (exit %d)",
                                                    path, rc);
                        char *rs[] = {"resize2fs", path, size, NULL};
                        rc = disk_run(rs, out, sizeof(out));
                        if (rc != 0) {
                                out[strcspn(out, "\n")] = '\0';
                                return bg_error_set(err, EIO, "resize2fs %s failed (exit %d): %s",
                                                    path, rc, out);
                        }
                        r.work_disk_bytes = work_disk_bytes;
                }
        }
        if (vcpu)
                r.vcpu = vcpu;
        if (memory_mib)
                r.memory_mib = memory_mib;
        return vm_save(env, &r, err);
}
