#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_client.h"
#include "banger/v1/template.pb-c.h"
#include "disk/disk.h"
#include "identity.h"
#include "kernel/sha256.h"
#include "log/log.h"
#include "util/fileio.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/names.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "reconcile.h"
#include "log_watch.h"
#include "vm_boot.h"
#include "vm_net.h"
#include "vm_store.h"

const char *const tpl_build_stages[] = {"reserve", "network", "disks", "boot", "agent", "snapshot"};
const size_t tpl_n_build_stages = ELEMENTSOF(tpl_build_stages);

/* Before a template is saved its guest should be idle: CPUs busy less than
 * this, twice in a row, waited for at most TPL_SETTLE_MAX_MS. */
#define TPL_SETTLE_BUSY 0.15
#define TPL_SETTLE_MAX_MS 60000

/* A failed automatic template is not tried again for this long. */
#define TPL_AUTO_RETRY_MS (10 * 60 * 1000)

int tpl_dir(const struct tpl_env *te, const char *id, char *buf, size_t len)
{
        return vmm_path(buf, len, te->vm->templates_dir, id);
}

static int tpl_save(struct tpl_env *te, struct tpl_record *t, struct bg_error *err)
{
        t->updated_unix_ms = (int64_t)now_real_msec();
        pthread_mutex_lock(te->vm->mu);
        int r = tpl_store_update(te->vm->db, t, err);
        pthread_mutex_unlock(te->vm->mu);
        return r;
}

/* ---- the build ---- */

struct build {
        struct tpl_env *te;
        struct tpl_record t;
        struct vm_record src; /* --from VM */
        struct vmm_spec spec;
        struct vmm_handle h;
        const struct vmm_driver *drv;
        struct vm_kernel_info k;
        struct vm_image_info img;
        struct vm_net_info net;
        bool have_lease;
        struct ops_ctx *ctx;
};

