/* systemd-resolved routing of lib/hostnet, against a fake resolvectl that
 * records its arguments, and a fake /run/systemd/resolve. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostnet/resolved.h"
#include "test_tmpdir.h"

struct fx {
        char dir[128];
        char run[160];
        char exe[160];
        char log[160];
        struct resolved_env env;
};

static void write_file(const char *path, const char *text, mode_t mode)
{
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        assert_int_equal(chmod(path, mode), 0);
}

/* The fake: logs "$*" and exits with the code in $dir/rc (default 0), after
 * printing $dir/msg; sleeps when $dir/sleep exists. */
static void write_fake(struct fx *f)
{
        char script[1024];
        snprintf(script, sizeof(script),
                 "#!/bin/sh\n"
                 "echo \"$*\" >> %s\n"
                 "[ -f %s/sleep ] && sleep 5\n"
                 "[ -f %s/msg ] && cat %s/msg\n"
                 "[ -f %s/rc ] && exit $(cat %s/rc)\n"
                 "exit 0\n",
                 f->log, f->dir, f->dir, f->dir, f->dir, f->dir);
        write_file(f->exe, script, 0755);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_hostnet_resolved.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
        snprintf(f->exe, sizeof(f->exe), "%s/resolvectl", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
        assert_int_equal(mkdir(f->run, 0755), 0);
        write_fake(f);
        f->env = (struct resolved_env){.resolvectl = f->exe, .run_dir = f->run, .timeout_ms = 3000};
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        assert_int_equal(test_tmpdir_remove(f->dir), 0);
        free(f);
        return 0;
}

static void mark_running(struct fx *f)
{
        char p[200];
        snprintf(p, sizeof(p), "%s/stub-resolv.conf", f->run);
        write_file(p, "nameserver 127.0.0.53\n", 0644);
}

static char *slurp(const char *path)
{
        FILE *fp = fopen(path, "re");
        if (!fp)
                return NULL;
        static char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        return buf;
}

static struct in_addr A(const char *s) {
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, s, &a), 1);
        return a;
}

static void
test_not_running(void **state)
{
        struct fx *f = *state;
        struct bg_error err = {0};
        assert_false(resolved_running(&f->env));
        assert_int_equal(resolved_route(&f->env, "banger0", A("172.30.0.1"), 42069, &err), 0);
        assert_int_equal(resolved_revert(&f->env, "banger0", &err), 0);
        assert_null(slurp(f->log)); /* never ran */
        char text[512];
        resolved_status_text(&f->env, "banger0", A("127.0.0.1"), 42069, text, sizeof(text));
        assert_non_null(strstr(text, "not running"));
        assert_non_null(strstr(text, "server=/vm/127.0.0.1#42069"));
        /* Running dir but no executable resolvectl: not usable either. */
        mark_running(f);
        assert_true(resolved_running(&f->env));
        assert_int_equal(chmod(f->exe, 0644), 0);
        assert_false(resolved_running(&f->env));
}

static void test_route_and_revert(void **state)
{
        struct fx *f = *state;
        struct bg_error err = {0};
        mark_running(f);
        assert_int_equal(resolved_route(&f->env, "banger0", A("172.30.0.1"), 42069, &err), 1);
        assert_string_equal(slurp(f->log), "dns banger0 172.30.0.1:42069\ndomain banger0 ~vm\n");
        assert_int_equal(resolved_revert(&f->env, "banger0", &err), 1);
        assert_string_equal(slurp(f->log), "dns banger0 172.30.0.1:42069\ndomain banger0 ~vm\n"
                                           "revert banger0\n");
        char text[512];
        resolved_status_text(&f->env, "banger0", A("172.30.0.1"), 42069, text, sizeof(text));
        assert_non_null(strstr(text, "~vm on link banger0 go to 172.30.0.1:42069"));
}

static void test_failure_reported(void **state)
{
        struct fx *f = *state;
        struct bg_error err = {0};
        mark_running(f);
        char p[200];
        snprintf(p, sizeof(p), "%s/rc", f->dir);
        write_file(p, "3\n", 0644);
        snprintf(p, sizeof(p), "%s/msg", f->dir);
        write_file(p, "Failed to set DNS configuration: Link banger0 not known\n", 0644);
        assert_int_equal(resolved_route(&f->env, "banger0", A("172.30.0.1"), 42069, &err), -EIO);
        assert_non_null(strstr(err.msg, "resolvectl dns banger0 failed (exit 3)"));
        assert_non_null(strstr(err.msg, "Link banger0 not known"));
        assert_null(strchr(err.msg, '\n'));
        assert_string_equal(slurp(f->log), "dns banger0 172.30.0.1:42069\n");
}

static void test_timeout(void **state)
{
        struct fx *f = *state;
        struct bg_error err = {0};
        mark_running(f);
        char p[200];
        snprintf(p, sizeof(p), "%s/sleep", f->dir);
        write_file(p, "", 0644);
        f->env.timeout_ms = 300;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(resolved_revert(&f->env, "banger0", &err), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_true(ms < 3000);
        assert_non_null(strstr(err.msg, "no answer"));
}

static void test_refusals(void **state)
{
        struct fx *f = *state;
        struct bg_error err = {0};
        mark_running(f);
        assert_int_equal(resolved_route(&f->env, "bad name", A("172.30.0.1"), 42069, &err),
                         -EINVAL);
        assert_int_equal(resolved_route(&f->env, "banger0;x", A("172.30.0.1"), 42069, &err),
                         -EINVAL);
        assert_int_equal(resolved_route(&f->env, "banger0", A("172.30.0.1"), 0, &err), -EINVAL);
        assert_int_equal(resolved_revert(&f->env, "-h", &err), -EINVAL); /* not an option */
        assert_null(slurp(f->log));
        struct resolved_env rel = {.resolvectl = "resolvectl", .run_dir = f->run};
        assert_false(resolved_running(&rel)); /* a relative path is never used */
        assert_int_equal(resolved_revert(&rel, "banger0", &err), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_not_running, setup, teardown),
            cmocka_unit_test_setup_teardown(test_route_and_revert, setup, teardown),
            cmocka_unit_test_setup_teardown(test_failure_reported, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
