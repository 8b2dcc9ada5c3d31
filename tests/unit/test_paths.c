#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths/paths.h"

static const char *const vars[] = {
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "BANGER_HOME",
    "BANGER_MODE",
    "BANGER_CONFIG_DIR",
    "BANGER_STATE_DIR",
    "BANGER_CACHE_DIR",
    "BANGER_RUNTIME_DIR",
    "BANGER_NET_STATE_DIR",
    "BANGER_NET_RUNTIME_DIR",
};

static int clear_env(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                unsetenv(vars[i]);
        setenv("HOME", "/home/tester", 1);
        return 0;
}

static void init_ok(struct bg_paths *p, enum bg_paths_mode mode)
{
        struct bg_error err = {};
        int r = bg_paths_init(p, mode, &err);
        if (r < 0)
                fail_msg("bg_paths_init: %s", err.msg);
}

static void test_user_xdg(void **state)
{
        setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
        setenv("XDG_DATA_HOME", "/x/data/", 1);
        setenv("XDG_CACHE_HOME", "/x/cache", 1);
        setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_USER);
        assert_false(p.system);
        assert_string_equal(p.config_dir, "/x/cfg/banger");
        assert_string_equal(p.state_dir, "/x/data/banger");
        assert_string_equal(p.cache_dir, "/x/cache/banger");
        assert_string_equal(p.runtime_dir, "/run/user/1234/banger");
}

static void test_user_fallbacks(void **state)
{
        struct bg_paths p;
        init_ok(&p, BG_PATHS_USER);
        assert_false(p.system);
        assert_string_equal(p.config_dir, "/home/tester/.config/banger");
        assert_string_equal(p.state_dir, "/home/tester/.local/share/banger");
        assert_string_equal(p.cache_dir, "/home/tester/.cache/banger");
        char want[64];
        snprintf(want, sizeof(want), "/tmp/banger-%u", (unsigned)getuid());
        assert_string_equal(p.runtime_dir, want);

        /* Empty and relative XDG values are ignored, as the XDG spec says. */
        setenv("XDG_CONFIG_HOME", "", 1);
        setenv("XDG_DATA_HOME", "relative/data", 1);
        setenv("XDG_RUNTIME_DIR", "run", 1);
        init_ok(&p, BG_PATHS_USER);
        assert_string_equal(p.config_dir, "/home/tester/.config/banger");
        assert_string_equal(p.state_dir, "/home/tester/.local/share/banger");
        assert_string_equal(p.runtime_dir, want);
}

static void test_user_no_home(void **state)
{
        unsetenv("HOME");
        struct passwd *pw = getpwuid(getuid());
        if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/') {
                struct bg_paths p;
                struct bg_error err = {};
                assert_int_equal(bg_paths_init(&p, BG_PATHS_USER, &err), -ENOENT);
                assert_non_null(strstr(err.msg, "home directory"));
                return;
        }
        char want[PATH_MAX];
        snprintf(want, sizeof(want), "%s/.config/banger", streq(pw->pw_dir, "/") ? "" : pw->pw_dir);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_USER);
        assert_string_equal(p.config_dir, want);
}

static void test_banger_home(void **state)
{
        setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
        setenv("BANGER_HOME", "/tmp/bh/", 1);
        setenv("BANGER_MODE", "system", 1); /* BANGER_HOME is stronger */
        struct bg_paths p;
        init_ok(&p, BG_PATHS_AUTO);
        assert_false(p.system);
        assert_string_equal(p.config_dir, "/tmp/bh/config");
        assert_string_equal(p.state_dir, "/tmp/bh/state");
        assert_string_equal(p.cache_dir, "/tmp/bh/cache");
        assert_string_equal(p.runtime_dir, "/tmp/bh/run");

        setenv("BANGER_HOME", "relative", 1);
        struct bg_error err = {};
        assert_int_equal(bg_paths_init(&p, BG_PATHS_AUTO, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "BANGER_HOME"));
}

