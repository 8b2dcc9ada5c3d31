#include "daemon/daemon.h"
#include "fault/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <getopt.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "util/version.h"

static void usage(const struct daemon_desc *desc)
{
        printf("Usage: %s [OPTIONS]\n\n"
               "%s\n\n"
               "This is one of banger's service processes; it is normally started by\n"
               "`banger daemon start` (user mode) or by its systemd unit (system mode).\n\n"
               "Options:\n"
               "  --owner-uid UID     uid allowed to call this service besides root\n"
               "                      (default: the uid it runs as)\n"
               "  --log-level LEVEL   debug, info, warn or error (default info;\n"
               "                      env BANGER_LOG_LEVEL)\n"
               "  --system            use the system layout (/etc/banger, /var/lib/banger, …)\n"
               "  --user              use the per-user layout (XDG dirs)\n"
               "  --version           print version and exit\n"
               "  -h, --help          show this help\n\n"
               "Directories can be overridden with BANGER_HOME, BANGER_CONFIG_DIR,\n"
               "BANGER_STATE_DIR, BANGER_CACHE_DIR and BANGER_RUNTIME_DIR (netsvc's own:\n"
               "BANGER_NET_STATE_DIR, BANGER_NET_RUNTIME_DIR).\n",
               desc->binary, desc->summary);
}

/* One instance per service and runtime dir: an exclusive flock on
 * NAME.lock beside the pidfile, held until the process exits (the kernel
 * drops it even after SIGKILL). Holding it proves any existing socket file
 * is stale. */
static int daemon_lock(struct daemon *d, struct bg_error *err)
{
        char path[sizeof(d->pidfile) + 8];
        if (bg_paths_lock(&d->paths, d->name, path, sizeof(path)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "lock path for %s is too long", d->name);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;
                close(fd);
                if (e == EWOULDBLOCK) {
                        pid_t pid = 0;
                        if (pidfile_check(d->pidfile, &pid) == 1)
                                return bg_error_set(err, EADDRINUSE,
                                                    "%s is already running (pid %d)", d->binary,
                                                    (int)pid);
                        return bg_error_set(err, EADDRINUSE, "%s is already running (%s is locked)",
                                            d->binary, path);
                }
                return bg_error_errno(err, -e, "lock %s", path);
        }
        d->lock_fd = fd;
        return 0;
}

/* How root's socket reaches the owner. System mode: it stays root's, in a
 * directory only root can write, and the owner's primary group may use it
 * (mode 0660; root may give its own file to a group it is a member of, the
 * unit's SupplementaryGroups=, without CAP_CHOWN). User mode, where the
 * runtime dir is shared: the socket is handed to the owner uid. */
