/* The task's processes: the init process and those Exec adds, each a
 * WorkspaceService/StartExec operation in the task's VM (SSH as root to the
 * guest's sshd, run by banger's workspace service):
 *
 *   Start     -> StartExec with the process's args (env through env(1) in PATH,
 *                plus the task marker), cwd, stream_stdin, tty; a pump
 *                thread copies ExecOutput to the stdout/stderr FIFOs and
 *                records the exit status; a stdin thread copies containerd's
 *                stdin FIFO to ExecInput (end of input: ExecInput eof);
 *   Kill      -> WorkspaceService/Exec of kill(1) in the guest: the signal
 *                itself reaches the process (found by its marker
 *                BANGER_EXEC_ID=<exec id>, its children not); all = every
 *                process of the task (BANGER_TASK_ID). sshd does not take
 *                SSH "signal" requests in root sessions;
 *   ResizePty -> ExecInput rows/cols; CloseIO -> ExecInput eof;
 *   Pids      -> WorkspaceService/Exec of grep over /proc/<pid>/environ for
 *                the task marker (BANGER_TASK_ID=<id>, which every process
 *                of the task inherits);
 *   Stats     -> VmService/Stats as io.containerd.cgroups.v1.Metrics (the
 *                guest's own CPU and memory numbers: the VM is the task's
 *                cgroup).
 *
 * Events: TaskStart, TaskExecAdded, TaskExecStarted, TaskExit (events.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "pod.h"
#include "process.h"
#include "shim.h"

#define GW_DEADLINE_MS 30000
/* How long after Start the shim retries an exec that could not connect (the
 * VM's sshd comes up after the VM is reported running). */
#define EXEC_CONNECT_WAIT_MS (180u * 1000)
/* How long a process's exit waits for a Kill under way to answer first. */
#define KILL_ANSWER_WAIT_MS 10000u
/* banger's Exec API ends a command after its timeout (default 10 minutes):
 * a task may run for 7 days. */
#define SHIM_EXEC_TIMEOUT_MS (7u * 24 * 3600 * 1000)
#define STDIN_CHUNK (64u * 1024u)
#define PIDS_MAX 4096
#define EXEC_SPEC_MAX (1u << 20)
/* Bytes on a process's wake pipe, for its stdin thread. */
#define WAKE_ENDED 'e' /* the command ended (from the pump) */
#define WAKE_CLOSE 'c' /* CloseIO: send what stdin holds, then the end */

static int pack_empty(uint8_t **ret, size_t *len)
{
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        return ttrpc_pack(&e.base, ret, len);
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void shim_task_marker(const struct shim_ctx *c, char *buf, size_t len)
{
        snprintf(buf, len, "BANGER_TASK_ID=%s", c->opts.id);
}

struct shim_proc *shim_proc_find(struct shim_ctx *c, const char *exec_id)
{
        if (!exec_id || !exec_id[0])
                return &c->init;
        for (struct shim_proc *p = c->execs; p; p = p->next)
                if (strcmp(p->exec_id, exec_id) == 0)
                        return p;
        return NULL;
}

/* The task (id) and its process exec_id, for a request. Lock held. */
static int lookup(struct shim_ctx *c, const char *id, const char *exec_id, struct shim_proc **ret,
                  struct bg_error *err)
{
        if (strcmp(id, c->opts.id) != 0)
                return bg_error_set(err, ENOENT, "task %.80s not found (this shim serves %s)", id,
                                    c->opts.id);
        if (!c->created || c->deleted)
                return bg_error_set(err, ENOENT, "task %s not found (not created)", id);
        struct shim_proc *p = shim_proc_find(c, exec_id);
        if (!p)
                return bg_error_set(err, ENOENT, "exec %.80s not found in task %s", exec_id, id);
        *ret = p;
        return 0;
}

static void timestamp_now(int64_t *sec, int32_t *nsec)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *sec = ts.tv_sec;
        *nsec = (int32_t)ts.tv_nsec;
}

void shim_proc_set_stopped(struct shim_ctx *c, struct shim_proc *p, uint32_t status)
{
        p->status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
        p->exit_status = status;
        timestamp_now(&p->exited_sec, &p->exited_nsec);
        pthread_cond_broadcast(&c->changed);
}

/* TaskExit for p (lock held; the event is queued, not sent here). */
static void publish_exit(struct shim_ctx *c, struct shim_proc *p)
{
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = p->exited_sec;
        ts.nanos = p->exited_nsec;
        Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        ev.container_id = c->opts.id;
        ev.id = p->exec_id[0] ? p->exec_id : c->opts.id;
        ev.pid = (uint32_t)getpid();
        ev.exit_status = p->exit_status;
        ev.exited_at = &ts;
        shim_publish(c, "/tasks/exit", &ev.base);
}

/* ---- Start: the command, its output pump and its stdin ---- */

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

