/* `banger update [--check] [--version V]`: replaces the installed banger
 * binaries with a signed release.
 *
 *   1. MANIFEST (config update.manifest_url) and MANIFEST.sig are fetched
 *      over HTTPS; the signature is checked (ed25519, the key built in, or
 *      config update.public_key from a root-owned config) before anything in
 *      the manifest is used;
 *   2. nothing happens while any service has an operation running;
 *   3. every binary of the release is downloaded into a staging directory
 *      beside the installed ones and checked against the signed sha256 and
 *      size: one bad file and nothing is replaced;
 *   4. the services are stopped (VMs keep running: every service adopts
 *      them again when it starts), the binaries are swapped (lib/update
 *      swap.h), the services are started from the new binaries;
 *   5. when they do not all come up healthy, the new ones are stopped, the
 *      old binaries put back and started again.
 *
 * In system mode (install.toml) the binaries are root's, in the bindir and
 * libexecdir `banger system install` recorded: only root updates them, each
 * directory reached from / by descriptors and checked to be root's alone
 * (UPDATE_SWAP_TRUSTED_PATH), and the services are restarted through
 * systemd the way `banger system restart` does (no stop before the swap:
 * a running process keeps its old binary until systemd restarts it). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/gateway.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "cli.h"
#include "cmd_sysinstall.h"
#include "cmd_update.h"
#include "config/config.h"
#include "manifest.h"
#include "sysinstall.h"
#include "update_fetch.h"
#include "update_manifest.h"
#include "update_swap.h"
#include "util/macro.h"
#include "util/run.h"
#include "util/timeutil.h"
#include "util/version.h"

#define OPS_DEADLINE_MS 10000

/* The services whose ListOperations must be empty (netsvc has none). */
static const char *const op_services[] = {
    "banger.v1.VmService",     "banger.v1.TemplateService",  "banger.v1.ImageService",
    "banger.v1.KernelService", "banger.v1.WorkspaceService",
};

struct update_ctx {
        struct cli *cli;
        struct bg_config cfg;
        char cfg_path[PATH_MAX];
        char dir[PATH_MAX];     /* where banger is installed */
        bool system;            /* system mode: root, systemd, two directories */
        char libexec[PATH_MAX]; /* system mode: where the services are */
        char installed[64];     /* system mode: install.toml's version before */
        char ca_file[PATH_MAX];
        const char *pubkey;
        bool json;
        unsigned timeout; /* seconds the new services get to come up */
};

/* Which key signs releases: the built-in one, or update.public_key when the
 * config file holding it is root's alone (whoever can write it could
 * otherwise make banger install their binaries). */
static int pick_key(struct update_ctx *u)
{
        if (!u->cfg.update.public_key || !u->cfg.update.public_key[0]) {
                u->pubkey = update_builtin_public_key();
                return 0;
        }
        struct stat st;
        if (stat(u->cfg_path, &st) < 0)
                return cli_fail(RPC_FAILED_PRECONDITION, "%s: %m", u->cfg_path);
        if (st.st_uid != 0 || (st.st_mode & 022))
                return cli_fail(RPC_PERMISSION_DENIED,
                                "update.public_key is set in %s, which is %s: a release key is "
                                "trusted only from a config file owned by root and writable by "
                                "no one else (chown root %s; chmod go-w %s), or remove the key "
                                "to use the one built into banger",
                                u->cfg_path,
                                st.st_uid != 0 ? "not owned by root" : "writable by others",
                                u->cfg_path, u->cfg_path);
        u->pubkey = u->cfg.update.public_key;
        return 0;
}

/* ~/ in update.ca_file. */
static int expand_ca(struct update_ctx *u)
{
        const char *ca = u->cfg.update.ca_file ? u->cfg.update.ca_file : "";
        const char *home = getenv("HOME");
        if (ca[0] == '~' && ca[1] == '/') {
                if (!home || home[0] != '/')
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "update.ca_file starts with ~/ but HOME is not set");
                snprintf(u->ca_file, sizeof(u->ca_file), "%s/%s", home, ca + 2);
        } else {
                snprintf(u->ca_file, sizeof(u->ca_file), "%s", ca);
        }
        if (u->ca_file[0] && access(u->ca_file, R_OK) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "update.ca_file %s: %m", u->ca_file);
        return 0;
}