static int socket_for_owner(const struct daemon *d, int *ret_uid, int *ret_gid, int *ret_mode,
                            struct bg_error *err)
{
        if (!d->paths.system) {
                *ret_uid = (int)d->owner_uid;
                return 0;
        }
        char buf[16384];
        struct passwd pw, *res = NULL;
        if (getpwuid_r((uid_t)d->owner_uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return bg_error_set(err, ENOENT,
                                    "the owner uid %u has no passwd entry: its primary group is "
                                    "the one that may use %s's socket",
                                    d->owner_uid, d->binary);
        if (pw.pw_gid == 0)
                return bg_error_set(err, EPERM,
                                    "the owner uid %u has group 0 (root) as its primary group; "
                                    "banger needs the owner's own group",
                                    d->owner_uid);
        *ret_gid = (int)pw.pw_gid;
        *ret_mode = 0660;
        return 0;
}

int daemon_init(struct daemon *d, const struct daemon_desc *desc, int argc, char **argv,
                struct bg_error *err)
{
        enum { OPT_OWNER = 0x100, OPT_LOG, OPT_SYSTEM, OPT_USER, OPT_VERSION };
        static const struct option longopts[] = {
            {"owner-uid", required_argument, NULL, OPT_OWNER},
            {"log-level", required_argument, NULL, OPT_LOG},
            {"system", no_argument, NULL, OPT_SYSTEM},
            {"user", no_argument, NULL, OPT_USER},
            {"version", no_argument, NULL, OPT_VERSION},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        enum bg_paths_mode mode = BG_PATHS_AUTO;
        enum log_level level = LOG_LEVEL_INFO;
        const char *env_level = getenv("BANGER_LOG_LEVEL");
        int r;

        memset(d, 0, sizeof(*d));
        d->lock_fd = -1;
        d->name = desc->name;
        d->binary = desc->binary;
        d->owner_uid = (uint32_t)getuid();
        d->started_mono_ms = now_mono_msec();

        bool level_from_cli_or_env = false;
        if (env_level && (r = log_level_from_string(env_level)) >= 0) {
                level = (enum log_level)r;
                level_from_cli_or_env = true;
        }

        optind = 1;
        int c;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case OPT_OWNER: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || v >= UINT32_MAX)
                                return bg_error_set(err, EINVAL, "--owner-uid: '%s' is not a uid",
                                                    optarg);
                        d->owner_uid = (uint32_t)v;
                        break;
                }
                case OPT_LOG:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return bg_error_set(err, EINVAL,
                                                    "--log-level: '%s' is not one of debug, "
                                                    "info, warn, error",
                                                    optarg);
                        level = (enum log_level)r;
                        level_from_cli_or_env = true;
                        break;
                case OPT_SYSTEM:
                        mode = BG_PATHS_SYSTEM;
                        break;
                case OPT_USER:
                        mode = BG_PATHS_USER;
                        break;
                case OPT_VERSION:
                        printf("%s %s (commit %s, built %s)\n", desc->binary, BANGER_VERSION,
                               BANGER_COMMIT, BANGER_BUILD_TIME);
                        return 1;
                case 'h':
                        usage(desc);
                        return 1;
                default:
                        return bg_error_set(err, EINVAL, "unknown option; see %s --help",
                                            desc->binary);
                }
        }
        if (optind < argc)
                return bg_error_set(err, EINVAL, "unexpected argument '%s'; see %s --help",
                                    argv[optind], desc->binary);

        log_setup(desc->name, level, STDERR_FILENO);

        r = bg_paths_init(&d->paths, mode, err);
        if (r < 0)
                return r;
        fault_setup(desc->name, d->paths.system);
        char cfg_path[512];
        r = bg_paths_config_file(&d->paths, cfg_path, sizeof(cfg_path));
        if (r < 0)
                return bg_error_set(err, -r, "config path under %s is too long",
                                    d->paths.config_dir);
        r = bg_config_load_file(cfg_path, &d->cfg, err);
        if (r < 0)
                return r;
        d->cfg_loaded = true;
        /* The command line and BANGER_LOG_LEVEL win over the config file. */
        if (!level_from_cli_or_env)
                log_setup(desc->name, d->cfg.log_level, STDERR_FILENO);
        /* netsvc in system mode makes only its own directories; it cannot
         * write the owner's (its unit has them read-only). */
        if (!desc->root_service || !d->paths.system)
                r = bg_paths_ensure(&d->paths, err);
        if (r >= 0 && desc->root_service)
                r = bg_paths_ensure_net(&d->paths, err);
        if (r < 0)
                return r;
        r = bg_paths_socket_url(&d->paths, desc->name, d->socket_url, sizeof(d->socket_url));
        if (r < 0)
                return bg_error_set(err, -r, "socket path for %s under %s is too long", desc->name,
                                    d->paths.runtime_dir);
        r = bg_paths_pidfile(&d->paths, desc->name, d->pidfile, sizeof(d->pidfile));
        if (r < 0)
                return bg_error_set(err, -r, "pidfile path for %s is too long", desc->name);
        r = daemon_lock(d, err);
        if (r < 0)
                return r;

        int sock_uid = -1, sock_gid = 0, sock_mode = 0600;
        if (desc->root_service && geteuid() == 0 && d->owner_uid != 0) {
                r = socket_for_owner(d, &sock_uid, &sock_gid, &sock_mode, err);
                if (r < 0)
                        return r;
        }
        struct rpc_server_config sc = {
            .url = d->socket_url,
            .name = desc->name,
            .peer_check = rpc_peer_allow_owner,
            .peer_check_ud = &d->owner_uid,
            .trust_caller_uid = !desc->public_socket,
            .replace_socket = true, /* we hold the service lock */
            .n_contexts = desc->public_socket ? 64 : 16,
            .n_workers = desc->public_socket ? 16 : 4,
            .socket_uid = sock_uid,
            .socket_gid = sock_gid,
            .socket_mode = sock_mode,
        };
        return rpc_server_new(&sc, &d->srv, err);
}

