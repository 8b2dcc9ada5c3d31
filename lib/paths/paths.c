#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define INSTALL_MARKER "/etc/banger/install.toml"
#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* Returns the variable's value, or NULL when unset or empty. */
static const char *env_nonempty(const char *name)
{
        const char *v = getenv(name);
        return v && v[0] ? v : NULL;
}

/* out = base + "/" + sub (sub may be NULL), with trailing slashes dropped
 * from base so "/x/" and "/x" give the same result; base "/" stays "/". */
static int path_join(char *out, size_t outlen, const char *base, const char *sub)
{
        size_t len = strlen(base);
        while (len > 1 && base[len - 1] == '/')
                len--;
        if (sub && len == 1 && base[0] == '/')
                len = 0; /* "/" + "/sub" must not become "//sub" */
        int n = sub ? snprintf(out, outlen, "%.*s/%s", (int)len, base, sub)
                    : snprintf(out, outlen, "%.*s", (int)len, base);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= outlen)
                return -ENAMETOOLONG;
        return 0;
}

static int home_dir(char *out, size_t outlen, struct bg_error *err)
{
        const char *h = env_nonempty("HOME");
        if (h && h[0] == '/') {
                if (path_join(out, outlen, h, NULL) < 0)
                        return bg_error_set(err, ENAMETOOLONG, "HOME '%s' is too long", h);
                return 0;
        }

        char buf[4096];
        struct passwd pw, *res = NULL;
        int r = getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res);
        if (r != 0 || !res || !res->pw_dir || res->pw_dir[0] != '/')
                return bg_error_set(err, ENOENT,
                                    "cannot determine the home directory: HOME is unset and uid "
                                    "%u has no passwd entry",
                                    (unsigned)getuid());
        if (path_join(out, outlen, res->pw_dir, NULL) < 0)
                return bg_error_set(err, ENAMETOOLONG, "home directory '%s' is too long",
                                    res->pw_dir);
        return 0;
}

/* An XDG base dir: the variable when it holds an absolute path (the spec says
 * to ignore relative ones), else HOME/fallback. */
static int xdg_dir(char *out, size_t outlen, const char *var, const char *fallback,
                   struct bg_error *err)
{
        const char *v = env_nonempty(var);
        if (v && v[0] == '/') {
                if (path_join(out, outlen, v, "banger") < 0)
                        return bg_error_set(err, ENAMETOOLONG, "%s '%s' is too long", var, v);
                return 0;
        }
        char home[PATH_MAX];
        int r = home_dir(home, sizeof(home), err);
        if (r < 0)
                return r;
        if (path_join(out, outlen, home, fallback) < 0)
                return bg_error_set(err, ENAMETOOLONG, "home directory '%s' is too long", home);
        return 0;
}

static int resolve_mode(enum bg_paths_mode mode, bool *ret_system, struct bg_error *err)
{
        switch (mode) {
        case BG_PATHS_USER:
                *ret_system = false;
                return 0;
        case BG_PATHS_SYSTEM:
                *ret_system = true;
                return 0;
        case BG_PATHS_AUTO:
                break;
        default:
                return bg_error_set(err, EINVAL, "unknown paths mode %d", (int)mode);
        }

        /* BANGER_HOME is stronger than BANGER_MODE and means user mode. */
        if (env_nonempty("BANGER_HOME")) {
                *ret_system = false;
                return 0;
        }
        const char *m = env_nonempty("BANGER_MODE");
        if (m) {
                if (streq(m, "system"))
                        *ret_system = true;
                else if (streq(m, "user"))
                        *ret_system = false;
                else
                        return bg_error_set(err, EINVAL,
                                            "BANGER_MODE must be 'system' or 'user', not '%s'", m);
                return 0;
        }
        *ret_system = access(INSTALL_MARKER, F_OK) == 0;
        return 0;
}

