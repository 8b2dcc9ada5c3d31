/* `banger vm exec` (libssh from the CLI straight to the guest, streaming) and
 * `banger vm workspace prepare|export|list` (WorkspaceService). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "cli.h"
#include "cmd_extra.h"
#include "cmd_exec.h"
#include "cmd_ops.h"
#include "ssh/ssh.h"
#include "util/fileio.h"
#include "util/run.h"
#include "util/timeutil.h"

#define WS_SERVICE "banger.v1.WorkspaceService"

static int ws_call(struct rpc_client *gw, const char *method, const ProtobufCMessage *in,
                   const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, uint32_t ms,
                   struct rpc_status *st)
{
        char path[128];
        snprintf(path, sizeof(path), "/%s/%s", WS_SERVICE, method);
        struct rpc_call_opts o = {.deadline_ms = ms};
        return rpc_call(gw, path, in, od, out, &o, st);
}

static int get_vm(struct rpc_client *gw, const char *ref, Banger__V1__Vm **ret,
                  struct rpc_status *st)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = (char *)ref;
        struct rpc_call_opts o = {.deadline_ms = 15000};
        return rpc_call(gw, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                        (ProtobufCMessage **)ret, &o, st);
}

/* The VM's newest workspace, or NULL. */
static Banger__V1__Workspace *newest_workspace(struct rpc_client *gw, const char *vm,
                                               Banger__V1__ListWorkspacesResponse **keep,
                                               struct rpc_status *st, int *r)
{
        Banger__V1__ListWorkspacesRequest req = BANGER__V1__LIST_WORKSPACES_REQUEST__INIT;
        req.vm = (char *)vm;
        *keep = NULL;
        *r = ws_call(gw, "List", &req.base, &banger__v1__list_workspaces_response__descriptor,
                     (ProtobufCMessage **)keep, 15000, st);
        if (*r < 0 || !(*keep)->n_workspaces)
                return NULL;
        return (*keep)->workspaces[0];
}

static json_t *ws_json(const Banger__V1__Workspace *w)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:b,s:I}", "vm", w->vm_name,
                         "vm_id", w->vm_id, "host_path", w->host_path, "guest_path", w->guest_path,
                         "head", w->head, "ref", w->ref, "dirty", w->dirty, "files",
                         (json_int_t)w->files, "bytes", (json_int_t)w->bytes, "prepared_unix_ms",
                         (json_int_t)w->prepared_unix_ms, "offline", w->offline, "copy_ms",
                         (json_int_t)w->copy_ms);
}

/* Runs Prepare and follows it; *ret gets the Workspace. */
static int prepare(struct rpc_client *gw, const char *vm, const char *host_path,
                   const char *guest_path, const char *branch, const char *from, bool quiet,
                   Banger__V1__Workspace **ret, struct rpc_status *st)
{
        char real[PATH_MAX];
        if (!realpath(host_path, real)) {
                st->code = RPC_NOT_FOUND;
                snprintf(st->message, sizeof(st->message), "%s: %s", host_path, strerror(errno));
                return -ENOENT;
        }
        Banger__V1__PrepareWorkspaceRequest req = BANGER__V1__PREPARE_WORKSPACE_REQUEST__INIT;
        req.vm = (char *)vm;
        req.host_path = real;
        req.guest_path = (char *)(guest_path ? guest_path : "");
        req.branch = (char *)(branch ? branch : "");
        req.from = (char *)(from ? from : "");
        return cli_op_run(gw, WS_SERVICE, "Prepare", &req.base, quiet,
                          &banger__v1__workspace__descriptor, (ProtobufCMessage **)ret, st);
}

int cmd_vm_workspace_prepare(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        (void)cmd;
        const char *branch = cli_flag_value(cli, "branch"), *from = cli_flag_value(cli, "from");
        if (branch && from)
                return cli_fail(RPC_INVALID_ARGUMENT, "give --branch or --from, not both");
        struct rpc_client *gw = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &gw, &st) < 0)
                return cli_fail_status(&st);
        Banger__V1__Workspace *w = NULL;
        bool json = cli_flag(cli, "json");
        int r = prepare(gw, argv[0], argc > 1 ? argv[1] : ".", cli_flag_value(cli, "guest-path"),
                        branch, from, json, &w, &st);
        rpc_client_close(gw);
        if (r < 0)
                return cli_fail_status(&st);
        if (json) {
                cli_print_json(ws_json(w));
        } else {
                char sz[32];
                cli_format_bytes(sz, sizeof(sz), w->bytes);
                printf("%s → %s:%s at %.12s%s (%llu entries, %s)\n", cli_safe(w->host_path),
                       cli_safe(w->vm_name), cli_safe(w->guest_path),
                       w->head[0] ? cli_safe(w->head) : "(no commits)",
                       w->dirty ? ", with uncommitted changes" : "", (unsigned long long)w->files,
                       sz);
        }
        banger__v1__workspace__free_unpacked(w, NULL);
        return 0;
}