/* The signed manifest's release (want = NULL: the newest). */
static int fetch_release(struct update_ctx *u, const char *want, struct update_release *rel)
{
        const char *url = u->cfg.update.manifest_url;
        char sig_url[UPDATE_URL_MAX + 8];
        if (snprintf(sig_url, sizeof(sig_url), "%s.sig", url) >= (int)sizeof(sig_url))
                return cli_fail(RPC_INVALID_ARGUMENT, "update.manifest_url is too long");
        struct bg_error err = {0};
        struct update_fetch_opts mo = {
            .ca_file = u->ca_file, .max_bytes = UPDATE_MANIFEST_MAX, .what = "the manifest"};
        struct update_fetch_opts so = {
            .ca_file = u->ca_file, .max_bytes = UPDATE_SIG_MAX, .what = "the manifest signature"};
        _cleanup_free_ char *text = NULL, *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = update_fetch_mem(url, &mo, &text, &len, &err);
        if (r >= 0)
                r = update_fetch_mem(sig_url, &so, &sig, &sig_len, &err);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "%s", err.msg);
        r = update_verify(text, len, sig, sig_len, u->pubkey, &err);
        if (r < 0)
                return cli_fail(RPC_PERMISSION_DENIED, "%s (%s); nothing was changed", err.msg,
                                url);
        r = update_manifest_pick(text, len, want, rel, &err);
        if (r < 0)
                return cli_fail(r == -ENOENT ? RPC_NOT_FOUND : RPC_INVALID_ARGUMENT, "%s (%s)",
                                err.msg, url);
        return 0;
}

/* 0 when no service has an operation running; else the exit code of the
 * refusal (also when a service cannot be asked). */
static int refuse_busy(struct update_ctx *u)
{
        size_t busy = 0;
        char first[256] = "";
        for (size_t s = 0; s < ELEMENTSOF(op_services); s++) {
                Banger__V1__ListOperationsRequest req = BANGER__V1__LIST_OPERATIONS_REQUEST__INIT;
                Banger__V1__ListOperationsResponse *resp = NULL;
                struct rpc_status st = {0};
                char method[96];
                snprintf(method, sizeof(method), "/%s/ListOperations", op_services[s]);
                if (cli_call(u->cli, method, &req.base,
                             &banger__v1__list_operations_response__descriptor,
                             (ProtobufCMessage **)&resp, OPS_DEADLINE_MS, RPC_CALL_IDEMPOTENT,
                             &st) < 0)
                        return cli_fail(RPC_UNAVAILABLE,
                                        "cannot ask %s for its running operations (%s): not "
                                        "updating while that is unknown",
                                        op_services[s], st.message);
                for (size_t i = 0; i < resp->n_operations; i++) {
                        if (resp->operations[i]->done)
                                continue;
                        if (!busy++)
                                snprintf(first, sizeof(first), "%s %s", resp->operations[i]->kind,
                                         resp->operations[i]->id);
                }
                banger__v1__list_operations_response__free_unpacked(resp, NULL);
        }
        if (busy)
                return cli_fail(RPC_FAILED_PRECONDITION,
                                "%zu operation%s running (%s): not updating now; wait for them "
                                "(`banger ops`) and try again",
                                busy, busy == 1 ? " is" : "s are", first);
        return 0;
}

/* Whether the gateway answers Health with every service up. */
static bool all_up(struct cli *cli)
{
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        bool up = false;
        if (cli_gateway(cli, &c, &st) != 0)
                return false;
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        Banger__V1__GatewayHealthResponse *h = NULL;
        struct rpc_call_opts o = {.deadline_ms = 2000, .flags = RPC_CALL_IDEMPOTENT};
        if (rpc_call(c, "/banger.v1.Gateway/Health", &req.base,
                     &banger__v1__gateway_health_response__descriptor, (ProtobufCMessage **)&h, &o,
                     &st) == 0) {
                up = h->n_services > 0;
                for (size_t i = 0; i < h->n_services; i++)
                        up = up && h->services[i]->up;
                banger__v1__gateway_health_response__free_unpacked(h, NULL);
        }
        rpc_client_close(c);
        return up;
}

/* Runs DIR/banger daemon VERB (the binary installed there now); its output
 * goes to our stderr. The exit status. */