/* BANGER_*_DIR: replaces one directory; must be absolute. */
static int apply_override(char *dir, size_t dirlen, const char *var, struct bg_error *err)
{
        const char *v = env_nonempty(var);
        if (!v)
                return 0;
        if (v[0] != '/')
                return bg_error_set(err, EINVAL, "%s must be an absolute path, not '%s'", var, v);
        if (path_join(dir, dirlen, v, NULL) < 0)
                return bg_error_set(err, ENAMETOOLONG, "%s '%s' is too long", var, v);
        return 0;
}

int bg_paths_init(struct bg_paths *p, enum bg_paths_mode mode, struct bg_error *err)
{
        if (!p)
                return bg_error_set(err, EINVAL, "bg_paths_init: no paths object");

        struct bg_paths n = {};
        int r = resolve_mode(mode, &n.system, err);
        if (r < 0)
                return r;

        const char *home = env_nonempty("BANGER_HOME");
        if (home) {
                if (home[0] != '/')
                        return bg_error_set(err, EINVAL,
                                            "BANGER_HOME must be an absolute path, not '%s'", home);
                if (path_join(n.config_dir, sizeof(n.config_dir), home, "config") < 0 ||
                    path_join(n.state_dir, sizeof(n.state_dir), home, "state") < 0 ||
                    path_join(n.cache_dir, sizeof(n.cache_dir), home, "cache") < 0 ||
                    path_join(n.runtime_dir, sizeof(n.runtime_dir), home, "run") < 0)
                        return bg_error_set(err, ENAMETOOLONG, "BANGER_HOME '%s' is too long",
                                            home);
        } else if (n.system) {
                snprintf(n.config_dir, sizeof(n.config_dir), "/etc/banger");
                snprintf(n.state_dir, sizeof(n.state_dir), "/var/lib/banger");
                snprintf(n.cache_dir, sizeof(n.cache_dir), "/var/cache/banger");
                snprintf(n.runtime_dir, sizeof(n.runtime_dir), "/run/banger");
        } else {
                r = xdg_dir(n.config_dir, sizeof(n.config_dir), "XDG_CONFIG_HOME", ".config/banger",
                            err);
                if (r < 0)
                        return r;
                r = xdg_dir(n.state_dir, sizeof(n.state_dir), "XDG_DATA_HOME",
                            ".local/share/banger", err);
                if (r < 0)
                        return r;
                r = xdg_dir(n.cache_dir, sizeof(n.cache_dir), "XDG_CACHE_HOME", ".cache/banger",
                            err);
                if (r < 0)
                        return r;
                const char *rt = env_nonempty("XDG_RUNTIME_DIR");
                if (rt && rt[0] == '/') {
                        if (path_join(n.runtime_dir, sizeof(n.runtime_dir), rt, "banger") < 0)
                                return bg_error_set(err, ENAMETOOLONG,
                                                    "XDG_RUNTIME_DIR '%s' is too long", rt);
                } else {
                        snprintf(n.runtime_dir, sizeof(n.runtime_dir), "/tmp/banger-%u",
                                 (unsigned)getuid());
                }
        }

        r = apply_override(n.config_dir, sizeof(n.config_dir), "BANGER_CONFIG_DIR", err);
        if (r < 0)
                return r;
        r = apply_override(n.state_dir, sizeof(n.state_dir), "BANGER_STATE_DIR", err);
        if (r < 0)
                return r;
        r = apply_override(n.cache_dir, sizeof(n.cache_dir), "BANGER_CACHE_DIR", err);
        if (r < 0)
                return r;
        r = apply_override(n.runtime_dir, sizeof(n.runtime_dir), "BANGER_RUNTIME_DIR", err);
        if (r < 0)
                return r;

        /* netsvc's own: apart from the owner's directories in system mode. */
        if (n.system && !home) {
                snprintf(n.net_state_dir, sizeof(n.net_state_dir), "/var/lib/banger-netsvc");
                snprintf(n.net_runtime_dir, sizeof(n.net_runtime_dir), "/run/banger-netsvc");
        } else {
                snprintf(n.net_state_dir, sizeof(n.net_state_dir), "%s", n.state_dir);
                snprintf(n.net_runtime_dir, sizeof(n.net_runtime_dir), "%s", n.runtime_dir);
        }
        r = apply_override(n.net_state_dir, sizeof(n.net_state_dir), "BANGER_NET_STATE_DIR", err);
        if (r < 0)
                return r;
        r = apply_override(n.net_runtime_dir, sizeof(n.net_runtime_dir), "BANGER_NET_RUNTIME_DIR",
                           err);
        if (r < 0)
                return r;

        *p = n;
        return 0;
}

