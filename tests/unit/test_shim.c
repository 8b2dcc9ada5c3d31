/* shim/: config.json's process (args required, env as KEY=VALUE, absolute
 * cwd, terminal a boolean, entry and size caps); root.path (relative to the
 * bundle) and the CRI sandbox annotations; containerd's flag syntax
 * (-flag value, -flag=value, --flag value; namespace and id required and
 * checked; unknown flags and actions refused); the socket address as
 * containerd 1.6 computes it and the VM name; the rootfs walk's cap on file
 * data (a sparse file counts in full and is refused before it is read). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bundle.h"
#include "process.h"
#include "rootfs.h"
#include "rootfs_cache.h"
#include "shim.h"

static int parse(const char *json, struct bundle_process *p, struct bg_error *err)
{
        return bundle_parse(json, strlen(json), p, err);
}

static void test_bundle_process(void **state)
{
        struct bundle_process p;
        struct bg_error err = {0};
        assert_int_equal(parse("{\"process\": {\"args\": [\"sh\", \"-c\", \"echo hi\"], \"env\": "
                               "[\"PATH=/bin\", \"A=\"], \"cwd\": \"/srv\", \"terminal\": false}}",
                               &p, &err),
                         0);
        assert_int_equal(p.argc, 3);
        assert_string_equal(p.argv[2], "echo hi");
        assert_null(p.argv[3]);
        assert_int_equal(p.envc, 2);
        assert_string_equal(p.env[1], "A=");
        assert_string_equal(p.cwd, "/srv");
        assert_false(p.terminal);
        bundle_process_free(&p);

        /* env and cwd are optional */
        assert_int_equal(parse("{\"process\": {\"args\": [\"true\"]}}", &p, &err), 0);
        assert_int_equal(p.envc, 0);
        assert_string_equal(p.cwd, "");
        bundle_process_free(&p);

        static const struct {
                const char *json;
                int r;
                const char *msg;
        } bad[] = {
            {"{}", -EINVAL, "process must be an object"},
            {"{\"process\": {}}", -EINVAL, "process.args must be a non-empty array"},
            {"{\"process\": {\"args\": []}}", -EINVAL, "process.args must be a non-empty array"},
            {"{\"process\": {\"args\": [1]}}", -EINVAL, "process.args[0] must be a string"},
            {"{\"process\": {\"args\": [\"\"]}}", -EINVAL, "process.args[0]"},
            {"{\"process\": {\"args\": [\"a\\u0000b\"]}}", -EINVAL, "config.json: line 1"},
            {"{\"process\": {\"args\": [\"x\"], \"env\": [\"NOEQUALS\"]}}", -EINVAL,
             "process.env[0] must be KEY=VALUE"},
            {"{\"process\": {\"args\": [\"x\"], \"env\": [\"=v\"]}}", -EINVAL, "KEY=VALUE"},
            {"{\"process\": {\"args\": [\"x\"], \"cwd\": \"rel\"}}", -EINVAL,
             "process.cwd must be an absolute path"},
            {"{\"process\": {\"args\": [\"x\"], \"terminal\": \"yes\"}}", -EINVAL,
             "process.terminal must be a boolean"},
            {"{\"process\": {\"args\": [\"x\"]}, \"process\": {}}", -EINVAL, "config.json: line"},
            {"not json", -EINVAL, "config.json: line 1"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = (struct bg_error){0};
                assert_int_equal(parse(bad[i].json, &p, &err), bad[i].r);
                if (!strstr(err.msg, bad[i].msg))
                        fail_msg("%s: got '%s', want '%s'", bad[i].json, err.msg, bad[i].msg);
        }

        /* 257 arguments: over the cap */
        char *big = malloc(16 + 257 * 4 + 16);
        strcpy(big, "{\"process\": {\"args\": [");
        for (int i = 0; i < 257; i++)
                strcat(big, i ? ",\"a\"" : "\"a\"");
        strcat(big, "]}}");
        assert_int_equal(parse(big, &p, &err), -E2BIG);
        assert_non_null(strstr(err.msg, "257 entries (at most 256)"));
        free(big);
}