static int daemon_verb(struct update_ctx *u, const char *verb)
{
        char exe[PATH_MAX + 16], tmo[16];
        snprintf(exe, sizeof(exe), "%s/banger", u->dir);
        snprintf(tmo, sizeof(tmo), "%u", u->timeout);
        const char *argv[] = {exe, "daemon", verb, "--timeout", tmo, NULL};
        struct bg_error err = {0};
        int r = bg_run_wait(argv, BG_RUN_NULL, STDERR_FILENO, STDERR_FILENO, NULL, &err);
        if (r < 0)
                fprintf(stderr, "banger: %s daemon %s: %s\n", exe, verb, err.msg);
        return r;
}

/* Started (system mode: restarted by systemd) from the binaries in place
 * and healthy within u->timeout. */
static bool start_healthy(struct update_ctx *u)
{
        if (u->system) {
                int r = cli_system_restart_units();
                if (r != 0)
                        fprintf(stderr, "banger: systemctl restart of the banger units: %s\n",
                                r < 0 ? strerror(-r) : "failed");
                /* Even so, wait: a unit systemd restarts on failure may still
                 * come up, and a failed one is what the wait reports. */
        } else if (daemon_verb(u, "start") != 0) {
                return false;
        }
        uint64_t until = now_mono_msec() + (uint64_t)u->timeout * 1000;
        while (!all_up(u->cli)) {
                if (now_mono_msec() >= until)
                        return false;
                sleep_msec(100);
        }
        return true;
}

/* The swap a binary goes through: in system mode banger is in the bindir
 * (sw[0]) and everything else in the libexecdir (sw[1]). */
static struct update_swap *swap_of(struct update_ctx *u, struct update_swap sw[2], const char *name)
{
        return u->system && !streq(name, "banger") ? &sw[1] : &sw[0];
}