static int b_reserve(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        struct vm_env *env = b->te->vm;
        b->drv = env->driver_for(b->t.vmm);
        if (!b->drv || !(b->drv->caps & VMM_CAP_SNAPSHOT) || !b->drv->snapshot)
                return bg_error_set(err, ENOTSUP,
                                    "the %s driver cannot take snapshots: no templates with it",
                                    b->t.vmm);
        if (!env->snapshots && streq(b->t.vmm, env->vmm))
                return bg_error_set(err, ENOTSUP, "no templates here: %s", env->why_no_snapshots);
        int r = env->deps->kernel(env->deps->ud, b->t.kernel, &b->k, err);
        if (r < 0)
                return r;
        if (b->t.source_vm[0]) {
                r = vm_load(env, b->t.source_vm, &b->src, err);
                if (r < 0)
                        return r;
                if (b->src.state != VM_STOPPED)
                        return bg_error_set(err, EBUSY,
                                            "VM %s is %s: a template is made from a stopped VM's "
                                            "disks; stop it first (banger vm stop %s)",
                                            b->src.name, vm_state_to_string(b->src.state),
                                            b->src.name);
                if (!streq(b->src.vmm, b->t.vmm))
                        return bg_error_set(err, EINVAL, "VM %s runs on %s, not %s", b->src.name,
                                            b->src.vmm, b->t.vmm);
        } else {
                r = env->deps->image(env->deps->ud, b->t.image, &b->img, err);
                if (r < 0)
                        return r;
        }
        if (mkdir(b->spec.dir, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", b->spec.dir);
        return 0;
}

static int b_undo_reserve(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        return rm_rf(b->spec.dir, err);
}

static int b_network(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        int r =
            vm_net_take(b->te->vm->deps, b->t.lease, &b->net, b->t.tap, &b->have_lease, NULL, err);
        if (r < 0)
                return r;
        return tpl_save(b->te, &b->t, err);
}

static int b_undo_network(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        int r = vm_net_give_back(b->te->vm->deps, b->t.lease, b->t.tap, b->have_lease, true, err);
        b->have_lease = false;
        return r;
}

static int b_disks(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        struct vm_env *env = b->te->vm;
        char work[VMM_PATH_MAX + 16];
        (void)vmm_path(work, sizeof(work), b->spec.dir, VM_FILE_WORK);
        int r;
        if (b->t.source_vm[0]) {
                /* The VM's own disks, frozen as they are (a qcow2 root keeps
                 * reading through to the image). */
                char vdir[VMM_PATH_MAX], from[VMM_PATH_MAX + 16], to[VMM_PATH_MAX + 16];
                const char *rootname = vm_root_file(b->drv->name);
                (void)vmm_path(vdir, sizeof(vdir), env->vms_dir, b->src.id);
                (void)vmm_path(from, sizeof(from), vdir, rootname);
                (void)vmm_path(to, sizeof(to), b->spec.dir, rootname);
                r = disk_clone(from, to, NULL, err);
                (void)vmm_path(from, sizeof(from), vdir, VM_FILE_WORK);
                if (r >= 0)
                        r = disk_clone(from, work, NULL, err);
                if (r < 0)
                        return bg_error_prefix(err, "copy the disks of VM %s", b->src.name);
        } else {
                char host_key[IDENTITY_PUBKEY_MAX];
                r = vm_disks_new(env, b->spec.dir, b->drv->name, &b->img, b->t.work_disk_bytes,
                                 b->t.name, host_key, NULL, err);
                if (r < 0)
                        return r;
        }
        return tpl_save(b->te, &b->t, err);
}

int tpl_exec_ports_write(const char *tdir, unsigned n, struct bg_error *err)
{
        char path[VMM_PATH_MAX + 16], buf[16];
        (void)vmm_path(path, sizeof(path), tdir, TPL_FILE_EXEC_PORTS);
        int len = snprintf(buf, sizeof(buf), "%u\n", n);
        return write_file_atomic(path, buf, (size_t)len, 0644, err);
}

int tpl_exec_ports_read(const char *tdir, unsigned *ret, struct bg_error *err)
{
        char path[VMM_PATH_MAX + 16];
        (void)vmm_path(path, sizeof(path), tdir, TPL_FILE_EXEC_PORTS);
        _cleanup_free_ char *buf = NULL;
        int r = read_file_capped(path, 16, 0, &buf, NULL, err);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long n = strtoul(buf, &end, 10);
        if (errno || end == buf || (*end && *end != '\n') || n > VMM_EXEC_PORTS_MAX)
                return bg_error_set(err, EINVAL, "%s: not a count of exec ports (0..%u)", path,
                                    VMM_EXEC_PORTS_MAX);
        *ret = (unsigned)n;
        return 0;
}

static int b_boot(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        struct vm_env *env = b->te->vm;
        char mac[18];
        snprintf(mac, sizeof(mac), "%s", b->net.mac);
        vm_spec_machine(env, &b->spec, b->drv->name, b->t.vcpu, b->t.memory_mib, &b->k, b->t.tap,
                        mac, &b->net);
        (void)vmm_path(b->spec.mem.path, sizeof(b->spec.mem.path), b->spec.dir, TPL_FILE_MEM);
        b->spec.mem.shared = true;
        vm_console_fresh(env, b->spec.dir);
        /* Clones restore this device set: they read the count back. */
        int r = tpl_exec_ports_write(b->spec.dir, b->spec.exec_ports, err);
        if (r < 0)
                return r;
        const struct vm_vmm_note n = {&b->t.pid, &b->t.pid_start, b->t.accel};
        r = vm_vmm_launch(env, b->drv, &b->spec, &b->h, &n, err);
        return r < 0 ? r : tpl_save(b->te, &b->t, err);
}

static int b_undo_boot(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        const struct vm_vmm_note n = {&b->t.pid, &b->t.pid_start, b->t.accel};
        return vm_vmm_kill(b->drv, &b->h, &n, err);
}

static int b_agent(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        /* Clones must come up ready for ssh: wait for sshd too. */
        const atomic_bool *cancel = ops_ctx_cancel_flag(b->ctx);
        int r =
            vm_agent_wait(b->drv, &b->spec, &b->h, b->te->vm->agent_timeout_ms, true, cancel, err);
        if (r < 0)
                return r;
        /* Let the boot finish (udev, systemd's last units): a clone resumes
         * where the template stopped, and every clone would redo that work. */
        uint64_t waited =
            vm_agent_settle(&b->spec, &b->h, TPL_SETTLE_BUSY, TPL_SETTLE_MAX_MS, cancel);
        log_info("template %s: guest settled after %llu ms", b->t.name, (unsigned long long)waited);
        /* Each clone gets its own copy of the work disk, written by the host
         * before it resumes: the template lets go of it now. */
        struct agent_conn *c = NULL;
        r = vm_agent_connect(&b->spec, &b->h, 5000, &c, err);
        if (r >= 0)
                r = agent_unmount_work(c, 30000, err);
        agent_conn_free(c);
        return r < 0 ? bg_error_prefix(err, "release the work disk before the snapshot") : r;
}

static int b_snapshot(void *ctx, struct bg_error *err)
{
        struct build *b = ctx;
        char state[VMM_PATH_MAX + 16];
        (void)vmm_path(state, sizeof(state), b->spec.dir, TPL_FILE_STATE);
        int r = b->drv->snapshot(&b->spec, &b->h, state, b->spec.mem.path, err);
        if (r < 0)
                return r;
        /* Saved: the builder VM is not needed any more, nor its network. */
        r = b->drv->kill(&b->h, err);
        (void)proc_reap(b->h.pid, 2000);
        if (r < 0)
                return r;
        b->t.pid = 0;
        b->t.pid_start = 0;
        struct bg_error e = {0};
        if (b_undo_network(b, &e) < 0)
                log_warn("template %s: %s", b->t.name, e.msg);
        return 0;
}

static const struct step build_steps[] = {
    {"reserve", b_reserve, b_undo_reserve},
    {"network", b_network, b_undo_network},
    {"disks", b_disks, NULL},
    {"boot", b_boot, b_undo_boot},
    {"agent", b_agent, NULL},
    {"snapshot", b_snapshot, NULL},
};
_Static_assert(ELEMENTSOF(build_steps) == ELEMENTSOF(tpl_build_stages), "stages out of sync");

static void build_progress(void *ctx, const char *stage)
{
        struct build *b = ctx;
        ops_ctx_stage(b->ctx, stage);
}

/* Allocated bytes of a file (0 if it cannot be read). */
static uint64_t allocated(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int tpl_fill(const struct tpl_env *te, const struct tpl_record *t, Banger__V1__Template *out)
{
        char dir[VMM_PATH_MAX], p[VMM_PATH_MAX + 16];
        (void)tpl_dir(te, t->id, dir, sizeof(dir));
        out->id = strdup(t->id);
        out->name = strdup(t->name);
        out->state = strdup(tpl_state_to_string(t->state));
        out->error = strdup(t->error);
        out->auto_ = t->is_auto;
        out->image = strdup(t->image);
        out->kernel = strdup(t->kernel);
        out->vcpu = t->vcpu;
        out->memory_mib = t->memory_mib;
        out->work_disk_bytes = t->work_disk_bytes;
        out->vmm = strdup(t->vmm);
        out->accel = strdup(t->accel);
        out->source_vm = strdup(t->source_vm);
        out->dir = strdup(dir);
        (void)vmm_path(p, sizeof(p), dir, TPL_FILE_MEM);
        out->memory_file_bytes = allocated(p);
        static const char *const disks[] = {TPL_FILE_STATE, VM_FILE_ROOT_QCOW2, VM_FILE_ROOT_RAW,
                                            VM_FILE_WORK};
        for (size_t i = 0; i < ELEMENTSOF(disks); i++) {
                (void)vmm_path(p, sizeof(p), dir, disks[i]);
                out->disk_bytes += allocated(p);
        }
        out->created_unix_ms = t->created_unix_ms;
        out->updated_unix_ms = t->updated_unix_ms;
        if (!out->id || !out->name || !out->state || !out->error || !out->image || !out->kernel ||
            !out->vmm || !out->accel || !out->source_vm || !out->dir)
                return -ENOMEM;
        return 0;
}

static int build_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct build *b = ud;
        struct tpl_env *te = b->te;
        b->ctx = ctx;
        uint64_t t0 = now_mono_msec();
        int r = steps_run(build_steps, ELEMENTSOF(build_steps), b, build_progress,
                          ops_ctx_cancel_flag(ctx), NULL, err);
        if (r < 0) {
                b->t.state = TPL_ERROR;
                snprintf(b->t.error, sizeof(b->t.error), "%s", err->msg);
                b->t.pid = 0;
                b->t.pid_start = 0;
                b->t.tap[0] = '\0';
                struct bg_error e = {0};
                if (tpl_save(te, &b->t, &e) < 0)
                        log_error("template %s: could not record its error: %s", b->t.name, e.msg);
                log_warn("template %s failed: %s", b->t.name, err->msg);
                return r;
        }
        b->t.state = TPL_READY;
        b->t.error[0] = '\0';
        r = tpl_save(te, &b->t, err);
        if (r < 0)
                return r;
        log_info("template %s ready in %llu ms (%s, %s, %u vCPU, %u MiB)", b->t.name,
                 (unsigned long long)(now_mono_msec() - t0), b->t.image, b->t.kernel, b->t.vcpu,
                 b->t.memory_mib);
        Banger__V1__Template *msg = calloc(1, sizeof(*msg));
        if (!msg)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__template__init(msg);
        r = tpl_fill(te, &b->t, msg);
        if (r >= 0)
                r = ops_ctx_set_result(ctx, &msg->base);
        banger__v1__template__free_unpacked(msg, NULL);
        return r < 0 ? bg_error_set(err, -r, "out of memory") : 0;
}

int tpl_create(struct tpl_env *te, const struct tpl_request *req, Banger__V1__Operation *out,
               struct bg_error *err)
{
        struct vm_env *env = te->vm;
        int r = bg_name_check_dns_label("template name", req->name, err);
        if (r < 0)
                return r;
        if (streq(req->name, "auto") || streq(req->name, "off"))
                return bg_error_set(err, EINVAL,
                                    "'%s' means something else in vm.template: pick another name",
                                    req->name);
        struct build *b = calloc(1, sizeof(*b));
        if (!b)
                return bg_error_set(err, ENOMEM, "out of memory");
        b->te = te;
        struct tpl_record *t = &b->t;
        vm_new_id(t->id);
        snprintf(t->name, sizeof(t->name), "%s", req->name);
        t->state = TPL_BUILDING;
        t->is_auto = req->is_auto;
        snprintf(t->auto_key, sizeof(t->auto_key), "%s", req->auto_key);
        snprintf(t->image, sizeof(t->image), "%s", req->image);
        snprintf(t->kernel, sizeof(t->kernel), "%s", req->kernel);
        t->vcpu = req->vcpu;
        t->memory_mib = req->memory_mib;
        t->work_disk_bytes = req->work_disk_bytes;
        snprintf(t->vmm, sizeof(t->vmm), "%s", env->vmm);
        snprintf(t->source_vm, sizeof(t->source_vm), "%s", req->from_vm);
        /* The builder VM's lease and tap go by this name (a DNS label). */
        snprintf(t->lease, sizeof(t->lease), "tpl-%.12s", t->id);
        t->created_unix_ms = t->updated_unix_ms = (int64_t)now_real_msec();
        if (req->from_vm[0]) {
                /* What the VM is, the template is. */
                struct vm_record src;
                r = vm_load(env, req->from_vm, &src, err);
                if (r < 0) {
                        free(b);
                        return r;
                }
                snprintf(t->source_vm, sizeof(t->source_vm), "%s", src.name);
                snprintf(t->image, sizeof(t->image), "%s", src.image);
                snprintf(t->kernel, sizeof(t->kernel), "%s", src.kernel);
                snprintf(t->vmm, sizeof(t->vmm), "%s", src.vmm);
                t->vcpu = src.vcpu;
                t->memory_mib = src.memory_mib;
                t->work_disk_bytes = src.work_disk_bytes;
        }
        struct vm_record identity = {0};
        snprintf(identity.id, sizeof(identity.id), "%s", t->id);
        snprintf(identity.name, sizeof(identity.name), "%s", t->name);
        r = vm_spec_identity(&identity, env->templates_dir, &b->spec, err);
        if (r >= 0) {
                pthread_mutex_lock(env->mu);
                r = tpl_store_insert(env->db, t, err);
                pthread_mutex_unlock(env->mu);
        }
        if (r < 0) {
                free(b);
                return r;
        }
        log_info("building template %s (%s) from %s%s, kernel %s, %u vCPU, %u MiB", t->name, t->id,
                 t->source_vm[0] ? "VM " : "image ", t->source_vm[0] ? t->source_vm : t->image,
                 t->kernel, t->vcpu, t->memory_mib);
        struct ops_start s = {
            .kind = "template.create",
            .target = t->name,
            .stages = tpl_build_stages,
            .n_stages = tpl_n_build_stages,
            .dedup = true,
            .fn = build_work,
            .userdata = b,
            .free_userdata = free,
        };
        char name[64];
        snprintf(name, sizeof(name), "%s", t->name);
        r = ops_start_fill(te->ops, &s, out, err);
        if (r < 0) {
                /* The operation never ran: no row may stay "building". */
                struct tpl_record gone;
                struct bg_error e = {0};
                pthread_mutex_lock(env->mu);
                if (tpl_store_resolve(env->db, name, &gone, &e) == 0)
                        (void)tpl_store_delete(env->db, gone.id, &e);
                pthread_mutex_unlock(env->mu);
        }
        return r;
}

/* ---- delete ---- */

static int delete_locked_check(struct tpl_env *te, const struct tpl_record *t, struct bg_error *err)
{
        size_t n = 0;
        char names[200];
        int r = tpl_store_clones(te->vm->db, t->id, &n, names, sizeof(names), err);
        if (r < 0)
                return r;
        if (n)
                return bg_error_set(err, EBUSY,
                                    "template %s has %zu VM%s cloned from it (%s): their root "
                                    "disks read through the template's; delete %s first",
                                    t->name, n, n == 1 ? "" : "s", names, n == 1 ? "it" : "them");
        if (t->state == TPL_BUILDING)
                return bg_error_set(err, EBUSY,
                                    "template %s is being built; wait for it, or cancel its "
                                    "operation (banger ops)",
                                    t->name);
        return 0;
}

int tpl_delete(struct tpl_env *te, const char *ref, struct tpl_record *ret_deleted,
               struct bg_error *err)
{
        struct vm_env *env = te->vm;
        struct tpl_record t;
        char dir[VMM_PATH_MAX];
        pthread_mutex_lock(env->mu);
        int r = tpl_store_resolve(env->db, ref, &t, err);
        if (r >= 0)
                r = delete_locked_check(te, &t, err);
        /* The row goes first, under the lock: no clone can pick it after. */
        if (r >= 0)
                r = tpl_store_delete(env->db, t.id, err);
        pthread_mutex_unlock(env->mu);
        if (r < 0)
                return r;
        if (tpl_dir(te, t.id, dir, sizeof(dir)) >= 0) {
                struct bg_error e = {0};
                if (rm_rf(dir, &e) < 0)
                        log_warn("template %s: %s (remove it by hand)", t.name, e.msg);
        }
        log_info("template %s (%s) deleted", t.name, t.id);
        if (ret_deleted)
                *ret_deleted = t;
        return 0;
}

/* ---- choosing ---- */

/* What an automatic template stands for: the image's and the kernel's files
 * as they are now (a rebuilt image or a re-pulled kernel makes a new key),
 * and the machine. */
static int auto_key(struct tpl_env *te, const char *image, const char *kernel, uint32_t vcpu,
                    uint32_t memory_mib, uint64_t work_disk_bytes, char key[65],
                    struct bg_error *err)
{
        struct vm_env *env = te->vm;
        struct vm_image_info img;
        struct vm_kernel_info k;
        int r = env->deps->image(env->deps->ud, image, &img, err);
        if (r >= 0)
                r = env->deps->kernel(env->deps->ud, kernel, &k, err);
        if (r < 0)
                return r;
        const char *files[] = {img.rootfs, img.work_seed, k.bzimage, k.initramfs, k.modules};
        char text[4096];
        size_t n = (size_t)snprintf(text, sizeof(text),
                                    "image=%s|kernel=%s|vcpu=%u|mem=%u|work=%llu|vmm=%s|accel=%d",
                                    image, kernel, vcpu, memory_mib,
                                    (unsigned long long)work_disk_bytes, env->vmm, (int)env->accel);
        for (size_t i = 0; i < ELEMENTSOF(files) && n < sizeof(text); i++) {
                struct stat st = {0};
                if (files[i][0] && stat(files[i], &st) < 0)
                        return bg_error_errno(err, -errno, "%s", files[i]);
                n += (size_t)snprintf(text + n, sizeof(text) - n, "|%s:%llu:%lld.%09ld:%llu",
                                      files[i], (unsigned long long)st.st_size,
                                      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                                      (unsigned long long)st.st_ino);
        }
        sha256_buf_hex(text, n < sizeof(text) ? n : sizeof(text) - 1, key);
        return 0;
}

static bool ready_on_disk(const struct tpl_env *te, const struct tpl_record *t)
{
        char dir[VMM_PATH_MAX], p[VMM_PATH_MAX + 16];
        if (tpl_dir(te, t->id, dir, sizeof(dir)) < 0)
                return false;
        (void)vmm_path(p, sizeof(p), dir, TPL_FILE_STATE);
        if (access(p, R_OK) < 0)
                return false;
        (void)vmm_path(p, sizeof(p), dir, TPL_FILE_MEM);
        return access(p, R_OK) == 0;
}

static int named(struct tpl_env *te, const char *name, bool configured, struct tpl_record *ret,
                 struct bg_error *err)
{
        pthread_mutex_lock(te->vm->mu);
        int r = tpl_store_resolve(te->vm->db, name, ret, err);
        pthread_mutex_unlock(te->vm->mu);
        if (r == -ENOENT && configured)
                return bg_error_set(err, ENOENT,
                                    "config vm.template names template '%s', which does not "
                                    "exist: create it (banger template create %s) or set "
                                    "vm.template = \"auto\"",
                                    name, name);
        if (r < 0)
                return r;
        if (ret->state == TPL_BUILDING)
                return bg_error_set(err, EBUSY,
                                    "template %s is still being built; try again when `banger "
                                    "template show %s` says ready (or use --cold)",
                                    ret->name, ret->name);
        if (ret->state != TPL_READY)
                return bg_error_set(err, EINVAL, "template %s failed to build: %s", ret->name,
                                    ret->error);
        if (!ready_on_disk(te, ret))
                return bg_error_set(err, ENOENT,
                                    "template %s has lost its files; delete it (banger template "
                                    "delete %s) and make it again",
                                    ret->name, ret->name);
        if (!streq(ret->vmm, te->vm->vmm))
                return bg_error_set(err, EINVAL, "template %s is for %s; new VMs run on %s",
                                    ret->name, ret->vmm, te->vm->vmm);
        return 1;
}

int tpl_pick(struct tpl_env *te, const char *mode, const char *explicit_name, bool cold,
             const char *image, const char *kernel, uint32_t vcpu, uint32_t memory_mib,
             uint64_t work_disk_bytes, struct tpl_record *ret, struct tpl_request *want_auto,
             struct bg_error *err)
{
        memset(want_auto, 0, sizeof(*want_auto));
        if (explicit_name && explicit_name[0])
                return named(te, explicit_name, false, ret, err);
        if (cold || streq(mode, "off"))
                return 0;
        if (!streq(mode, "auto"))
                return named(te, mode, true, ret, err);
        if (!te->vm->snapshots || te->max_auto == 0)
                return 0;
        char key[65];
        struct bg_error e = {0};
        if (auto_key(te, image, kernel, vcpu, memory_mib, work_disk_bytes, key, &e) < 0) {
                /* The cold path says what is wrong with the image or kernel. */
                return 0;
        }
        pthread_mutex_lock(te->vm->mu);
        int found = tpl_store_find_auto(te->vm->db, key, ret, &e);
        pthread_mutex_unlock(te->vm->mu);
        if (found < 0) {
                log_warn("automatic templates: %s", e.msg);
                return 0;
        }
        if (found && ret->state == TPL_READY && ready_on_disk(te, ret))
                return 1;
        bool retry =
            !found || (ret->state == TPL_ERROR &&
                       now_real_msec() - (uint64_t)ret->updated_unix_ms > TPL_AUTO_RETRY_MS);
        if (retry && found) {
                /* A failed one, long enough ago: make it again. */
                if (tpl_delete(te, ret->id, NULL, &e) < 0) {
                        log_warn("automatic template %s: %s", ret->name, e.msg);
                        return 0;
                }
        }
        if (retry) {
                snprintf(want_auto->name, sizeof(want_auto->name), "auto-%.12s", key);
                snprintf(want_auto->image, sizeof(want_auto->image), "%s", image);
                snprintf(want_auto->kernel, sizeof(want_auto->kernel), "%s", kernel);
                want_auto->vcpu = vcpu;
                want_auto->memory_mib = memory_mib;
                want_auto->work_disk_bytes = work_disk_bytes;
                want_auto->is_auto = true;
                snprintf(want_auto->auto_key, sizeof(want_auto->auto_key), "%s", key);
        }
        return 0;
}

static int by_use(const void *a, const void *b)
{
        const struct tpl_record *x = a, *y = b;
        return x->updated_unix_ms < y->updated_unix_ms ? -1
                                                       : x->updated_unix_ms > y->updated_unix_ms;
}

void tpl_auto_build(struct tpl_env *te, const struct tpl_request *req)
{
        struct bg_error err = {0};
        struct tpl_record *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(te->vm->mu);
        int r = tpl_store_list(te->vm->db, &all, &n, &err);
        pthread_mutex_unlock(te->vm->mu);
        if (r < 0) {
                log_warn("automatic template for %s: %s", req->image, err.msg);
                return;
        }
        if (n > 1) /* no rows may be no array: qsort of NULL is UB */
                qsort(all, n, sizeof(*all), by_use);
        size_t autos = 0;
        for (size_t i = 0; i < n; i++)
                autos += all[i].is_auto;
        /* Make room: the least recently used automatic ones without clones. */
        for (size_t i = 0; i < n && autos >= te->max_auto; i++) {
                if (!all[i].is_auto || all[i].state == TPL_BUILDING)
                        continue;
                bg_error_clear(&err);
                if (tpl_delete(te, all[i].id, NULL, &err) == 0) {
                        log_info("automatic template %s removed: at most %u are kept "
                                 "(vm.auto_templates)",
                                 all[i].name, te->max_auto);
                        autos--;
                }
        }
        free(all);
        if (autos >= te->max_auto) {
                log_info("no automatic template for %s: %u are kept already and each has clones",
                         req->image, te->max_auto);
                return;
        }
        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        bg_error_clear(&err);
        if (tpl_create(te, req, &op, &err) < 0) {
                if (err.code != EEXIST)
                        log_warn("automatic template %s: %s", req->name, err.msg);
        } else {
                log_info("building automatic template %s in the background (operation %s)",
                         req->name, op.id);
        }
        ops_operation_clear(&op);
}

/* ---- start-up ---- */

void tpl_reconcile(struct tpl_env *te)
{
        struct vm_env *env = te->vm;
        struct tpl_record *all = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        if (tpl_store_list(env->db, &all, &n, &err) < 0) {
                log_warn("templates: %s", err.msg);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct tpl_record *t = &all[i];
                if (t->state != TPL_BUILDING)
                        continue;
                const struct vmm_driver *drv = env->driver_for(t->vmm);
                struct vmm_spec spec;
                struct vmm_handle h;
                struct vm_record identity = {0};
                snprintf(identity.id, sizeof(identity.id), "%s", t->id);
                snprintf(identity.name, sizeof(identity.name), "%s", t->name);
                bg_error_clear(&err);
                if (drv && vm_spec_identity(&identity, env->templates_dir, &spec, &err) >= 0 &&
                    drv->adopt(&spec, &h, &err) == 0 && drv->kill(&h, &err) < 0)
                        log_warn("template %s: could not stop its builder: %s", t->name, err.msg);
                const struct vm_deps *d = env->deps;
                if (t->tap[0] && d->release_tap(d->ud, t->tap, &err) < 0)
                        log_warn("template %s: tap %s: %s", t->name, t->tap, err.msg);
                if (t->lease[0] && d->release_lease(d->ud, t->lease, &err) < 0 &&
                    err.code != ENOENT)
                        log_warn("template %s: lease %s: %s", t->name, t->lease, err.msg);
                t->tap[0] = '\0';
                t->pid = 0;
                t->pid_start = 0;
                t->state = TPL_ERROR;
                snprintf(t->error, sizeof(t->error),
                         "vmsvc stopped while it was being built; delete it and make it again");
                t->updated_unix_ms = (int64_t)now_real_msec();
                if (tpl_store_update(env->db, t, &err) < 0)
                        log_warn("template %s: %s", t->name, err.msg);
                else
                        log_info("template %s was being built when vmsvc stopped: now error",
                                 t->name);
        }
        free(all);
}
