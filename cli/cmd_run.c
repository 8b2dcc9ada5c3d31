/* `banger vm run [PATH] [--rm] … [-- CMD]`: the main job. Makes sure the
 * kernel and image exist (pulling/building them with progress on first use),
 * creates and boots a VM, copies the git workspace in, runs CMD over SSH with
 * the VM's pinned host key, and exits with CMD's code; --rm deletes the VM
 * afterwards, also when CMD fails or the user presses Ctrl-C. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "vm_labels.h"
#include "cmd_exec.h"
#include "cmd_ops.h"
#include "config/config.h"
#include "ssh/ssh_key.h"
#include "util/fileio.h"
#include "util/names.h"
#include "util/run.h"
#include "util/timeutil.h"

/* banger's own failures in vm run: CMD's exit code is the command's business,
 * so errors of banger itself use 125 (as `docker run` does). */
#define RUN_EXIT_BANGER 125

struct run_ctx {
        struct cli *cli;
        struct rpc_client *gw;
        char vm[64];
        char id[64];
        char vmm[32];
        char ip[16];
        char host_key[256];
        char key[600];
        char known_hosts[600];
        bool rm;
        bool created;
};

static int run_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_fail(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cli_verror(fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return RUN_EXIT_BANGER;
}

static int call(struct run_ctx *c, const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, struct rpc_status *st)
{
        struct rpc_call_opts o = {.deadline_ms = 30000};
        return rpc_call(c->gw, method, in, od, out, &o, st);
}

/* vm run reaches the VM over ssh: an image without sshd is refused. A
 * missing image or kernel is not an error here: VmService/Create pulls or
 * builds it (with progress) or says what is wrong. *checked is set when the
 * image was here to look at. */
static int check_image_sshd(struct run_ctx *c, const char *name, bool *checked,
                            struct rpc_status *st)
{
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *img = NULL;
        req.name = (char *)name;
        *checked = false;
        int r = call(c, "/banger.v1.ImageService/Show", &req.base, &banger__v1__image__descriptor,
                     (ProtobufCMessage **)&img, st);
        if (r < 0)
                return st->code == RPC_NOT_FOUND || st->code == RPC_INVALID_ARGUMENT ? 0 : r;
        *checked = true;
        bool sshd = img->has_sshd;
        banger__v1__image__free_unpacked(img, NULL);
        if (!sshd) {
                st->code = RPC_FAILED_PRECONDITION;
                snprintf(st->message, sizeof(st->message),
                         "image %s has no sshd (/usr/sbin/sshd), and vm run reaches the VM over "
                         "ssh; use an image with openssh-server",
                         name);
                return -EBUSY;
        }
        return 0;
}

/* Runs argv with our stdin, output shown or (quiet) discarded; its exit
 * status, or -errno when it could not run. */
static int run_wait(char *const argv[], bool quiet)
{
        int out = quiet ? BG_RUN_NULL : BG_RUN_INHERIT;
        return bg_run_wait((const char *const *)argv, BG_RUN_INHERIT, out, out, NULL, NULL);
}

/* ssh argv prefix with the pinned host key; n = number of entries used. */
static size_t ssh_argv(struct run_ctx *c, char **argv, bool tty)
{
        size_t n = 0;
        static char dest[64];
        snprintf(dest, sizeof(dest), "root@%s", c->ip);
        static char khf[700];
        snprintf(khf, sizeof(khf), "UserKnownHostsFile=%s", c->known_hosts);
        argv[n++] = "ssh";
        argv[n++] = tty ? "-tt" : "-T";
        argv[n++] = "-i";
        argv[n++] = c->key;
        argv[n++] = "-o";
        argv[n++] = khf;
        argv[n++] = "-o";
        argv[n++] = "StrictHostKeyChecking=yes";
        argv[n++] = "-o";
        argv[n++] = "BatchMode=yes";
        argv[n++] = "-o";
        argv[n++] = "ConnectTimeout=5";
        argv[n++] = "-o";
        argv[n++] = "ConnectionAttempts=3"; /* a clone's first connect may race its ARP */
        argv[n++] = "-o";
        argv[n++] = "LogLevel=ERROR";
        argv[n++] = dest;
        return n;
}

static bool wait_ssh(struct run_ctx *c, unsigned seconds)
{
        uint64_t until = now_mono_msec() + (uint64_t)seconds * 1000;
        while (now_mono_msec() < until) {
                char *argv[24];
                size_t n = ssh_argv(c, argv, false);
                argv[n++] = "true";
                argv[n] = NULL;
                if (run_wait(argv, true) == 0)
                        return true;
                sleep_msec(300);
        }
        return false;
}

static bool is_git_repo(const char *path)
{
        char *argv[] = {"git", "-C", (char *)path, "rev-parse", "--git-dir", NULL};
        return run_wait(argv, true) == 0;
}

/* 'single-quoted' for the guest's shell. */
static int shell_join(int argc, char **argv, char *buf, size_t len)
{
        size_t pos = 0;
        for (int i = 0; i < argc; i++) {
                if (pos + 3 >= len)
                        return -E2BIG;
                if (i)
                        buf[pos++] = ' ';
                buf[pos++] = '\'';
                for (const char *s = argv[i]; *s; s++) {
                        if (*s == '\'') {
                                if (pos + 5 >= len)
                                        return -E2BIG;
                                memcpy(buf + pos, "'\\''", 4);
                                pos += 4;
                        } else {
                                if (pos + 2 >= len)
                                        return -E2BIG;
                                buf[pos++] = *s;
                        }
                }
                buf[pos++] = '\'';
        }
        buf[pos] = '\0';
        return 0;
}

static void delete_vm(struct run_ctx *c)
{
        Banger__V1__DeleteVmRequest req = BANGER__V1__DELETE_VM_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct rpc_status st = {0};
        req.ref = c->vm;
        req.force = true;
        struct rpc_call_opts o = {.deadline_ms = 60000};
        if (rpc_call(c->gw, "/banger.v1.VmService/Delete", &req.base,
                     &banger__v1__delete_vm_response__descriptor, &resp, &o, &st) < 0)
                fprintf(stderr, "banger: could not delete VM %s: %s\n", cli_safe(c->vm),
                        cli_safe(st.message));
        else
                protobuf_c_message_free_unpacked(resp, NULL);
}

int cmd_vm_run(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct run_ctx c = {.cli = cli, .rm = cli_flag(cli, "rm")};
        _cleanup_free_ char *sline = NULL;
        struct rpc_status st = {0};
        struct bg_config cfg;
        struct bg_error err = {0};
        char cfgpath[512];
        int r;

        /* argv: [PATH] [-- CMD…]; the parser recorded where "--" was. */
        const char *path = NULL;
        int cmd_start = cli->args.dashdash_at >= 0 ? cli->args.dashdash_at : argc;
        if (cmd_start > 1)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "vm run takes one PATH before '--' (got %d words); put the "
                                "command after '--'",
                                cmd_start);
        if (cmd_start == 1)
                path = argv[0];
        int cmd_argc = argc - cmd_start;
        char **cmd_argv = argv + cmd_start;

        struct exec_opts eo;
        if ((r = exec_opts_parse(cli, &eo)) != 0)
                return r;
        if (cmd_argc == 0 && (eo.n_env || eo.cwd || eo.timeout_ms))
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "-e, -w and --timeout apply to a command: put it after '--'");
        if ((r = cli_paths(cli)))
                return r;
        bg_paths_config_file(&cli->paths, cfgpath, sizeof(cfgpath));
        if (bg_config_load_file(cfgpath, &cfg, &err) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        /* No --kernel: the service picks the image's recorded kernel, else the default. */
        const char *kernel = cli_flag_value(cli, "kernel") ? cli_flag_value(cli, "kernel") : "";
        const char *image =
            cli_flag_value(cli, "image") ? cli_flag_value(cli, "image") : cfg.vm.default_image;
        if (cli_flag_value(cli, "name") &&
            bg_name_check_dns_label("VM name", cli_flag_value(cli, "name"), &err) < 0) {
                bg_config_free(&cfg);
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        }
        if (path && !is_git_repo(path)) {
                bg_config_free(&cfg);
                return cli_fail(RPC_INVALID_ARGUMENT, "%s is not a git repository", path);
        }
        if (bg_ssh_key_path(cfg.ssh.key_path, cli->paths.config_dir, c.key, sizeof(c.key), &err) <
            0) {
                bg_config_free(&cfg);
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        }

        if (cli_gateway(cli, &c.gw, &st) < 0) {
                bg_config_free(&cfg);
                return cli_fail_status(&st);
        }
        int code = RUN_EXIT_BANGER;
        /* An image without sshd fails before anything is made or fetched. */
        bool sshd_checked = false;
        r = check_image_sshd(&c, image, &sshd_checked, &st);
        if (r < 0) {
                cli_fail_status(&st);
                goto out;
        }

        /* Create and boot. */
        Banger__V1__CreateVmRequest cr = BANGER__V1__CREATE_VM_REQUEST__INIT;
        cr.name = (char *)(cli_flag_value(cli, "name") ? cli_flag_value(cli, "name") : "");
        cr.image = (char *)image;
        cr.kernel = (char *)kernel;
        /* The workspace goes straight into the new work disk before boot. */
        char real[PATH_MAX];
        if (path) {
                if (!realpath(path, real)) {
                        run_fail("%s: %s", path, strerror(errno));
                        goto out;
                }
                cr.workspace_host_path = real;
                cr.workspace_guest_path = "/root/repo";
                fprintf(stderr, "workspace %s goes to /root/repo in the VM\n", real);
        }
        uint32_t u;
        char *end;
        if (cli_flag_value(cli, "vcpu")) {
                u = (uint32_t)strtoul(cli_flag_value(cli, "vcpu"), &end, 10);
                if (*end || u < 1 || u > 32) {
                        cli_fail(RPC_INVALID_ARGUMENT, "--vcpu must be 1-32");
                        goto out;
                }
                cr.vcpu = u;
        }
        if (cli_flag_value(cli, "mem")) {
                u = (uint32_t)strtoul(cli_flag_value(cli, "mem"), &end, 10);
                if (*end || u < 128 || u > 262144) {
                        cli_fail(RPC_INVALID_ARGUMENT, "--mem must be 128-262144 (MiB)");
                        goto out;
                }
                cr.memory_mib = u;
        }
        if (cli_flag_value(cli, "template"))
                cr.template_ = (char *)cli_flag_value(cli, "template");
        cr.cold = cli_flag(cli, "cold");
        if (cr.cold && cr.template_[0]) {
                cli_fail(RPC_INVALID_ARGUMENT, "--template and --cold exclude each other");
                goto out;
        }
        if (cli_vm_labels_from_flags(cli, &cr) != 0) {
                cli_vm_labels_free(&cr);
                goto out;
        }
        Banger__V1__Vm *vm = NULL;
        r = cli_op_run(c.gw, "banger.v1.VmService", "Create", &cr.base, false,
                       &banger__v1__vm__descriptor, (ProtobufCMessage **)&vm, &st);
        cli_vm_labels_free(&cr);
        if (r < 0) {
                cli_fail_status(&st);
                goto out;
        }
        c.created = true;
        snprintf(c.vm, sizeof(c.vm), "%s", vm->name);
        /* An image the service pulled just now: checked now. */
        if (!sshd_checked && check_image_sshd(&c, vm->image, &sshd_checked, &st) < 0) {
                banger__v1__vm__free_unpacked(vm, NULL);
                cli_fail_status(&st);
                goto out;
        }
        snprintf(c.id, sizeof(c.id), "%s", vm->id);
        snprintf(c.vmm, sizeof(c.vmm), "%s", vm->vmm);
        snprintf(c.ip, sizeof(c.ip), "%s", vm->ip);
        snprintf(c.host_key, sizeof(c.host_key), "%s", vm->host_key);
        /* A clone resumes a template saved with sshd listening: no wait. */
        bool clone = vm->template_[0] != '\0';
        banger__v1__vm__free_unpacked(vm, NULL);

        /* ssh with the pinned host key: no trust on first use. Written to a
         * new file renamed into place: root may run this too, and in system
         * mode the runtime dir is the owner's, where a name fopen would
         * follow could be a symlink to any file. */
        snprintf(c.known_hosts, sizeof(c.known_hosts), "%s/vm-%s.known_hosts",
                 cli->paths.runtime_dir, c.vm);
        char *sp = strchr(c.host_key, ' ');
        sp = sp ? strchr(sp + 1, ' ') : NULL;
        if (sp)
                *sp = '\0';
        char line[sizeof(c.ip) + sizeof(c.host_key) + 4];
        int ln = snprintf(line, sizeof(line), "%s %s\n", c.ip, c.host_key);
        struct bg_error kerr = {0};
        if (ln < 0 || (size_t)ln >= sizeof(line) ||
            write_file_atomic(c.known_hosts, line, (size_t)ln, 0600, &kerr) < 0) {
                run_fail("cannot write %s: %s", c.known_hosts, kerr.msg);
                goto out;
        }
        const char *dir = eo.cwd ? eo.cwd : path ? "/root/repo" : "/root";
        if (cmd_argc > 0 && !eo.force_ssh) {
                /* Through the guest agent: it answers as soon as the VM is
                 * reported running, with no sshd to wait for. */
                fprintf(stderr, "VM %s is up at %s\n", cli_safe(c.vm), cli_safe(c.ip));
                struct exec_io io = {
                    .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO, .err_fd = STDERR_FILENO};
                struct exec_opts ao = eo;
                ao.in = eo.in || !isatty(STDIN_FILENO);
                bg_error_clear(&err);
                r = exec_via_agent(cli, c.id, c.vmm, (size_t)cmd_argc, cmd_argv, dir, &ao, &io,
                                   &code, &err);
                if (r == 0)
                        goto out;
                if (r != -EAGAIN) {
                        run_fail("%s", err.msg);
                        goto out;
                }
                fprintf(stderr, "banger: %s; using ssh\n", cli_safe(err.msg));
        } else if (clone) {
                fprintf(stderr, "VM %s is up at %s\n", cli_safe(c.vm), cli_safe(c.ip));
        } else {
                fprintf(stderr, "VM %s is up at %s; waiting for ssh\n", cli_safe(c.vm),
                        cli_safe(c.ip));
        }
        if (!clone && !wait_ssh(&c, 120)) {
                run_fail("ssh to VM %s (%s) did not answer within 120 s", c.vm, c.ip);
                goto out;
        }

        /* Run: Ctrl-C goes to ssh (and the remote command); we stay to clean up. */
        char remote[8192];
        char *av[32];
        bool interactive = cmd_argc == 0;
        size_t n = ssh_argv(&c, av, eo.tty || (interactive && isatty(STDIN_FILENO)));
        if (cmd_argc > 0) {
                char joined[7000], qdir[4200];
                if (shell_join(cmd_argc, cmd_argv, joined, sizeof(joined)) < 0 ||
                    shell_join(1, (char **)&dir, qdir, sizeof(qdir)) < 0) {
                        run_fail("the command is too long");
                        goto out;
                }
                /* Not exec'd: the shell turns a fatal signal N into 128+N. */
                if (eo.timeout_ms)
                        snprintf(remote, sizeof(remote),
                                 "cd %s%s; timeout --foreground -k 2 %.3f %s", qdir,
                                 eo.cwd ? "" : " 2>/dev/null", (double)eo.timeout_ms / 1000.0,
                                 joined);
                else
                        snprintf(remote, sizeof(remote), "cd %s%s; %s", qdir,
                                 eo.cwd ? "" : " 2>/dev/null", joined);
                sline = exec_ssh_line(&eo, remote);
                if (!sline) {
                        run_fail("the command is too long");
                        goto out;
                }
                av[n++] = sline;
        }
        av[n] = NULL;
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGINT, &ign, &old);
        r = run_wait(av, false);
        sigaction(SIGINT, &old, NULL);
        if (r < 0) {
                run_fail("cannot run ssh: %s", strerror(-r));
                goto out;
        }
        if (r == 255)
                fprintf(stderr, "banger: ssh to VM %s failed (exit 255)\n", cli_safe(c.vm));
        code = r;
out:
        if (c.created && c.rm) {
                delete_vm(&c);
                unlink(c.known_hosts);
        } else if (c.created) {
                fprintf(stderr, "VM %s keeps running (banger vm delete %s removes it)\n",
                        cli_safe(c.vm), cli_safe(c.vm));
        }
        rpc_client_close(c.gw);
        bg_config_free(&cfg);
        return code;
}
