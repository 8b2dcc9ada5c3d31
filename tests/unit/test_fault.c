/* lib/fault: BANGER_FAULT=<point>[:<service>] kills the process at that
 * point and nowhere else; another service's point, an unset variable and
 * system mode arm nothing. Each case runs in a child process. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault/fault.h"
#include "log/log.h"

/* Runs the points in a child with BANGER_FAULT=env (NULL: unset); returns
 * the signal that ended it, or 0 when it passed every point. */
static int run_child(const char *env, const char *service, bool system_mode)
{
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                log_setup("test", LOG_LEVEL_ERROR, STDERR_FILENO);
                if (env)
                        setenv("BANGER_FAULT", env, 1);
                else
                        unsetenv("BANGER_FAULT");
                fault_setup(service, system_mode);
                fault_point("vm.create");   /* a prefix of the armed point: no */
                fault_point("vm.create.x"); /* a longer name: no */
                fault_point2("vm.create", "disks");
                _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st))
                return WTERMSIG(st);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        return 0;
}

static void test_fault(void **state)
{
        (void)state;
        assert_int_equal(run_child("vm.create.disks", "vmsvc", false), SIGKILL);
        assert_int_equal(run_child("vm.create.disks:vmsvc", "vmsvc", false), SIGKILL);
        /* Another service's point, another point, none. */
        assert_int_equal(run_child("vm.create.disks:netsvc", "vmsvc", false), 0);
        assert_int_equal(run_child("vm.create.boot", "vmsvc", false), 0);
        assert_int_equal(run_child("", "vmsvc", false), 0);
        assert_int_equal(run_child(NULL, "vmsvc", false), 0);
        /* System mode ignores it: the owner must not stop root's netsvc. */
        assert_int_equal(run_child("vm.create.disks", "netsvc", true), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_fault)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
