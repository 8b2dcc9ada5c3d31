/* fake_shim_gateway: a gateway whose VmService and WorkspaceService act as
 * a VM would for containerd-shim-banger-v2, so the shim's process side is
 * tested without booting one (test_shim_process.sh).
 *
 *   fake_shim_gateway URL LOG     serve until SIGTERM/SIGINT; LOG gets one
 *                                 line per call worth checking
 *
 * VmService: Create (an operation, done at once), GetOperation, Delete,
 * Stats (fixed guest numbers; the OOM kill count is the number in the file
 * LOG.oom, 0 without one). WorkspaceService: StartExec records the
 * command; its output starts with "argv: <words joined by spaces>" and
 * "tty RxC" for a tty. The command then acts by its last word:
 *   "exit:N"  ends with status N;
 *   "cat"     echoes ExecInput data to stdout, ends 0 at the end of input;
 *   other     runs until a signal.
 * A pod container's copy (a StartExec whose script runs "tar -x") appends its
 * ExecInput bytes to the file LOG.tar and ends 0 at the end of input, or,
 * while LOG.tarfail exists, 2 with a tar-like message on stderr; its last
 * word is the tree's path. CancelOperation ends a command with 130.
 * VmService/Get answers for any VM (NOT_FOUND while LOG.novm exists).
 * ExecInput rows/cols write "resize RxC". Exec is what Pids runs (answered
 * with /proc/<pid>/environ lines and a few a hostile guest could add) or
 * what Kill runs: signal N to the jobs whose command carries the marker
 * writes "signal N" in their output and ends them with 128 + N, except
 * SIGUSR1 (10), which is only written, or what removes a pod container's tree
 * (logged "Exec remove VM PATH", exit 0). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/agent.pb-c.h"
#include "banger/v1/image.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "rpc/rpc.h"

#define MAX_JOBS 64

struct job {
        char id[16];
        char out[65536];
        size_t len;
        bool done, stream_in, cat, exits, tar;
        int code;
        char err[256]; /* its stderr */
};

static struct job jobs[MAX_JOBS];
static int n_jobs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static FILE *glog;
static char oom_path[4096]; /* LOG.oom */
static char novm_path[4096]; /* LOG.novm: while it exists, Exec answers NOT_FOUND (the VM is gone) */
/* LOG.slowkill: while it exists, a kill's answer comes 2 s after the
 * processes it signalled ended (a round trip through a slow guest). */
static char slowkill_path[4096];
static char tar_path[4096];     /* LOG.tar: what pod copies sent */
static char tarfail_path[4096]; /* LOG.tarfail: while it exists, a copy fails */

static int reply(const ProtobufCMessage *body, enum rpc_code code, const char *msg, nng_msg **ret)
{
        Banger__V1__Status st = BANGER__V1__STATUS__INIT;
        st.code = (Banger__V1__StatusCode)code;
        st.message = (char *)msg;
        st.op_id = "0123456789abcdef";
        Banger__V1__Response resp = BANGER__V1__RESPONSE__INIT;
        resp.status = &st;
        uint8_t *b = NULL;
        if (body) {
                size_t n = protobuf_c_message_get_packed_size(body);
                b = malloc(n ? n : 1);
                if (!b)
                        return -ENOMEM;
                protobuf_c_message_pack(body, b);
                resp.body.data = b;
                resp.body.len = n;
        }
        size_t n = banger__v1__response__get_packed_size(&resp);
        nng_msg *m = NULL;
        int r = nng_msg_alloc(&m, n) == 0 ? 0 : -ENOMEM;
        if (r == 0)
                banger__v1__response__pack(&resp, nng_msg_body(m));
        free(b);
        if (r == 0)
                *ret = m;
        return r;
}

static void out_append(struct job *j, const char *data, size_t n)
{
        if (n > sizeof(j->out) - j->len)
                n = sizeof(j->out) - j->len;
        memcpy(j->out + j->len, data, n);
        j->len += n;
        pthread_cond_broadcast(&cv);
}

