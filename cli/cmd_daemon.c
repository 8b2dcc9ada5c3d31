/* `banger daemon start|stop|status`: the user/dev-mode process manager. No
 * supervisor: processes are spawned detached (own session), tracked by
 * pidfiles that record the start time (so a recycled PID is never signalled),
 * and never restarted behind the user's back. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/gateway.pb-c.h"
#include "cli.h"
#include "daemon/services.h"
#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"

extern char **environ;

struct proc {
        const char *name;
        const char *binary;
        bool needs_root;
};

/* Start order; stop goes in reverse. */
static size_t all_procs(struct proc *out, size_t cap)
{
        size_t n, k = 0;
        const struct banger_service *s = banger_services(&n);
        for (size_t i = 0; i < n && k < cap; i++)
                out[k++] = (struct proc){s[i].name, s[i].binary, s[i].needs_root};
        if (k < cap)
                out[k++] = (struct proc){"gateway", "banger-gateway", false};
        return k;
}

/* Service binaries live next to the banger binary (build tree: build/bin;
 * installed: the same directory), unless BANGER_LIBEXEC_DIR says otherwise. */
static int find_binary(const char *binary, char *out, size_t len)
{
        const char *env = getenv("BANGER_LIBEXEC_DIR");
        char dir[PATH_MAX];
        if (env && env[0]) {
                snprintf(dir, sizeof(dir), "%s", env);
        } else {
                ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
                if (n < 0)
                        return -errno;
                dir[n] = '\0';
                char *slash = strrchr(dir, '/');
                if (slash)
                        *slash = '\0';
        }
        snprintf(out, len, "%s/%s", dir, binary);
        if (access(out, X_OK) < 0)
                return -errno;
        return 0;
}

/* The message of the last line of a service log (JSON "msg" or raw text). */
static void last_log_message(const char *path, char *out, size_t len)
{
        out[0] = '\0';
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        char buf[4096];
        off_t size = lseek(fd, 0, SEEK_END);
        off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
        if (n <= 0)
                return;
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        char *line = strrchr(buf, '\n');
        line = line ? line + 1 : buf;
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = j ? json_string_value(json_object_get(j, "msg")) : NULL;
        snprintf(out, len, "%s", msg ? msg : line);
        json_decref(j);
}

static int spawn_proc(struct cli *cli, const struct proc *p, pid_t *ret_pid, char *why,
                      size_t why_len)
{
        char bin[PATH_MAX], logdir[PATH_MAX], logpath[PATH_MAX + 64], owner[32];
        int r = find_binary(p->binary, bin, sizeof(bin));
        if (r < 0) {
                snprintf(why, why_len, "cannot find %s next to banger (%s)", p->binary,
                         strerror(-r));
                return r;
        }
        snprintf(logdir, sizeof(logdir), "%s/logs", cli->paths.state_dir);
        mkdir_p(logdir, 0700);
        snprintf(logpath, sizeof(logpath), "%s/%s.log", logdir, p->name);
        _cleanup_close_ int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (logfd < 0) {
                snprintf(why, why_len, "cannot open %s: %s", logpath, strerror(errno));
                return -errno;
        }
        snprintf(owner, sizeof(owner), "%u", (unsigned)getuid());
        char *argv[] = {bin, "--owner-uid", owner, cli->paths.system ? "--system" : "--user", NULL};

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, logfd, 2);
        /* Nothing else of ours (or of whoever ran us) leaks into the daemon. */
        posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        /* Own session: the service outlives this shell and its Ctrl-C. */
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
        pid_t pid;
        r = posix_spawn(&pid, bin, &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
                snprintf(why, why_len, "cannot start %s: %s", bin, strerror(r));
                return -r;
        }
        *ret_pid = pid;
        return 0;
}

static unsigned parse_seconds(const char *s, unsigned def)
{
        if (!s)
                return def;
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (*end || end == s || v == 0 || v > 3600)
                return 0;
        return (unsigned)v;
}

