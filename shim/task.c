/* containerd.task.v2.Task handlers for the task as a whole; the handlers
 * for its processes (Start, State, Wait, Kill, Exec, ResizePty, CloseIO,
 * Pids, Stats) are in process.c. The task's VM:
 *
 *   Create  -> the container's rootfs as an image (rootfs.h), then
 *              VmService/Create from it (a pod sandbox: banger's default
 *              image; a pod's container: no VM, the sandbox's) and waits for
 *              the operation; TaskCreate;
 *   Delete  -> VmService/Delete (force), unless the VM is the pod
 *              sandbox's; TaskDelete. Delete with an exec id forgets that
 *              exec process.
 *
 * Pause, Resume, Checkpoint and Update are not in shim_task_methods: the
 * ttrpc server answers them UNIMPLEMENTED (docs/kubernetes.md says why). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "pod.h"
#include "process.h"
#include "rootfs.h"
#include "shim.h"
#include "util/timeutil.h"
#include "util/version.h"

#define TASK_SERVICE "containerd.task.v2.Task"
#define OP_POLL_MS 200 /* as the CLI polls */
/* How long Shutdown lets requests under way finish before the shim stops. */
#define SHUTDOWN_DRAIN_MS 10000u
#define GW_DEADLINE_MS 30000

static int pack_empty(uint8_t **ret, size_t *len)
{
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        return ttrpc_pack(&e.base, ret, len);
}

/* Every request names the task; this shim serves exactly one. Called with
 * the lock held. */
static int check_id(struct shim_ctx *c, const char *id, bool need_created, struct bg_error *err)
{
        if (strcmp(id, c->opts.id) != 0)
                return bg_error_set(err, ENOENT, "task %.80s not found (this shim serves %s)", id,
                                    c->opts.id);
        if (need_created && (!c->created || c->deleted))
                return bg_error_set(err, ENOENT, "task %s not found (not created)", id);
        return 0;
}

int shim_gw_call(struct shim_ctx *c, const char *method, const ProtobufCMessage *in,
                 const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                 uint32_t deadline_ms, struct bg_error *err)
{
        pthread_mutex_lock(&c->lock);
        if (!c->gw) {
                struct bg_paths paths;
                char url[PATH_MAX + 16];
                int r = bg_paths_init(&paths, BG_PATHS_AUTO, err);
                if (r >= 0)
                        r = bg_paths_socket_url(&paths, "gateway", url, sizeof(url));
                if (r < 0) {
                        pthread_mutex_unlock(&c->lock);
                        return bg_error_errno(err, r, "banger's paths");
                }
                struct rpc_client_opts o = {.block_connect = true};
                r = rpc_client_open(url, &o, &c->gw, err);
                if (r < 0) {
                        pthread_mutex_unlock(&c->lock);
                        return bg_error_set(err, ECONNREFUSED,
                                            "banger is not running (no gateway at %s): %s", url + 6,
                                            err->msg);
                }
        }
        struct rpc_client *gw = c->gw;
        pthread_mutex_unlock(&c->lock);
        struct rpc_call_opts o = {.deadline_ms = deadline_ms};
        struct rpc_status st = {0};
        int r = rpc_call(gw, method, in, out_desc, ret_out, &o, &st);
        if (r < 0) {
                char buf[768];
                rpc_status_format(&st, buf, sizeof(buf));
                return bg_error_set(err, rpc_code_to_errno(st.code), "banger: %s", buf);
        }
        return 0;
}

int shim_vm_stats(struct shim_ctx *c, const char *vm, uint32_t deadline_ms,
                  Banger__V1__VmStats **ret, struct bg_error *err)
{
        Banger__V1__VmRef ref = BANGER__V1__VM_REF__INIT;
        ref.ref = (char *)vm;
        uint64_t until = now_mono_msec() + deadline_ms;
        for (;;) {
                uint64_t now = now_mono_msec();
                uint32_t left = until > now ? (uint32_t)(until - now) : 1;
                int r = shim_gw_call(c, "/banger.v1.VmService/Stats", &ref.base,
                                     &banger__v1__vm_stats__descriptor, (ProtobufCMessage **)ret,
                                     left, err);
                if (r != -ECONNABORTED || now_mono_msec() + 150 >= until)
                        return r;
                usleep(150 * 1000);
        }
}

/* Polls service's GetOperation until op is done; *ret_final (caller frees)
 * is the finished operation. Gives up when the shim shuts down. */
