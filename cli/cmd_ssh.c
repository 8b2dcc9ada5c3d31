/* `banger vm ssh` and `banger ssh-config`: ssh into VMs with the config
 * banger-vmsvc maintains in CONFIG/ssh (services/vmsvc/ssh_files.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "cmd_extra.h"
#include "config/config.h"
#include "cmd_exec.h"
#include "ssh/ssh_key.h"
#include "util/fileio.h"
#include "util/macro.h"

#define INCLUDE_MARK "# added by banger ssh-config --install"

static void ssh_config_path(struct cli *cli, char *buf, size_t len)
{
        snprintf(buf, len, "%s/ssh/config", cli->paths.config_dir);
}

int cli_ssh_key_path(struct cli *cli, char *buf, size_t len)
{
        struct bg_config cfg;
        struct bg_error err = {0};
        char cfgpath[512];
        int r = cli_paths(cli);
        if (r)
                return -EINVAL;
        bg_paths_config_file(&cli->paths, cfgpath, sizeof(cfgpath));
        if (bg_config_load_file(cfgpath, &cfg, &err) < 0) {
                cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
                return -EINVAL;
        }
        r = bg_ssh_key_path(cfg.ssh.key_path, cli->paths.config_dir, buf, len, &err);
        bg_config_free(&cfg);
        if (r < 0)
                cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        return r;
}

int cmd_vm_ssh(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        int cmd_start = cli->args.dashdash_at >= 0 ? cli->args.dashdash_at : argc;
        if (cmd_start != 1)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "vm ssh takes one VM name, then optionally '--' and a command");
        int r = cli_paths(cli);
        if (r)
                return r;
        struct rpc_status st = {0};
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        Banger__V1__Vm *vm = NULL;
        req.ref = argv[0];
        r = cli_call(cli, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                     (ProtobufCMessage **)&vm, 10000, RPC_CALL_IDEMPOTENT, &st);
        if (r < 0)
                return cli_fail_status(&st);
        char host[80];
        snprintf(host, sizeof(host), "%s.vm", vm->name);
        bool running = streq(vm->state, "running");
        char state[32];
        snprintf(state, sizeof(state), "%s", vm->state);
        r = exec_refuse_ssh(vm->name, vm->init, "vm ssh");
        banger__v1__vm__free_unpacked(vm, NULL);
        if (r)
                return r;
        if (!running)
                return cli_fail(RPC_FAILED_PRECONDITION, "VM %s is %s; %s it first (banger vm %s %s)",
                                argv[0], state, streq(state, "paused") ? "resume" : "start",
                                streq(state, "paused") ? "resume" : "start", argv[0]);
        char cfg[PATH_MAX];
        ssh_config_path(cli, cfg, sizeof(cfg));
        if (access(cfg, R_OK) < 0)
                return cli_fail(RPC_FAILED_PRECONDITION,
                                "%s is missing; banger-vmsvc writes it (is it running? banger "
                                "status)",
                                cfg);
        int n = argc - cmd_start;
        char **av = calloc((size_t)n + 6, sizeof(char *));
        if (!av)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        int k = 0;
        av[k++] = "ssh";
        av[k++] = "-F";
        av[k++] = cfg;
        if (n == 0 && isatty(STDIN_FILENO))
                av[k++] = "-t";
        av[k++] = host;
        if (n > 0) {
                av[k++] = "--";
                for (int i = 0; i < n; i++)
                        av[k++] = argv[cmd_start + i];
        }
        av[k] = NULL;
        fflush(stdout);
        execvp("ssh", av);
        int e = errno;
        free(av);
        return cli_fail(RPC_FAILED_PRECONDITION, "cannot run ssh: %s (install openssh-client)",
                        strerror(e));
}

#define SSH_CONFIG_MAX (1u << 20)

/* The whole file, "" when it does not exist. */
static int read_all(const char *path, char **ret, struct bg_error *err)
{
        int r = read_file_capped(path, SSH_CONFIG_MAX, 0, ret, NULL, err);
        if (r == -ENOENT) {
                bg_error_clear(err);
                *ret = strdup("");
                return *ret ? 0 : bg_error_set(err, ENOMEM, "out of memory");
        }
        return r;
}