int cmd_vm_workspace_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        (void)cmd;
        struct rpc_client *gw = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &gw, &st) < 0)
                return cli_fail_status(&st);
        Banger__V1__ListWorkspacesRequest req = BANGER__V1__LIST_WORKSPACES_REQUEST__INIT;
        Banger__V1__ListWorkspacesResponse *resp = NULL;
        req.vm = argc > 0 ? argv[0] : "";
        int r = ws_call(gw, "List", &req.base, &banger__v1__list_workspaces_response__descriptor,
                        (ProtobufCMessage **)&resp, 15000, &st);
        rpc_client_close(gw);
        if (r < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                json_t *a = json_array();
                for (size_t i = 0; i < resp->n_workspaces; i++)
                        json_array_append_new(a, ws_json(resp->workspaces[i]));
                cli_print_json(a);
        } else if (resp->n_workspaces == 0) {
                fprintf(stderr, "no workspaces (banger vm workspace prepare VM PATH makes one)\n");
        } else {
                printf("%-20s %-24s %-12s %s\n", "VM", "GUEST PATH", "HEAD", "HOST PATH");
                for (size_t i = 0; i < resp->n_workspaces; i++) {
                        const Banger__V1__Workspace *w = resp->workspaces[i];
                        printf("%-20s %-24s %-12.12s %s%s\n", cli_safe(w->vm_name),
                               cli_safe(w->guest_path), w->head[0] ? cli_safe(w->head) : "-",
                               cli_safe(w->host_path), w->dirty ? " (dirty)" : "");
                }
        }
        banger__v1__list_workspaces_response__free_unpacked(resp, NULL);
        return 0;
}

/* The temporary file of an export -o FILE being written, removed by the
 * handler of a signal that ends the CLI (Ctrl-C, kill, a closed terminal):
 * an interrupted export leaves neither FILE nor its temporary file. */
static volatile sig_atomic_t export_tmp_dirfd = -1;
static char export_tmp_name[256];

static void export_on_signal(int sig)
{
        if (export_tmp_dirfd >= 0)
                (void)unlinkat(export_tmp_dirfd, export_tmp_name, 0);
        signal(sig, SIG_DFL);
        raise(sig);
}

static void export_trap_signals(const struct atomic_file *f)
{
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
        snprintf(export_tmp_name, sizeof(export_tmp_name), "%s", f->tmp);
        export_tmp_dirfd = f->dir_fd;
        struct sigaction sa = {.sa_handler = export_on_signal};
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&sa.sa_mask, sigs[i]);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                struct sigaction old;
                /* A signal ignored by whoever started us (nohup, a
                 * background job) stays ignored. */
                if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
                        sigaction(sigs[i], &sa, NULL);
        }
}

static void export_untrap_signals(void)
{
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
        sigset_t all, old;
        sigemptyset(&all);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&all, sigs[i]);
        sigprocmask(SIG_BLOCK, &all, &old);
        export_tmp_dirfd = -1;
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                struct sigaction cur;
                if (sigaction(sigs[i], NULL, &cur) == 0 && cur.sa_handler == export_on_signal)
                        signal(sigs[i], SIG_DFL);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
}