static struct job *find(const char *id)
{
        for (int i = 0; i < n_jobs; i++)
                if (strcmp(jobs[i].id, id) == 0)
                        return &jobs[i];
        return NULL;
}

static void finish(struct job *j, int code)
{
        j->done = true;
        j->code = code;
        pthread_cond_broadcast(&cv);
}

#define UNPACK(type, lc, var)                                                                      \
        Banger__V1__##type *var = banger__v1__##lc##__unpack(NULL, req->body.len, req->body.data); \
        if (!var)                                                                                  \
                return reply(NULL, RPC_INVALID_ARGUMENT, "bad body", ret);

static int op_reply(const char *id, bool done, const char *stage, nng_msg **ret)
{
        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        op.id = (char *)id;
        op.done = done;
        op.stage = (char *)stage;
        return reply(&op.base, RPC_OK, "", ret);
}

static int start_exec(const Banger__V1__Request *req, nng_msg **ret)
{
        UNPACK(ExecRequest, exec_request, q);
        pthread_mutex_lock(&mu);
        if (n_jobs == MAX_JOBS) {
                pthread_mutex_unlock(&mu);
                banger__v1__exec_request__free_unpacked(q, NULL);
                return reply(NULL, RPC_RESOURCE_EXHAUSTED, "too many", ret);
        }
        struct job *j = &jobs[n_jobs++];
        snprintf(j->id, sizeof(j->id), "x%d", n_jobs);
        char line[8192] = "argv:";
        for (size_t i = 0; i < q->n_argv; i++) {
                strncat(line, " ", sizeof(line) - strlen(line) - 1);
                strncat(line, q->argv[i], sizeof(line) - strlen(line) - 1);
        }
        strncat(line, "\n", sizeof(line) - strlen(line) - 1);
        out_append(j, line, strlen(line));
        if (q->tty) {
                snprintf(line, sizeof(line), "tty %ux%u\n", q->rows, q->cols);
                out_append(j, line, strlen(line));
        }
        j->stream_in = q->stream_stdin;
        const char *last = q->argv[q->n_argv - 1];
        j->cat = strcmp(last, "cat") == 0;
        j->tar = q->n_argv >= 3 && strstr(q->argv[2], "tar -x") != NULL;
        if (j->tar) {
                FILE *t = fopen(tar_path, "w"); /* each copy starts it again */
                if (t)
                        fclose(t);
        }
        if (strncmp(last, "exit:", 5) == 0)
                finish(j, atoi(last + 5));
        fprintf(glog, "StartExec %s vm=%s cwd=%s stream_stdin=%d tty=%d %s", j->id, q->vm, q->cwd,
                q->stream_stdin, q->tty, jobs[n_jobs - 1].out);
        fflush(glog);
        char id[16];
        snprintf(id, sizeof(id), "%s", j->id);
        pthread_mutex_unlock(&mu);
        banger__v1__exec_request__free_unpacked(q, NULL);
        return op_reply(id, false, "run", ret);
}

static int exec_input(const Banger__V1__Request *req, nng_msg **ret)
{
        UNPACK(ExecInputRequest, exec_input_request, q);
        pthread_mutex_lock(&mu);
        struct job *j = find(q->operation_id);
        int r;
        if (!j)
                r = reply(NULL, RPC_NOT_FOUND, "no such exec", ret);
        else if (j->done)
                r = reply(NULL, RPC_NOT_FOUND, "the command has ended", ret);
        else {
                char line[128];
                if (q->data.len) {
                        fprintf(glog, "ExecInput %s %zu bytes\n", j->id, q->data.len);
                        if (j->cat)
                                out_append(j, (const char *)q->data.data, q->data.len);
                        FILE *t = j->tar ? fopen(tar_path, "a") : NULL;
                        if (t) {
                                fwrite(q->data.data, 1, q->data.len, t);
                                fclose(t);
                        }
                }
                if (q->eof) {
                        fprintf(glog, "ExecInput %s eof\n", j->id);
                        if (j->tar && access(tarfail_path, F_OK) == 0) {
                                snprintf(j->err, sizeof(j->err),
                                         "tar: ./big: Cannot write: No space left on device\n"
                                         "tar: Exiting with failure status due to previous "
                                         "errors\n");
                                finish(j, 2);
                        } else if (j->cat || j->tar) {
                                finish(j, 0);
                        }
                }
                if (q->rows) {
                        fprintf(glog, "ExecInput %s resize %ux%u\n", j->id, q->rows, q->cols);
                        snprintf(line, sizeof(line), "resize %ux%u\n", q->rows, q->cols);
                        out_append(j, line, strlen(line));
                }
                fflush(glog);
                Banger__V1__ExecInputResponse o = BANGER__V1__EXEC_INPUT_RESPONSE__INIT;
                r = reply(&o.base, RPC_OK, "", ret);
        }
        pthread_mutex_unlock(&mu);
        banger__v1__exec_input_request__free_unpacked(q, NULL);
        return r;
}