/* Downloads and checks every file of rel into the staging directories. */
static int stage_all(struct update_ctx *u, const struct update_release *rel,
                     struct update_swap sw2[2])
{
        struct bg_error err = {0};
        for (size_t i = 0; i < rel->n_files; i++) {
                const struct update_file *f = &rel->files[i];
                struct update_swap *sw = swap_of(u, sw2, f->name);
                /* banger-agent is updated where it is installed beside the
                 * services (looked up in the directory's descriptor). */
                if (i >= UPDATE_N_REQUIRED && !streq(f->name, "banger-agent"))
                        continue;
                struct stat ast;
                if (streq(f->name, "banger-agent") &&
                    fstatat(sw->dfd, f->name, &ast, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (f->size > u->cfg.update.max_download)
                        return cli_fail(RPC_RESOURCE_EXHAUSTED,
                                        "%s of release %s is %llu bytes, over config "
                                        "update.max_download (%llu); nothing was changed",
                                        f->name, rel->version, (unsigned long long)f->size,
                                        (unsigned long long)u->cfg.update.max_download);
                if (!u->json)
                        fprintf(stderr, "downloading %s (%llu bytes)\n", f->name,
                                (unsigned long long)f->size);
                int fd = update_swap_stage_fd(sw, f->name, &err);
                if (fd < 0)
                        return cli_fail(rpc_code_from_errno(fd), "%s", err.msg);
                struct update_fetch_opts o = {
                    .ca_file = u->ca_file, .max_bytes = f->size, .what = f->name, .cap_key = NULL};
                int r = update_fetch_fd(f->url, &o, fd, &err);
                if (r == -EFBIG)
                        r = bg_error_set(&err, EBADMSG,
                                         "%s: more than the %llu bytes the signed manifest says: "
                                         "refusing it",
                                         f->name, (unsigned long long)f->size);
                if (r >= 0 && fsync(fd) < 0)
                        r = bg_error_errno(&err, -errno, "fsync %s", f->name);
                close(fd);
                if (r >= 0)
                        r = update_swap_check(sw, f->name, f->sha256, f->size, &err);
                if (r < 0)
                        return cli_fail(r == -EBADMSG ? RPC_PERMISSION_DENIED
                                                      : rpc_code_from_errno(r),
                                        "%s; nothing was changed", err.msg);
        }
        return 0;
}

static void report(struct update_ctx *u, const char *status, const char *from, const char *to,
                   const char *note)
{
        if (u->json)
                cli_print_json(json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", status, "from", from,
                                         "to", to, "dir", u->dir, "note", note));
        else
                printf("%s\n", note);
}

/* Every swap in, or none (the first put back when the second fails). */
static int commit_all(struct update_swap sw[2], size_t n, struct bg_error *err)
{
        for (size_t i = 0; i < n; i++) {
                int r = update_swap_commit(&sw[i], err);
                if (r < 0) {
                        struct bg_error e2 = {0};
                        for (size_t j = 0; j < i; j++)
                                (void)update_swap_rollback(&sw[j], &e2);
                        return r;
                }
        }
        return 0;
}

static int rollback_all(struct update_swap sw[2], size_t n, struct bg_error *err)
{
        int ret = 0;
        for (size_t i = 0; i < n; i++) {
                struct bg_error e = {0};
                int r = update_swap_rollback(&sw[i], &e);
                if (r < 0 && ret == 0) {
                        ret = r;
                        *err = e;
                }
        }
        return ret;
}

static int do_update(struct update_ctx *u, const struct update_release *rel)
{
        struct update_swap sw[2];
        size_t n_sw = u->system ? 2 : 1;
        struct bg_error err = {0};
        unsigned flags = u->system ? UPDATE_SWAP_TRUSTED_PATH : 0;
        int r = update_swap_open(u->dir, flags, &sw[0], &err);
        if (r < 0) {
                update_swap_close(&sw[0]);
                return cli_fail(rpc_code_from_errno(r), "%s; nothing was changed", err.msg);
        }
        if (u->system && (r = update_swap_open(u->libexec, flags, &sw[1], &err)) < 0) {
                update_swap_close(&sw[1]);
                update_swap_close(&sw[0]);
                return cli_fail(rpc_code_from_errno(r), "%s; nothing was changed", err.msg);
        }
        /* System mode: systemd keeps the services; they are restarted after
         * the swap whether they answered before or not. */
        bool was_running = all_up(u->cli);
        bool restart = was_running || u->system;
        char note[1024];
        int ret = 0;
        if (was_running && (ret = refuse_busy(u)))
                goto out;
        if ((ret = stage_all(u, rel, sw)))
                goto out;
        if (was_running && !u->system && daemon_verb(u, "stop") != 0) {
                ret = cli_fail(RPC_UNAVAILABLE,
                               "could not stop the services; nothing was changed (start them "
                               "again with `banger daemon start`)");
                daemon_verb(u, "start");
                goto out;
        }
        r = commit_all(sw, n_sw, &err);
        if (r < 0) {
                if (was_running && !u->system)
                        daemon_verb(u, "start");
                ret =
                    cli_fail(rpc_code_from_errno(r), "%s; the old binaries are in place", err.msg);
                goto out;
        }
        if (u->system) {
                struct bg_error e2 = {0};
                if (sysinstall_set_version("", rel->version, &e2) < 0)
                        fprintf(stderr, "banger: %s\n", e2.msg);
        }
        if (!restart) {
                snprintf(note, sizeof(note),
                         "updated banger %s -> %s in %s (the services were not running; `banger "
                         "daemon start` starts the new ones)",
                         BANGER_VERSION, rel->version, u->dir);
                report(u, "updated", BANGER_VERSION, rel->version, note);
                goto out;
        }
        if (start_healthy(u)) {
                snprintf(note, sizeof(note),
                         "updated banger %s -> %s in %s%s%s; every service is up (running VMs "
                         "were kept)",
                         BANGER_VERSION, rel->version, u->dir, u->system ? " and " : "",
                         u->system ? u->libexec : "");
                report(u, "updated", BANGER_VERSION, rel->version, note);
                goto out;
        }
        /* The new release does not come up: back to the old one. */
        fprintf(stderr, "banger: release %s did not come up healthy within %u s: rolling back\n",
                rel->version, u->timeout);
        if (!u->system)
                daemon_verb(u, "stop");
        r = rollback_all(sw, n_sw, &err);
        if (r < 0) {
                ret = cli_fail(RPC_INTERNAL,
                               "rollback failed: %s; the kept binaries are in %s%s%s (move them "
                               "back by hand)",
                               err.msg, sw[0].stage, u->system ? " and " : "",
                               u->system ? sw[1].stage : "");
                for (size_t i = 0; i < n_sw; i++)
                        sw[i].stage[0] = '\0'; /* keep them */
                goto out;
        }
        if (u->system) {
                struct bg_error e2 = {0};
                if (sysinstall_set_version("", u->installed, &e2) < 0)
                        fprintf(stderr, "banger: %s\n", e2.msg);
        }
        bool back = start_healthy(u);
        ret = cli_fail(RPC_UNAVAILABLE,
                       "release %s did not come up healthy (see `banger %s status` and the "
                       "logs); rolled back to the binaries installed before it%s",
                       rel->version, u->system ? "system" : "daemon",
                       back ? ", which are up again" : ", which did not come up either");
out:
        for (size_t i = n_sw; i-- > 0;)
                update_swap_close(&sw[i]);
        return ret;
}

int cmd_update(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct update_ctx u = {.cli = cli, .json = cli_flag(cli, "json"), .timeout = 30};
        const char *want = cli_flag_value(cli, "version");
        const char *tmo = cli_flag_value(cli, "timeout");
        if (want && !update_version_valid(want))
                return cli_fail(RPC_INVALID_ARGUMENT, "--version '%s' is not a version like 1.2.3",
                                want);
        if (tmo) {
                char *end;
                unsigned long t = strtoul(tmo, &end, 10);
                if (*end || end == tmo || t < 1 || t > 600)
                        return cli_fail(RPC_INVALID_ARGUMENT, "--timeout must be 1-600 seconds");
                u.timeout = (unsigned)t;
        }
        int r = cli_paths(cli);
        if (r)
                return r;
        struct bg_error err = {0};
        u.system = cli->paths.system;
        if (u.system && !cli_flag(cli, "check")) {
                if (geteuid() != 0)
                        return cli_fail(RPC_PERMISSION_DENIED,
                                        "banger is installed in system mode: its binaries are "
                                        "root's; run the update as root (sudo banger update)");
                if (!cli_systemd_is_pid1())
                        return cli_fail(RPC_FAILED_PRECONDITION,
                                        "systemd is not running as PID 1 here (no "
                                        "/run/systemd/system), so `banger update` cannot restart "
                                        "the banger units; nothing was changed");
        }
        bg_paths_config_file(&cli->paths, u.cfg_path, sizeof(u.cfg_path));
        if (bg_config_load_file(u.cfg_path, &u.cfg, &err) < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
        struct update_release *rel = calloc(1, sizeof(*rel));
        if (!rel) {
                bg_config_free(&u.cfg);
                return cli_fail(RPC_INTERNAL, "out of memory");
        }
        if ((r = pick_key(&u)) || (r = expand_ca(&u)) || (r = fetch_release(&u, want, rel)))
                goto out;
        if (u.system) {
                /* Where `banger system install` put them, not where this
                 * binary happens to run from. */
                struct install_manifest m = {0};
                if (manifest_load("", &m, &err) < 0) {
                        r = cli_fail(RPC_FAILED_PRECONDITION, "%s", err.msg);
                        goto out;
                }
                snprintf(u.dir, sizeof(u.dir), "%s", m.bindir);
                snprintf(u.libexec, sizeof(u.libexec), "%s", m.libexecdir);
                snprintf(u.installed, sizeof(u.installed), "%s", m.version);
                manifest_free(&m);
        } else if (bg_paths_self_dir(u.dir, sizeof(u.dir)) < 0) {
                r = cli_fail(RPC_INTERNAL, "cannot find the banger binary: %m");
                goto out;
        }
        int cmp = update_version_compare(rel->version, BANGER_VERSION);
        if (cli_flag(cli, "check")) {
                char note[512];
                snprintf(note, sizeof(note), "%s (installed: %s, release: %s)",
                         cmp > 0 ? "an update is available" : "banger is up to date",
                         BANGER_VERSION, rel->version);
                if (u.json)
                        cli_print_json(json_pack("{s:s,s:s,s:b}", "installed", BANGER_VERSION,
                                                 "release", rel->version, "update_available",
                                                 cmp > 0));
                else
                        printf("%s\n", note);
                goto out;
        }
        if (cmp == 0 || (!want && cmp < 0)) {
                char note[512];
                snprintf(note, sizeof(note), "banger %s is up to date (newest release: %s)",
                         BANGER_VERSION, rel->version);
                report(&u, "current", BANGER_VERSION, rel->version, note);
                goto out;
        }
        r = do_update(&u, rel);
out:
        free(rel);
        bg_config_free(&u.cfg);
        return r;
}
