/* `banger system install|uninstall|status|restart`: system mode, where
 * systemd runs the five processes (netsvc as root with two capabilities, the
 * others as the owner). The file work is lib/doctor's sysinstall; this file
 * adds the live part: refusing without root or without systemd as PID 1,
 * systemctl, and tearing the host network down through netsvc. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banger/v1/gateway.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "cli.h"
#include "cmd_sysinstall.h"
#include "manifest.h"
#include "sysinstall.h"
#include "units.h"
#include "util/run.h"
#include "util/timeutil.h"
#include "util/version.h"

/* Start order; stop goes in reverse. */
static const char *const units[] = {
    "banger-netsvc.service",       "banger-imagesvc.service", "banger-vmsvc.service",
    "banger-workspacesvc.service", "banger-gateway.service",
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

/* systemd's own test (sd_booted): it created /run/systemd/system. */
bool cli_systemd_is_pid1(void)
{
        struct stat st;
        return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

static int refuse_live(const char *what)
{
        if (geteuid() != 0)
                return cli_fail(RPC_PERMISSION_DENIED,
                                "`banger system %s` changes the system: run it as root (sudo)",
                                what);
        if (!cli_systemd_is_pid1())
                return cli_fail(RPC_FAILED_PRECONDITION,
                                "systemd is not running as PID 1 here (no /run/systemd/system), "
                                "so `banger system %s` cannot manage the banger units; use "
                                "--root DIR to work on a staging tree, or user mode "
                                "(`banger daemon start`)",
                                what);
        return 0;
}

static const char *root_flag(struct cli *cli)
{
        const char *r = cli_flag_value(cli, "root");
        return r ? r : "";
}

/* Runs a program found in the usual bin dirs, output to the terminal.
 * Returns its exit status, or -errno. */
static int run_tool(const char *name, const char *const *args)
{
        char path[PATH_MAX];
        int r = find_program_in(name, "/usr/bin:/bin:/usr/sbin:/sbin", path, sizeof(path));
        if (r < 0)
                return r;
        const char *argv[16] = {path};
        size_t n = 1;
        for (; args[n - 1] && n < ELEMENTSOF(argv) - 1; n++)
                argv[n] = args[n - 1];
        argv[n] = NULL;
        return bg_run_wait(argv, BG_RUN_INHERIT, BG_RUN_INHERIT, BG_RUN_INHERIT, NULL, NULL);
}

static int systemctl(const char *verb, const char *opt, bool all_units, bool reverse)
{
        const char *args[N_UNITS + 4];
        size_t n = 0;
        args[n++] = verb;
        if (opt)
                args[n++] = opt;
        for (size_t i = 0; all_units && i < N_UNITS; i++)
                args[n++] = units[reverse ? N_UNITS - 1 - i : i];
        args[n] = NULL;
        return run_tool("systemctl", args);
}

static void dirname_of(const char *path, char *out, size_t len)
{
        snprintf(out, len, "%s", path);
        char *s = strrchr(out, '/');
        if (s && s != out)
                *s = '\0';
}

static int default_owner(char *out, size_t len)
{
        const char *sudo_user = getenv("SUDO_USER");
        if (sudo_user && sudo_user[0] && !streq(sudo_user, "root")) {
                snprintf(out, len, "%s", sudo_user);
                return 0;
        }
        if (geteuid() != 0) {
                struct passwd *pw = getpwuid(geteuid());
                if (pw) {
                        snprintf(out, len, "%s", pw->pw_name);
                        return 0;
                }
        }
        return -ENOENT;
}

int cli_system_restart_units(void)
{
        /* A unit that failed (an update whose gateway exits) may have hit its
         * start limit: forget that first, or the restart is refused. */
        systemctl("reset-failed", NULL, true, false);
        return systemctl("restart", NULL, true, false);
}

/* Waits up to 20 s for the gateway to report every service up: true when it
 * does. */
static bool wait_all_up(struct cli *cli)
{
        uint64_t deadline = now_mono_msec() + 20000;
        for (;;) {
                struct rpc_client *c = NULL;
                struct rpc_status st = {0};
                bool up = false;
                if (cli_gateway(cli, &c, &st) == 0) {
                        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
                        Banger__V1__GatewayHealthResponse *h = NULL;
                        struct rpc_call_opts o = {.deadline_ms = 2000,
                                                  .flags = RPC_CALL_IDEMPOTENT};
                        if (rpc_call(c, "/banger.v1.Gateway/Health", &req.base,
                                     &banger__v1__gateway_health_response__descriptor,
                                     (ProtobufCMessage **)&h, &o, &st) == 0) {
                                up = true;
                                for (size_t i = 0; i < h->n_services; i++)
                                        up = up && h->services[i]->up;
                                banger__v1__gateway_health_response__free_unpacked(h, NULL);
                        }
                        rpc_client_close(c);
                }
                if (up)
                        return true;
                if (now_mono_msec() >= deadline)
                        return false;
                sleep_msec(100);
        }
}

int cmd_system_install(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *root = root_flag(cli);
        bool live = !root[0];
        const char *prefix = cli_flag_value(cli, "prefix");
        char owner[64];
        if (live) {
                int r = refuse_live("install");
                if (r)
                        return r;
        }
        if (cli_flag_value(cli, "owner"))
                snprintf(owner, sizeof(owner), "%s", cli_flag_value(cli, "owner"));
        else if (default_owner(owner, sizeof(owner)) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "say which user banger's services run as: --owner USER (the "
                                "owner may use banger; VMs and images are theirs)");
        if (root[0] && root[0] != '/')
                return cli_fail(RPC_INVALID_ARGUMENT, "--root must be an absolute path, not '%s'",
                                root);

        char exe[PATH_MAX], src_dir[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
                return cli_fail(RPC_INTERNAL, "cannot find the banger binary: %m");
        exe[n] = '\0';
        const char *libexec = getenv("BANGER_LIBEXEC_DIR");
        if (libexec && libexec[0])
                snprintf(src_dir, sizeof(src_dir), "%s", libexec);
        else
                dirname_of(exe, src_dir, sizeof(src_dir));

        struct sysinstall_opts o = {
            .root = root,
            .prefix = prefix ? prefix : "/usr/local",
            .owner = owner,
            .cli_exe = exe,
            .src_dir = src_dir,
            .version = BANGER_VERSION,
            .commit = BANGER_COMMIT,
            .now_unix = (int64_t)time(NULL),
        };
        struct install_manifest m = {0};
        struct bg_error err = {0};
        int r = sysinstall_install(&o, &m, &err);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "install failed: %s", err.msg);
        printf("installed banger %s for %s (uid %u, group %s)%s%s:\n", m.version, m.owner,
               (unsigned)m.owner_uid, m.group, root[0] ? " under " : "", root);
        for (size_t i = 0; i < m.n_files; i++)
                printf("  %s\n", m.files[i]);
        manifest_free(&m);
        if (!live) {
                printf("not started (--root): run `systemctl daemon-reload` and `systemctl "
                       "enable --now banger-gateway` on the target system\n");
                return 0;
        }

        const char *tmpfiles[] = {"--create", "/etc/tmpfiles.d/banger.conf", NULL};
        if (run_tool("systemd-tmpfiles", tmpfiles) != 0)
                fprintf(stderr, "banger: systemd-tmpfiles failed; the directories made by "
                                "install remain in place\n");
        if (systemctl("daemon-reload", NULL, false, false) != 0)
                return cli_fail(RPC_INTERNAL, "systemctl daemon-reload failed");
        r = systemctl("enable", NULL, true, false);
        if (r != 0)
                return cli_fail(RPC_UNAVAILABLE,
                                "systemctl enable failed (exit %d): see `banger system status`", r);
        /* restart, not start: a reinstall (an upgrade) must not leave the
         * old binaries running under the new units. Running VMs stay
         * (KillMode=process) and the new vmsvc adopts them. */
        r = systemctl("restart", NULL, true, false);
        if (r != 0)
                return cli_fail(RPC_UNAVAILABLE,
                                "systemctl restart failed (exit %d): see `banger system "
                                "status` and `journalctl -u 'banger-*'`",
                                r);
        if (!wait_all_up(cli))
                return cli_fail(RPC_UNAVAILABLE,
                                "installed and enabled, but not every service is up after "
                                "20 s: `banger system status`, `journalctl -u 'banger-*'`");
        printf("started; every service is up; `banger doctor` checks the installation\n");
        /* An upgrade from a version that kept netsvc's files in the owner's
         * directories: netsvc has moved net.db; what is left there goes. */
        size_t n_legacy = 0;
        if (sysinstall_remove_legacy("", &n_legacy, &err) < 0)
                fprintf(stderr, "banger: %s\n", err.msg);
        else if (n_legacy)
                printf("removed %zu files netsvc kept in /var/lib/banger and /run/banger before "
                       "it had directories of its own\n",
                       n_legacy);
        return 0;
}

/* NetService/Teardown straight to netsvc's socket (the gateway may already
 * be gone). 0 done, <0 with why. */
static int net_teardown(struct cli *cli, bool purge, char *why, size_t len)
{
        char url[200];
        struct bg_error err = {0};
        struct bg_paths p;
        if (bg_paths_init(&p, BG_PATHS_SYSTEM, &err) < 0 ||
            bg_paths_socket_url(&p, "netsvc", url, sizeof(url)) < 0) {
                snprintf(why, len, "%s", err.msg[0] ? err.msg : "socket path too long");
                return -EINVAL;
        }
        struct rpc_client *c = NULL;
        struct rpc_client_opts co = {.block_connect = true};
        int r = rpc_client_open(url, &co, &c, &err);
        if (r < 0) {
                snprintf(why, len, "banger-netsvc is not reachable at %s: %s", url + 6, err.msg);
                return r;
        }
        Banger__V1__NetTeardownRequest req = BANGER__V1__NET_TEARDOWN_REQUEST__INIT;
        req.purge_leases = purge;
        Banger__V1__NetTeardownResponse *resp = NULL;
        struct rpc_status st = {0};
        struct rpc_call_opts o = {.deadline_ms = 30000};
        r = rpc_call(c, "/banger.v1.NetService/Teardown", &req.base,
                     &banger__v1__net_teardown_response__descriptor, (ProtobufCMessage **)&resp, &o,
                     &st);
        rpc_client_close(c);
        if (r < 0) {
                snprintf(why, len, "NetService/Teardown failed: %s", st.message);
                return r;
        }
        printf("network torn down: %u taps removed, %u leases forgotten\n", resp->taps_removed,
               resp->leases_removed);
        banger__v1__net_teardown_response__free_unpacked(resp, NULL);
        return 0;
}

int cmd_system_uninstall(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *root = root_flag(cli);
        bool live = !root[0];
        bool purge = cli_flag(cli, "purge");
        struct bg_error err = {0};
        if (live) {
                int r = refuse_live("uninstall");
                if (r)
                        return r;
        }
        struct install_manifest m = {0};
        int r = manifest_load(root, &m, &err);
        if (r == -ENOENT)
                return cli_fail(RPC_NOT_FOUND, "banger is not installed%s%s (no %s/%s)",
                                root[0] ? " under " : "", root, root, MANIFEST_PATH);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "%s", err.msg);
        manifest_free(&m);

        if (live) {
                /* VMs first (they hold taps), then the network, then netsvc. */
                const char *front[] = {"stop", "banger-gateway.service",
                                       "banger-workspacesvc.service", "banger-imagesvc.service",
                                       NULL};
                run_tool("systemctl", front);
                const char *kill_vms[] = {"kill", "--kill-who=all", "--signal=SIGTERM",
                                          "banger-vmsvc.service", NULL};
                run_tool("systemctl", kill_vms);
                const char *stop_vmsvc[] = {"stop", "banger-vmsvc.service", NULL};
                run_tool("systemctl", stop_vmsvc);
                char why[512];
                if (net_teardown(cli, purge, why, sizeof(why)) < 0)
                        fprintf(stderr,
                                "banger: %s.\nLeft in place: the bridge, nftables table inet "
                                "banger and resolver routing, if they exist. Remove them with:\n"
                                "  ip link del banger0; nft delete table inet banger; "
                                "resolvectl revert banger0\n",
                                why);
                systemctl("disable", "--now", true, true);
        }
        struct sysinstall_removed rm = {0};
        r = sysinstall_uninstall(root, purge, &rm, &err);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "uninstall failed: %s", err.msg);
        if (live)
                systemctl("daemon-reload", NULL, false, false);
        printf("removed %zu files%s", rm.n_removed, rm.n_missing ? "" : "\n");
        if (rm.n_missing)
                printf(" (%zu were already gone)\n", rm.n_missing);
        if (purge) {
                printf("purged banger's data and configuration\n");
        } else {
                for (size_t i = 0; i < ELEMENTSOF(rm.kept); i++)
                        if (rm.kept[i][0])
                                printf("kept %s%s (remove with --purge)\n", root, rm.kept[i]);
        }
        return 0;
}

