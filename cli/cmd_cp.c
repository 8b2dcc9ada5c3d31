/* `banger vm cp SRC DST`: files and directories between the host and a VM as
 * a tar stream, through the guest agent's exec stream (or ssh with --ssh or
 * when the agent cannot): tar -c on the sending side, tar -x in the guest or
 * cp_extract.h (checked, capped) on the host. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "cmd_exec.h"
#include "cp_extract.h"
#include "ssh/ssh.h"
#include "util/macro.h"
#include "util/names.h"
#include "util/run.h"
#include "util/timeutil.h"

/* The guest's side. Exit 3: no such path; the stderr of tar is not shown
 * (it is the guest's text). */
static const char guest_send[] =
    "p=\"$1\"; [ -e \"$p\" ] || [ -L \"$p\" ] || exit 3; "
    "cd \"$(dirname -- \"$p\")\" && exec tar -c -f - -- \"$(basename -- \"$p\")\"";
static const char guest_recv[] =
    "d=\"$1\"; b=\"$2\"; "
    "if [ -d \"$d\" ]; then cd \"$d\" || exit 3; exec tar -x -o -f -; fi; "
    "p=$(dirname -- \"$d\"); n=$(basename -- \"$d\"); [ -d \"$p\" ] || exit 3; "
    "t=$(mktemp -d \"$p/.banger-cp.XXXXXX\") || exit 4; "
    "if (cd \"$t\" && tar -x -o -f -) && mv -f -- \"$t/$b\" \"$p/$n\"; then rmdir \"$t\"; "
    "else rm -rf -- \"$t\"; exit 5; fi";

struct progress {
        bool tty, quiet;
        uint64_t t0, last, total;
        uint64_t bytes;
};