int daemon_open_db(struct daemon *d, const char *db_name, const struct store_migration *m, size_t n,
                   struct bg_error *err)
{
        char path[512];
        int r = bg_paths_db(&d->paths, db_name, path, sizeof(path));
        if (r < 0)
                return bg_error_set(err, -r, "database path for %s is too long", db_name);
        return store_open(path, m, n, &d->db, err);
}

int daemon_fill_health(const struct daemon *d, Banger__V1__HealthResponse *out)
{
        out->service = strdup(d->name);
        out->version = strdup(BANGER_VERSION);
        out->commit = strdup(BANGER_COMMIT);
        out->state = strdup("serving");
        if (!out->service || !out->version || !out->commit || !out->state)
                return -ENOMEM;
        out->uptime_ms = (int64_t)(now_mono_msec() - d->started_mono_ms);
        out->pid = (int32_t)getpid();
        return 0;
}

int daemon_run(struct daemon *d, struct bg_error *err)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        /* Block before threads start so only sigwait below sees them. */
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        int r = rpc_server_start(d->srv, err);
        if (r < 0)
                return r;
        r = pidfile_write(d->pidfile, getpid(), err);
        if (r < 0)
                return r;
        log_info("%s %s serving on %s (owner uid %u, state %s)", d->binary, BANGER_VERSION,
                 d->socket_url, d->owner_uid, d->paths.state_dir);

        int sig = 0;
        for (;;) {
                if (sigwait(&set, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        log_info("SIGHUP: nothing to reload");
                        continue;
                }
                break;
        }
        log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        rpc_server_stop(TAKE_PTR(d->srv));
        unlink(d->pidfile);
        return 0;
}

void daemon_done(struct daemon *d)
{
        if (d->srv)
                rpc_server_stop(TAKE_PTR(d->srv));
        if (d->db)
                store_close(TAKE_PTR(d->db));
        if (d->cfg_loaded) {
                bg_config_free(&d->cfg);
                d->cfg_loaded = false;
        }
        if (d->lock_fd >= 0) {
                close(d->lock_fd);
                d->lock_fd = -1;
        }
}

int daemon_exit_code(const struct daemon *d, int r, const struct bg_error *err)
{
        if (r >= 0)
                return 0;
        const char *name = d && d->binary ? d->binary : "banger";
        const char *msg = err && err->msg[0] ? err->msg : strerror(-r);
        /* A person at a terminal gets plain text; logs get one JSON line. */
        if (isatty(STDERR_FILENO))
                fprintf(stderr, "%s: %s\n", name, msg);
        else
                log_error("cannot start: %s", msg);
        return 1;
}

int daemon_health(struct daemon *d, const Banger__V1__HealthRequest *in,
                  Banger__V1__HealthResponse *out, const struct rpc_call *call,
                  struct bg_error *err)
{
        int r = daemon_fill_health(d, out);
        if (r < 0)
                return bg_error_set(err, -r, "out of memory");
        return 0;
}