int cmd_daemon_start(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct proc procs[8];
        size_t n = all_procs(procs, ELEMENTSOF(procs));
        pid_t pids[8] = {0};
        bool spawned[8] = {0}, ready[8] = {0}, failed[8] = {0};
        char why[8][512];
        bool json = cli_flag(cli, "json");
        struct bg_error err = {0};
        unsigned timeout = parse_seconds(cli_flag_value(cli, "timeout"), 20);
        if (!timeout)
                return cli_fail(RPC_INVALID_ARGUMENT, "--timeout must be 1-3600 seconds");

        int r = cli_paths(cli);
        if (r)
                return r;
        r = bg_paths_ensure(&cli->paths, &err);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "%s", err.msg);

        for (size_t i = 0; i < n; i++) {
                char pidfile[512];
                pid_t pid;
                why[i][0] = '\0';
                bg_paths_pidfile(&cli->paths, procs[i].name, pidfile, sizeof(pidfile));
                if (pidfile_check(pidfile, &pid) == 1) {
                        pids[i] = pid;
                        ready[i] = true;
                        if (!json)
                                printf("%-14s already running (pid %d)\n", procs[i].name, (int)pid);
                        continue;
                }
                unlink(pidfile); /* stale */
                if (spawn_proc(cli, &procs[i], &pids[i], why[i], sizeof(why[i])) < 0) {
                        failed[i] = true;
                        continue;
                }
                spawned[i] = true;
        }

        /* Ready = the process wrote its pidfile, which it does after its socket
         * is listening. A process that exits first failed: its log says why. */
        uint64_t deadline = now_mono_msec() + (uint64_t)timeout * 1000;
        for (;;) {
                bool pending = false;
                for (size_t i = 0; i < n; i++) {
                        if (!spawned[i] || ready[i] || failed[i])
                                continue;
                        int status;
                        if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                                char logpath[PATH_MAX];
                                bg_paths_log(&cli->paths, procs[i].name, logpath, sizeof(logpath));
                                last_log_message(logpath, why[i], sizeof(why[i]));
                                if (!why[i][0])
                                        snprintf(why[i], sizeof(why[i]), "exited with status %d",
                                                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                                failed[i] = true;
                                continue;
                        }
                        char pidfile[512];
                        pid_t pid;
                        bg_paths_pidfile(&cli->paths, procs[i].name, pidfile, sizeof(pidfile));
                        if (pidfile_check(pidfile, &pid) == 1 && pid == pids[i]) {
                                ready[i] = true;
                                if (!json)
                                        printf("%-14s started (pid %d)\n", procs[i].name, (int)pid);
                                continue;
                        }
                        pending = true;
                }
                if (!pending)
                        break;
                if (now_mono_msec() >= deadline) {
                        for (size_t i = 0; i < n; i++)
                                if (spawned[i] && !ready[i] && !failed[i]) {
                                        failed[i] = true;
                                        snprintf(why[i], sizeof(why[i]),
                                                 "not ready after %us (still running as pid %d; "
                                                 "see its log)",
                                                 timeout, (int)pids[i]);
                                }
                        break;
                }
                sleep_msec(20);
        }

        /* Finally the gateway's view: every running service connected and UP. */
        size_t gw = n - 1; /* the gateway is last */
        if (ready[gw]) {
                for (;;) {
                        bool ok = false;
                        struct rpc_client *c = NULL;
                        struct rpc_status st = {0};
                        Banger__V1__GatewayHealthResponse *h = NULL;
                        if (cli_gateway(cli, &c, &st) == 0) {
                                Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
                                struct rpc_call_opts o = {.deadline_ms = 2000};
                                if (rpc_call(c, "/banger.v1.Gateway/Health", &req.base,
                                             &banger__v1__gateway_health_response__descriptor,
                                             (ProtobufCMessage **)&h, &o, &st) == 0) {
                                        ok = true;
                                        for (size_t k = 0; k < h->n_services; k++)
                                                for (size_t i = 0; i < n; i++)
                                                        if (ready[i] &&
                                                            strcmp(procs[i].name,
                                                                   h->services[k]->name) == 0 &&
                                                            !h->services[k]->up)
                                                                ok = false;
                                        banger__v1__gateway_health_response__free_unpacked(h, NULL);
                                }
                                rpc_client_close(c);
                        }
                        if (ok || now_mono_msec() >= deadline)
                                break;
                        sleep_msec(20);
                }
        }

        size_t n_failed = 0;
        json_t *arr = json ? json_array() : NULL;
        for (size_t i = 0; i < n; i++) {
                if (failed[i]) {
                        n_failed++;
                        if (!json)
                                fprintf(stderr, "banger: %s failed to start: %s\n", procs[i].name,
                                        cli_safe(why[i]));
                }
                if (arr) {
                        json_t *e = json_pack("{s:s,s:b,s:b}", "name", procs[i].name, "running",
                                              !failed[i], "started", spawned[i] && !failed[i]);
                        if (!failed[i])
                                json_object_set_new(e, "pid", json_integer(pids[i]));
                        else
                                json_object_set_new(e, "error", json_string(why[i]));
                        json_array_append_new(arr, e);
                }
        }
        if (arr) {
                json_t *o = json_pack("{s:o,s:b}", "processes", arr, "ok", n_failed == 0);
                cli_print_json(o);
        } else if (n_failed == 0) {
                char logdir[PATH_MAX];
                snprintf(logdir, sizeof(logdir), "%s/logs", cli->paths.state_dir);
                printf("banger is up: %zu processes; logs in %s\n", n, logdir);
        }
        return n_failed ? rpc_code_to_exit(RPC_UNAVAILABLE) : 0;
}

static bool still_there(pid_t pid, uint64_t start)
{
        uint64_t now;
        return proc_start_time(pid, &now) == 0 && now == start;
}

static bool wait_gone(pid_t pid, uint64_t start, unsigned ms)
{
        uint64_t deadline = now_mono_msec() + ms;
        while (still_there(pid, start)) {
                /* Reap it if it happens to be our child. */
                waitpid(pid, NULL, WNOHANG);
                if (now_mono_msec() >= deadline)
                        return false;
                sleep_msec(10);
        }
        return true;
}