static int op_wait(struct shim_ctx *c, const char *service, const char *op_id,
                   Banger__V1__Operation **ret_final, struct bg_error *err)
{
        char m[128];
        snprintf(m, sizeof(m), "/%s/GetOperation", service);
        for (;;) {
                Banger__V1__GetOperationRequest q = BANGER__V1__GET_OPERATION_REQUEST__INIT;
                q.id = (char *)op_id;
                Banger__V1__Operation *op = NULL;
                int r = shim_gw_call(c, m, &q.base, &banger__v1__operation__descriptor,
                                     (ProtobufCMessage **)&op, 10000, err);
                if (r < 0)
                        return r;
                if (op->done) {
                        *ret_final = op;
                        return 0;
                }
                banger__v1__operation__free_unpacked(op, NULL);
                pthread_mutex_lock(&c->lock);
                bool stop = c->shutting_down;
                pthread_mutex_unlock(&c->lock);
                if (stop)
                        return bg_error_set(err, ECANCELED, "the shim is shutting down");
                usleep(OP_POLL_MS * 1000);
        }
}

static int op_status_error(const Banger__V1__Operation *op, const char *what, struct bg_error *err)
{
        if (!op->status || op->status->code == 0)
                return 0;
        return bg_error_set(err, rpc_code_to_errno((enum rpc_code)op->status->code),
                            "banger: %s failed: %s (operation %s)", what,
                            op->status->message ? op->status->message : "", op->id);
}

/* ---- Connect ---- */

static int h_connect(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                     struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ConnectRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, false, err);
        bool created = c->created && !c->deleted;
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        Containerd__Task__V2__ConnectResponse o = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        o.shim_pid = (uint32_t)getpid();
        o.task_pid = created ? (uint32_t)getpid() : 0;
        o.version = "banger " BANGER_VERSION " (" BANGER_COMMIT ")";
        return ttrpc_pack(&o.base, ret, len);
}

static int delete_vm(struct shim_ctx *c, struct bg_error *err);