static void fmt_bytes(double b, char *buf, size_t len)
{
        const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int i = 0;
        while (b >= 1024 && i < 4) {
                b /= 1024;
                i++;
        }
        snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void progress_show(struct progress *p, bool final)
{
        if (p->quiet)
                return;
        uint64_t now = now_mono_msec();
        double secs = (double)(now - p->t0) / 1000.0;
        char done[32], rate[32];
        fmt_bytes((double)p->bytes, done, sizeof(done));
        fmt_bytes(secs > 0 ? (double)p->bytes / secs : 0, rate, sizeof(rate));
        if (final) {
                fprintf(stderr, "%scopied %s in %.2f s (%s/s)\n", p->tty ? "\r\033[K" : "", done,
                        secs, rate);
                return;
        }
        if (p->tty) {
                if (p->total)
                        fprintf(stderr, "\r\033[K%s (%.0f%%, %s/s)", done,
                                p->bytes >= p->total ? 100.0
                                                     : 100.0 * (double)p->bytes / (double)p->total,
                                rate);
                else
                        fprintf(stderr, "\r\033[K%s (%s/s)", done, rate);
        } else {
                fprintf(stderr, "copied %s so far (%s/s)\n", done, rate);
        }
}

static void on_bytes(void *ud, uint64_t sent, uint64_t received)
{
        struct progress *p = ud;
        p->bytes = sent + received;
        uint64_t now = now_mono_msec();
        /* A terminal: 10 updates a second at most; else a line per 10 s. */
        if (now - p->last >= (p->tty ? 100u : 10000u) && now - p->t0 >= (p->tty ? 500u : 10000u)) {
                p->last = now;
                progress_show(p, false);
        }
}

static uint64_t tree_bytes;
static int add_size(const char *path, const struct stat *st, int flag, struct FTW *f)
{
        (void)path, (void)flag, (void)f;
        if (S_ISREG(st->st_mode))
                tree_bytes += (uint64_t)st->st_size;
        return 0;
}

/* "VM:PATH" -> vm and an absolute guest path (relative ones under /root). */
static bool split_remote(const char *arg, char *vm, size_t vlen, char *path, size_t plen)
{
        const char *colon = strchr(arg, ':');
        if (!colon || colon == arg || (size_t)(colon - arg) >= vlen)
                return false;
        for (const char *c = arg; c < colon; c++)
                if (*c == '/')
                        return false;
        snprintf(vm, vlen, "%.*s", (int)(colon - arg), arg);
        const char *p = colon + 1;
        if (p[0] == '/')
                snprintf(path, plen, "%s", p);
        else
                snprintf(path, plen, "/root/%s", p);
        return true;
}

/* Drops trailing slashes (keeps "/"). */
static void trim_slashes(char *p)
{
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
                p[--n] = '\0';
}

struct extract_job {
        int fd;
        const char *dir, *base, *newbase;
        struct cp_extract_stats st;
        struct bg_error err;
        int r;
};

static void *extract_thread(void *arg)
{
        struct extract_job *j = arg;
        j->r = cp_extract_fd(j->fd, j->dir, j->base, j->newbase, CP_MAX_BYTES, CP_MAX_ENTRIES,
                             &j->st, &j->err);
        /* Whatever is still coming is not wanted: the sender sees EPIPE. */
        close(j->fd);
        return NULL;
}

static int guest_exit_message(int code, const char *vm, const char *path, bool to_guest)
{
        if (code == 3)
                return cli_fail(RPC_NOT_FOUND, "%s:%s: %s", cli_safe(vm), cli_safe(path),
                                to_guest ? "no such directory in the VM"
                                         : "no such file or directory in the VM");
        return cli_fail(RPC_INTERNAL, "tar in VM %s failed (exit %d)", cli_safe(vm), code);
}

/* ssh argv: banger's ssh config (pinned host key), then the guest command. */
static int ssh_cmd(struct cli *cli, const char *vm, const char *script, const char *a1,
                   const char *a2, char *cfg, size_t cfglen, char *host, size_t hostlen,
                   char **ret_line)
{
        snprintf(cfg, cfglen, "%s/ssh/config", cli->paths.config_dir);
        snprintf(host, hostlen, "%s.vm", vm);
        char qs[2048], q1[PATH_MAX * 4 + 8], q2[PATH_MAX * 4 + 8];
        if (bg_shell_quote(script, qs, sizeof(qs)) < 0 || bg_shell_quote(a1, q1, sizeof(q1)) < 0 ||
            bg_shell_quote(a2 ? a2 : "", q2, sizeof(q2)) < 0)
                return -E2BIG;
        return asprintf(ret_line, "sh -c %s sh %s %s", qs, q1, a2 ? q2 : "") < 0 ? -ENOMEM : 0;
}

static int cp_from_vm(struct cli *cli, const Banger__V1__Vm *vm, const char *gpath, const char *dst,
                      bool force_ssh, struct progress *prog)
{
        char src[PATH_MAX];
        snprintf(src, sizeof(src), "%s", gpath);
        trim_slashes(src);
        if (streq(src, "/"))
                return cli_fail(RPC_INVALID_ARGUMENT, "copy a directory below / , not / itself");
        char bcopy[PATH_MAX];
        snprintf(bcopy, sizeof(bcopy), "%s", src);
        const char *base = basename(bcopy);
        if (streq(base, "..") || streq(base, "."))
                return cli_fail(RPC_INVALID_ARGUMENT, "name the file or directory to copy");

        /* Where it goes: into DST when that is a directory, else as DST. */
        char dir[PATH_MAX], newbase[NAME_MAX + 1], d2[PATH_MAX];
        struct stat st;
        snprintf(d2, sizeof(d2), "%s", dst);
        trim_slashes(d2);
        if (stat(d2, &st) == 0 && S_ISDIR(st.st_mode)) {
                snprintf(dir, sizeof(dir), "%s", d2);
                snprintf(newbase, sizeof(newbase), "%s", base);
        } else {
                char t1[PATH_MAX], t2[PATH_MAX];
                snprintf(t1, sizeof(t1), "%s", d2);
                snprintf(t2, sizeof(t2), "%s", d2);
                snprintf(dir, sizeof(dir), "%s", dirname(t1));
                snprintf(newbase, sizeof(newbase), "%s", basename(t2));
                if (streq(newbase, "..") || streq(newbase, ".") || streq(newbase, "/"))
                        return cli_fail(RPC_INVALID_ARGUMENT, "%s: not a directory", cli_safe(dst));
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        return cli_fail(RPC_NOT_FOUND, "%s: no such directory", cli_safe(dir));
        }

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cli_fail(RPC_INTERNAL, "pipe: %s", strerror(errno));
        struct extract_job job = {.fd = p[0], .dir = dir, .base = base, .newbase = newbase};
        pthread_t th;
        if (pthread_create(&th, NULL, extract_thread, &job) != 0) {
                close(p[0]);
                close(p[1]);
                return cli_fail(RPC_INTERNAL, "cannot start a thread");
        }
        int code = -1, r = -EAGAIN;
        struct bg_error err = {0};
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (!force_ssh) {
                char *av[] = {"/bin/sh", "-c", (char *)guest_send, "sh", src, NULL};
                struct exec_opts o = {0};
                struct exec_io io = {.in_fd = -1,
                                     .out_fd = p[1],
                                     .err_fd = devnull,
                                     .quiet_signals = true,
                                     .on_bytes = on_bytes,
                                     .ud = prog};
                r = exec_via_agent(cli, vm->id, vm->vmm, 5, av, "/", &o, &io, &code, &err);
                if (r == -EAGAIN)
                        fprintf(stderr, "banger: %s; using ssh\n", cli_safe(err.msg));
        }
        if (r == -EAGAIN && vm->init && streq(vm->init, "agent")) {
                char why[sizeof(err.msg)];
                snprintf(why, sizeof(why), "%s", force_ssh ? "--ssh" : err.msg);
                r = bg_error_set(&err, ENOTSUP,
                                 "VM %s has no sshd: banger's agent is its init (vm create "
                                 "--init agent), so vm cp cannot use ssh (%s)",
                                 vm->name, why);
        }
        if (r == -EAGAIN) {
                char cfg[PATH_MAX], host[96];
                _cleanup_free_ char *line = NULL;
                if (ssh_cmd(cli, vm->name, guest_send, src, NULL, cfg, sizeof(cfg), host,
                            sizeof(host), &line) < 0) {
                        r = bg_error_set(&err, E2BIG, "the path is too long");
                } else {
                        const char *av[] = {"ssh", "-F", cfg, "-T", host, "--", line, NULL};
                        code = bg_run_wait(av, BG_RUN_NULL, p[1], devnull, NULL, &err);
                        r = code < 0 ? code : 0;
                }
        }
        close(p[1]);
        if (devnull >= 0)
                close(devnull);
        pthread_join(th, NULL);
        prog->bytes = job.st.bytes;
        if (r < 0)
                return cli_fail(RPC_UNAVAILABLE, "%s", err.msg);
        if (code == 3)
                return guest_exit_message(code, vm->name, src, false);
        if (job.r < 0)
                return cli_fail(RPC_PERMISSION_DENIED, "copy from VM %s refused: %s",
                                cli_safe(vm->name), job.err.msg);
        if (code != 0)
                return guest_exit_message(code, vm->name, src, false);
        progress_show(prog, true);
        return 0;
}

static int cp_to_vm(struct cli *cli, const Banger__V1__Vm *vm, const char *src_in,
                    const char *gpath, bool force_ssh, struct progress *prog)
{
        char src[PATH_MAX];
        snprintf(src, sizeof(src), "%s", src_in);
        trim_slashes(src);
        struct stat st;
        if (lstat(src, &st) < 0)
                return cli_fail(RPC_NOT_FOUND, "%s: %s", cli_safe(src), strerror(errno));
        char t1[PATH_MAX], t2[PATH_MAX];
        snprintf(t1, sizeof(t1), "%s", src);
        snprintf(t2, sizeof(t2), "%s", src);
        const char *parent = dirname(t1);
        const char *base = basename(t2);
        if (streq(base, "/") || streq(base, "..") || streq(base, "."))
                return cli_fail(RPC_INVALID_ARGUMENT, "name the file or directory to copy");
        tree_bytes = 0;
        if (S_ISDIR(st.st_mode))
                nftw(src, add_size, 32, FTW_PHYS);
        else if (S_ISREG(st.st_mode))
                tree_bytes = (uint64_t)st.st_size;
        prog->total = tree_bytes;
        char dst[PATH_MAX];
        snprintf(dst, sizeof(dst), "%s", gpath);
        trim_slashes(dst);

        /* The host's tar writes the stream into a pipe the copy reads. */
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cli_fail(RPC_INTERNAL, "pipe: %s", strerror(errno));
        const char *tav[] = {"tar", "-C", parent, "-c", "-f", "-", "--", base, NULL};
        pid_t tar_pid;
        struct bg_error err = {0};
        if (bg_run_start(tav, BG_RUN_NULL, p[1], BG_RUN_INHERIT, NULL, &tar_pid, &err) < 0) {
                close(p[0]);
                close(p[1]);
                return cli_fail(RPC_FAILED_PRECONDITION, "cannot run tar: %s", err.msg);
        }
        close(p[1]);
        int code = -1, r = -EAGAIN;
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (!force_ssh) {
                char *av[] = {"/bin/sh", "-c", (char *)guest_recv, "sh", dst, (char *)base, NULL};
                struct exec_opts o = {.in = true};
                struct exec_io io = {.in_fd = p[0],
                                     .out_fd = devnull,
                                     .err_fd = devnull,
                                     .quiet_signals = true,
                                     .on_bytes = on_bytes,
                                     .ud = prog};
                r = exec_via_agent(cli, vm->id, vm->vmm, 6, av, "/", &o, &io, &code, &err);
                if (r == -EAGAIN)
                        fprintf(stderr, "banger: %s; using ssh\n", cli_safe(err.msg));
        }
        if (r == -EAGAIN && vm->init && streq(vm->init, "agent")) {
                char why[sizeof(err.msg)];
                snprintf(why, sizeof(why), "%s", force_ssh ? "--ssh" : err.msg);
                r = bg_error_set(&err, ENOTSUP,
                                 "VM %s has no sshd: banger's agent is its init (vm create "
                                 "--init agent), so vm cp cannot use ssh (%s)",
                                 vm->name, why);
        }
        if (r == -EAGAIN) {
                char cfg[PATH_MAX], host[96];
                _cleanup_free_ char *line = NULL;
                if (ssh_cmd(cli, vm->name, guest_recv, dst, base, cfg, sizeof(cfg), host,
                            sizeof(host), &line) < 0) {
                        r = bg_error_set(&err, E2BIG, "the path is too long");
                } else {
                        const char *av[] = {"ssh", "-F", cfg, "-T", host, "--", line, NULL};
                        code = bg_run_wait(av, p[0], devnull, devnull, NULL, &err);
                        r = code < 0 ? code : 0;
                        prog->bytes = tree_bytes;
                }
        }
        close(p[0]);
        if (devnull >= 0)
                close(devnull);
        struct bg_error terr = {0};
        int tr = bg_run_reap(tar_pid, "tar", 0, &terr);
        if (r < 0)
                return cli_fail(RPC_UNAVAILABLE, "%s", err.msg);
        if (code != 0)
                return guest_exit_message(code, vm->name, dst, true);
        if (tr != 0)
                return cli_fail(RPC_INTERNAL, "tar on the host failed: %s", terr.msg);
        progress_show(prog, true);
        return 0;
}

int cmd_vm_cp(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        (void)cmd;
        (void)argc;
        char vm_a[64], vm_b[64], path_a[PATH_MAX], path_b[PATH_MAX];
        bool ra = split_remote(argv[0], vm_a, sizeof(vm_a), path_a, sizeof(path_a));
        bool rb = split_remote(argv[1], vm_b, sizeof(vm_b), path_b, sizeof(path_b));
        if (ra == rb)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                ra ? "copy between the host and a VM, not between two VMs"
                                   : "one of SRC and DST must be VM:PATH");
        const char *vmref = ra ? vm_a : vm_b;
        int r;
        if ((r = cli_paths(cli)))
                return r;
        struct rpc_status st = {0};
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__Vm *vm = NULL;
        req.ref = (char *)vmref;
        r = cli_call(cli, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                     (ProtobufCMessage **)&vm, 10000, RPC_CALL_IDEMPOTENT, &st);
        if (r < 0)
                return cli_fail_status(&st);
        if (!streq(vm->state, "running")) {
                bool paused = streq(vm->state, "paused");
                r = cli_fail(RPC_FAILED_PRECONDITION, "VM %s is %s; %s it first (banger vm %s %s)",
                             cli_safe(vm->name), cli_safe(vm->state), paused ? "resume" : "start",
                             paused ? "resume" : "start", cli_safe(vm->name));
                banger__v1__vm__free_unpacked(vm, NULL);
                return r;
        }
        struct progress prog = {
            .tty = isatty(STDERR_FILENO), .quiet = cli_flag(cli, "quiet"), .t0 = now_mono_msec()};
        prog.last = prog.t0;
        bool ssh = cli_flag(cli, "ssh");
        if (ra)
                r = cp_from_vm(cli, vm, path_a, argv[1], ssh, &prog);
        else
                r = cp_to_vm(cli, vm, argv[0], path_b, ssh, &prog);
        banger__v1__vm__free_unpacked(vm, NULL);
        return r;
}