int cmd_daemon_stop(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct proc procs[8];
        size_t n = all_procs(procs, ELEMENTSOF(procs));
        unsigned timeout = parse_seconds(cli_flag_value(cli, "timeout"), 10);
        int ret = 0;
        if (!timeout)
                return cli_fail(RPC_INVALID_ARGUMENT, "--timeout must be 1-3600 seconds");
        int r = cli_paths(cli);
        if (r)
                return r;

        for (size_t k = n; k-- > 0;) {
                const struct proc *p = &procs[k];
                char pidfile[512], sock[512];
                pid_t pid;
                uint64_t start;
                bg_paths_pidfile(&cli->paths, p->name, pidfile, sizeof(pidfile));
                bg_paths_socket(&cli->paths, p->name, sock, sizeof(sock));
                if (pidfile_check(pidfile, &pid) != 1 || pidfile_read(pidfile, &pid, &start) < 0) {
                        unlink(sock); /* a dead process's socket; a new start replaces it anyway */
                        if (unlink(pidfile) == 0)
                                printf("%-14s not running (removed stale pidfile)\n", p->name);
                        else
                                printf("%-14s not running\n", p->name);
                        continue;
                }
                if (kill(pid, SIGTERM) < 0) {
                        if (errno == EPERM) {
                                ret = cli_fail(RPC_PERMISSION_DENIED,
                                               "cannot stop %s (pid %d): permission denied; "
                                               "run `sudo banger daemon stop`",
                                               p->name, (int)pid);
                                continue;
                        }
                        if (errno != ESRCH) {
                                ret = cli_fail(RPC_INTERNAL, "cannot signal %s (pid %d): %m",
                                               p->name, (int)pid);
                                continue;
                        }
                }
                bool killed = false;
                if (!wait_gone(pid, start, timeout * 1000)) {
                        kill(pid, SIGKILL);
                        killed = true;
                        wait_gone(pid, start, 5000);
                }
                /* A clean exit removes both; after SIGKILL we do. */
                unlink(pidfile);
                if (killed)
                        unlink(sock);
                printf("%-14s stopped (pid %d%s)\n", p->name, (int)pid,
                       killed ? ", killed after timeout" : "");
        }
        return ret;
}

int cmd_daemon_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct proc procs[8];
        size_t n = all_procs(procs, ELEMENTSOF(procs));
        bool json = cli_flag(cli, "json");
        int r = cli_paths(cli);
        if (r)
                return r;

        /* Health as the gateway sees it, when it is there. */
        Banger__V1__GatewayHealthResponse *h = NULL;
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &c, &st) == 0) {
                Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
                struct rpc_call_opts o = {.deadline_ms = 5000, .flags = RPC_CALL_IDEMPOTENT};
                if (rpc_call(c, "/banger.v1.Gateway/Health", &req.base,
                             &banger__v1__gateway_health_response__descriptor,
                             (ProtobufCMessage **)&h, &o, &st) < 0)
                        h = NULL;
                rpc_client_close(c);
        }

        bool all = true;
        json_t *arr = json ? json_array() : NULL;
        if (!json)
                printf("%-14s %-8s %8s %-8s\n", "PROCESS", "RUNNING", "PID", "HEALTHY");
        for (size_t i = 0; i < n; i++) {
                char pidfile[512];
                pid_t pid = 0;
                bg_paths_pidfile(&cli->paths, procs[i].name, pidfile, sizeof(pidfile));
                bool running = pidfile_check(pidfile, &pid) == 1;
                bool healthy = false;
                if (strcmp(procs[i].name, "gateway") == 0)
                        healthy = h != NULL;
                else if (h)
                        for (size_t k = 0; k < h->n_services; k++)
                                if (strcmp(h->services[k]->name, procs[i].name) == 0)
                                        healthy = h->services[k]->up;
                all = all && running && healthy;
                if (arr) {
                        json_t *e = json_pack("{s:s,s:b,s:b}", "name", procs[i].name, "running",
                                              running, "healthy", healthy);
                        if (running)
                                json_object_set_new(e, "pid", json_integer(pid));
                        json_array_append_new(arr, e);
                } else {
                        char pidtxt[16] = "-";
                        if (running)
                                snprintf(pidtxt, sizeof(pidtxt), "%d", (int)pid);
                        printf("%-14s %-8s %8s %-8s\n", procs[i].name, running ? "yes" : "no",
                               pidtxt, healthy ? "yes" : "no");
                }
        }
        if (arr) {
                json_t *o = json_pack("{s:o,s:b,s:s}", "processes", arr, "ok", all, "runtime_dir",
                                      cli->paths.runtime_dir);
                cli_print_json(o);
        }
        if (h)
                banger__v1__gateway_health_response__free_unpacked(h, NULL);
        return all ? 0 : rpc_code_to_exit(RPC_UNAVAILABLE);
}