/* Rewrites path with text, keeping its mode (0600 for a new file). */
static int write_all(const char *path, const char *text, struct bg_error *err)
{
        struct stat st;
        mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0600;
        return write_file_atomic(path, text, strlen(text), mode, err);
}

/* text without the lines banger added (the mark and the Include after it). */
static char *strip_ours(const char *text, const char *include_line, bool *found)
{
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        if (!m)
                return NULL;
        *found = false;
        const char *p = text;
        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                bool ours = (n == strlen(INCLUDE_MARK) && !strncmp(p, INCLUDE_MARK, n)) ||
                            (n == strlen(include_line) && !strncmp(p, include_line, n));
                if (ours)
                        *found = true;
                else
                        fprintf(m, "%.*s\n", (int)n, p);
                p += n + (nl ? 1 : 0);
        }
        if (fclose(m) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

int cmd_ssh_config(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool install = cli_flag(cli, "install"), uninstall = cli_flag(cli, "uninstall");
        if (install && uninstall)
                return cli_fail(RPC_INVALID_ARGUMENT, "--install or --uninstall, not both");
        int r = cli_paths(cli);
        if (r)
                return r;
        char cfg[PATH_MAX];
        ssh_config_path(cli, cfg, sizeof(cfg));
        if (!install && !uninstall) {
                _cleanup_free_ char *text = NULL;
                struct bg_error err = {0};
                if (read_all(cfg, &text, &err) < 0)
                        return cli_fail(RPC_INTERNAL, "%s", err.msg);
                if (!text[0])
                        return cli_fail(RPC_NOT_FOUND,
                                        "%s does not exist yet; banger-vmsvc writes it when it "
                                        "starts (banger daemon start)",
                                        cfg);
                printf("# %s\n%s", cfg, cli_safe_text(text));
                return 0;
        }
        const char *home = getenv("HOME");
        if (!home || !home[0])
                return cli_fail(RPC_FAILED_PRECONDITION, "HOME is not set");
        char dir[PATH_MAX], user_cfg[PATH_MAX + 16], include[PATH_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/.ssh", home);
        snprintf(user_cfg, sizeof(user_cfg), "%s/config", dir);
        snprintf(include, sizeof(include), "Include \"%s\"", cfg);
        struct bg_error err = {0};
        _cleanup_free_ char *text = NULL;
        if (read_all(user_cfg, &text, &err) < 0)
                return cli_fail(RPC_INTERNAL, "%s", err.msg);
        bool found = false;
        _cleanup_free_ char *rest = strip_ours(text, include, &found);
        if (!rest)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        if (uninstall) {
                if (!found) {
                        printf("%s has no banger Include; nothing to do\n", user_cfg);
                        return 0;
                }
                if (write_all(user_cfg, rest, &err) < 0)
                        return cli_fail(RPC_INTERNAL, "%s", err.msg);
                printf("removed banger's Include from %s\n", user_cfg);
                return 0;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return cli_fail(RPC_INTERNAL, "create %s: %s", dir, strerror(errno));
        /* First in the file: an Include after a Host line would only apply to
         * that host. */
        _cleanup_free_ char *out = NULL;
        if (asprintf(&out, "%s\n%s\n%s", INCLUDE_MARK, include, rest) < 0)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        if (found && !strncmp(text, out, strlen(text)) && strlen(text) == strlen(out)) {
                printf("%s already includes %s\n", user_cfg, cfg);
                return 0;
        }
        if (write_all(user_cfg, out, &err) < 0)
                return cli_fail(RPC_INTERNAL, "%s", err.msg);
        printf("%s now includes %s: `ssh NAME.vm` reaches banger's VMs\n", user_cfg, cfg);
        return 0;
}