static int exec_output(const Banger__V1__Request *req, nng_msg **ret)
{
        UNPACK(ExecOutputRequest, exec_output_request, q);
        pthread_mutex_lock(&mu);
        struct job *j = find(q->operation_id);
        if (!j) {
                pthread_mutex_unlock(&mu);
                banger__v1__exec_output_request__free_unpacked(q, NULL);
                return reply(NULL, RPC_NOT_FOUND, "no such exec", ret);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        while (!j->done && q->stdout_offset >= j->len &&
               pthread_cond_timedwait(&cv, &mu, &until) == 0)
                ;
        Banger__V1__ExecOutputResponse o = BANGER__V1__EXEC_OUTPUT_RESPONSE__INIT;
        size_t from = q->stdout_offset < j->len ? q->stdout_offset : j->len;
        o.stdout.data = (uint8_t *)j->out + from;
        o.stdout.len = j->len - from;
        o.stdout_offset = from;
        size_t elen = strlen(j->err);
        size_t efrom = q->stderr_offset < elen ? q->stderr_offset : elen;
        o.stderr.data = (uint8_t *)j->err + efrom;
        o.stderr.len = elen - efrom;
        o.stderr_offset = efrom;
        o.done = j->done;
        o.exit_code = j->done ? j->code : 0;
        int r = reply(&o.base, RPC_OK, "", ret);
        pthread_mutex_unlock(&mu);
        banger__v1__exec_output_request__free_unpacked(q, NULL);
        return r;
}

/* Exec: what Pids runs (grep for a marker) or what Kill runs (kill(1) of
 * the processes with a marker: argv[4] marker, [5] signal, [6] all). A kill
 * acts on every running job whose command carries the marker. */
static int exec_sync(const Banger__V1__Request *req, nng_msg **ret)
{
        UNPACK(ExecRequest, exec_request, q);
        char out[256];
        if (access(novm_path, F_OK) == 0) {
                banger__v1__exec_request__free_unpacked(q, NULL);
                return reply(NULL, RPC_NOT_FOUND, "no VM named 'ctr-gone'", ret);
        }
        if (q->n_argv == 5 && strstr(q->argv[2], "rm -rf --one-file-system")) {
                fprintf(glog, "Exec remove %s %s\n", q->vm, q->argv[4]);
                fflush(glog);
                Banger__V1__ExecResponse o = BANGER__V1__EXEC_RESPONSE__INIT;
                banger__v1__exec_request__free_unpacked(q, NULL);
                return reply(&o.base, RPC_OK, "", ret);
        }
        if (q->n_argv == 7 && strstr(q->argv[2], "kill -")) {
                int sig = atoi(q->argv[5]);
                int n = 0;
                pthread_mutex_lock(&mu);
                fprintf(glog, "Exec kill %s %d all=%s\n", q->argv[4], sig, q->argv[6]);
                for (int i = 0; i < n_jobs; i++) {
                        struct job *j = &jobs[i];
                        char word[200];
                        snprintf(word, sizeof(word), " %s ", q->argv[4]);
                        if (j->done || !strstr(j->out, word))
                                continue;
                        char line[64];
                        snprintf(line, sizeof(line), "signal %d\n", sig);
                        out_append(j, line, strlen(line));
                        if (sig != SIGUSR1)
                                finish(j, 128 + sig);
                        n++;
                }
                fflush(glog);
                pthread_mutex_unlock(&mu);
                if (access(slowkill_path, F_OK) == 0)
                        sleep(2);
                snprintf(out, sizeof(out), "%d\n", n);
        } else {
                fprintf(glog, "Exec pids %s\n", q->n_argv > 4 ? q->argv[4] : "?");
                fflush(glog);
                snprintf(out, sizeof(out), "/proc/1234/environ\n/proc/77/environ\n"
                                           "/proc/x9/environ\n/proc/12345678/environ\n"
                                           "/proc/5/environ\033[2J\nnonsense\n");
        }
        banger__v1__exec_request__free_unpacked(q, NULL);
        Banger__V1__ExecResponse o = BANGER__V1__EXEC_RESPONSE__INIT;
        o.stdout.data = (uint8_t *)out;
        o.stdout.len = strlen(out);
        return reply(&o.base, RPC_OK, "", ret);
}

static int forward(void *ud, const Banger__V1__Request *req, const struct rpc_call *call,
                   nng_msg **ret, struct bg_error *err)
{
        (void)ud, (void)call, (void)err;
        const char *m = req->method;
        if (strcmp(m, "/banger.v1.VmService/Create") == 0) {
                UNPACK(CreateVmRequest, create_vm_request, q);
                fprintf(glog, "VmCreate %s\n", q->name);
                fflush(glog);
                banger__v1__create_vm_request__free_unpacked(q, NULL);
                return op_reply("vmop1", false, "reserve", ret);
        }
        if (strcmp(m, "/banger.v1.ImageService/Show") == 0) {
                /* The task's rootfs image is already there (the shim builds
                 * nothing; the build is integration_shim's). */
                UNPACK(ShowImageRequest, show_image_request, q);
                Banger__V1__Image o = BANGER__V1__IMAGE__INIT;
                o.name = q->name;
                int r = reply(&o.base, RPC_OK, "", ret);
                banger__v1__show_image_request__free_unpacked(q, NULL);
                return r;
        }
        if (strcmp(m, "/banger.v1.VmService/GetOperation") == 0)
                return op_reply("vmop1", true, "agent", ret);
        if (strcmp(m, "/banger.v1.VmService/Delete") == 0) {
                Banger__V1__DeleteVmResponse o = BANGER__V1__DELETE_VM_RESPONSE__INIT;
                fprintf(glog, "VmDelete\n");
                fflush(glog);
                return reply(&o.base, RPC_OK, "", ret);
        }
        if (strcmp(m, "/banger.v1.VmService/Stats") == 0) {
                Banger__V1__AgentCpu cpu = BANGER__V1__AGENT_CPU__INIT;
                cpu.count = 2;
                cpu.user_ms = 1500;
                cpu.nice_ms = 100;
                cpu.system_ms = 400;
                cpu.irq_ms = 50;
                cpu.softirq_ms = 50;
                Banger__V1__AgentMemory mem = BANGER__V1__AGENT_MEMORY__INIT;
                mem.total_bytes = 1073741824;
                mem.free_bytes = 536870912;
                mem.available_bytes = 805306368;
                mem.buffers_bytes = 16777216;
                mem.cached_bytes = 134217728;
                FILE *of = fopen(oom_path, "re");
                unsigned long long oom = 0;
                if (of && fscanf(of, "%llu", &oom) != 1)
                        oom = 0;
                if (of)
                        fclose(of);
                mem.oom_kills = oom;
                fprintf(glog, "VmStats oom=%llu\n", oom);
                fflush(glog);
                Banger__V1__AgentLoad load = BANGER__V1__AGENT_LOAD__INIT;
                load.total = 42;
                Banger__V1__AgentStats g = BANGER__V1__AGENT_STATS__INIT;
                g.cpu = &cpu;
                g.memory = &mem;
                g.load = &load;
                Banger__V1__VmStats s = BANGER__V1__VM_STATS__INIT;
                s.name = "vm";
                s.guest = &g;
                s.vmm_cpu_ms = 9;
                s.vmm_rss_bytes = 99;
                return reply(&s.base, RPC_OK, "", ret);
        }
        if (strcmp(m, "/banger.v1.WorkspaceService/StartExec") == 0)
                return start_exec(req, ret);
        if (strcmp(m, "/banger.v1.WorkspaceService/ExecInput") == 0)
                return exec_input(req, ret);
        if (strcmp(m, "/banger.v1.WorkspaceService/ExecOutput") == 0)
                return exec_output(req, ret);
        if (strcmp(m, "/banger.v1.WorkspaceService/GetOperation") == 0) {
                UNPACK(GetOperationRequest, get_operation_request, q);
                pthread_mutex_lock(&mu);
                struct job *j = find(q->id);
                bool done = j && j->done;
                pthread_mutex_unlock(&mu);
                int r = op_reply(q->id, done, "run", ret);
                banger__v1__get_operation_request__free_unpacked(q, NULL);
                return r;
        }
        if (strcmp(m, "/banger.v1.WorkspaceService/Exec") == 0)
                return exec_sync(req, ret);
        if (strcmp(m, "/banger.v1.WorkspaceService/CancelOperation") == 0) {
                UNPACK(CancelOperationRequest, cancel_operation_request, q);
                pthread_mutex_lock(&mu);
                struct job *j = find(q->id);
                if (j && !j->done)
                        finish(j, 130);
                fprintf(glog, "Cancel %s\n", q->id);
                fflush(glog);
                pthread_mutex_unlock(&mu);
                int r = op_reply(q->id, true, "run", ret);
                banger__v1__cancel_operation_request__free_unpacked(q, NULL);
                return r;
        }
        if (strcmp(m, "/banger.v1.VmService/Get") == 0) {
                if (access(novm_path, F_OK) == 0)
                        return reply(NULL, RPC_NOT_FOUND, "no such VM", ret);
                UNPACK(VmRef, vm_ref, q);
                Banger__V1__Vm o = BANGER__V1__VM__INIT;
                o.name = q->ref;
                int r = reply(&o.base, RPC_OK, "", ret);
                banger__v1__vm_ref__free_unpacked(q, NULL);
                return r;
        }
        return reply(NULL, RPC_UNIMPLEMENTED, "not faked", ret);
}

int main(int argc, char **argv)
{
        if (argc != 3) {
                fprintf(stderr, "usage: %s URL LOG\n", argv[0]);
                return 2;
        }
        snprintf(oom_path, sizeof(oom_path), "%s.oom", argv[2]);
        snprintf(novm_path, sizeof(novm_path), "%s.novm", argv[2]);
        snprintf(slowkill_path, sizeof(slowkill_path), "%s.slowkill", argv[2]);
        snprintf(tar_path, sizeof(tar_path), "%s.tar", argv[2]);
        snprintf(tarfail_path, sizeof(tarfail_path), "%s.tarfail", argv[2]);
        glog = fopen(argv[2], "a");
        if (!glog)
                return 1;
        struct bg_error err = {0};
        struct rpc_server_config cfg = {
            .url = argv[1], .name = "fake_shim_gateway", .socket_uid = -1, .replace_socket = true};
        struct rpc_server *s = NULL;
        if (rpc_server_new(&cfg, &s, &err) < 0) {
                fprintf(stderr, "fake_shim_gateway: %s\n", err.msg);
                return 1;
        }
        rpc_server_set_forward(s, forward, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (rpc_server_start(s, &err) < 0) {
                fprintf(stderr, "fake_shim_gateway: %s\n", err.msg);
                rpc_server_stop(s);
                return 1;
        }
        int sig;
        sigwait(&set, &sig);
        rpc_server_stop(s);
        return 0;
}