int shim_cmd_build(const struct bundle_process *spec, const char *marker, const char *exec_marker,
                   const char *root, struct shim_cmd *ret)
{
        *ret = (struct shim_cmd){0};
        ret->argv = calloc(spec->envc + spec->argc + 16, sizeof(char *));
        if (!ret->argv)
                return -ENOMEM;
        size_t n = 0;
        ret->argv[n++] = "env";
        for (size_t i = 0; i < spec->envc; i++)
                ret->argv[n++] = spec->env[i];
        ret->argv[n++] = (char *)marker;
        ret->argv[n++] = (char *)exec_marker;
        bool user = spec->uid || spec->gid || spec->n_gids;
        if (user) {
                size_t o = (size_t)snprintf(ret->groups, sizeof(ret->groups), "--groups=");
                for (size_t i = 0; i < spec->n_gids; i++)
                        o += (size_t)snprintf(ret->groups + o, sizeof(ret->groups) - o, "%s%u",
                                              i ? "," : "", spec->gids[i]);
        }
        if (root) {
                /* A pod's container: its own tree in the sandbox's VM, and
                 * the cgroup named as the tree (pod.h). */
                const char *base = strrchr(root, '/');
                base = base ? base + 1 : root;
                if (!base[0]) {
                        shim_cmd_free(ret);
                        return -EINVAL;
                }
                if (snprintf(ret->root, sizeof(ret->root), "--root=%s", root) >=
                        (int)sizeof(ret->root) ||
                    snprintf(ret->cgroup, sizeof(ret->cgroup), "--cgroup=%s/%s",
                             POD_GUEST_CGROUP, base) >= (int)sizeof(ret->cgroup) ||
                    snprintf(ret->cwd, sizeof(ret->cwd), "--cwd=%s",
                             spec->cwd && spec->cwd[0] ? spec->cwd : "/") >=
                        (int)sizeof(ret->cwd)) {
                        shim_cmd_free(ret);
                        return -ENAMETOOLONG;
                }
                ret->argv[n++] = SHIM_GUEST_AGENT;
                ret->argv[n++] = "enter";
                ret->argv[n++] = ret->root;
                ret->argv[n++] = ret->cgroup;
                ret->argv[n++] = ret->cwd;
                /* Always the spec's user and groups, 0:0 with none too (not
                 * the guest's root session's). */
                if (!user)
                        snprintf(ret->groups, sizeof(ret->groups), "--groups=");
                snprintf(ret->user, sizeof(ret->user), "--user=%u:%u", spec->uid, spec->gid);
                ret->argv[n++] = ret->user;
                ret->argv[n++] = ret->groups;
                if (spec->no_new_privs)
                        ret->argv[n++] = "--no-new-privs";
                ret->argv[n++] = "--";
        } else if (user) {
                /* process.user: setpriv (util-linux) in the guest switches
                 * to it; the command runs as root over SSH. */
                snprintf(ret->reuid, sizeof(ret->reuid), "--reuid=%u", spec->uid);
                snprintf(ret->regid, sizeof(ret->regid), "--regid=%u", spec->gid);
                if (!spec->n_gids)
                        snprintf(ret->groups, sizeof(ret->groups), "--clear-groups");
                ret->argv[n++] = "setpriv";
                ret->argv[n++] = ret->reuid;
                ret->argv[n++] = ret->regid;
                ret->argv[n++] = ret->groups;
                ret->argv[n++] = "--";
        }
        for (size_t i = 0; i < spec->argc; i++)
                ret->argv[n++] = spec->argv[i];
        ret->argc = n;
        return 0;
}

void shim_cmd_free(struct shim_cmd *cmd)
{
        free(cmd->argv);
        cmd->argv = NULL;
}

/* StartExec for p; its operation id goes to p->op (under the lock). */
static int start_exec(struct shim_ctx *c, struct shim_proc *p, struct bg_error *err)
{
        char marker[SHIM_MAX_ID + 32], exec_marker[SHIM_MAX_ID + 32];
        shim_task_marker(c, marker, sizeof(marker));
        snprintf(exec_marker, sizeof(exec_marker), "BANGER_EXEC_ID=%s", p->exec_id);
        struct shim_cmd cmd;
        pthread_mutex_lock(&c->lock);
        const char *root = c->pod_root[0] ? c->pod_root : NULL;
        int br = shim_cmd_build(&p->spec, marker, exec_marker, root, &cmd);
        if (br < 0) {
                pthread_mutex_unlock(&c->lock);
                return bg_error_errno(err, br, "the command for process '%s'", p->exec_id);
        }
        Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
        eq.vm = c->vm;
        eq.argv = cmd.argv;
        eq.n_argv = cmd.argc;
        /* In a pod's tree, `enter` changes to the spec's cwd inside it. */
        eq.cwd = root ? "/" : p->spec.cwd ? p->spec.cwd : "";
        eq.timeout_ms = SHIM_EXEC_TIMEOUT_MS;
        eq.stream_stdin = p->stdin_path[0] != '\0';
        eq.tty = p->terminal;
        if (p->terminal && p->rows && p->cols) {
                eq.rows = p->rows;
                eq.cols = p->cols;
        }
        pthread_mutex_unlock(&c->lock); /* spec and paths are fixed once p exists */

        Banger__V1__Operation *op = NULL;
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/StartExec", &eq.base,
                             &banger__v1__operation__descriptor, (ProtobufCMessage **)&op,
                             GW_DEADLINE_MS, err);
        shim_cmd_free(&cmd);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        snprintf(p->op, sizeof(p->op), "%s", op->id);
        pthread_mutex_unlock(&c->lock);
        fprintf(stderr, "containerd-shim-banger-v2: task %s process '%s' started in VM %s (exec "
                        "operation %s)\n",
                c->opts.id, p->exec_id, c->vm, op->id);
        banger__v1__operation__free_unpacked(op, NULL);
        return 0;
}

/* (shim.h) -1: sshd did not take the connection yet. */
int shim_exec_stage(struct shim_ctx *c, const char *op_id, bool log)
{
        Banger__V1__GetOperationRequest q = BANGER__V1__GET_OPERATION_REQUEST__INIT;
        q.id = (char *)op_id;
        Banger__V1__Operation *op = NULL;
        struct bg_error err = {0};
        if (shim_gw_call(c, "/banger.v1.WorkspaceService/GetOperation", &q.base,
                         &banger__v1__operation__descriptor, (ProtobufCMessage **)&op, 10000,
                         &err) < 0)
                return -2;
        bool connect = op->stage && strcmp(op->stage, "connect") == 0;
        int r = connect ? (op->done ? -1 : 0) : 1;
        if (r == -1 && log)
                fprintf(stderr, "containerd-shim-banger-v2: exec %s could not connect yet: %s\n",
                        op_id, op->status && op->status->message ? op->status->message : "");
        banger__v1__operation__free_unpacked(op, NULL);
        return r;
}