static void test_overrides(void **state)
{
        setenv("BANGER_HOME", "/bh", 1);
        struct bg_paths p;

        setenv("BANGER_CONFIG_DIR", "/o/config", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_string_equal(p.config_dir, "/o/config");
        assert_string_equal(p.state_dir, "/bh/state");
        assert_string_equal(p.cache_dir, "/bh/cache");
        assert_string_equal(p.runtime_dir, "/bh/run");

        setenv("BANGER_STATE_DIR", "/o/state/", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_string_equal(p.state_dir, "/o/state");
        assert_string_equal(p.cache_dir, "/bh/cache");

        setenv("BANGER_CACHE_DIR", "/o/cache", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_string_equal(p.cache_dir, "/o/cache");
        assert_string_equal(p.runtime_dir, "/bh/run");

        setenv("BANGER_RUNTIME_DIR", "/o/run", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_string_equal(p.config_dir, "/o/config");
        assert_string_equal(p.state_dir, "/o/state");
        assert_string_equal(p.cache_dir, "/o/cache");
        assert_string_equal(p.runtime_dir, "/o/run");

        /* Per-directory overrides apply in system mode too. */
        unsetenv("BANGER_HOME");
        unsetenv("BANGER_CONFIG_DIR");
        init_ok(&p, BG_PATHS_SYSTEM);
        assert_true(p.system);
        assert_string_equal(p.config_dir, "/etc/banger");
        assert_string_equal(p.state_dir, "/o/state");

        setenv("BANGER_STATE_DIR", "state", 1);
        struct bg_error err = {};
        assert_int_equal(bg_paths_init(&p, BG_PATHS_SYSTEM, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "BANGER_STATE_DIR"));
}

static void test_system_paths(void **state)
{
        setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
        setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_SYSTEM);
        assert_true(p.system);
        assert_string_equal(p.config_dir, "/etc/banger");
        assert_string_equal(p.state_dir, "/var/lib/banger");
        assert_string_equal(p.cache_dir, "/var/cache/banger");
        assert_string_equal(p.runtime_dir, "/run/banger");
}

static void test_banger_mode(void **state)
{
        struct bg_paths p;
        setenv("BANGER_MODE", "system", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_true(p.system);
        assert_string_equal(p.state_dir, "/var/lib/banger");

        /* An explicit mode from the caller wins over the variable. */
        init_ok(&p, BG_PATHS_USER);
        assert_false(p.system);
        assert_string_equal(p.state_dir, "/home/tester/.local/share/banger");

        setenv("BANGER_MODE", "user", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_false(p.system);
        assert_string_equal(p.config_dir, "/home/tester/.config/banger");

        setenv("BANGER_MODE", "root", 1);
        struct bg_error err = {};
        assert_int_equal(bg_paths_init(&p, BG_PATHS_AUTO, &err), -EINVAL);
        assert_int_equal(err.code, EINVAL);
        assert_non_null(strstr(err.msg, "BANGER_MODE"));
        assert_non_null(strstr(err.msg, "root"));
}

static void test_auto_detect(void **state)
{
        struct bg_paths p;
        init_ok(&p, BG_PATHS_AUTO);
        bool installed = access("/etc/banger/install.toml", F_OK) == 0;
        assert_int_equal(p.system, installed);
        assert_string_equal(p.config_dir,
                            installed ? "/etc/banger" : "/home/tester/.config/banger");
}

static void test_too_long(void **state)
{
        char longdir[300];
        memset(longdir, 'a', sizeof(longdir) - 1);
        longdir[0] = '/';
        longdir[sizeof(longdir) - 1] = '\0';
        struct bg_paths p;
        struct bg_error err = {};
        setenv("XDG_CACHE_HOME", longdir, 1);
        assert_int_equal(bg_paths_init(&p, BG_PATHS_USER, &err), -ENAMETOOLONG);
        assert_non_null(strstr(err.msg, "XDG_CACHE_HOME"));
        unsetenv("XDG_CACHE_HOME");
        setenv("BANGER_RUNTIME_DIR", longdir, 1);
        bg_error_clear(&err);
        assert_int_equal(bg_paths_init(&p, BG_PATHS_USER, &err), -ENAMETOOLONG);
        assert_non_null(strstr(err.msg, "BANGER_RUNTIME_DIR"));
}

static void test_file_paths(void **state)
{
        setenv("BANGER_HOME", "/bh", 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_AUTO);
        char out[256];
        assert_int_equal(bg_paths_socket(&p, "vmsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/run/vmsvc.sock");
        assert_int_equal(bg_paths_socket_url(&p, "gateway", out, sizeof(out)), 0);
        assert_string_equal(out, "ipc:///bh/run/gateway.sock");
        assert_int_equal(bg_paths_pidfile(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/run/netsvc.pid");
        assert_int_equal(bg_paths_db(&p, "vms", out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/state/vms.db");
        assert_int_equal(bg_paths_log(&p, "imagesvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/state/logs/imagesvc.log");
        assert_int_equal(bg_paths_config_file(&p, out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/config/config.toml");

        /* Names are single path components. */
        assert_int_equal(bg_paths_db(&p, "../etc/x", out, sizeof(out)), -EINVAL);
        assert_int_equal(bg_paths_db(&p, "", out, sizeof(out)), -EINVAL);
        assert_int_equal(bg_paths_pidfile(&p, "..", out, sizeof(out)), -EINVAL);
        assert_int_equal(bg_paths_socket(&p, NULL, out, sizeof(out)), -EINVAL);

        /* Output buffers that are too small. */
        char small[10];
        assert_int_equal(bg_paths_db(&p, "vms", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(bg_paths_socket(&p, "vmsvc", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(bg_paths_socket_url(&p, "vmsvc", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(bg_paths_config_file(&p, small, sizeof(small)), -ENAMETOOLONG);
}

static void test_socket_too_long(void **state)
{
        /* runtime dir of 100 bytes: "/" + 99 'r'. */
        char rt[101];
        memset(rt, 'r', sizeof(rt) - 1);
        rt[0] = '/';
        rt[sizeof(rt) - 1] = '\0';
        setenv("BANGER_RUNTIME_DIR", rt, 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_USER);
        char out[256];

        /* 100 + "/" + 1 + ".sock" = 107 bytes + NUL = 108: fits sun_path exactly. */
        assert_int_equal(bg_paths_socket(&p, "a", out, sizeof(out)), 0);
        assert_int_equal(strlen(out), 107);
        assert_int_equal(bg_paths_socket_url(&p, "a", out, sizeof(out)), 0);
        assert_int_equal(strlen(out), 107 + strlen("ipc://"));

        /* One more byte no longer fits, even though out is large enough. */
        assert_int_equal(bg_paths_socket(&p, "ab", out, sizeof(out)), -ENAMETOOLONG);
        assert_int_equal(bg_paths_socket_url(&p, "ab", out, sizeof(out)), -ENAMETOOLONG);

        /* Non-socket paths have no such limit. */
        assert_int_equal(bg_paths_pidfile(&p, "abcdefgh", out, sizeof(out)), 0);
}

/* netsvc's own directories: apart from the owner's in system mode, the
 * owner's state and runtime dirs in user mode; its socket, pidfile, lock and
 * database follow them, nobody else's do. */
static void test_net_dirs(void **state)
{
        struct bg_paths p;
        char out[256];
        init_ok(&p, BG_PATHS_SYSTEM);
        assert_string_equal(p.net_state_dir, "/var/lib/banger-netsvc");
        assert_string_equal(p.net_runtime_dir, "/run/banger-netsvc");
        assert_int_equal(bg_paths_socket(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/banger-netsvc/netsvc.sock");
        assert_int_equal(bg_paths_pidfile(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/banger-netsvc/netsvc.pid");
        assert_int_equal(bg_paths_lock(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/banger-netsvc/netsvc.lock");
        assert_int_equal(bg_paths_db(&p, "net", out, sizeof(out)), 0);
        assert_string_equal(out, "/var/lib/banger-netsvc/net.db");
        assert_int_equal(bg_paths_socket(&p, "vmsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/banger/vmsvc.sock");
        assert_int_equal(bg_paths_lock(&p, "vmsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/run/banger/vmsvc.lock");
        assert_int_equal(bg_paths_db(&p, "vms", out, sizeof(out)), 0);
        assert_string_equal(out, "/var/lib/banger/vms.db");
        /* Moving the owner's directories does not move netsvc's. */
        setenv("BANGER_RUNTIME_DIR", "/x/run", 1);
        init_ok(&p, BG_PATHS_SYSTEM);
        assert_string_equal(p.net_runtime_dir, "/run/banger-netsvc");

        /* User mode: one user runs everything, in the same directories. */
        unsetenv("BANGER_RUNTIME_DIR");
        setenv("BANGER_HOME", "/bh", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_string_equal(p.net_state_dir, "/bh/state");
        assert_string_equal(p.net_runtime_dir, "/bh/run");
        assert_int_equal(bg_paths_socket(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/bh/run/netsvc.sock");
        setenv("BANGER_NET_STATE_DIR", "/n/state", 1);
        setenv("BANGER_NET_RUNTIME_DIR", "/n/run/", 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_int_equal(bg_paths_db(&p, "net", out, sizeof(out)), 0);
        assert_string_equal(out, "/n/state/net.db");
        assert_int_equal(bg_paths_pidfile(&p, "netsvc", out, sizeof(out)), 0);
        assert_string_equal(out, "/n/run/netsvc.pid");
        setenv("BANGER_NET_RUNTIME_DIR", "relative", 1);
        struct bg_error err = {};
        assert_int_equal(bg_paths_init(&p, BG_PATHS_AUTO, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "BANGER_NET_RUNTIME_DIR"));
}

struct tmp {
        char dir[256];
};

static void make_tmp(struct tmp *t)
{
        const char *tmp = getenv("TMPDIR");
        snprintf(t->dir, sizeof(t->dir), "%s/test_paths.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        assert_non_null(mkdtemp(t->dir));
}

static void rm_tree(const char *dir)
{
        struct bg_error err = {0};
        assert_int_equal(rm_rf(dir, &err), 0);
}

static mode_t mode_of(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

static void test_ensure(void **state)
{
        struct tmp t;
        make_tmp(&t);
        char home[300];
        snprintf(home, sizeof(home), "%s/home", t.dir);
        setenv("BANGER_HOME", home, 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_AUTO);
        struct bg_error err = {};
        assert_int_equal(bg_paths_ensure(&p, &err), 0);
        assert_int_equal(mode_of(home), 0755);
        assert_int_equal(mode_of(p.config_dir), 0700);
        assert_int_equal(mode_of(p.state_dir), 0700);
        assert_int_equal(mode_of(p.cache_dir), 0700);
        assert_int_equal(mode_of(p.runtime_dir), 0700);
        char logs[400];
        snprintf(logs, sizeof(logs), "%s/logs", p.state_dir);
        assert_int_equal(mode_of(logs), 0700);
        /* Idempotent. */
        assert_int_equal(bg_paths_ensure(&p, &err), 0);

        /* A file where a directory should be is reported by name. */
        char blocker[400];
        snprintf(blocker, sizeof(blocker), "%s/blocker", t.dir);
        int fd = open(blocker, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        char cache[400];
        snprintf(cache, sizeof(cache), "%s/cache", blocker);
        setenv("BANGER_CACHE_DIR", cache, 1);
        init_ok(&p, BG_PATHS_AUTO);
        assert_int_equal(bg_paths_ensure(&p, &err), -ENOTDIR);
        assert_non_null(strstr(err.msg, cache));

        rm_tree(t.dir);
}

/* Only root can own what the check wants; as anyone else every directory
 * is refused, which is checked too. */
static void test_root_only(void **state)
{
        struct tmp t;
        make_tmp(&t);
        char d[400], sub[500];
        snprintf(d, sizeof(d), "%s/net", t.dir);
        snprintf(sub, sizeof(sub), "%s/run", d);
        assert_int_equal(mkdir_p(sub, 0755), 0);
        struct bg_error err = {};
        if (geteuid() != 0) {
                assert_int_equal(bg_paths_check_root_only(sub, &err), -EPERM);
                assert_non_null(strstr(err.msg, "root alone"));
                rm_tree(t.dir);
                return;
        }
        assert_int_equal(chmod(t.dir, 0700), 0);
        assert_int_equal(bg_paths_check_root_only(sub, &err), 0);
        /* Writable by a group: refused, naming it. */
        assert_int_equal(chmod(sub, 0770), 0);
        assert_int_equal(bg_paths_check_root_only(sub, &err), -EPERM);
        assert_non_null(strstr(err.msg, sub));
        assert_non_null(strstr(err.msg, "mode 0770"));
        /* Sticky does not help the directory itself... */
        assert_int_equal(chmod(sub, 01777), 0);
        assert_int_equal(bg_paths_check_root_only(sub, &err), -EPERM);
        assert_int_equal(chmod(sub, 0755), 0);
        /* ...but a sticky directory above it (like /tmp) is fine. */
        assert_int_equal(chmod(d, 01777), 0);
        assert_int_equal(bg_paths_check_root_only(sub, &err), 0);
        /* A directory above it that someone else owns: refused. */
        assert_int_equal(chmod(d, 0755), 0);
        assert_int_equal(chown(d, 1234, 1234), 0);
        bg_error_clear(&err);
        assert_int_equal(bg_paths_check_root_only(sub, &err), -EPERM);
        assert_non_null(strstr(err.msg, "above"));
        assert_non_null(strstr(err.msg, "uid 1234"));
        /* bg_paths_ensure_net makes the directories and applies the check. */
        assert_int_equal(chown(d, 0, 0), 0);
        char ns[500], nr[500];
        snprintf(ns, sizeof(ns), "%s/ns", d);
        snprintf(nr, sizeof(nr), "%s/nr", d);
        setenv("BANGER_HOME", t.dir, 1);
        setenv("BANGER_NET_STATE_DIR", ns, 1);
        setenv("BANGER_NET_RUNTIME_DIR", nr, 1);
        struct bg_paths p;
        init_ok(&p, BG_PATHS_AUTO);
        assert_int_equal(bg_paths_ensure_net(&p, &err), 0);
        assert_int_equal(mode_of(ns), 0755);
        assert_int_equal(chown(nr, 1234, 1234), 0);
        assert_int_equal(bg_paths_ensure_net(&p, &err), -EPERM);
        assert_non_null(strstr(err.msg, nr));
        rm_tree(t.dir);
}

static void touch(const char *dir, const char *rel)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        char d[PATH_MAX];
        snprintf(d, sizeof(d), "%s", p);
        *strrchr(d, '/') = '\0';
        assert_int_equal(mkdir_p(d, 0755), 0);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
        assert_true(fd >= 0);
        close(fd);
}

/* The build tree and an install (services in PREFIX/libexec/banger). */
static void test_assets(void **state)
{
        (void)state;
        struct tmp t;
        make_tmp(&t);
        char bin[PATH_MAX], out[PATH_MAX], want[PATH_MAX];

        /* Nothing there: -ENOENT, out holds the first candidate. */
        snprintf(bin, sizeof(bin), "%s/build/bin", t.dir);
        assert_int_equal(bg_paths_asset(BG_ASSET_AGENT, bin, out, sizeof(out)), -ENOENT);
        snprintf(want, sizeof(want), "%s/banger-agent", bin);
        assert_string_equal(out, want);
        assert_int_equal(bg_paths_asset(BG_ASSET_GUEST_FILES, bin, out, sizeof(out)), -ENOENT);

        /* Build tree (BIN must exist for BIN/.. to resolve). */
        assert_int_equal(mkdir_p(bin, 0755), 0);
        touch(t.dir, "build/guest/agent/banger-agent");
        touch(t.dir, "build/share/banger/guest-files/README.md");
        assert_int_equal(bg_paths_asset(BG_ASSET_AGENT, bin, out, sizeof(out)), 0);
        snprintf(want, sizeof(want), "%s/../guest/agent/banger-agent", bin);
        assert_string_equal(out, want);
        assert_int_equal(bg_paths_asset(BG_ASSET_GUEST_FILES, bin, out, sizeof(out)), 0);
        snprintf(want, sizeof(want), "%s/../share/banger/guest-files", bin);
        assert_string_equal(out, want);

        /* Installed: a service in PREFIX/libexec/banger, a CLI in PREFIX/bin. */
        touch(t.dir, "usr/libexec/banger/banger-agent");
        touch(t.dir, "usr/share/banger/guest-files/README.md");
        snprintf(bin, sizeof(bin), "%s/usr/libexec/banger", t.dir);
        assert_int_equal(bg_paths_asset(BG_ASSET_AGENT, bin, out, sizeof(out)), 0);
        snprintf(want, sizeof(want), "%s/banger-agent", bin);
        assert_string_equal(out, want);
        assert_int_equal(bg_paths_asset(BG_ASSET_GUEST_FILES, bin, out, sizeof(out)), 0);
        snprintf(want, sizeof(want), "%s/../../share/banger/guest-files", bin);
        assert_string_equal(out, want);
        snprintf(bin, sizeof(bin), "%s/usr/bin", t.dir);
        assert_int_equal(mkdir_p(bin, 0755), 0);
        assert_int_equal(bg_paths_asset(BG_ASSET_GUEST_FILES, bin, out, sizeof(out)), 0);
        snprintf(want, sizeof(want), "%s/../share/banger/guest-files", bin);
        assert_string_equal(out, want);

        assert_int_equal(bg_paths_asset(BG_ASSET_AGENT, bin, out, 8), -ENAMETOOLONG);
        rm_tree(t.dir);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, clear_env)
        const struct CMUnitTest tests[] = {
            T(test_user_xdg),  T(test_user_fallbacks), T(test_user_no_home),    T(test_banger_home),
            T(test_overrides), T(test_system_paths),   T(test_banger_mode),     T(test_auto_detect),
            T(test_too_long),  T(test_file_paths),     T(test_socket_too_long), T(test_ensure),
            T(test_net_dirs),  T(test_root_only),      T(test_assets),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
