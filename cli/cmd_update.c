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
 *      old binaries put back and started again. */
#include <errno.h>
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
#include "cmd_update.h"
#include "config/config.h"
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
        char dir[PATH_MAX]; /* where the binaries are installed */
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

/* Started from the binaries in place and healthy within u->timeout. */
static bool start_healthy(struct update_ctx *u)
{
        if (daemon_verb(u, "start") != 0)
                return false;
        uint64_t until = now_mono_msec() + (uint64_t)u->timeout * 1000;
        while (!all_up(u->cli)) {
                if (now_mono_msec() >= until)
                        return false;
                sleep_msec(100);
        }
        return true;
}

/* Downloads and checks every file of rel into the staging directory. */
static int stage_all(struct update_ctx *u, const struct update_release *rel, struct update_swap *sw)
{
        struct bg_error err = {0};
        for (size_t i = 0; i < rel->n_files; i++) {
                const struct update_file *f = &rel->files[i];
                char cur[PATH_MAX + 40];
                snprintf(cur, sizeof(cur), "%s/%s", u->dir, f->name);
                /* banger-agent is updated where it is installed beside banger. */
                if (i >= UPDATE_N_REQUIRED && !streq(f->name, "banger-agent"))
                        continue;
                if (streq(f->name, "banger-agent") && access(cur, F_OK) < 0)
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

static int do_update(struct update_ctx *u, const struct update_release *rel)
{
        struct update_swap sw;
        struct bg_error err = {0};
        int r = update_swap_open(u->dir, &sw, &err);
        if (r < 0)
                return cli_fail(rpc_code_from_errno(r), "%s", err.msg);
        bool was_running = all_up(u->cli);
        char note[1024];
        int ret = 0;
        if (was_running && (ret = refuse_busy(u)))
                goto out;
        if ((ret = stage_all(u, rel, &sw)))
                goto out;
        if (was_running && daemon_verb(u, "stop") != 0) {
                ret = cli_fail(RPC_UNAVAILABLE,
                               "could not stop the services; nothing was changed (start them "
                               "again with `banger daemon start`)");
                daemon_verb(u, "start");
                goto out;
        }
        r = update_swap_commit(&sw, &err);
        if (r < 0) {
                if (was_running)
                        daemon_verb(u, "start");
                ret =
                    cli_fail(rpc_code_from_errno(r), "%s; the old binaries are in place", err.msg);
                goto out;
        }
        if (!was_running) {
                snprintf(note, sizeof(note),
                         "updated banger %s -> %s in %s (the services were not running; `banger "
                         "daemon start` starts the new ones)",
                         BANGER_VERSION, rel->version, u->dir);
                report(u, "updated", BANGER_VERSION, rel->version, note);
                goto out;
        }
        if (start_healthy(u)) {
                snprintf(note, sizeof(note),
                         "updated banger %s -> %s in %s; every service is up (running VMs were "
                         "kept)",
                         BANGER_VERSION, rel->version, u->dir);
                report(u, "updated", BANGER_VERSION, rel->version, note);
                goto out;
        }
        /* The new release does not come up: back to the old one. */
        fprintf(stderr, "banger: release %s did not come up healthy within %u s: rolling back\n",
                rel->version, u->timeout);
        daemon_verb(u, "stop");
        r = update_swap_rollback(&sw, &err);
        if (r < 0) {
                ret = cli_fail(RPC_INTERNAL,
                               "rollback failed: %s; the kept binaries are in %s (move them back "
                               "by hand)",
                               err.msg, sw.stage);
                sw.stage[0] = '\0'; /* keep them */
                goto out;
        }
        bool back = start_healthy(u);
        ret = cli_fail(RPC_UNAVAILABLE,
                       "release %s did not come up healthy (see `banger daemon status` and the "
                       "logs); rolled back to the binaries installed before it%s",
                       rel->version,
                       back ? ", which are up again" : ", which did not come up either");
out:
        update_swap_close(&sw);
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
        if (cli->paths.system)
                return cli_fail(RPC_FAILED_PRECONDITION,
                                "banger is installed in system mode: its files belong to `banger "
                                "system install`; run the new release's `banger system install` "
                                "(it keeps VMs running)");
        struct bg_error err = {0};
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
        if (bg_paths_self_dir(u.dir, sizeof(u.dir)) < 0) {
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
