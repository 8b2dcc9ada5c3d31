/* lib/util/run: PATH lookup finds only programs we may run and skips
 * relative PATH entries; bg_run_wait wires the fds asked for, kills a child
 * (and what it started) that outlives its timeout, and starts children with
 * no blocked signal and SIGPIPE at its default even when we block or ignore
 * them, as the daemons do. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fileio.h"
#include "util/fs.h"
#include "util/pidfile.h"
#include "util/run.h"
#include "util/timeutil.h"

#include "test_tmpdir.h"

static char dir[256];
static char *saved_path;

static int setup(void **state)
{
        const char *p = getenv("PATH");
        saved_path = strdup(p ? p : "/usr/bin:/bin");
        return test_tmpdir_make(dir, sizeof(dir), "run");
}

static int teardown(void **state)
{
        setenv("PATH", saved_path, 1);
        free(saved_path);
        return test_tmpdir_remove(dir);
}

static const char *at(const char *name)
{
        return test_path(dir, name);
}

static void put(const char *name, const char *text, mode_t mode)
{
        struct bg_error err = {0};
        assert_int_equal(write_file_atomic(at(name), text, strlen(text), mode, &err), 0);
}

static void test_find_program(void **state)
{
        char buf[512];
        assert_int_equal(mkdir(at("bin"), 0700), 0);
        assert_int_equal(mkdir(at("sbin"), 0700), 0);
        put("bin/tool", "#!/bin/sh\n", 0755);
        put("bin/noexec", "data", 0644);
        put("sbin/admin", "#!/bin/sh\n", 0755);
        assert_int_equal(mkdir(at("bin/adir"), 0755), 0);

        char path[600];
        snprintf(path, sizeof(path), "relative:%s::%s", at("bin"), "/usr/bin:/bin");
        setenv("PATH", path, 1);
        assert_int_equal(find_program("tool", NULL, buf, sizeof(buf)), 0);
        assert_string_equal(buf, at("bin/tool"));
        /* not executable, a directory, absent: misses */
        assert_int_equal(find_program("noexec", NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program("adir", NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program("no-such-program-here", NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program("", NULL, buf, sizeof(buf)), -ENOENT);
        /* extra directories come after PATH */
        assert_int_equal(find_program("admin", NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program("admin", "/nonexistent:sbin-rel", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program("admin", at("sbin"), buf, sizeof(buf)), 0);
        assert_string_equal(buf, at("sbin/admin"));
        /* find_program_in: only the directories given, never PATH */
        assert_int_equal(find_program_in("tool", at("sbin"), buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program_in("admin", at("sbin"), buf, sizeof(buf)), 0);
        assert_int_equal(find_program_in("sbin/admin", dir, buf, sizeof(buf)), -ENOENT);
}

static void test_find_program_slash_and_length(void **state)
{
        char buf[512];
        put("x", "#!/bin/sh\n", 0755);
        put("nx", "", 0644);
        assert_int_equal(find_program(at("x"), NULL, buf, sizeof(buf)), 0);
        assert_string_equal(buf, at("x"));
        assert_int_equal(find_program(at("nx"), NULL, buf, sizeof(buf)), -EACCES);
        assert_int_equal(find_program(at("none"), NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(find_program(dir, NULL, buf, sizeof(buf)), -EACCES);
        assert_int_equal(find_program(at("x"), NULL, buf, 4), -ENAMETOOLONG);
        /* PATH unset: the usual directories */
        unsetenv("PATH");
        assert_int_equal(find_program("sh", NULL, buf, sizeof(buf)), 0);
        assert_true(buf[0] == '/');
}

static void test_relative_path_entry_skipped(void **state)
{
        char buf[512];
        assert_int_equal(mkdir(at("rel"), 0700), 0);
        put("rel/only-here", "#!/bin/sh\n", 0755);
        assert_int_equal(chdir(dir), 0);
        setenv("PATH", "rel:.", 1);
        assert_int_equal(find_program("only-here", NULL, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(chdir("/"), 0);
}

static void test_run_wait_status_and_fds(void **state)
{
        struct bg_error err = {0};
        const char *ok[] = {"sh", "-c", "read x; echo \"got $x\"; echo oops >&2", NULL};
        int in = open(at("in"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_int_equal(write(in, "hi\n", 3), 3);
        assert_int_equal(lseek(in, 0, SEEK_SET), 0);
        int out = open(at("out"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        int er = open(at("err"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_int_equal(bg_run_wait(ok, in, out, er, NULL, &err), 0);
        char *buf;
        assert_int_equal(read_file_capped(at("out"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "got hi\n");
        free(buf);
        assert_int_equal(read_file_capped(at("err"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "oops\n");
        free(buf);
        close(in);
        close(er);

        /* stdout and stderr to the same fd; stdin /dev/null */
        assert_int_equal(ftruncate(out, 0), 0);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        const char *both[] = {"sh", "-c", "cat; echo a; echo b >&2", NULL};
        assert_int_equal(bg_run_wait(both, BG_RUN_NULL, out, out, NULL, &err), 0);
        assert_int_equal(read_file_capped(at("out"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "a\nb\n");
        free(buf);
        close(out);

        const char *fail[] = {"sh", "-c", "exit 3", NULL};
        assert_int_equal(bg_run_wait(fail, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL, NULL, &err), 3);
        assert_string_equal(err.msg, "sh failed (exit 3)");
        const char *sig[] = {"sh", "-c", "kill -KILL $$", NULL};
        assert_int_equal(bg_run_wait(sig, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL, NULL, &err),
                         128 + SIGKILL);
        assert_non_null(strstr(err.msg, "signal 9"));
        const char *none[] = {"no-such-program-here", NULL};
        assert_int_equal(bg_run_wait(none, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL, NULL, &err),
                         -ENOENT);
        assert_non_null(strstr(err.msg, "run no-such-program-here"));
}

/* Our fds 1 and 2 swapped for the child: a naive dup2 order would send both
 * to the same place. */
static void test_run_wait_low_fds(void **state)
{
        struct bg_error err = {0};
        int saved1 = dup(1), saved2 = dup(2);
        int a = open(at("a"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        int b = open(at("b"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        dup2(a, 1);
        dup2(b, 2);
        const char *argv[] = {"sh", "-c", "echo to-out; echo to-err >&2", NULL};
        int r = bg_run_wait(argv, BG_RUN_NULL, 2, 1, NULL, &err);
        dup2(saved1, 1);
        dup2(saved2, 2);
        assert_int_equal(r, 0);
        char *buf;
        assert_int_equal(read_file_capped(at("a"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "to-err\n");
        free(buf);
        assert_int_equal(read_file_capped(at("b"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "to-out\n");
        free(buf);
        close(a);
        close(b);
        close(saved1);
        close(saved2);
}

static void test_run_wait_timeout_kills_group(void **state)
{
        struct bg_error err = {0};
        char script[512];
        /* The child starts a grandchild, records its pid, and waits. */
        snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; wait", at("grandchild"));
        const char *argv[] = {"sh", "-c", script, NULL};
        uint64_t t0 = now_mono_msec();
        int r = bg_run_wait(argv, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL,
                            &(struct bg_run_opts){.timeout_ms = 300}, &err);
        uint64_t took = now_mono_msec() - t0;
        assert_int_equal(r, -ETIMEDOUT);
        assert_int_equal(err.code, ETIMEDOUT);
        assert_non_null(strstr(err.msg, "did not finish within 300 ms"));
        assert_true(took >= 300 && took < 5000);
        char *buf;
        assert_int_equal(read_file_capped(at("grandchild"), 100, 0, &buf, NULL, &err), 0);
        pid_t gc = atoi(buf);
        free(buf);
        assert_true(gc > 0);
        /* the grandchild was killed with it (gone or a zombie for init) */
        uint64_t start;
        for (int i = 0; i < 200 && proc_start_time(gc, &start) == 0; i++)
                sleep_msec(10);
        assert_int_equal(proc_start_time(gc, &start), -ESRCH);

        /* within its time: its own status */
        const char *quick[] = {"sh", "-c", "exit 4", NULL};
        assert_int_equal(bg_run_wait(quick, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL,
                                     &(struct bg_run_opts){.timeout_ms = 10000}, &err),
                         4);
}

static void test_run_env(void **state)
{
        struct bg_error err = {0};
        int out = open(at("env"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        setenv("BG_TEST_INHERITED", "yes", 1);
        const char *env[] = {"BG_TEST_ADDED=1", "BG_TEST_INHERITED=replaced", NULL};
        const char *argv[] = {"/bin/sh", "-c",
                              "echo \"$BG_TEST_ADDED $BG_TEST_INHERITED ${HOME:-nohome}\"", NULL};
        assert_int_equal(bg_run_wait(argv, BG_RUN_NULL, out, BG_RUN_INHERIT,
                                     &(struct bg_run_opts){.env = env}, &err),
                         0);
        setenv("HOME", "/somewhere", 1);
        const char *only[] = {"BG_TEST_ADDED=2", NULL};
        assert_int_equal(bg_run_wait(argv, BG_RUN_NULL, out, BG_RUN_INHERIT,
                                     &(struct bg_run_opts){.env = only, .env_only = true}, &err),
                         0);
        close(out);
        unsetenv("BG_TEST_INHERITED");
        char *buf;
        assert_int_equal(read_file_capped(at("env"), 200, 0, &buf, NULL, &err), 0);
        /* first: added, replaced, inherited; second: only what was given */
        assert_true(strncmp(buf, "1 replaced ", 11) == 0);
        assert_non_null(strstr(buf, "\n2  nohome\n"));
        free(buf);
}

/* As in a daemon: SIGTERM blocked, SIGPIPE ignored. The child must not
 * inherit either. */
static void test_children_get_default_signals(void **state)
{
        struct bg_error err = {0};
        sigset_t term, old;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, &old);
        struct sigaction ign = {.sa_handler = SIG_IGN}, oldpipe;
        sigaction(SIGPIPE, &ign, &oldpipe);

        const char *argv[] = {"sh", "-c", "kill -TERM $$; exit 0", NULL};
        int r = bg_run_wait(argv, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL, NULL, &err);
        char *status = NULL;
        const char *cat[] = {"cat", "/proc/self/status", NULL};
        int rc = bg_run_capture(cat, NULL, &status, NULL, 1 << 16, &err);

        sigprocmask(SIG_SETMASK, &old, NULL);
        sigaction(SIGPIPE, &oldpipe, NULL);
        assert_int_equal(r, 128 + SIGTERM);
        assert_int_equal(rc, 0);
        const char *blk = strstr(status, "SigBlk:");
        const char *ig = strstr(status, "SigIgn:");
        assert_non_null(blk);
        assert_non_null(ig);
        assert_int_equal(strtoull(blk + 7, NULL, 16), 0);
        assert_int_equal(strtoull(ig + 7, NULL, 16) & (1ull << (SIGPIPE - 1)), 0);
        free(status);
}

static void test_capture(void **state)
{
        struct bg_error err = {0};
        char *out = NULL;
        size_t len;
        const char *argv[] = {"sh", "-c", "printf abc; echo why >&2; exit 2", NULL};
        assert_int_equal(bg_run_capture(argv, NULL, &out, &len, 100, &err), 2);
        assert_string_equal(out, "abc");
        assert_int_equal(len, 3);
        assert_string_equal(err.msg, "sh failed (exit 2): why");
        free(out);
        const char *big[] = {"sh", "-c", "printf 0123456789", NULL};
        assert_int_equal(bg_run_capture(big, NULL, &out, &len, 5, &err), -E2BIG);
        assert_null(out);
}

static void test_head(void **state)
{
        struct bg_error err = {0};
        char buf[8];
        const char *argv[] = {"sh", "-c", "printf 0123; echo 456789 >&2; exit 3", NULL};
        /* stdout and stderr, cut to what buf holds; the exit status */
        assert_int_equal(bg_run_head(argv, NULL, true, buf, sizeof(buf), &err), 3);
        assert_string_equal(buf, "0123456");
        assert_string_equal(err.msg, "sh failed (exit 3)");
        /* stdout only */
        assert_int_equal(bg_run_head(argv, NULL, false, buf, sizeof(buf), &err), 3);
        assert_string_equal(buf, "0123");
        /* a timeout: what it printed before, and -ETIMEDOUT */
        const char *slow[] = {"sh", "-c", "printf ab; sleep 30", NULL};
        assert_int_equal(bg_run_head(slow, &(struct bg_run_opts){.timeout_ms = 200}, true, buf,
                                     sizeof(buf), &err),
                         -ETIMEDOUT);
        assert_string_equal(buf, "ab");
        /* no such program */
        const char *none[] = {"/nonexistent/prog", NULL};
        assert_true(bg_run_head(none, NULL, true, buf, sizeof(buf), &err) < 0);
        assert_string_equal(buf, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_find_program, setup, teardown),
            cmocka_unit_test_setup_teardown(test_find_program_slash_and_length, setup, teardown),
            cmocka_unit_test_setup_teardown(test_relative_path_entry_skipped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_wait_status_and_fds, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_wait_low_fds, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_wait_timeout_kills_group, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_env, setup, teardown),
            cmocka_unit_test_setup_teardown(test_children_get_default_signals, setup, teardown),
            cmocka_unit_test_setup_teardown(test_capture, setup, teardown),
            cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
