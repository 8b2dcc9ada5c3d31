/* containerd.task.v2.Task handlers. The task's process runs in a banger VM:
 *
 *   Create  -> the container's rootfs as an image (rootfs.h), then
 *              VmService/Create from it (a pod sandbox: banger's default
 *              image; a pod's container: no VM, the sandbox's) and waits for
 *              the operation;
 *   Start   -> WorkspaceService/StartExec with process.args (process.env
 *              through /usr/bin/env, process.cwd), then a pump thread copies
 *              WorkspaceService/ExecOutput to the stdout/stderr FIFOs (an
 *              exec that could not connect to the VM yet is started again,
 *              for up to EXEC_CONNECT_WAIT_MS);
 *   Kill    -> WorkspaceService/CancelOperation of that exec (exit status
 *              128 + signal), or ends a created task that never started;
 *   Delete  -> VmService/Delete (force).
 *
 * Methods not listed in shim_task_methods (Exec, Pids, Stats, ResizePty,
 * CloseIO, Pause, Resume, Checkpoint, Update) are answered UNIMPLEMENTED by
 * the ttrpc server. */
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
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "rootfs.h"
#include "shim.h"
#include "util/version.h"

#define TASK_SERVICE "containerd.task.v2.Task"
#define OP_POLL_MS 500
#define GW_DEADLINE_MS 30000
/* How long after Start the shim retries an exec that could not connect (the
 * VM's sshd comes up after the VM is reported running). */
#define EXEC_CONNECT_WAIT_MS (180u * 1000)
/* banger's Exec API ends a command after its timeout (default 10 minutes):
 * a task may run for 7 days. */
#define SHIM_EXEC_TIMEOUT_MS (7u * 24 * 3600 * 1000)

static int pack_empty(uint8_t **ret, size_t *len)
{
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        return ttrpc_pack(&e.base, ret, len);
}

/* Every request names the task; this shim serves exactly one. Called with
 * the lock held. */
static int check_id(struct shim_ctx *c, const char *id, const char *exec_id, bool need_created,
                    struct bg_error *err)
{
        if (strcmp(id, c->opts.id) != 0)
                return bg_error_set(err, ENOENT, "task %.80s not found (this shim serves %s)", id,
                                    c->opts.id);
        if (exec_id && exec_id[0])
                return bg_error_set(err, ENOENT,
                                    "exec %.80s not found (banger's shim does not run exec "
                                    "processes yet)",
                                    exec_id);
        if (need_created && (!c->created || c->deleted))
                return bg_error_set(err, ENOENT, "task %s not found (not created)", id);
        return 0;
}

static void set_stopped(struct shim_ctx *c, uint32_t status)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
        c->exit_status = status;
        c->exited_sec = ts.tv_sec;
        c->exited_nsec = (int32_t)ts.tv_nsec;
        pthread_cond_broadcast(&c->changed);
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

/* ---- Connect / State ---- */

static int h_connect(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                     struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ConnectRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, NULL, false, err);
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

static int h_state(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                   struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__StateRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, q->exec_id, true, err);
        if (r < 0) {
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        Containerd__Task__V2__StateResponse o = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        o.id = c->opts.id;
        o.bundle = c->opts.bundle;
        o.pid = (uint32_t)getpid();
        o.status = c->status;
        o.stdout = c->stdout_path;
        o.stderr = c->stderr_path;
        o.terminal = false;
        o.exit_status = c->exit_status;
        ts.seconds = c->exited_sec;
        ts.nanos = c->exited_nsec;
        o.exited_at = &ts;
        r = ttrpc_pack(&o.base, ret, len);
        pthread_mutex_unlock(&c->lock);
        return r;
}

static int delete_vm(struct shim_ctx *c, struct bg_error *err);

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

/* The container's rootfs (containerd's mounts, mounted at BUNDLE/rootfs, or
 * root.path) becomes the image c->image. */