int shim_exec_input(struct shim_ctx *c, const char *op_id, const void *data, size_t len, bool eof,
                    unsigned rows, unsigned cols, struct bg_error *err)
{
        Banger__V1__ExecInputRequest q = BANGER__V1__EXEC_INPUT_REQUEST__INIT;
        q.operation_id = (char *)op_id;
        q.data.data = (uint8_t *)data;
        q.data.len = len;
        q.eof = eof;
        q.rows = rows;
        q.cols = cols;
        Banger__V1__ExecInputResponse *o = NULL;
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/ExecInput", &q.base,
                             &banger__v1__exec_input_response__descriptor, (ProtobufCMessage **)&o,
                             GW_DEADLINE_MS, err);
        if (r >= 0)
                banger__v1__exec_input_response__free_unpacked(o, NULL);
        return r;
}

static bool proc_running(struct shim_ctx *c, struct shim_proc *p)
{
        pthread_mutex_lock(&c->lock);
        bool run = p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING && !c->shutting_down;
        pthread_mutex_unlock(&c->lock);
        return run;
}

/* Sends stdin bytes (or the end) to p's command, waiting while the service
 * holds too much unsent input. false when the command is gone. */
static bool send_input(struct shim_ctx *c, struct shim_proc *p, const uint8_t *data, size_t len,
                       bool eof)
{
        for (;;) {
                pthread_mutex_lock(&c->lock);
                char op[64];
                snprintf(op, sizeof(op), "%s", p->op);
                bool skip = eof && p->stdin_eof_sent;
                if (eof)
                        p->stdin_eof_sent = true;
                pthread_mutex_unlock(&c->lock);
                if (skip)
                        return true;
                struct bg_error err = {0};
                int r = shim_exec_input(c, op, data, len, eof, 0, 0, &err);
                if (r >= 0)
                        return true;
                if (r != -ENOSPC || !proc_running(c, p)) {
                        if (proc_running(c, p))
                                fprintf(stderr, "containerd-shim-banger-v2: stdin of '%s': %s\n",
                                        p->exec_id, err.msg);
                        return false;
                }
                usleep(100 * 1000); /* RESOURCE_EXHAUSTED: 1 MiB waits already */
        }
}

/* Copies containerd's stdin FIFO to the command. Waits for the command to
 * run first: input sent to an exec that then could not connect (and is
 * started again) would be lost. Ends at the end of input or when the pump
 * says the command ended (p->wake). */
static void *stdin_main(void *arg)
{
        struct shim_proc *p = arg;
        struct shim_ctx *c = p->ctx;
        /* Non-blocking: no wait for containerd's writer; poll says when
         * there is data, or the end once a writer came and went. */
        int fd = open(p->stdin_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: stdin %s: %m\n", p->stdin_path);
                return NULL;
        }
        uint8_t *buf = NULL;
        bool closing = false; /* CloseIO: send what the FIFO holds, then the end */
        for (;;) {
                if (!proc_running(c, p))
                        goto out;
                pthread_mutex_lock(&c->lock);
                char op[64];
                snprintf(op, sizeof(op), "%s", p->op);
                bool connected = p->connected;
                pthread_mutex_unlock(&c->lock);
                if (connected || (op[0] && shim_exec_stage(c, op, false) == 1))
                        break;
                struct pollfd w = {.fd = p->wake[0], .events = POLLIN};
                char b;
                if (poll(&w, 1, 200) > 0 && read(p->wake[0], &b, 1) == 1) {
                        if (b == WAKE_ENDED)
                                goto out;
                        closing = true;
                }
        }
        if (!(buf = malloc(STDIN_CHUNK)))
                goto out;
        for (;;) {
                struct pollfd pf[2] = {{.fd = fd, .events = POLLIN},
                                       {.fd = p->wake[0], .events = POLLIN}};
                if (!closing && poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                char b;
                if (!closing && pf[1].revents && read(p->wake[0], &b, 1) == 1) {
                        if (b == WAKE_ENDED)
                                break; /* the command ended */
                        closing = true;
                }
                if (!closing && !pf[0].revents)
                        continue;
                ssize_t n = read(fd, buf, STDIN_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && !closing)
                        continue;
                if (n <= 0) { /* the end, or (closing) nothing more waits */
                        send_input(c, p, NULL, 0, true);
                        break;
                }
                if (!send_input(c, p, buf, (size_t)n, false))
                        break;
        }
out:
        free(buf);
        close(fd);
        return NULL;
}

int shim_proc_init(struct shim_ctx *c, struct shim_proc *p)
{
        p->ctx = c;
        if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
                p->wake[0] = p->wake[1] = -1;
                return -errno;
        }
        return 0;
}

static void proc_free(struct shim_proc *p)
{
        if (!p)
                return;
        bundle_process_free(&p->spec);
        if (p->wake[0] >= 0)
                close(p->wake[0]);
        if (p->wake[1] >= 0)
                close(p->wake[1]);
        free(p);
}

/* An exec process started before the task's own command got through to
 * the guest's sshd: wait for that first, so only one command at a time
 * knocks at an sshd that is still coming up (under a slow VM, parallel
 * retries overrun sshd's MaxStartups and it resets them all). Then start it.
 * < 0 when it is not to run (killed, the task ended, the shim stops). */