static long long ms_since(const struct timespec *t0)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (long long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- Create ---- */

/* The task's VM is its pod sandbox's, which must exist (the sandbox's task
 * made it). */
static int sandbox_vm(struct shim_ctx *c, const char *sandbox_id, struct bg_error *err)
{
        char vm[64];
        int r = shim_vm_name(c->opts.ns, sandbox_id, vm, sizeof(vm));
        if (r < 0)
                return bg_error_errno(err, r, "VM name");
        Banger__V1__VmRef q = BANGER__V1__VM_REF__INIT;
        q.ref = vm;
        Banger__V1__Vm *o = NULL;
        r = shim_gw_call(c, "/banger.v1.VmService/Get", &q.base, &banger__v1__vm__descriptor,
                         (ProtobufCMessage **)&o, GW_DEADLINE_MS, err);
        if (r == -ENOENT)
                return bg_error_set(err, ENOENT,
                                    "pod sandbox %s has no VM (%s): create the sandbox's task "
                                    "first",
                                    sandbox_id, vm);
        if (r < 0)
                return r;
        banger__v1__vm__free_unpacked(o, NULL);
        pthread_mutex_lock(&c->lock);
        snprintf(c->vm, sizeof(c->vm), "%s", vm);
        c->in_sandbox_vm = true;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

/* The container's rootfs directory: containerd's mounts, mounted at
 * BUNDLE/rootfs (c->rootfs_mounted), or root.path. */
static int rootfs_dir(struct shim_ctx *c, const Containerd__Task__V2__CreateTaskRequest *q,
                      const char *root_path, char *dir, size_t len, struct bg_error *err)
{
        if (q->n_rootfs == 0) {
                snprintf(dir, len, "%s", root_path);
                return 0;
        }
        int r = rootfs_mount(c->opts.bundle, q->rootfs, q->n_rootfs, err);
        if (r < 0)
                return r;
        c->rootfs_mounted = true;
        snprintf(dir, len, "%s/rootfs", c->opts.bundle);
        return 0;
}

/* A pod's container: its rootfs copied into the sandbox's VM (pod.h); the
 * host's mounts are not needed after that. */
static int rootfs_to_pod(struct shim_ctx *c, const Containerd__Task__V2__CreateTaskRequest *q,
                         const char *root_path, struct bg_error *err)
{
        char dir[PATH_MAX], root[sizeof(c->pod_root)];
        int r = shim_pod_root(c->opts.ns, c->opts.id, root, sizeof(root));
        if (r < 0)
                return bg_error_errno(err, r, "the container's tree in its pod's VM");
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = rootfs_dir(c, q, root_path, dir, sizeof(dir), err);
        if (r >= 0)
                r = shim_pod_copy(c, dir, root, err);
        if (c->rootfs_mounted)
                rootfs_unmount(c->opts.bundle);
        c->rootfs_mounted = false;
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        snprintf(c->pod_root, sizeof(c->pod_root), "%s", root);
        pthread_mutex_unlock(&c->lock);
        fprintf(stderr, "containerd-shim-banger-v2: task %s: image copied into VM %s at %s in "
                        "%lld ms\n",
                c->opts.id, c->vm, root, ms_since(&t0));
        return 0;
}

/* The container's rootfs becomes the image c->image. */
static int rootfs_to_image(struct shim_ctx *c, const Containerd__Task__V2__CreateTaskRequest *q,
                           const char *root_path, struct bg_error *err)
{
        char dir[PATH_MAX];
        int r = rootfs_dir(c, q, root_path, dir, sizeof(dir), err);
        if (r < 0)
                return r;
        return shim_rootfs_image(c, dir, c->image, sizeof(c->image), &c->agent_init, err);
}

static int h_create(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                    struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__CreateTaskRequest *q = (const void *)in;
        if (q->checkpoint[0] || q->parent_checkpoint[0])
                return bg_error_set(err, ENOTSUP, "banger's shim cannot restore checkpoints");
        if (strlen(q->stdin) >= PATH_MAX || strlen(q->stdout) >= PATH_MAX ||
            strlen(q->stderr) >= PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG, "stdio path too long");
        if (q->bundle[0] && strcmp(q->bundle, c->opts.bundle) != 0)
                return bg_error_set(err, EINVAL, "bundle %.200s is not this shim's (%s)", q->bundle,
                                    c->opts.bundle);

        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, false, err);
        if (r >= 0 && c->created)
                r = bg_error_set(err, EEXIST, "task %s already exists", q->id);
        if (r >= 0)
                c->created = true; /* claimed; undone below on failure */
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;

        struct bundle_process proc = {0};
        r = bundle_load(c->opts.bundle, &proc, err);
        if (r < 0)
                goto fail;
        if (strcmp(proc.container_type, "container") == 0) {
                /* A pod's container runs in its sandbox's VM, in its own
                 * image's tree there. */
                r = sandbox_vm(c, proc.sandbox_id, err);
                if (r >= 0)
                        r = rootfs_to_pod(c, q, proc.root_path, err);
                if (r < 0)
                        goto fail;
                goto created;
        }
        /* A pod sandbox's own rootfs is the pause image, which cannot boot:
         * its VM boots banger's default image. */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (strcmp(proc.container_type, "sandbox") != 0) {
                r = rootfs_to_image(c, q, proc.root_path, err);
                if (r < 0)
                        goto fail;
                fprintf(stderr, "containerd-shim-banger-v2: task %s: rootfs image %s in %lld ms\n",
                        c->opts.id, c->image, ms_since(&t0));
                clock_gettime(CLOCK_MONOTONIC, &t0);
        }

        Banger__V1__CreateVmRequest cq = BANGER__V1__CREATE_VM_REQUEST__INIT;
        Banger__V1__CreateVmRequest__LabelsEntry l1 =
            BANGER__V1__CREATE_VM_REQUEST__LABELS_ENTRY__INIT;
        Banger__V1__CreateVmRequest__LabelsEntry l2 =
            BANGER__V1__CREATE_VM_REQUEST__LABELS_ENTRY__INIT;
        Banger__V1__CreateVmRequest__LabelsEntry *labels[] = {&l1, &l2};
        l1.key = "containerd.namespace";
        l1.value = c->opts.ns;
        l2.key = "containerd.id";
        l2.value = c->opts.id;
        cq.name = c->vm;
        cq.image = c->image; /* "" = banger's default image */
        cq.init = c->agent_init ? "agent" : "image";
        cq.labels = labels;
        cq.n_labels = 2;
        Banger__V1__Operation *op = NULL;
        r = shim_gw_call(c, "/banger.v1.VmService/Create", &cq.base,
                         &banger__v1__operation__descriptor, (ProtobufCMessage **)&op,
                         GW_DEADLINE_MS, err);
        if (r < 0)
                goto fail;
        char op_id[64];
        snprintf(op_id, sizeof(op_id), "%s", op->id);
        banger__v1__operation__free_unpacked(op, NULL);
        op = NULL;
        r = op_wait(c, "banger.v1.VmService", op_id, &op, err);
        if (r >= 0) {
                r = op_status_error(op, "creating VM", err);
                banger__v1__operation__free_unpacked(op, NULL);
        }
        if (r >= 0)
                fprintf(stderr, "containerd-shim-banger-v2: task %s: VM %s created in %lld ms\n",
                        c->opts.id, c->vm, ms_since(&t0));
        if (r < 0) {
                /* A failed create leaves the VM in the error state: remove it,
                 * so a failed task leaves nothing behind. */
                struct bg_error derr = {0};
                (void)delete_vm(c, &derr);
                goto fail;
        }

created:
        pthread_mutex_lock(&c->lock);
        c->init.spec = proc;
        c->init.status = CONTAINERD__V1__TYPES__STATUS__CREATED;
        c->init.terminal = q->terminal || proc.terminal;
        snprintf(c->init.stdin_path, sizeof(c->init.stdin_path), "%s", q->stdin);
        snprintf(c->init.stdout_path, sizeof(c->init.stdout_path), "%s", q->stdout);
        snprintf(c->init.stderr_path, sizeof(c->init.stderr_path), "%s", q->stderr);
        Containerd__Events__TaskIO tio = CONTAINERD__EVENTS__TASK_IO__INIT;
        tio.stdin = q->stdin;
        tio.stdout = q->stdout;
        tio.stderr = q->stderr;
        tio.terminal = c->init.terminal;
        Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
        ev.container_id = c->opts.id;
        ev.bundle = c->opts.bundle;
        ev.io = &tio;
        ev.pid = (uint32_t)getpid();
        shim_publish(c, "/tasks/create", &ev.base);
        bool watch = !c->in_sandbox_vm; /* a pod's VM: the sandbox's task watches it */
        pthread_mutex_unlock(&c->lock);
        if (watch)
                shim_oom_watch_start(c);
        Containerd__Task__V2__CreateTaskResponse o =
            CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
        o.pid = (uint32_t)getpid();
        return ttrpc_pack(&o.base, ret, len);

fail:
        bundle_process_free(&proc);
        if (c->rootfs_mounted)
                rootfs_unmount(c->opts.bundle);
        pthread_mutex_lock(&c->lock);
        c->rootfs_mounted = false;
        c->in_sandbox_vm = false;
        c->image[0] = '\0';
        c->pod_root[0] = '\0';
        (void)shim_vm_name(c->opts.ns, c->opts.id, c->vm, sizeof(c->vm));
        c->created = false;
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* ---- Delete / Shutdown ---- */

static int delete_vm(struct shim_ctx *c, struct bg_error *err)
{
        Banger__V1__DeleteVmRequest dq = BANGER__V1__DELETE_VM_REQUEST__INIT;
        dq.ref = c->vm;
        dq.force = true;
        Banger__V1__DeleteVmResponse *o = NULL;
        int r = shim_gw_call(c, "/banger.v1.VmService/Delete", &dq.base,
                             &banger__v1__delete_vm_response__descriptor, (ProtobufCMessage **)&o,
                             GW_DEADLINE_MS, err);
        if (r == -ENOENT)
                return 0; /* already gone */
        if (r >= 0)
                banger__v1__delete_vm_response__free_unpacked(o, NULL);
        return r;
}

static int h_delete(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                    struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__DeleteRequest *q = (const void *)in;
        Containerd__Task__V2__DeleteResponse o = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        o.pid = (uint32_t)getpid();
        o.exited_at = &ts;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, true, err);
        if (r >= 0 && q->exec_id[0]) {
                struct shim_proc *p = shim_proc_find(c, q->exec_id);
                if (!p) {
                        pthread_mutex_unlock(&c->lock);
                        return bg_error_set(err, ENOENT, "exec %.80s not found in task %s",
                                            q->exec_id, q->id);
                }
                r = shim_proc_delete_exec(c, p, &o.exit_status, &ts, err); /* frees p */
                pthread_mutex_unlock(&c->lock);
                return r < 0 ? r : ttrpc_pack(&o.base, ret, len);
        }
        if (r >= 0 && c->init.status != CONTAINERD__V1__TYPES__STATUS__STOPPED &&
            c->init.status != CONTAINERD__V1__TYPES__STATUS__CREATED)
                r = bg_error_set(err, EAGAIN, "task %s is running; kill it first", q->id);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        shim_oom_watch_wait(c); /* its last look needs the VM */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (c->in_sandbox_vm && c->pod_root[0]) {
                /* The pod's VM stays; the container's tree in it goes. */
                struct bg_error perr = {0};
                int pr = shim_pod_remove(c, c->vm, c->pod_root, &perr);
                if (pr < 0 && pr != -ENOENT)
                        fprintf(stderr, "containerd-shim-banger-v2: task %s: remove %s in VM %s: "
                                        "%s\n",
                                c->opts.id, c->pod_root, c->vm, perr.msg);
        }
        r = c->in_sandbox_vm ? 0 : delete_vm(c, err);
        if (r < 0)
                return r;
        if (!c->in_sandbox_vm)
                fprintf(stderr, "containerd-shim-banger-v2: task %s: VM %s deleted in %lld ms\n",
                        c->opts.id, c->vm, ms_since(&t0));
        if (c->rootfs_mounted)
                rootfs_unmount(c->opts.bundle);
        if (c->image[0])
                shim_rootfs_prune(c, NULL);
        pthread_mutex_lock(&c->lock);
        if (c->init.status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                shim_proc_set_stopped(c, &c->init, 128u + SIGKILL);
        /* The VM is gone: so is every exec process in it. */
        for (struct shim_proc *e = c->execs; e; e = e->next)
                if (e->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                        shim_proc_set_stopped(c, e, 128u + SIGKILL);
        c->deleted = true;
        ts.seconds = c->init.exited_sec;
        ts.nanos = c->init.exited_nsec;
        o.exit_status = c->init.exit_status;
        Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
        ev.container_id = c->opts.id;
        ev.pid = o.pid;
        ev.exit_status = o.exit_status;
        ev.exited_at = &ts;
        shim_publish(c, "/tasks/delete", &ev.base);
        pthread_mutex_unlock(&c->lock);
        return ttrpc_pack(&o.base, ret, len);
}

static void *stopper_main(void *arg)
{
        struct shim_ctx *c = arg;
        /* The Shutdown answer goes out first, and a request still under
         * way (a Kill whose process ended meanwhile, which is why containerd
         * deleted the task) gets its answer too; bounded, as a Wait on a
         * process that cannot end would never let go. */
        if (!ttrpc_server_drain(c->srv, 0, SHUTDOWN_DRAIN_MS))
                fprintf(stderr, "containerd-shim-banger-v2: task %s: requests still under way "
                        "%u ms after Shutdown; stopping anyway\n", c->opts.id, SHUTDOWN_DRAIN_MS);
        ttrpc_server_stop(c->srv);
        return NULL;
}

static int h_shutdown(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                      struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ShutdownRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, false, err);
        /* As runc's shim: stay while the task exists, unless told "now". */
        bool go = r >= 0 && (q->now || !c->created || c->deleted);
        if (go) {
                c->shutting_down = true;
                pthread_cond_broadcast(&c->changed);
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        if (go) {
                pthread_t t;
                pthread_attr_t a;
                pthread_attr_init(&a);
                pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
                if (pthread_create(&t, &a, stopper_main, c) != 0)
                        ttrpc_server_stop(c->srv);
                pthread_attr_destroy(&a);
        }
        return pack_empty(ret, len);
}

#define M(name, type, fn)                                                                          \
        {                                                                                          \
                TASK_SERVICE, name, &containerd__task__v2__##type##__descriptor, fn                \
        }
const struct ttrpc_method shim_task_methods[] = {
    M("Connect", connect_request, h_connect),
    M("Create", create_task_request, h_create),
    M("Start", start_request, shim_h_start),
    M("State", state_request, shim_h_state),
    M("Wait", wait_request, shim_h_wait),
    M("Kill", kill_request, shim_h_kill),
    M("Delete", delete_request, h_delete),
    M("Shutdown", shutdown_request, h_shutdown),
    M("Exec", exec_process_request, shim_h_exec),
    M("ResizePty", resize_pty_request, shim_h_resize_pty),
    M("CloseIO", close_iorequest, shim_h_close_io),
    M("Pids", pids_request, shim_h_pids),
    M("Stats", stats_request, shim_h_stats),
};
const size_t shim_task_n_methods = sizeof(shim_task_methods) / sizeof(shim_task_methods[0]);