/* process.user: parsed, checked, and applied with setpriv in the guest. */
static void test_bundle_user(void **state)
{
        (void)state;
        struct bundle_process p;
        struct bg_error err = {0};
        struct shim_cmd cmd;
        assert_int_equal(parse("{\"process\": {\"args\": [\"id\"], \"env\": [\"A=1\"]}}", &p, &err),
                         0);
        assert_int_equal(shim_cmd_build(&p, "BANGER_TASK_ID=t", "BANGER_EXEC_ID=", NULL, &cmd), 0);
        assert_int_equal(cmd.argc, 5); /* root: no setpriv */
        assert_string_equal(cmd.argv[0], "env");
        assert_string_equal(cmd.argv[1], "A=1");
        assert_string_equal(cmd.argv[2], "BANGER_TASK_ID=t");
        assert_string_equal(cmd.argv[3], "BANGER_EXEC_ID=");
        assert_string_equal(cmd.argv[4], "id");
        shim_cmd_free(&cmd);
        bundle_process_free(&p);

        assert_int_equal(
            parse("{\"process\": {\"args\": [\"id\", \"-G\"], \"user\": {\"uid\": 1000, "
                  "\"gid\": 100, \"additionalGids\": [10, 4294967294]}}}",
                  &p, &err),
            0);
        assert_int_equal(p.uid, 1000);
        assert_int_equal(p.n_gids, 2);
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", NULL, &cmd), 0);
        assert_int_equal(cmd.argc, 10);
        assert_string_equal(cmd.argv[3], "setpriv");
        assert_string_equal(cmd.argv[4], "--reuid=1000");
        assert_string_equal(cmd.argv[5], "--regid=100");
        assert_string_equal(cmd.argv[6], "--groups=10,4294967294");
        assert_string_equal(cmd.argv[7], "--");
        assert_string_equal(cmd.argv[8], "id");
        shim_cmd_free(&cmd);
        bundle_process_free(&p);

        assert_int_equal(
            parse("{\"process\": {\"args\": [\"id\"], \"user\": {\"uid\": 5}}}", &p, &err), 0);
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", NULL, &cmd), 0);
        assert_string_equal(cmd.argv[6], "--clear-groups");
        shim_cmd_free(&cmd);
        bundle_process_free(&p);

        /* A pod's container: banger-agent enter chroots into its tree,
         * with the cwd and user applied inside it (no setpriv). */
        assert_int_equal(parse("{\"process\": {\"args\": [\"id\", \"-G\"], \"env\": [\"A=1\"], "
                               "\"cwd\": \"/srv\", \"user\": {\"uid\": 1000, \"gid\": 100, "
                               "\"additionalGids\": [10, 11]}}}",
                               &p, &err),
                         0);
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", "/var/lib/banger/pods/ctr-1", &cmd), 0);
        static const char *const want[] = {
            "env", "A=1", "M=1", "E=", SHIM_GUEST_AGENT, "enter",
            "--root=/var/lib/banger/pods/ctr-1", "--cgroup=/sys/fs/cgroup/banger-pods/ctr-1",
            "--cwd=/srv", "--user=1000:100",
            "--groups=10,11", "--", "id", "-G"};
        assert_int_equal(cmd.argc, sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < cmd.argc; i++)
                assert_string_equal(cmd.argv[i], want[i]);
        shim_cmd_free(&cmd);
        bundle_process_free(&p);
        /* root with no cwd and user 0:0: "/", user 0:0 with no groups (not
         * the guest session's) */
        assert_int_equal(parse("{\"process\": {\"args\": [\"sh\"]}}", &p, &err), 0);
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", "/r", &cmd), 0);
        assert_int_equal(cmd.argc, 12);
        assert_string_equal(cmd.argv[5], "--root=/r");
        assert_string_equal(cmd.argv[6], "--cgroup=/sys/fs/cgroup/banger-pods/r");
        assert_string_equal(cmd.argv[7], "--cwd=/");
        assert_string_equal(cmd.argv[8], "--user=0:0");
        assert_string_equal(cmd.argv[9], "--groups=");
        assert_string_equal(cmd.argv[10], "--");
        assert_string_equal(cmd.argv[11], "sh");
        shim_cmd_free(&cmd);
        bundle_process_free(&p);
        /* process.noNewPrivileges: --no-new-privs */
        assert_int_equal(
            parse("{\"process\": {\"args\": [\"sh\"], \"noNewPrivileges\": true}}", &p, &err), 0);
        assert_true(p.no_new_privs);
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", "/r", &cmd), 0);
        assert_string_equal(cmd.argv[10], "--no-new-privs");
        assert_string_equal(cmd.argv[11], "--");
        shim_cmd_free(&cmd);
        bundle_process_free(&p);
        assert_int_equal(
            parse("{\"process\": {\"args\": [\"sh\"], \"noNewPrivileges\": 1}}", &p, &err),
            -EINVAL);
        assert_non_null(strstr(err.msg, "process.noNewPrivileges must be a boolean"));
        assert_int_equal(parse("{\"process\": {\"args\": [\"sh\"]}}", &p, &err), 0);
        /* a root whose last name is empty names no cgroup: refused */
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", "/r/", &cmd), -EINVAL);
        /* a root too long for its buffer is refused, not cut */
        char longroot[PATH_MAX + 16];
        memset(longroot, 'r', sizeof(longroot) - 1);
        longroot[0] = '/';
        longroot[sizeof(longroot) - 1] = '\0';
        assert_int_equal(shim_cmd_build(&p, "M=1", "E=", longroot, &cmd), -ENAMETOOLONG);
        assert_null(cmd.argv);
        bundle_process_free(&p);

        static const char *const bad[] = {
            "{\"process\": {\"args\": [\"x\"], \"user\": 3}}",
            "{\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": -1}}}",
            "{\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": 4294967295}}}",
            "{\"process\": {\"args\": [\"x\"], \"user\": {\"gid\": \"0\"}}}",
            "{\"process\": {\"args\": [\"x\"], \"user\": {\"additionalGids\": [1.5]}}}",
            "{\"process\": {\"args\": [\"x\"], \"user\": {\"additionalGids\": 1}}}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = (struct bg_error){0};
                assert_int_equal(parse(bad[i], &p, &err), -EINVAL);
                if (!strstr(err.msg, "process.user"))
                        fail_msg("%s: got '%s'", bad[i], err.msg);
        }
        /* 33 additional gids: over the cap */
        char big[512] = "{\"process\": {\"args\": [\"x\"], \"user\": {\"additionalGids\": [";
        for (int i = 0; i < 33; i++)
                strcat(big, i ? ",1" : "1");
        strcat(big, "]}}}");
        assert_int_equal(parse(big, &p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "at most 32"));
}