int bg_paths_asset(enum bg_asset which, const char *bin_dir, char *out, size_t outlen)
{
        static const char *const guest_files[] = {"/../share/banger/guest-files",
                                                  "/../../share/banger/guest-files", NULL};
        static const char *const agent[] = {"/banger-agent", "/../guest/agent/banger-agent", NULL};
        const char *const *cand = which == BG_ASSET_AGENT ? agent : guest_files;
        if (!bin_dir || !bin_dir[0] || !outlen)
                return -EINVAL;
        for (size_t i = 0; cand[i]; i++) {
                char buf[PATH_MAX];
                int n = snprintf(buf, sizeof(buf), "%s%s", bin_dir, cand[i]);
                if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n >= outlen)
                        return -ENAMETOOLONG;
                if (i == 0)
                        memcpy(out, buf, (size_t)n + 1);
                if (access(buf, R_OK) == 0) {
                        memcpy(out, buf, (size_t)n + 1);
                        return 0;
                }
        }
        return -ENOENT;
}

int bg_paths_self_dir(char *out, size_t outlen)
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return -errno;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash && slash != self)
                *slash = '\0';
        if (strlen(self) >= outlen)
                return -ENAMETOOLONG;
        memcpy(out, self, strlen(self) + 1);
        return 0;
}

/* The /tmp fallback runtime dir lives in a world-writable place: refuse it
 * when someone else made it first. */
static int check_owned(const char *dir, struct bg_error *err)
{
        struct stat st;
        if (lstat(dir, &st) < 0)
                return bg_error_errno(err, -errno, "check runtime directory %s", dir);
        if (!S_ISDIR(st.st_mode))
                return bg_error_set(err, ENOTDIR, "runtime directory %s is not a directory", dir);
        if (st.st_uid != geteuid())
                return bg_error_set(err, EPERM,
                                    "runtime directory %s belongs to uid %u, not to us (uid %u)",
                                    dir, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & 0077)
                return bg_error_set(err, EPERM,
                                    "runtime directory %s is accessible to others (mode %04o)", dir,
                                    (unsigned)(st.st_mode & 07777));
        return 0;
}

int bg_paths_ensure(const struct bg_paths *p, struct bg_error *err)
{
        if (!p)
                return bg_error_set(err, EINVAL, "bg_paths_ensure: no paths object");
        const char *dirs[] = {p->config_dir, p->state_dir, p->cache_dir, p->runtime_dir};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = mkdir_p(dirs[i], 0700);
                if (r < 0)
                        return bg_error_errno(err, r, "create directory %s", dirs[i]);
        }
        char logs[PATH_MAX];
        if (path_join(logs, sizeof(logs), p->state_dir, "logs") < 0)
                return bg_error_set(err, ENAMETOOLONG, "state directory %s is too long",
                                    p->state_dir);
        int r = mkdir_p(logs, 0700);
        if (r < 0)
                return bg_error_errno(err, r, "create directory %s", logs);

        char fallback[64];
        snprintf(fallback, sizeof(fallback), "/tmp/banger-%u", (unsigned)getuid());
        if (streq(p->runtime_dir, fallback))
                return check_owned(p->runtime_dir, err);
        return 0;
}

