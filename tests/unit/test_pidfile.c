/* lib/util/pidfile: start-time checks refuse a recycled PID, zombies count as
 * gone, and proc_reap waits for a multi-threaded child's whole group. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/pidfile.h"
#include "util/timeutil.h"

static char path[64];

static void test_pidfile_roundtrip_and_reuse(void **state)
{
        struct bg_error err = {0};
        pid_t pid;
        uint64_t start;
        assert_int_equal(pidfile_write(path, getpid(), &err), 0);
        assert_int_equal(pidfile_check(path, &pid), 1);
        assert_int_equal(pid, getpid());
        /* same PID, another start time: a recycled PID is not ours */
        assert_int_equal(pidfile_read(path, &pid, &start), 0);
        FILE *f = fopen(path, "w");
        fprintf(f, "%d %llu\n", (int)getpid(), (unsigned long long)start + 1);
        fclose(f);
        assert_int_equal(pidfile_check(path, &pid), 0);
        /* garbage and absence are "not running" */
        f = fopen(path, "w");
        fputs("nonsense\n", f);
        fclose(f);
        assert_int_equal(pidfile_check(path, &pid), 0);
        unlink(path);
        assert_int_equal(pidfile_check(path, &pid), 0);
}

static void *spin(void *arg)
{
        for (;;)
                pause();
        return NULL;
}

static void test_zombie_and_reap(void **state)
{
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                pthread_t t[4];
                for (int i = 0; i < 4; i++)
                        pthread_create(&t[i], NULL, spin, NULL);
                for (;;)
                        pause();
        }
        sleep_msec(100);
        uint64_t st;
        assert_int_equal(proc_start_time(child, &st), 0);
        kill(child, SIGKILL);
        assert_int_equal(proc_reap(child, 2000), 1);
        assert_int_equal(kill(child, 0), -1);
        assert_int_equal(errno, ESRCH);
        assert_int_equal(proc_start_time(child, &st), -ESRCH);
        /* not our child (or already reaped): 0 at once */
        assert_int_equal(proc_reap(child, 2000), 0);
        assert_int_equal(proc_reap(1, 2000), 0);

        /* a zombie counts as gone for pidfile checks */
        child = fork();
        if (child == 0)
                _exit(0);
        sleep_msec(100);
        assert_int_equal(proc_start_time(child, &st), -ESRCH);
        assert_int_equal(proc_reap(child, 2000), 1);
}

int main(void)
{
        snprintf(path, sizeof(path), "/tmp/bg-pidfile-%d.pid", (int)getpid());
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_pidfile_roundtrip_and_reuse),
            cmocka_unit_test(test_zombie_and_reap),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        unlink(path);
        return r;
}