static void test_bundle_root_and_sandbox(void **state)
{
        struct bundle_process p;
        struct bg_error err = {0};
        const char *j = "{\"process\": {\"args\": [\"x\"]}}";
        assert_int_equal(bundle_parse_in("/b", j, strlen(j), &p, &err), 0);
        assert_string_equal(p.root_path, "/b/rootfs"); /* the default */
        assert_string_equal(p.container_type, "");
        assert_string_equal(p.sandbox_id, "");
        bundle_process_free(&p);
        j = "{\"process\": {\"args\": [\"x\"]}, \"root\": {\"path\": \"/srv/r\"}, "
            "\"annotations\": {\"io.kubernetes.cri.container-type\": \"container\", "
            "\"io.kubernetes.cri.sandbox-id\": \"sb-1.a\"}}";
        assert_int_equal(bundle_parse_in("/b", j, strlen(j), &p, &err), 0);
        assert_string_equal(p.root_path, "/srv/r");
        assert_string_equal(p.container_type, "container");
        assert_string_equal(p.sandbox_id, "sb-1.a");
        bundle_process_free(&p);
        j = "{\"process\": {\"args\": [\"x\"]}, \"root\": {\"path\": \"r2\"}}";
        assert_int_equal(bundle_parse_in("/b", j, strlen(j), &p, &err), 0);
        assert_string_equal(p.root_path, "/b/r2");
        bundle_process_free(&p);

        static const struct {
                const char *json;
                const char *msg;
        } bad[] = {
            {"{\"process\": {\"args\": [\"x\"]}, \"root\": {\"path\": 3}}", "root.path"},
            {"{\"process\": {\"args\": [\"x\"]}, \"root\": 1}", "root.path"},
            {"{\"process\": {\"args\": [\"x\"]}, \"annotations\": []}",
             "annotations must be an object"},
            {"{\"process\": {\"args\": [\"x\"]}, \"annotations\": "
             "{\"io.kubernetes.cri.container-type\": \"pod\"}}",
             "must be \"sandbox\" or \"container\""},
            {"{\"process\": {\"args\": [\"x\"]}, \"annotations\": "
             "{\"io.kubernetes.cri.container-type\": \"container\"}}",
             "needs the annotation io.kubernetes.cri.sandbox-id"},
            {"{\"process\": {\"args\": [\"x\"]}, \"annotations\": "
             "{\"io.kubernetes.cri.sandbox-id\": \"../x\"}}",
             "sandbox-id must be 1-76 characters"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err = (struct bg_error){0};
                assert_int_equal(parse(bad[i].json, &p, &err), -EINVAL);
                if (!strstr(err.msg, bad[i].msg))
                        fail_msg("%s: got '%s', want '%s'", bad[i].json, err.msg, bad[i].msg);
        }
}

static void test_rootfs_size_cap(void **state)
{
        (void)state;
        char dir[] = "/tmp/test_shim.XXXXXX", path[64];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/sparse", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(truncate(path, 100ll << 20), 0); /* 100 MiB, no data */
        struct rootfs_summary s;
        struct bg_error err = {0};

        setenv("BANGER_SHIM_MAX_ROOTFS", "64M", 1);
        assert_int_equal(rootfs_max_bytes(), 64ull << 20);
        assert_int_equal(rootfs_summarize(dir, &s, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "BANGER_SHIM_MAX_ROOTFS"));
        assert_non_null(strstr(err.msg, "sparse"));

        setenv("BANGER_SHIM_MAX_ROOTFS", "1G", 1);
        err = (struct bg_error){0};
        assert_int_equal(rootfs_summarize(dir, &s, &err), 0);
        assert_true(s.bytes >= 100ull << 20);

        /* Garbage and values under 64M are the default. */
        static const char *const bad[] = {"", "x", "-1", "1M", "12Q", "99999999999999999999"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                setenv("BANGER_SHIM_MAX_ROOTFS", bad[i], 1);
                assert_int_equal(rootfs_max_bytes(), ROOTFS_MAX_BYTES_DEFAULT);
        }
        unsetenv("BANGER_SHIM_MAX_ROOTFS");
        unlink(path);
        rmdir(dir);
}

static struct stat fake_stat(uint64_t ino, int64_t ctime_s)
{
        struct stat st = {0};
        st.st_dev = 7;
        st.st_ino = ino;
        st.st_size = 3;
        st.st_mtim.tv_sec = 100;
        st.st_ctim.tv_sec = ctime_s;
        st.st_ctim.tv_nsec = 5;
        return st;
}

/* The digest cache: a hit needs every key field equal, a ctime newer than
 * FP_CACHE_RACY_S before the walk is never kept, the cap holds, a damaged
 * file or a directory others can write turns the cache off. */
static void test_fp_cache(void **state)
{
        (void)state;
        char dir[] = "/tmp/test_shim_fpc.XXXXXX", path[96];
        assert_non_null(mkdtemp(dir));
        uint8_t h1[32], out[32];
        memset(h1, 0xab, sizeof(h1));
        struct fp_cache *c = fp_cache_open_dir(dir, 10);
        assert_non_null(c);
        struct stat st = fake_stat(2, 1000);
        assert_false(fp_cache_lookup(c, &st, out));
        fp_cache_note(c, &st, h1);
        struct stat fresh = fake_stat(3, (int64_t)time(NULL));
        fp_cache_note(c, &fresh, h1); /* racy: not kept */
        fp_cache_save(c);

        c = fp_cache_open_dir(dir, 10);
        assert_true(fp_cache_lookup(c, &st, out));
        assert_memory_equal(out, h1, 32);
        assert_false(fp_cache_lookup(c, &fresh, out));
        struct stat other = st;
        other.st_ctim.tv_nsec++;
        assert_false(fp_cache_lookup(c, &other, out));
        other = st;
        other.st_size++;
        assert_false(fp_cache_lookup(c, &other, out));
        other = st;
        other.st_mtim.tv_nsec++;
        assert_false(fp_cache_lookup(c, &other, out));
        other = st;
        other.st_dev++;
        assert_false(fp_cache_lookup(c, &other, out));
        /* The cap: 20 noted, 10 kept. */
        for (uint64_t i = 0; i < 20; i++) {
                struct stat s = fake_stat(100 + i, 1000);
                fp_cache_note(c, &s, h1);
        }
        fp_cache_save(c);
        snprintf(path, sizeof(path), "%s/fingerprints", dir);
        struct stat fs;
        assert_int_equal(stat(path, &fs), 0);
        assert_int_equal(fs.st_size, 16 + 10 * 80);
        assert_int_equal(fs.st_mode & 0777, 0600);

        /* Damaged: cut short, the cache starts empty. */
        assert_int_equal(truncate(path, 16 + 80 + 7), 0);
        c = fp_cache_open_dir(dir, 10);
        assert_non_null(c);
        struct stat s100 = fake_stat(100, 1000);
        assert_false(fp_cache_lookup(c, &s100, out));
        fp_cache_free(c);
        /* A directory others can write: off. */
        chmod(dir, 0777);
        assert_null(fp_cache_open_dir(dir, 10));
        chmod(dir, 0700);
        assert_null(fp_cache_open_dir(dir, 0));
        unlink(path);
        rmdir(dir);
}

/* rootfs_summarize with the cache: the second walk of an unchanged tree
 * reads no file and gives the same fingerprint; a file rewritten with the
 * same size and mtime is read again (its ctime moved) and changes it. */
static void test_rootfs_fingerprint_cache(void **state)
{
        (void)state;
        char dir[] = "/tmp/test_shim_fpt.XXXXXX", cdir[] = "/tmp/test_shim_fpd.XXXXXX";
        char path[96];
        assert_non_null(mkdtemp(dir));
        assert_non_null(mkdtemp(cdir));
        setenv("BANGER_SHIM_CACHE_DIR", cdir, 1);
        snprintf(path, sizeof(path), "%s/a", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("one", f);
        fclose(f);
        struct stat st0;
        assert_int_equal(stat(path, &st0), 0);
        sleep(FP_CACHE_RACY_S + 1); /* older than the racy window */
        struct rootfs_summary s1, s2, s3;
        struct bg_error err = {0};
        assert_int_equal(rootfs_summarize(dir, &s1, &err), 0);
        assert_int_equal(s1.cached, 0);
        assert_int_equal(rootfs_summarize(dir, &s2, &err), 0);
        assert_int_equal(s2.cached, 1);
        assert_string_equal(s1.digest, s2.digest);
        /* Same size, same mtime (as an image would set it), new content. */
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("two", f);
        fclose(f);
        struct timespec ts[2] = {st0.st_atim, st0.st_mtim};
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
        assert_int_equal(rootfs_summarize(dir, &s3, &err), 0);
        assert_int_equal(s3.cached, 0);
        assert_string_not_equal(s1.digest, s3.digest);
        setenv("BANGER_SHIM_FINGERPRINT_CACHE", "0", 1);
        struct rootfs_summary s4;
        assert_int_equal(rootfs_summarize(dir, &s4, &err), 0);
        assert_string_equal(s3.digest, s4.digest);
        unsetenv("BANGER_SHIM_FINGERPRINT_CACHE");
        setenv("BANGER_SHIM_CACHE_DIR", "/dev/null/x", 1);
        unlink(path);
        rmdir(dir);
        snprintf(path, sizeof(path), "%s/fingerprints", cdir);
        unlink(path);
        rmdir(cdir);
}

static void test_parse_args(void **state)
{
        struct shim_opts o;
        const char *action;
        char *a1[] = {"shim",
                      "-namespace",
                      "k8s.io",
                      "--address=/run/c.sock",
                      "-publish-binary",
                      "/usr/bin/containerd",
                      "-id",
                      "abc_1.x",
                      "-bundle",
                      "/b",
                      "-debug",
                      "start"};
        assert_int_equal(shim_parse_args(12, a1, &o, &action), 0);
        assert_string_equal(action, "start");
        assert_string_equal(o.ns, "k8s.io");
        assert_string_equal(o.address, "/run/c.sock");
        assert_string_equal(o.id, "abc_1.x");
        assert_string_equal(o.bundle, "/b");
        assert_true(o.debug);

        char *a2[] = {"shim", "-namespace", "n", "-id", "i", "-bundle", "/b"};
        assert_int_equal(shim_parse_args(7, a2, &o, &action), 0);
        assert_string_equal(action, ""); /* serve */

        char *bad_id[] = {"shim", "-namespace", "n", "-id", "../x", "-bundle", "/b", "start"};
        assert_int_equal(shim_parse_args(8, bad_id, &o, &action), -EINVAL);
        char *no_ns[] = {"shim", "-id", "i", "-bundle", "/b", "start"};
        assert_int_equal(shim_parse_args(6, no_ns, &o, &action), -EINVAL);
        char *bad_flag[] = {"shim", "-namespace", "n", "-id", "i", "-frob", "x", "start"};
        assert_int_equal(shim_parse_args(8, bad_flag, &o, &action), -EINVAL);
        char *bad_action[] = {"shim", "-namespace", "n", "-id", "i", "-bundle", "/b", "run"};
        assert_int_equal(shim_parse_args(8, bad_action, &o, &action), -EINVAL);
        char *rel[] = {"shim", "-namespace", "n", "-id", "i", "-bundle", "b", "start"};
        assert_int_equal(shim_parse_args(8, rel, &o, &action), -EINVAL);
        char *missing[] = {"shim", "-namespace"};
        assert_int_equal(shim_parse_args(2, missing, &o, &action), -EINVAL);
}

static void test_address_and_vm_name(void **state)
{
        struct shim_opts o = {0};
        snprintf(o.ns, sizeof(o.ns), "default");
        snprintf(o.id, sizeof(o.id), "c1");
        snprintf(o.address, sizeof(o.address), "/run/containerd/containerd.sock");
        unsetenv("BANGER_SHIM_SOCKET_DIR");
        char path[4096];
        assert_int_equal(shim_socket_address(&o, path, sizeof(path)), 0);
        /* printf %s /run/containerd/containerd.sock/default/c1 | sha256sum */
        assert_string_equal(
            path,
            "/run/containerd/s/d25aa4ef11a84e954e74a5bcff06557d0b6ea8d0c00243896f29826694bbd888");
        setenv("BANGER_SHIM_SOCKET_DIR", "/tmp/x", 1);
        assert_int_equal(shim_socket_address(&o, path, sizeof(path)), 0);
        assert_int_equal(strncmp(path, "/tmp/x/d25aa4ef", 15), 0);
        unsetenv("BANGER_SHIM_SOCKET_DIR");

        char vm[64];
        assert_int_equal(shim_vm_name("default", "c1", vm, sizeof(vm)), 0);
        assert_int_equal(strlen(vm), 20);
        assert_int_equal(strncmp(vm, "ctr-", 4), 0);
        char vm2[64];
        assert_int_equal(shim_vm_name("other", "c1", vm2, sizeof(vm2)), 0);
        assert_string_not_equal(vm, vm2);
}

/* The guest's OOM kill count is hostile: the first answer is the base, an
 * event needs a new high, a count going down or flapping raises none, and
 * a task gets at most OOM_MAX_EVENTS however the count moves. */
static void test_oom_observe(void **state)
{
        (void)state;
        struct shim_oom_state s = {0};
        assert_false(shim_oom_observe(&s, 5)); /* base: kills before the task */
        assert_false(shim_oom_observe(&s, 5));
        assert_true(shim_oom_observe(&s, 6));
        assert_false(shim_oom_observe(&s, 0)); /* backwards */
        assert_false(shim_oom_observe(&s, 6)); /* back, not past the high */
        assert_true(shim_oom_observe(&s, UINT64_MAX)); /* absurd jump: one event */
        assert_false(shim_oom_observe(&s, UINT64_MAX));
        struct shim_oom_state f = {0};
        unsigned events = 0;
        for (uint64_t i = 0; i < 1000; i++)
                events += shim_oom_observe(&f, i);
        assert_int_equal(events, OOM_MAX_EVENTS);
}

int main(void)
{
        /* Never the user's own cache (not a directory: the cache is off). */
        setenv("BANGER_SHIM_CACHE_DIR", "/dev/null/x", 1);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bundle_process),
            cmocka_unit_test(test_bundle_user),
            cmocka_unit_test(test_bundle_root_and_sandbox),
            cmocka_unit_test(test_rootfs_size_cap),
            cmocka_unit_test(test_parse_args),
            cmocka_unit_test(test_address_and_vm_name),
            cmocka_unit_test(test_oom_observe),
            cmocka_unit_test(test_fp_cache),
            cmocka_unit_test(test_rootfs_fingerprint_cache),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