int bg_paths_check_root_only(const char *dir, struct bg_error *err)
{
        char real[PATH_MAX];
        if (!realpath(dir, real))
                return bg_error_errno(err, -errno, "resolve %s", dir);
        bool top = true;
        for (;;) {
                struct stat st;
                if (lstat(real, &st) < 0)
                        return bg_error_errno(err, -errno, "check %s", real);
                bool others_write = (st.st_mode & 022) && !(!top && (st.st_mode & S_ISVTX));
                if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || others_write)
                        return bg_error_set(err, EPERM,
                                            "%s%s%s%s is %s of uid %u, mode %04o: banger-netsvc "
                                            "runs as root and keeps its files only where root "
                                            "alone can create or replace entries",
                                            real, top ? "" : " (above ", top ? "" : dir,
                                            top ? "" : ")",
                                            S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                                            (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
                if (streq(real, "/"))
                        return 0;
                char *slash = strrchr(real, '/');
                if (slash == real)
                        slash[1] = '\0';
                else
                        *slash = '\0';
                top = false;
        }
}

int bg_paths_ensure_net(const struct bg_paths *p, struct bg_error *err)
{
        if (!p)
                return bg_error_set(err, EINVAL, "bg_paths_ensure_net: no paths object");
        const char *dirs[] = {p->net_state_dir, p->net_runtime_dir};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                int r = mkdir_p(dirs[i], 0755);
                if (r < 0)
                        return bg_error_errno(err, r, "create directory %s", dirs[i]);
                if (geteuid() == 0 && (r = bg_paths_check_root_only(dirs[i], err)) < 0)
                        return r;
        }
        return 0;
}

/* A file name for a service's socket, pidfile, db or log: one component. */
static bool name_ok(const char *name)
{
        return name && name[0] && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

static int join(const char *dir, const char *name, const char *suffix, char *out, size_t outlen)
{
        if (!dir || !out || !name_ok(name))
                return -EINVAL;
        int n = snprintf(out, outlen, "%s/%s%s", dir, name, suffix);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= outlen)
                return -ENAMETOOLONG;
        return 0;
}

/* The root service's runtime files are in its own directory. */
static const char *runtime_dir_of(const struct bg_paths *p, const char *name)
{
        return name && streq(name, BG_PATHS_ROOT_SERVICE) ? p->net_runtime_dir : p->runtime_dir;
}

int bg_paths_socket(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        if (!p)
                return -EINVAL;
        char buf[PATH_MAX];
        int r = join(runtime_dir_of(p, name), name, ".sock", buf, sizeof(buf));
        if (r < 0)
                return r;
        /* sun_path holds the path and its terminating NUL. */
        if (strlen(buf) >= SUN_PATH_MAX)
                return -ENAMETOOLONG;
        if (strlen(buf) >= outlen)
                return -ENAMETOOLONG;
        memcpy(out, buf, strlen(buf) + 1);
        return 0;
}

int bg_paths_socket_url(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        char sock[SUN_PATH_MAX];
        int r = bg_paths_socket(p, name, sock, sizeof(sock));
        if (r < 0)
                return r;
        int n = snprintf(out, outlen, "ipc://%s", sock);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= outlen)
                return -ENAMETOOLONG;
        return 0;
}

int bg_paths_pidfile(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        if (!p)
                return -EINVAL;
        return join(runtime_dir_of(p, name), name, ".pid", out, outlen);
}

int bg_paths_lock(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        if (!p)
                return -EINVAL;
        return join(runtime_dir_of(p, name), name, ".lock", out, outlen);
}

int bg_paths_db(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        if (!p)
                return -EINVAL;
        const char *dir = name && streq(name, BG_PATHS_ROOT_DB) ? p->net_state_dir : p->state_dir;
        return join(dir, name, ".db", out, outlen);
}

int bg_paths_log(const struct bg_paths *p, const char *name, char *out, size_t outlen)
{
        if (!p)
                return -EINVAL;
        char logs[PATH_MAX];
        int n = snprintf(logs, sizeof(logs), "%s/logs", p->state_dir);
        if (n < 0 || (size_t)n >= sizeof(logs))
                return -ENAMETOOLONG;
        return join(logs, name, ".log", out, outlen);
}

int bg_paths_config_file(const struct bg_paths *p, char *out, size_t outlen)
{
        if (!p || !out)
                return -EINVAL;
        int n = snprintf(out, outlen, "%s/config.toml", p->config_dir);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= outlen)
                return -ENAMETOOLONG;
        return 0;
}