int cmd_vm_workspace_export(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        (void)cmd, (void)argc;
        const char *outpath = cli_flag_value(cli, "output");
        struct rpc_client *gw = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &gw, &st) < 0)
                return cli_fail_status(&st);
        /* Into a temp file next to the target, renamed at the end: a failed
         * export leaves no half patch. */
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        bool to_file = outpath && strcmp(outpath, "-") != 0;
        int fd = STDOUT_FILENO;
        if (to_file) {
                int r = atomic_file_open(outpath, &out, NULL);
                if (r < 0) {
                        rpc_client_close(gw);
                        return cli_fail(RPC_INVALID_ARGUMENT, "cannot write %s: %s", outpath,
                                        strerror(-r));
                }
                fd = out.fd;
                export_trap_signals(&out);
        }
        Banger__V1__ExportWorkspaceRequest req = BANGER__V1__EXPORT_WORKSPACE_REQUEST__INIT;
        req.vm = argv[0];
        req.guest_path =
            (char *)(cli_flag_value(cli, "guest-path") ? cli_flag_value(cli, "guest-path") : "");
        char id[64] = "", head[64] = "";
        uint32_t files = 0;
        uint64_t off = 0, size = 0;
        int r = 0;
        do {
                Banger__V1__ExportWorkspaceResponse *resp = NULL;
                req.export_id = id;
                req.offset = off;
                r = ws_call(gw, "Export", &req.base,
                            &banger__v1__export_workspace_response__descriptor,
                            (ProtobufCMessage **)&resp, 30 * 60 * 1000, &st);
                if (r < 0)
                        break;
                if (!id[0]) {
                        snprintf(id, sizeof(id), "%s", resp->export_id);
                        snprintf(head, sizeof(head), "%s", resp->head);
                        files = resp->files_changed;
                }
                size = resp->size;
                if (resp->offset != off || (resp->data.len == 0 && off < size)) {
                        st.code = RPC_DATA_LOSS;
                        snprintf(st.message, sizeof(st.message), "export: bad chunk at %llu",
                                 (unsigned long long)off);
                        r = -EIO;
                } else if ((r = loop_write(fd, resp->data.data, resp->data.len)) < 0) {
                        st.code = RPC_INTERNAL;
                        snprintf(st.message, sizeof(st.message), "write %s: %s",
                                 outpath ? outpath : "stdout", strerror(-r));
                        r = -EIO;
                }
                off += resp->data.len;
                banger__v1__export_workspace_response__free_unpacked(resp, NULL);
        } while (r == 0 && off < size);
        rpc_client_close(gw);
        struct bg_error err = {0};
        if (to_file && r == 0 && atomic_file_commit(&out, 0600, &err) < 0) {
                st.code = RPC_INTERNAL;
                snprintf(st.message, sizeof(st.message), "%s", err.msg);
                r = -EIO;
        }
        if (to_file) {
                atomic_file_abort(&out); /* after a commit: nothing left to remove */
                export_untrap_signals();
        }
        if (r < 0)
                return cli_fail_status(&st);
        fprintf(stderr, "%u file%s changed against %.12s (%llu bytes)%s%s\n", files,
                files == 1 ? "" : "s", head[0] ? cli_safe(head) : "the empty tree",
                (unsigned long long)size, to_file ? "; written to " : "", to_file ? outpath : "");
        return 0;
}

/* ---- vm exec ---- */

static volatile sig_atomic_t interrupts;

static void on_sigint(int sig)
{
        (void)sig;
        interrupts++;
}

static int exec_out(void *ud, int stream, const void *buf, size_t len)
{
        (void)ud;
        return loop_write(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, buf, len);
}