static int rootfs_to_image(struct shim_ctx *c, const Containerd__Task__V2__CreateTaskRequest *q,
                           const char *root_path, struct bg_error *err)
{
        char dir[PATH_MAX];
        if (q->n_rootfs > 0) {
                int r = rootfs_mount(c->opts.bundle, q->rootfs, q->n_rootfs, err);
                if (r < 0)
                        return r;
                c->rootfs_mounted = true;
                snprintf(dir, sizeof(dir), "%s/rootfs", c->opts.bundle);
        } else {
                snprintf(dir, sizeof(dir), "%s", root_path);
        }
        return shim_rootfs_image(c, dir, c->image, sizeof(c->image), err);
}

static int h_create(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                    struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__CreateTaskRequest *q = (const void *)in;
        if (q->terminal)
                return bg_error_set(err, ENOTSUP,
                                    "banger's shim does not run tasks with a terminal yet "
                                    "(run without -t)");
        if (q->checkpoint[0] || q->parent_checkpoint[0])
                return bg_error_set(err, ENOTSUP, "banger's shim cannot restore checkpoints");
        /* q->stdin is not opened: stdin is not forwarded yet (ctr passes a
         * stdin FIFO even without -i); the process reads an empty stdin. */
        if (strlen(q->stdout) >= PATH_MAX || strlen(q->stderr) >= PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG, "stdout/stderr path too long");
        if (q->bundle[0] && strcmp(q->bundle, c->opts.bundle) != 0)
                return bg_error_set(err, EINVAL, "bundle %.200s is not this shim's (%s)", q->bundle,
                                    c->opts.bundle);

        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, NULL, false, err);
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
                /* A pod's container runs in its sandbox's VM. */
                r = sandbox_vm(c, proc.sandbox_id, err);
                if (r < 0)
                        goto fail;
                goto created;
        }
        /* A pod sandbox's own rootfs is the pause image, which cannot boot:
         * its VM boots banger's default image. */
        if (strcmp(proc.container_type, "sandbox") != 0) {
                r = rootfs_to_image(c, q, proc.root_path, err);
                if (r < 0)
                        goto fail;
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
        if (r < 0) {
                /* A failed create leaves the VM in the error state: remove it,
                 * so a failed task leaves nothing behind. */
                struct bg_error derr = {0};
                (void)delete_vm(c, &derr);
                goto fail;
        }

created:
        pthread_mutex_lock(&c->lock);
        c->proc = proc;
        c->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
        snprintf(c->stdout_path, sizeof(c->stdout_path), "%s", q->stdout);
        snprintf(c->stderr_path, sizeof(c->stderr_path), "%s", q->stderr);
        pthread_mutex_unlock(&c->lock);
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
        (void)shim_vm_name(c->opts.ns, c->opts.id, c->vm, sizeof(c->vm));
        c->created = false;
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* ---- Start and the output pump ---- */

/* Opens a FIFO containerd reads for writing; -1 when there is none or
 * nobody reads it (the output is then dropped). */
static int open_fifo(const char *path)
{
        if (!path[0])
                return -1;
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -1;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
        while (fd >= 0 && n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return; /* the reader went away: drop the rest */
                p += k;
                n -= (size_t)k;
        }
}

static int start_exec(struct shim_ctx *c, char *op_id, size_t op_len, struct bg_error *err);
static bool exec_never_ran(struct shim_ctx *c, const char *op_id);

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *pump_main(void *arg)
{
        struct shim_ctx *c = arg;
        pthread_mutex_lock(&c->lock);
        char op_id[64], out_path[PATH_MAX], err_path[PATH_MAX];
        snprintf(op_id, sizeof(op_id), "%s", c->exec_op);
        snprintf(out_path, sizeof(out_path), "%s", c->stdout_path);
        snprintf(err_path, sizeof(err_path), "%s", c->stderr_path);
        pthread_mutex_unlock(&c->lock);
        int ofd = open_fifo(out_path);
        int efd = strcmp(err_path, out_path) == 0 ? ofd : open_fifo(err_path);
        uint64_t so = 0, se = 0, started = now_ms();
        int failures = 0;
        uint32_t status = 255;
        for (;;) {
                pthread_mutex_lock(&c->lock);
                bool stop = c->shutting_down;
                pthread_mutex_unlock(&c->lock);
                if (stop)
                        break;
                Banger__V1__ExecOutputRequest q = BANGER__V1__EXEC_OUTPUT_REQUEST__INIT;
                q.operation_id = op_id;
                q.stdout_offset = so;
                q.stderr_offset = se;
                q.wait_ms = 2000;
                Banger__V1__ExecOutputResponse *o = NULL;
                struct bg_error err = {0};
                int r = shim_gw_call(c, "/banger.v1.WorkspaceService/ExecOutput", &q.base,
                                     &banger__v1__exec_output_response__descriptor,
                                     (ProtobufCMessage **)&o, 10000, &err);
                if (r < 0) {
                        if (r == -ECANCELED) {
                                break; /* cancelled by Kill */
                        }
                        fprintf(stderr, "banger shim: exec output: %s\n", err.msg);
                        if (++failures >= 10)
                                break;
                        sleep(1);
                        continue;
                }
                failures = 0;
                write_all(ofd, o->stdout.data, o->stdout.len);
                write_all(efd, o->stderr.data, o->stderr.len);
                so = o->stdout_offset + o->stdout.len;
                se = o->stderr_offset + o->stderr.len;
                bool done = o->done;
                int code = o->exit_code;
                banger__v1__exec_output_response__free_unpacked(o, NULL);
                if (done && code == 255 && so == 0 && se == 0 &&
                    now_ms() < started + EXEC_CONNECT_WAIT_MS && exec_never_ran(c, op_id)) {
                        /* The VM runs but its sshd is not up yet: the command
                         * never started; start it again. */
                        pthread_mutex_lock(&c->lock);
                        bool killed = c->kill_signal > 0;
                        pthread_mutex_unlock(&c->lock);
                        if (killed)
                                break;
                        sleep(2);
                        if (start_exec(c, op_id, sizeof(op_id), &err) < 0) {
                                fprintf(stderr, "banger shim: restart exec: %s\n", err.msg);
                                break;
                        }
                        pthread_mutex_lock(&c->lock);
                        snprintf(c->exec_op, sizeof(c->exec_op), "%s", op_id);
                        pthread_mutex_unlock(&c->lock);
                        continue;
                }
                if (done) {
                        status = (uint32_t)code;
                        break;
                }
        }
        if (efd >= 0 && efd != ofd)
                close(efd);
        if (ofd >= 0)
                close(ofd);
        fprintf(stderr,
                "containerd-shim-banger-v2: task %s exec %s ended: exit %u (%llu+%llu bytes of "
                "output, stdout %s)\n",
                c->opts.id, op_id, status, (unsigned long long)so, (unsigned long long)se,
                ofd >= 0 ? "forwarded" : "dropped: no reader");
        pthread_mutex_lock(&c->lock);
        if (c->kill_signal > 0 && status == 255)
                status = 128u + (uint32_t)c->kill_signal;
        if (c->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                set_stopped(c, status);
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

/* Runs the task's process in the VM: WorkspaceService/StartExec with
 * process.args (process.env through /usr/bin/env, process.cwd). The
 * operation's id goes to op_id. */
static int start_exec(struct shim_ctx *c, char *op_id, size_t op_len, struct bg_error *err)
{
        pthread_mutex_lock(&c->lock);
        size_t n = 0;
        char **argv = calloc(c->proc.envc + c->proc.argc + 2, sizeof(char *));
        if (!argv) {
                pthread_mutex_unlock(&c->lock);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        if (c->proc.envc > 0) {
                argv[n++] = "/usr/bin/env";
                for (size_t i = 0; i < c->proc.envc; i++)
                        argv[n++] = c->proc.env[i];
        }
        for (size_t i = 0; i < c->proc.argc; i++)
                argv[n++] = c->proc.argv[i];
        pthread_mutex_unlock(&c->lock); /* proc is fixed once the task is created */

        Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
        eq.vm = c->vm;
        eq.argv = argv;
        eq.n_argv = n;
        eq.cwd = c->proc.cwd;
        eq.timeout_ms = SHIM_EXEC_TIMEOUT_MS;
        Banger__V1__Operation *op = NULL;
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/StartExec", &eq.base,
                             &banger__v1__operation__descriptor, (ProtobufCMessage **)&op,
                             GW_DEADLINE_MS, err);
        free(argv);
        if (r < 0)
                return r;
        snprintf(op_id, op_len, "%s", op->id);
        fprintf(stderr, "containerd-shim-banger-v2: task %s started in VM %s (exec operation %s)\n",
                c->opts.id, c->vm, op->id);
        banger__v1__operation__free_unpacked(op, NULL);
        return 0;
}

/* True when exec operation op_id failed before its command ran (the VM's
 * sshd did not take the connection yet: stage "connect"). */
static bool exec_never_ran(struct shim_ctx *c, const char *op_id)
{
        Banger__V1__GetOperationRequest q = BANGER__V1__GET_OPERATION_REQUEST__INIT;
        q.id = (char *)op_id;
        Banger__V1__Operation *op = NULL;
        struct bg_error err = {0};
        if (shim_gw_call(c, "/banger.v1.WorkspaceService/GetOperation", &q.base,
                         &banger__v1__operation__descriptor, (ProtobufCMessage **)&op, 10000,
                         &err) < 0)
                return false;
        bool r = op->done && op->status && op->status->code != 0 && op->stage &&
                 strcmp(op->stage, "connect") == 0;
        if (r)
                fprintf(stderr, "containerd-shim-banger-v2: exec %s could not connect yet: %s\n",
                        op_id, op->status->message ? op->status->message : "");
        banger__v1__operation__free_unpacked(op, NULL);
        return r;
}

static int h_start(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                   struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__StartRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, q->exec_id, true, err);
        if (r >= 0 && c->status != CONTAINERD__V1__TYPES__STATUS__CREATED)
                r = bg_error_set(err, EAGAIN, "task %s is not in the created state", q->id);
        if (r >= 0)
                c->status = CONTAINERD__V1__TYPES__STATUS__PAUSING; /* starting: claimed */
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;

        char op_id[64];
        r = start_exec(c, op_id, sizeof(op_id), err);
        pthread_mutex_lock(&c->lock);
        if (r < 0) {
                c->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        snprintf(c->exec_op, sizeof(c->exec_op), "%s", op_id);
        c->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
        if (pthread_create(&c->pump, NULL, pump_main, c) == 0)
                c->pump_started = true;
        else
                set_stopped(c, 255);
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        Containerd__Task__V2__StartResponse o = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
        o.pid = (uint32_t)getpid();
        return ttrpc_pack(&o.base, ret, len);
}

/* ---- Wait / Kill / Delete / Shutdown ---- */

static int h_wait(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                  struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__WaitRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, q->exec_id, true, err);
        while (r >= 0 && c->status != CONTAINERD__V1__TYPES__STATUS__STOPPED && !c->shutting_down)
                pthread_cond_wait(&c->changed, &c->lock);
        if (r >= 0 && c->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                r = bg_error_set(err, ECONNREFUSED, "the shim is shutting down");
        if (r < 0) {
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        Containerd__Task__V2__WaitResponse o = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = c->exited_sec;
        ts.nanos = c->exited_nsec;
        o.exit_status = c->exit_status;
        o.exited_at = &ts;
        pthread_mutex_unlock(&c->lock);
        return ttrpc_pack(&o.base, ret, len);
}

static int h_kill(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                  struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__KillRequest *q = (const void *)in;
        if (q->signal == 0 || q->signal > 64)
                return bg_error_set(err, EINVAL, "signal %u is not a signal (1-64)", q->signal);
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, q->exec_id, true, err);
        if (r >= 0 && c->status == CONTAINERD__V1__TYPES__STATUS__STOPPED)
                r = bg_error_set(err, ENOENT, "process already finished");
        if (r >= 0 && c->status == CONTAINERD__V1__TYPES__STATUS__CREATED) {
                /* Never started: nothing runs in the VM; the task ends. */
                set_stopped(c, 128u + q->signal);
                pthread_mutex_unlock(&c->lock);
                return pack_empty(ret, len);
        }
        if (r >= 0 && c->status != CONTAINERD__V1__TYPES__STATUS__RUNNING)
                r = bg_error_set(err, EAGAIN, "task %s is starting; try again", q->id);
        char op_id[64];
        if (r >= 0) {
                c->kill_signal = (int)q->signal;
                snprintf(op_id, sizeof(op_id), "%s", c->exec_op);
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        /* The exec runs over SSH in the guest; cancelling its operation ends
         * it. Every signal ends the process (no delivery of the signal
         * itself yet). */
        Banger__V1__CancelOperationRequest cq = BANGER__V1__CANCEL_OPERATION_REQUEST__INIT;
        cq.id = op_id;
        Banger__V1__Operation *op = NULL;
        r = shim_gw_call(c, "/banger.v1.WorkspaceService/CancelOperation", &cq.base,
                         &banger__v1__operation__descriptor, (ProtobufCMessage **)&op,
                         GW_DEADLINE_MS, err);
        if (r < 0)
                return r;
        banger__v1__operation__free_unpacked(op, NULL);
        return pack_empty(ret, len);
}

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
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, q->exec_id, true, err);
        if (r >= 0 && c->status != CONTAINERD__V1__TYPES__STATUS__STOPPED &&
            c->status != CONTAINERD__V1__TYPES__STATUS__CREATED)
                r = bg_error_set(err, EAGAIN, "task %s is running; kill it first", q->id);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        r = c->in_sandbox_vm ? 0 : delete_vm(c, err);
        if (r < 0)
                return r;
        if (c->rootfs_mounted)
                rootfs_unmount(c->opts.bundle);
        if (c->image[0])
                shim_rootfs_prune(c, NULL);
        pthread_mutex_lock(&c->lock);
        if (c->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                set_stopped(c, 128u + SIGKILL);
        c->deleted = true;
        Containerd__Task__V2__DeleteResponse o = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = c->exited_sec;
        ts.nanos = c->exited_nsec;
        o.pid = (uint32_t)getpid();
        o.exit_status = c->exit_status;
        o.exited_at = &ts;
        pthread_mutex_unlock(&c->lock);
        return ttrpc_pack(&o.base, ret, len);
}

static void *stopper_main(void *arg)
{
        struct shim_ctx *c = arg;
        usleep(100 * 1000); /* let the Shutdown answer go out first */
        ttrpc_server_stop(c->srv);
        return NULL;
}

static int h_shutdown(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                      struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ShutdownRequest *q = (const void *)in;
        pthread_mutex_lock(&c->lock);
        int r = check_id(c, q->id, NULL, false, err);
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
    M("Connect", connect_request, h_connect), M("Create", create_task_request, h_create),
    M("Start", start_request, h_start),       M("State", state_request, h_state),
    M("Wait", wait_request, h_wait),          M("Kill", kill_request, h_kill),
    M("Delete", delete_request, h_delete),    M("Shutdown", shutdown_request, h_shutdown),
};
const size_t shim_task_n_methods = sizeof(shim_task_methods) / sizeof(shim_task_methods[0]);