/* systemctl is-active/is-enabled UNIT → its one-word answer. */
static void unit_state(const char *verb, const char *unit, char *out, size_t len)
{
        snprintf(out, len, "unknown");
        const char *argv[] = {"/usr/bin/systemctl", verb, unit, NULL};
        _cleanup_free_ char *text = NULL;
        /* Its exit status says the same as its one word (3: inactive). */
        if (bg_run_capture(argv, NULL, &text, NULL, 4096, NULL) >= 0 && text && text[0]) {
                text[strcspn(text, "\n")] = '\0';
                snprintf(out, len, "%s", text);
        }
}

int cmd_system_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *root = root_flag(cli);
        bool json = cli_flag(cli, "json");
        struct install_manifest m = {0};
        struct bg_error err = {0};
        int r = manifest_load(root, &m, &err);
        if (r == -ENOENT) {
                if (json) {
                        json_t *o = json_pack("{s:b}", "installed", 0);
                        cli_print_json(o);
                } else {
                        printf("banger is not installed in system mode%s%s (no %s/%s)\n",
                               root[0] ? " under " : "", root, root, MANIFEST_PATH);
                }
                return rpc_code_to_exit(RPC_NOT_FOUND);
        }
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "%s", err.msg);

        bool live = !root[0] && cli_systemd_is_pid1();
        bool all_active = live;
        json_t *ju = json_array();
        if (!json) {
                printf("banger %s installed %s for %s (uid %u, group %s)\n", m.version, m.prefix,
                       m.owner, (unsigned)m.owner_uid, m.group);
                printf("%-28s %-10s %s\n", "UNIT", "ACTIVE", "ENABLED");
        }
        for (size_t i = 0; i < N_UNITS; i++) {
                char active[32] = "unknown", enabled[32] = "unknown";
                if (live) {
                        unit_state("is-active", units[i], active, sizeof(active));
                        unit_state("is-enabled", units[i], enabled, sizeof(enabled));
                }
                all_active = all_active && streq(active, "active");
                json_array_append_new(ju, json_pack("{s:s,s:s,s:s}", "unit", units[i], "active",
                                                    active, "enabled", enabled));
                if (!json)
                        printf("%-28s %-10s %s\n", units[i], active, enabled);
        }
        if (json) {
                json_t *files = json_array(), *dirs = json_array();
                for (size_t i = 0; i < m.n_files; i++)
                        json_array_append_new(files, json_string(m.files[i]));
                for (size_t i = 0; i < m.n_dirs; i++)
                        json_array_append_new(dirs, json_string(m.dirs[i]));
                json_t *o = json_pack(
                    "{s:b,s:s,s:s,s:I,s:s,s:I,s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:b,s:b}",
                    "installed", 1, "version", m.version, "commit", m.commit, "installed_unix",
                    (json_int_t)m.installed_unix, "owner", m.owner, "owner_uid",
                    (json_int_t)m.owner_uid, "group", m.group, "owner_gid", (json_int_t)m.owner_gid,
                    "prefix", m.prefix, "bindir", m.bindir, "libexecdir", m.libexecdir, "files",
                    files, "dirs", dirs, "units", ju, "systemd", live, "all_active", all_active);
                cli_print_json(o);
        } else {
                json_decref(ju);
                printf("%zu installed files (listed in %s/%s)\n", m.n_files, root, MANIFEST_PATH);
                if (!live)
                        printf("unit states unknown: %s\n",
                               root[0] ? "--root given" : "systemd is not running as PID 1");
        }
        manifest_free(&m);
        return all_active ? 0 : rpc_code_to_exit(RPC_UNAVAILABLE);
}

int cmd_system_restart(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        int r = refuse_live("restart");
        if (r)
                return r;
        struct install_manifest m = {0};
        struct bg_error err = {0};
        r = manifest_load("", &m, &err);
        if (r < 0)
                return cli_fail(r == -ENOENT ? RPC_NOT_FOUND : rpc_code_from_errno(r), "%s",
                                r == -ENOENT ? "banger is not installed in system mode" : err.msg);
        manifest_free(&m);
        /* KillMode=process on banger-vmsvc: its VMs keep running and the new
         * vmsvc adopts them. */
        r = systemctl("restart", NULL, true, false);
        if (r != 0)
                return cli_fail(RPC_UNAVAILABLE,
                                "systemctl restart failed (exit %d): see `journalctl -u "
                                "'banger-*'`",
                                r);
        if (!wait_all_up(cli))
                return cli_fail(RPC_UNAVAILABLE,
                                "restarted, but not every service is up after 20 s: "
                                "`banger status`, `journalctl -u 'banger-*'`");
        printf("restarted; every service is up (running VMs were kept)\n");
        return 0;
}