static ssize_t exec_in(void *ud, void *buf, size_t len)
{
        (void)ud;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int pr = poll(&p, 1, 10);
        if (pr == 0 || (pr < 0 && errno == EINTR))
                return -EAGAIN;
        ssize_t n = read(STDIN_FILENO, buf, len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? -EAGAIN : -errno;
        return n;
}

/* The host repository's HEAD, or "". */
static void host_head(const char *path, char out[64])
{
        const char *const argv[] = {"git", "-C", path, "rev-parse", "-q", "--verify", "HEAD", NULL};
        char *o = NULL;
        size_t len = 0;
        out[0] = '\0';
        if (bg_run_capture(argv, NULL, &o, &len, 4096, NULL) == 0 && o) {
                o[strcspn(o, "\n")] = '\0';
                snprintf(out, 64, "%s", o);
        }
        free(o);
}

int cmd_vm_exec(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        (void)cmd;
        int dd = cli->args.dashdash_at;
        if (dd != 1 || argc - dd < 1)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "usage: banger vm exec VM [OPTIONS] -- CMD [ARG…]");
        const char *vmref = argv[0];
        int r;
        if ((r = cli_paths(cli)))
                return r;
        struct rpc_client *gw = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &gw, &st) < 0)
                return cli_fail_status(&st);
        Banger__V1__Vm *vm = NULL;
        if (get_vm(gw, vmref, &vm, &st) < 0) {
                rpc_client_close(gw);
                return cli_fail_status(&st);
        }
        int code = 125;
        Banger__V1__ListWorkspacesResponse *keep = NULL;
        Banger__V1__Workspace *prepared = NULL;
        struct bg_ssh *s = NULL;
        char *line = NULL, *sline = NULL;
        if (strcmp(vm->state, "running") != 0) {
                const char *verb = strcmp(vm->state, "paused") == 0 ? "resume" : "start";
                cli_fail(RPC_FAILED_PRECONDITION, "VM %s is %s; %s it first (banger vm %s %s)",
                         vm->name, vm->state, verb, verb, vm->name);
                goto out;
        }
        struct exec_opts eo;
        if ((r = exec_opts_parse(cli, &eo)) != 0) {
                code = r;
                goto out;
        }
        Banger__V1__Workspace *w = newest_workspace(gw, vm->id, &keep, &st, &r);
        if (r < 0) {
                cli_fail_status(&st);
                goto out;
        }
        char cwd[PATH_MAX] = "/root";
        if (cli_flag(cli, "auto-prepare")) {
                const char *hp = w ? w->host_path : ".";
                fprintf(stderr, "syncing %s into VM %s\n",
                        w ? cli_safe(w->host_path) : "the current directory", cli_safe(vm->name));
                if (prepare(gw, vm->name, hp, w ? w->guest_path : NULL, NULL, NULL, false,
                            &prepared, &st) < 0) {
                        cli_fail_status(&st);
                        goto out;
                }
                snprintf(cwd, sizeof(cwd), "%s", prepared->guest_path);
        } else if (w) {
                snprintf(cwd, sizeof(cwd), "%s", w->guest_path);
                char now[64];
                host_head(w->host_path, now);
                if (now[0] && strcmp(now, w->head) != 0)
                        fprintf(stderr,
                                "banger: warning: %s is at %.12s now, but VM %s has %.12s "
                                "(prepared then); --auto-prepare syncs it first\n",
                                cli_safe(w->host_path), now, cli_safe(vm->name),
                                w->head[0] ? cli_safe(w->head) : "no commit");
        }
        if (eo.cwd)
                snprintf(cwd, sizeof(cwd), "%s", eo.cwd);
        size_t cl = 128 * 1024;
        line = malloc(cl);
        if (!line || bg_ssh_workspace_command(cwd, (size_t)(argc - dd), argv + dd, line, cl) < 0) {
                cli_fail(RPC_INVALID_ARGUMENT, "the command is too long");
                goto out;
        }
        /* stdin goes on with -i, and (as always) when it is not a terminal. */
        bool want_in = eo.in || !isatty(STDIN_FILENO);
        struct bg_error err = {0};
        if (!eo.force_ssh) {
                char *av[] = {"/bin/sh", "-c", line, NULL};
                struct exec_opts ao = eo;
                ao.in = want_in;
                struct exec_io io = {
                    .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO};
                r = exec_via_agent(cli, vm->id, vm->vmm, 3, av, NULL, &ao, &io, &code, &err);
                if (r == 0)
                        goto out;
                if (r != -EAGAIN) {
                        cli_fail(RPC_UNAVAILABLE, "%s", err.msg);
                        code = 125;
                        goto out;
                }
                if ((code = exec_refuse_ssh(vm->name, vm->init, "vm exec")) != 0) {
                        fprintf(stderr, "banger: the agent: %s\n", cli_safe(err.msg));
                        goto out;
                }
                fprintf(stderr, "banger: %s; using ssh\n", cli_safe(err.msg));
                bg_error_clear(&err);
        } else if ((code = exec_refuse_ssh(vm->name, vm->init, "vm exec --ssh")) != 0) {
                goto out;
        }
        code = 125; /* until the command ran: a failure to reach sshd is banger's */
        sline = exec_ssh_line(&eo, line);
        if (!sline) {
                cli_fail(RPC_INVALID_ARGUMENT, "the command is too long");
                goto out;
        }
        if (eo.tty) {
                /* A terminal over ssh: the ssh client with banger's config. */
                code = exec_ssh_tty(cli, vm->name, sline, eo.in, eo.timeout_ms);
                goto out;
        }
        char key[PATH_MAX];
        if (cli_ssh_key_path(cli, key, sizeof(key)) < 0)
                return CLI_EXIT_USAGE;
        struct bg_ssh_target t = {
            .host = vm->ip, .key_path = key, .host_key = vm->host_key, .connect_timeout_ms = 5000};
        /* Right after a start the agent answers before sshd listens. */
        uint64_t until = now_mono_msec() + 30000;
        while ((r = bg_ssh_connect(&t, &s, &err)) == -ECONNREFUSED && now_mono_msec() < until) {
                sleep_msec(300);
        }
        if (r < 0) {
                cli_fail(RPC_UNAVAILABLE, "%s", err.msg);
                goto out;
        }
        struct sigaction sa = {.sa_handler = on_sigint}, old;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
        struct bg_ssh_io io = {
            .in = want_in ? exec_in : NULL,
            .out = exec_out,
            .interrupts = &interrupts,
            .timeout_ms = eo.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)eo.timeout_ms,
        };
        int rc = bg_ssh_exec(s, sline, &io, &code, &err);
        sigaction(SIGINT, &old, NULL);
        if (rc == -EINTR)
                code = 130;
        else if (rc == -ETIMEDOUT && eo.timeout_ms) {
                fprintf(stderr, "banger: the command ran out of time (--timeout)\n");
                code = EXEC_EXIT_TIMEOUT;
        } else if (rc < 0) {
                cli_fail(RPC_UNAVAILABLE, "%s", err.msg);
                code = 125;
        }
out:
        free(line);
        free(sline);
        bg_ssh_close(s);
        if (prepared)
                banger__v1__workspace__free_unpacked(prepared, NULL);
        if (keep)
                banger__v1__list_workspaces_response__free_unpacked(keep, NULL);
        banger__v1__vm__free_unpacked(vm, NULL);
        rpc_client_close(gw);
        return code;
}
