#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "agent_cmdline.h"
#include "agent_pid1.h"
#include "skip.h"

static void test_requested(void **state)
{
        assert_true(agent_pid1_requested("root=/dev/vda rw banger.init=agent banger.name=a"));
        assert_false(agent_pid1_requested("root=/dev/vda rw banger.name=a"));
        assert_false(agent_pid1_requested("banger.init=image"));
        assert_false(agent_pid1_requested("banger.init=agentx"));
        assert_false(agent_pid1_requested("banger.init"));
        /* The last occurrence wins, as for every banger.* parameter. */
        assert_false(agent_pid1_requested("banger.init=agent banger.init=image"));
        /* What follows "--" is init's, not the kernel's. */
        assert_false(agent_pid1_requested("root=/dev/vda -- banger.init=agent"));

        struct agent_config c;
        int r = agent_config_parse("banger.init=agent banger.name=x", &c, NULL, NULL);
        assert_int_equal(r, 0);
        assert_true(c.agent_init);
        r = agent_config_parse("banger.init=image", &c, NULL, NULL);
        assert_int_equal(r, 0);
        assert_false(c.agent_init);
        r = agent_config_parse("banger.init=/bin/sh", &c, NULL, NULL);
        assert_int_equal(r, 1); /* a warning, not a silent choice */
        assert_false(c.agent_init);
}

/* The "server": forks a grandchild that outlives it (an orphan re-parented
 * to the supervisor, this test being a child subreaper like PID 1 is the
 * reaper of everything), then exits. */
struct spawn_state {
        int spawned;
        int fail_at; /* the spawn number that fails (0 = none) */
};

static pid_t spawn_orphaning_server(void *userdata)
{
        struct spawn_state *st = userdata;
        st->spawned++;
        if (st->fail_at == st->spawned)
                return -EAGAIN;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                pid_t g = fork();
                if (g == 0) {
                        usleep(50 * 1000); /* outlive the parent */
                        _exit(0);
                }
                _exit(g < 0 ? 1 : 0);
        }
        return pid;
}

static void test_supervise_restarts_and_reaps(void **state)
{
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        struct spawn_state st = {0};
        struct agent_pid1_supervisor s = {
            .spawn = spawn_orphaning_server, .userdata = &st, .restart_ms = 60, .max_exits = 3};
        assert_int_equal(agent_pid1_supervise(&s), 0);
        assert_int_equal(s.server_exits, 3);
        assert_int_equal(st.spawned, 3); /* started again after each exit but the last */
        /* The orphans of the first two servers outlived them and were reaped
         * while the supervisor waited (the restart pause is longer than their
         * life); the last one may still run. */
        assert_true(s.orphans_reaped >= 2);
        /* Nothing is left as a zombie of ours after the last one ends. */
        usleep(100 * 1000);
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

static void test_supervise_first_spawn_fails(void **state)
{
        struct spawn_state st = {.fail_at = 1};
        struct agent_pid1_supervisor s = {.spawn = spawn_orphaning_server, .userdata = &st};
        assert_int_equal(agent_pid1_supervise(&s), -EAGAIN);
}

static void test_supervise_retries_a_failed_restart(void **state)
{
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        struct spawn_state st = {.fail_at = 2};
        struct agent_pid1_supervisor s = {
            .spawn = spawn_orphaning_server, .userdata = &st, .restart_ms = 10, .max_exits = 2};
        assert_int_equal(agent_pid1_supervise(&s), 0);
        assert_int_equal(st.spawned, 3); /* 1 ok, 2 failed and retried, 3 ok */
        usleep(100 * 1000);
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

static bool fs_is(const char *root, const char *rel, long magic)
{
        char p[512];
        struct statfs sf;
        snprintf(p, sizeof(p), "%s%s", root, rel);
        return statfs(p, &sf) == 0 && sf.f_type == magic;
}

/* In a child in its own mount namespace (nothing leaks to the host): a
 * tmpfs "root" with /dev (as the initramfs leaves it) gets devpts, /dev/shm,
 * /run and a 1777 /tmp; without /dev the two mounts under it fail, are
 * counted, and the others are still made. Exit status: which check failed. */
static int mount_api_child(void)
{
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return 10;
        char root[] = "/tmp/banger-pid1-XXXXXX";
        if (!mkdtemp(root) || mount("tmpfs", root, "tmpfs", 0, "mode=0755") < 0)
                return 11;
        char dev[64];
        snprintf(dev, sizeof(dev), "%s/dev", root);
        if (mkdir(dev, 0755) < 0)
                return 12;
        if (agent_pid1_mount_api(root) != 0)
                return 13;
        if (!fs_is(root, "/dev/pts", DEVPTS_SUPER_MAGIC))
                return 14;
        if (!fs_is(root, "/dev/shm", TMPFS_MAGIC) || !fs_is(root, "/run", TMPFS_MAGIC))
                return 15;
        struct stat st;
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%s/tmp", root);
        if (stat(tmp, &st) < 0 || (st.st_mode & 07777) != 01777)
                return 16;
        /* A second root without /dev. */
        umount2(root, MNT_DETACH);
        if (mount("tmpfs", root, "tmpfs", 0, "mode=0755") < 0)
                return 17;
        if (agent_pid1_mount_api(root) != 2)
                return 18;
        if (!fs_is(root, "/run", TMPFS_MAGIC))
                return 19;
        umount2(root, MNT_DETACH);
        rmdir(root);
        return 0;
}

static void test_mount_api(void **state)
{
        if (geteuid() != 0) {
                test_skip("not-root", "mounting devpts and tmpfs needs root");
                return;
        }
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(mount_api_child());
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_requested),
            cmocka_unit_test(test_supervise_restarts_and_reaps),
            cmocka_unit_test(test_supervise_first_spawn_fails),
            cmocka_unit_test(test_supervise_retries_a_failed_restart),
            cmocka_unit_test(test_mount_api),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