static int deferred_start(struct shim_ctx *c, struct shim_proc *p)
{
        uint64_t until = now_ms() + EXEC_CONNECT_WAIT_MS;
        pthread_mutex_lock(&c->lock);
        while (!c->init.connected && !c->shutting_down &&
               p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING &&
               c->init.status == CONTAINERD__V1__TYPES__STATUS__RUNNING && now_ms() < until) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&c->changed, &c->lock, &ts);
        }
        bool go = p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING && !c->shutting_down;
        pthread_mutex_unlock(&c->lock);
        if (!go)
                return -ECANCELED;
        struct bg_error err = {0};
        int r = start_exec(c, p, &err);
        if (r < 0)
                fprintf(stderr, "containerd-shim-banger-v2: start exec '%s': %s\n", p->exec_id,
                        err.msg);
        return r;
}

static void *pump_main(void *arg)
{
        struct shim_proc *p = arg;
        struct shim_ctx *c = p->ctx;
        pthread_mutex_lock(&c->lock);
        bool deferred = !p->op[0];
        pthread_mutex_unlock(&c->lock);
        if (deferred && deferred_start(c, p) < 0) {
                pthread_mutex_lock(&c->lock);
                if (p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
                        shim_proc_set_stopped(c, p, 255);
                        publish_exit(c, p);
                }
                pthread_mutex_unlock(&c->lock);
                if (p->wake[1] >= 0) {
                        char b = WAKE_ENDED;
                        ssize_t w = write(p->wake[1], &b, 1);
                        (void)w;
                }
                return NULL;
        }
        pthread_mutex_lock(&c->lock);
        char op_id[64], out_path[PATH_MAX], err_path[PATH_MAX];
        snprintf(op_id, sizeof(op_id), "%s", p->op);
        snprintf(out_path, sizeof(out_path), "%s", p->stdout_path);
        snprintf(err_path, sizeof(err_path), "%s", p->stderr_path);
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
                        fprintf(stderr, "containerd-shim-banger-v2: exec output: %s\n", err.msg);
                        if (++failures >= 10)
                                break;
                        sleep(1);
                        continue;
                }
                failures = 0;
                pthread_mutex_lock(&c->lock);
                bool connected = p->connected;
                pthread_mutex_unlock(&c->lock);
                if (!connected && (o->stdout.len || o->stderr.len || !o->done) &&
                    (o->stdout.len || o->stderr.len || shim_exec_stage(c, op_id, false) == 1)) {
                        pthread_mutex_lock(&c->lock);
                        p->connected = true;
                        pthread_cond_broadcast(&c->changed);
                        pthread_mutex_unlock(&c->lock);
                }
                write_all(ofd, o->stdout.data, o->stdout.len);
                write_all(efd, o->stderr.data, o->stderr.len);
                so = o->stdout_offset + o->stdout.len;
                se = o->stderr_offset + o->stderr.len;
                bool done = o->done;
                int code = o->exit_code;
                banger__v1__exec_output_response__free_unpacked(o, NULL);
                if (done && code == 255 && so == 0 && se == 0 &&
                    now_ms() < started + EXEC_CONNECT_WAIT_MS && shim_exec_stage(c, op_id, true) == -1) {
                        /* The VM runs but its sshd is not up yet: the command
                         * never started; start it again. */
                        pthread_mutex_lock(&c->lock);
                        bool killed = p->kill_signal > 0;
                        pthread_mutex_unlock(&c->lock);
                        if (killed)
                                break;
                        sleep(3);
                        if (start_exec(c, p, &err) < 0) {
                                fprintf(stderr, "containerd-shim-banger-v2: restart exec: %s\n",
                                        err.msg);
                                break;
                        }
                        pthread_mutex_lock(&c->lock);
                        snprintf(op_id, sizeof(op_id), "%s", p->op);
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
                "containerd-shim-banger-v2: task %s process '%s' (exec %s) ended: exit %u "
                "(%llu+%llu bytes of output, stdout %s)\n",
                c->opts.id, p->exec_id, op_id, status, (unsigned long long)so,
                (unsigned long long)se, ofd >= 0 ? "forwarded" : "dropped: no reader");
        if (p->wake[1] >= 0) {
                char b = WAKE_ENDED;
                ssize_t w = write(p->wake[1], &b, 1);
                (void)w;
        }
        pthread_mutex_lock(&c->lock);
        /* A Kill answers after a round trip to the guest, and the process it
         * ended can be reported first: containerd would then delete the task
         * and close the connection the Kill's answer was to come back on
         * (CRI StopContainer: "ttrpc: closed"). The exit waits for the Kill
         * calls under way (one with `all` ends exec processes too), as
         * runc's Kill answers before the exit. */
        uint64_t kills_until = now_ms() + KILL_ANSWER_WAIT_MS;
        while (c->kills > 0 && now_ms() < kills_until) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&c->changed, &c->lock, &ts);
        }
        if (p->kill_signal > 0 && (status == 255 || (!p->connected && status == 143)))
                status = 128u + (uint32_t)p->kill_signal; /* cancelled before it ran */
        if (p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
                shim_proc_set_stopped(c, p, status);
                publish_exit(c, p);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

int shim_h_start(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                 struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__StartRequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        if (r >= 0 && p->status != CONTAINERD__V1__TYPES__STATUS__CREATED)
                r = bg_error_set(err, EAGAIN, "process '%s' of task %s is not in the created state",
                                 q->exec_id, q->id);
        if (r >= 0 && p != &c->init && c->init.status != CONTAINERD__V1__TYPES__STATUS__RUNNING)
                r = bg_error_set(err, EAGAIN, "task %s is not running", q->id);
        if (r >= 0)
                p->status = CONTAINERD__V1__TYPES__STATUS__PAUSING; /* starting: claimed */
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;

        pthread_mutex_lock(&c->lock);
        bool defer = p != &c->init && !c->init.connected;
        /* A pod sandbox's own process (the pause image's /pause, which only
         * waits for a signal) is the sandbox's VM: nothing runs in the
         * guest, it runs until Kill (signal_proc: 128 + signal) or Delete. */
        bool vm_only = p == &c->init && c->init.spec.container_type &&
                       strcmp(c->init.spec.container_type, "sandbox") == 0;
        pthread_mutex_unlock(&c->lock);
        r = defer || vm_only ? 0 : start_exec(c, p, err); /* deferred: the pump starts it */
        pthread_mutex_lock(&c->lock);
        if (r < 0) {
                p->status = CONTAINERD__V1__TYPES__STATUS__CREATED;
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        p->status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
        if (vm_only)
                p->connected = true; /* no pump, no stdin; exec processes need not wait */
        else if (pthread_create(&p->pump, NULL, pump_main, p) == 0)
                p->pump_started = true;
        else
                shim_proc_set_stopped(c, p, 255);
        if (p->pump_started && p->stdin_path[0] &&
            pthread_create(&p->stdin_thread, NULL, stdin_main, p) == 0)
                p->stdin_started = true;
        pthread_cond_broadcast(&c->changed);
        if (p == &c->init) {
                Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
                ev.container_id = c->opts.id;
                ev.pid = (uint32_t)getpid();
                shim_publish(c, "/tasks/start", &ev.base);
        } else {
                Containerd__Events__TaskExecStarted ev =
                    CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
                ev.container_id = c->opts.id;
                ev.exec_id = p->exec_id;
                ev.pid = (uint32_t)getpid();
                shim_publish(c, "/tasks/exec-started", &ev.base);
        }
        pthread_mutex_unlock(&c->lock);
        Containerd__Task__V2__StartResponse o = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
        o.pid = (uint32_t)getpid();
        return ttrpc_pack(&o.base, ret, len);
}

/* ---- State / Wait ---- */

int shim_h_state(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                 struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__StateRequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        if (r < 0) {
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        Containerd__Task__V2__StateResponse o = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        o.id = p->exec_id[0] ? p->exec_id : c->opts.id;
        o.bundle = c->opts.bundle;
        o.pid = (uint32_t)getpid();
        /* PAUSING is the shim's "being started" mark: still created. */
        o.status = p->status == CONTAINERD__V1__TYPES__STATUS__PAUSING
                       ? CONTAINERD__V1__TYPES__STATUS__CREATED
                       : p->status;
        o.stdin = p->stdin_path;
        o.stdout = p->stdout_path;
        o.stderr = p->stderr_path;
        o.terminal = p->terminal;
        o.exit_status = p->exit_status;
        o.exec_id = p->exec_id;
        ts.seconds = p->exited_sec;
        ts.nanos = p->exited_nsec;
        o.exited_at = &ts;
        r = ttrpc_pack(&o.base, ret, len);
        pthread_mutex_unlock(&c->lock);
        return r;
}

int shim_h_wait(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__WaitRequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        if (r >= 0)
                p->refs++; /* Delete of an exec waits for us */
        while (r >= 0 && p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED && !c->shutting_down)
                pthread_cond_wait(&c->changed, &c->lock);
        if (r >= 0 && --p->refs == 0)
                pthread_cond_broadcast(&c->changed);
        if (r >= 0 && p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED)
                r = bg_error_set(err, ECONNREFUSED, "the shim is shutting down");
        if (r < 0) {
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        Containerd__Task__V2__WaitResponse o = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = p->exited_sec;
        ts.nanos = p->exited_nsec;
        o.exit_status = p->exit_status;
        o.exited_at = &ts;
        pthread_mutex_unlock(&c->lock);
        return ttrpc_pack(&o.base, ret, len);
}

/* ---- Kill / ResizePty / CloseIO ---- */

/* kill(1) in the guest (argv: marker, signal, all): with all = 0 the
 * processes carrying the marker whose parent does not (the process itself,
 * not its children), else every one. Prints how many it signalled. */
#define KILL_SCRIPT                                                                                \
        "n=0; for f in $(grep -lsxzF \"$1\" /proc/[0-9]*/environ); do p=${f#/proc/}; "            \
        "p=${p%/environ}; if [ \"$3\" = 0 ]; then "                                              \
        "pp=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null); "                   \
        "[ -n \"$pp\" ] && grep -qsxzF \"$1\" /proc/$pp/environ && continue; fi; "                \
        "kill -\"$2\" \"$p\" 2>/dev/null && n=$((n+1)); done; echo $n"

/* Signals the guest processes marked with marker (see KILL_SCRIPT); the
 * count signalled goes to *ret_n. */
static int guest_kill(struct shim_ctx *c, const char *marker, int sig, bool all, unsigned *ret_n,
                      struct bg_error *err)
{
        char sigs[16];
        snprintf(sigs, sizeof(sigs), "%d", sig);
        char *argv[] = {"/bin/sh", "-c", KILL_SCRIPT, "sh", (char *)marker, sigs, all ? "1" : "0"};
        Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
        eq.vm = c->vm;
        eq.argv = argv;
        eq.n_argv = 7;
        eq.cwd = "/";
        eq.timeout_ms = 20000;
        eq.max_output_bytes = 64;
        Banger__V1__ExecResponse *er = NULL;
        int r = shim_gw_call(c, "/banger.v1.WorkspaceService/Exec", &eq.base,
                             &banger__v1__exec_response__descriptor, (ProtobufCMessage **)&er,
                             GW_DEADLINE_MS, err);
        if (r < 0)
                return r;
        char out[32] = "";
        size_t l = er->stdout.len < sizeof(out) - 1 ? er->stdout.len : sizeof(out) - 1;
        memcpy(out, er->stdout.data, l);
        int code = er->exit_code;
        banger__v1__exec_response__free_unpacked(er, NULL);
        char *end = NULL;
        unsigned long n = strtoul(out, &end, 10);
        if (code != 0 || end == out || (*end && *end != '\n'))
                return bg_error_set(err, EIO, "signalling in the guest failed (exit %d)", code);
        *ret_n = (unsigned)n;
        return 0;
}

/* Sends sig to p (lock held on entry and exit; dropped for the call). A
 * process that never started ends at once with 128 + sig; one whose command
 * has not reached the guest yet (sshd still coming up) is cancelled. */
static int signal_proc(struct shim_ctx *c, struct shim_proc *p, int sig, bool all,
                       struct bg_error *err)
{
        if (p->status == CONTAINERD__V1__TYPES__STATUS__STOPPED)
                return bg_error_set(err, ENOENT, "process already finished");
        if (p->status == CONTAINERD__V1__TYPES__STATUS__CREATED || !p->op[0]) {
                p->kill_signal = sig;
                shim_proc_set_stopped(c, p, 128u + (uint32_t)sig);
                publish_exit(c, p);
                return 0;
        }
        if (p->status != CONTAINERD__V1__TYPES__STATUS__RUNNING)
                return bg_error_set(err, EAGAIN, "process '%s' is starting; try again",
                                    p->exec_id);
        char op[64], marker[SHIM_MAX_ID + 32];
        snprintf(op, sizeof(op), "%s", p->op);
        if (all)
                shim_task_marker(c, marker, sizeof(marker));
        else
                snprintf(marker, sizeof(marker), "BANGER_EXEC_ID=%s", p->exec_id);
        bool connected = p->connected;
        p->kill_signal = sig;
        p->refs++;
        c->kills++;
        pthread_mutex_unlock(&c->lock);
        unsigned n = 0;
        int r = guest_kill(c, marker, sig, all, &n, err);
        if (r >= 0 && n == 0 && !connected) {
                /* Not in the guest yet: stop it from getting there. */
                Banger__V1__CancelOperationRequest cq = BANGER__V1__CANCEL_OPERATION_REQUEST__INIT;
                cq.id = op;
                Banger__V1__Operation *o = NULL;
                r = shim_gw_call(c, "/banger.v1.WorkspaceService/CancelOperation", &cq.base,
                                 &banger__v1__operation__descriptor, (ProtobufCMessage **)&o,
                                 GW_DEADLINE_MS, err);
                if (r >= 0)
                        banger__v1__operation__free_unpacked(o, NULL);
                n = 1;
        }
        pthread_mutex_lock(&c->lock);
        c->kills--;
        --p->refs;
        pthread_cond_broadcast(&c->changed);
        if (r == -ENOENT && p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
                /* The VM is gone (a pod's VM deleted under its container, a
                 * VM deleted by hand): so is the process. Without this, a
                 * process whose command's output never ends could not be
                 * stopped: containerd waits for its exit forever. */
                fprintf(stderr, "containerd-shim-banger-v2: task %s process '%s': %s; it ended "
                        "with its VM\n", c->opts.id, p->exec_id, err->msg);
                shim_proc_set_stopped(c, p, 128u + (uint32_t)sig);
                publish_exit(c, p);
                return 0;
        }
        if (r >= 0 && n == 0)
                return bg_error_set(err, ENOENT, "process already finished");
        return r;
}

int shim_h_kill(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__KillRequest *q = (const void *)in;
        if (q->signal == 0 || q->signal > 64)
                return bg_error_set(err, EINVAL, "signal %u is not a signal (1-64)", q->signal);
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        /* all (init only): every process of the task in the guest, the
         * exec processes and every child too. */
        if (r >= 0)
                r = signal_proc(c, p, (int)q->signal, q->all && p == &c->init, err);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        return pack_empty(ret, len);
}

int shim_h_resize_pty(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                      struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ResizePtyRequest *q = (const void *)in;
        if (q->width > 10000 || q->height > 10000)
                return bg_error_set(err, EINVAL, "window %ux%u: width and height are 0..10000",
                                    q->width, q->height);
        if (q->width == 0 || q->height == 0)
                return pack_empty(ret, len); /* a console of unknown size: keep ours */
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        char op[64] = "";
        if (r >= 0 && p->terminal) {
                if (p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING && p->op[0])
                        snprintf(op, sizeof(op), "%s", p->op);
                else if (p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
                        p->rows = q->height; /* applied at Start */
                        p->cols = q->width;
                }
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        /* As runc's shim: a process without a terminal has nothing to
         * resize, and that is not an error. */
        if (op[0]) {
                r = shim_exec_input(c, op, NULL, 0, false, q->height, q->width, err);
                if (r < 0 && r != -ENOENT) /* ENOENT: it just ended */
                        return r;
        }
        return pack_empty(ret, len);
}

int shim_h_close_io(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                    struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__CloseIORequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, q->exec_id, &p, err);
        /* The stdin thread sends what the FIFO still holds (containerd
         * closes its end before CloseIO; the bytes must not come after the
         * end), then the end. */
        if (r >= 0 && q->stdin && p->stdin_started && p->wake[1] >= 0) {
                char b = WAKE_CLOSE;
                ssize_t w = write(p->wake[1], &b, 1);
                (void)w;
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        return pack_empty(ret, len);
}

/* ---- Exec ---- */

int shim_h_exec(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__ExecProcessRequest *q = (const void *)in;
        if (!q->exec_id[0] || strlen(q->exec_id) > SHIM_MAX_ID)
                return bg_error_set(err, EINVAL, "exec id must be 1-%d bytes", SHIM_MAX_ID);
        if (strlen(q->stdin) >= PATH_MAX || strlen(q->stdout) >= PATH_MAX ||
            strlen(q->stderr) >= PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG, "stdio path too long");
        if (!q->spec || !q->spec->value.len)
                return bg_error_set(err, EINVAL, "exec %s has no process spec", q->exec_id);
        if (q->spec->value.len > EXEC_SPEC_MAX)
                return bg_error_set(err, E2BIG, "exec spec of %zu bytes (at most %u)",
                                    q->spec->value.len, EXEC_SPEC_MAX);
        /* The spec is an OCI runtime-spec Process as JSON: parse it as the
         * process of a config.json, with the same checks. */
        size_t n = q->spec->value.len + 16;
        char *text = malloc(n);
        if (!text)
                return bg_error_set(err, ENOMEM, "out of memory");
        int tl = snprintf(text, n, "{\"process\":%.*s}", (int)q->spec->value.len,
                          (const char *)q->spec->value.data);
        struct shim_proc *p = calloc(1, sizeof(*p));
        int r = p ? shim_proc_init(c, p) : -ENOMEM;
        if (r < 0) {
                free(text);
                proc_free(p);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        r = bundle_parse(text, (size_t)tl, &p->spec, err);
        free(text);
        if (r < 0) {
                proc_free(p);
                return r == -EINVAL ? bg_error_set(err, EINVAL, "exec %s: %s", q->exec_id,
                                                   err->msg)
                                    : r;
        }
        snprintf(p->exec_id, sizeof(p->exec_id), "%s", q->exec_id);
        snprintf(p->stdin_path, sizeof(p->stdin_path), "%s", q->stdin);
        snprintf(p->stdout_path, sizeof(p->stdout_path), "%s", q->stdout);
        snprintf(p->stderr_path, sizeof(p->stderr_path), "%s", q->stderr);
        p->terminal = q->terminal;
        p->status = CONTAINERD__V1__TYPES__STATUS__CREATED;

        struct shim_proc *unused = NULL;
        pthread_mutex_lock(&c->lock);
        r = lookup(c, q->id, "", &unused, err);
        if (r >= 0 && c->init.status != CONTAINERD__V1__TYPES__STATUS__RUNNING)
                r = bg_error_set(err, EAGAIN, "task %s is not running", q->id);
        if (r >= 0 && shim_proc_find(c, q->exec_id))
                r = bg_error_set(err, EEXIST, "exec %s already exists", q->exec_id);
        if (r >= 0 && c->n_execs >= SHIM_MAX_EXECS)
                r = bg_error_set(err, EMSGSIZE,
                                 "task %s has %d exec processes already (delete finished ones)",
                                 q->id, SHIM_MAX_EXECS);
        if (r >= 0) {
                p->next = c->execs;
                c->execs = p;
                c->n_execs++;
                Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
                ev.container_id = c->opts.id;
                ev.exec_id = p->exec_id;
                shim_publish(c, "/tasks/exec-added", &ev.base);
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                proc_free(p);
                return r;
        }
        return pack_empty(ret, len);
}

int shim_proc_delete_exec(struct shim_ctx *c, struct shim_proc *p, uint32_t *ret_status,
                          Google__Protobuf__Timestamp *ret_exited, struct bg_error *err)
{
        if (p->status != CONTAINERD__V1__TYPES__STATUS__STOPPED &&
            p->status != CONTAINERD__V1__TYPES__STATUS__CREATED)
                return bg_error_set(err, EAGAIN, "exec %s is running; kill it first", p->exec_id);
        if (p->status == CONTAINERD__V1__TYPES__STATUS__CREATED)
                shim_proc_set_stopped(c, p, 128u + SIGKILL);
        for (struct shim_proc **pp = &c->execs; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        c->n_execs--;
                        break;
                }
        while (p->refs > 0)
                pthread_cond_wait(&c->changed, &c->lock);
        *ret_status = p->exit_status;
        ret_exited->seconds = p->exited_sec;
        ret_exited->nanos = p->exited_nsec;
        bool pump = p->pump_started, in = p->stdin_started;
        pthread_mutex_unlock(&c->lock);
        /* The pump has ended (the process stopped); it woke the stdin
         * thread, which ends too. */
        if (pump)
                pthread_join(p->pump, NULL);
        if (in)
                pthread_join(p->stdin_thread, NULL);
        proc_free(p);
        pthread_mutex_lock(&c->lock);
        return 0;
}

/* ---- Pids / Stats ---- */

int shim_h_pids(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__PidsRequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, "", &p, err);
        bool running = r >= 0 && p->status == CONTAINERD__V1__TYPES__STATUS__RUNNING;
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        Containerd__Task__V2__PidsResponse o = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
        if (!running)
                return ttrpc_pack(&o.base, ret, len);
        /* Every guest process whose environment holds the marker: one grep
         * reads them all (grep's own environment is sshd's, not marked). */
        char marker[SHIM_MAX_ID + 32];
        shim_task_marker(c, marker, sizeof(marker));
        char *argv[] = {"/bin/sh", "-c",
                        "grep -lsxzF \"$1\" /proc/[0-9]*/environ; [ $? -le 1 ]", "sh", marker};
        Banger__V1__ExecRequest eq = BANGER__V1__EXEC_REQUEST__INIT;
        eq.vm = c->vm;
        eq.argv = argv;
        eq.n_argv = 5;
        eq.cwd = "/";
        eq.timeout_ms = 20000;
        eq.max_output_bytes = 256 * 1024;
        Banger__V1__ExecResponse *er = NULL;
        r = shim_gw_call(c, "/banger.v1.WorkspaceService/Exec", &eq.base,
                         &banger__v1__exec_response__descriptor, (ProtobufCMessage **)&er,
                         GW_DEADLINE_MS, err);
        if (r < 0)
                return r;
        if (er->exit_code != 0) {
                r = bg_error_set(err, EIO, "listing the task's processes in the guest failed "
                                           "(exit %d)",
                                 er->exit_code);
                banger__v1__exec_response__free_unpacked(er, NULL);
                return r;
        }
        /* The guest's answer is untrusted: "/proc/<1..7 digits>/environ"
         * lines only, at most PIDS_MAX. */
        Containerd__V1__Types__ProcessInfo *infos = calloc(PIDS_MAX, sizeof(*infos));
        Containerd__V1__Types__ProcessInfo **ptrs = calloc(PIDS_MAX, sizeof(*ptrs));
        size_t k = 0;
        const char *s = (const char *)er->stdout.data, *end = s + er->stdout.len;
        while (infos && ptrs && s < end && k < PIDS_MAX) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                const char *e = nl ? nl : end;
                unsigned long pid = 0;
                const char *d = s + 6;
                size_t digits = 0;
                if (e - s > 14 && memcmp(s, "/proc/", 6) == 0) {
                        while (d < e && *d >= '0' && *d <= '9' && digits < 8) {
                                pid = pid * 10 + (unsigned long)(*d - '0');
                                d++;
                                digits++;
                        }
                }
                if (digits > 0 && digits <= 7 && pid > 0 && e - d == 8 &&
                    memcmp(d, "/environ", 8) == 0) {
                        containerd__v1__types__process_info__init(&infos[k]);
                        infos[k].pid = (uint32_t)pid;
                        ptrs[k] = &infos[k];
                        k++;
                }
                s = e + 1;
        }
        banger__v1__exec_response__free_unpacked(er, NULL);
        if (!infos || !ptrs) {
                free(infos);
                free(ptrs);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        o.processes = ptrs;
        o.n_processes = k;
        r = ttrpc_pack(&o.base, ret, len);
        free(infos);
        free(ptrs);
        return r;
}

int shim_h_stats(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,
                 struct bg_error *err)
{
        struct shim_ctx *c = ud;
        const Containerd__Task__V2__StatsRequest *q = (const void *)in;
        struct shim_proc *p = NULL;
        pthread_mutex_lock(&c->lock);
        int r = lookup(c, q->id, "", &p, err);
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        Banger__V1__VmStats *st = NULL;
        r = shim_vm_stats(c, c->vm, GW_DEADLINE_MS, &st, err);
        if (r < 0)
                return r;
        Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
        Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
        Io__Containerd__Cgroups__V1__CPUUsage cu = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
        Io__Containerd__Cgroups__V1__MemoryStat mem =
            IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
        Io__Containerd__Cgroups__V1__MemoryEntry mu =
            IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
        Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
        Io__Containerd__Cgroups__V1__MemoryOomControl oomc =
            IO__CONTAINERD__CGROUPS__V1__MEMORY_OOM_CONTROL__INIT;
        const uint64_t ms = 1000000; /* ns */
        const Banger__V1__AgentStats *g = st->guest;
        if (g && g->cpu && g->memory) {
                /* The guest's view: the VM is the task's cgroup. */
                const Banger__V1__AgentCpu *k = g->cpu;
                cu.user = (k->user_ms + k->nice_ms) * ms;
                cu.kernel = (k->system_ms + k->irq_ms + k->softirq_ms) * ms;
                cu.total = cu.user + cu.kernel + k->steal_ms * ms;
                const Banger__V1__AgentMemory *gm = g->memory;
                uint64_t used = gm->total_bytes > gm->available_bytes
                                    ? gm->total_bytes - gm->available_bytes
                                    : 0;
                mu.usage = used;
                mu.limit = gm->total_bytes;
                mem.cache = mem.total_cache = gm->cached_bytes;
                uint64_t rss = gm->total_bytes - gm->free_bytes;
                rss = rss > gm->buffers_bytes + gm->cached_bytes
                          ? rss - gm->buffers_bytes - gm->cached_bytes
                          : 0;
                mem.rss = mem.total_rss = rss;
                if (!c->in_sandbox_vm) { /* a pod's VM counts every container's */
                        oomc.oom_kill = gm->oom_kills;
                        m.memory_oom_control = &oomc;
                }
                if (g->load) {
                        pids.current = g->load->total;
                        m.pids = &pids;
                }
        } else {
                /* The agent did not answer: the VMM process's numbers. */
                cu.total = st->vmm_cpu_ms * ms;
                mu.usage = st->vmm_rss_bytes;
                mem.rss = mem.total_rss = st->vmm_rss_bytes;
        }
        cpu.usage = &cu;
        mem.usage = &mu;
        m.cpu = &cpu;
        m.memory = &mem;
        uint8_t *b = NULL;
        size_t bl = 0;
        r = ttrpc_pack(&m.base, &b, &bl);
        banger__v1__vm_stats__free_unpacked(st, NULL);
        if (r < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *)m.base.descriptor->name; /* io.containerd.cgroups.v1.Metrics */
        any.value.data = b;
        any.value.len = bl;
        Containerd__Task__V2__StatsResponse o = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
        o.stats = &any;
        r = ttrpc_pack(&o.base, ret, len);
        free(b);
        return r;
}
