/* banger-agent enter (guest/agent/agent_enter.h): its arguments, and, as
 * root, a real chroot into a busybox tree: the command runs in the tree (not
 * the caller's root), in --cwd, as --user with --groups, with PATH looked up
 * inside the tree, in the --cgroup given; a missing program is 127, a missing
 * directory 125. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_enter.h"
#include "skip.h"
#include "test_tmpdir.h"

static int parse(char *msg, size_t len, struct agent_enter_opts *o, ...)
{
        char *argv[32] = {"enter"};
        int argc = 1;
        va_list ap;
        va_start(ap, o);
        for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
                argv[argc++] = a;
        va_end(ap);
        static char *keep[32];
        memcpy(keep, argv, sizeof(argv)); /* o->argv points into it */
        return agent_enter_parse(argc, keep, o, msg, len);
}

static void test_parse(void **state)
{
        struct agent_enter_opts o;
        char msg[512];
        assert_int_equal(parse(msg, sizeof(msg), &o, "--root=/r", "--", "ls", "-l", NULL), 0);
        assert_string_equal(o.root, "/r");
        assert_string_equal(o.cwd, "/");
        assert_null(o.cgroup);
        assert_false(o.set_user);
        assert_string_equal(o.argv[0], "ls");
        assert_string_equal(o.argv[1], "-l");
        assert_null(o.argv[2]);

        assert_int_equal(parse(msg, sizeof(msg), &o, "--root=/r", "--cwd=/w", "--cgroup=/c/g",
                               "--user=1000:100",
                               "--groups=4,24,4294967294", "--", "id", NULL),
                         0);
        assert_string_equal(o.cwd, "/w");
        assert_string_equal(o.cgroup, "/c/g");
        assert_true(o.set_user);
        assert_int_equal(o.uid, 1000);
        assert_int_equal(o.gid, 100);
        assert_int_equal(o.n_groups, 3);
        assert_int_equal(o.groups[2], 4294967294u);
        assert_int_equal(
            parse(msg, sizeof(msg), &o, "--root=/r", "--user=0:0", "--groups=", "--", "id", NULL),
            0);
        assert_int_equal(o.n_groups, 0);

        struct {
                const char *a, *b, *needle;
        } bad[] = {
            {"--root=/r", "--cwd=w", "--cwd must be an absolute path"},
            {"--root=/r", "--cgroup=g", "--cgroup must be an absolute path"},
            {"--root=/r", "--user=1000", "--user is not UID:GID"},
            {"--root=/r", "--user=a:1", "--user is not UID:GID"},
            {"--root=/r", "--user=4294967295:0", "--user is not UID:GID"},
            {"--root=/r", "--user=99999999999:0", "--user is not UID:GID"},
            {"--root=/r", "--user=-1:0", "--user is not UID:GID"},
            {"--root=/r", "--groups=1,x", "comma-separated"},
            {"--root=/r", "--groups=1", "--groups needs --user"},
            {"--root=/r", "--frob", "unknown option"},
            {"--cwd=/", "--", "--root=DIR is required"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int r = strcmp(bad[i].b, "--") == 0
                            ? parse(msg, sizeof(msg), &o, bad[i].a, "--", "x", NULL)
                            : parse(msg, sizeof(msg), &o, bad[i].a, bad[i].b, "--", "x", NULL);
                if (r != -EINVAL || !strstr(msg, bad[i].needle))
                        fail_msg("%s %s: r=%d msg '%s', want '%s'", bad[i].a, bad[i].b, r, msg,
                                 bad[i].needle);
        }
        assert_int_equal(parse(msg, sizeof(msg), &o, "--root=r", "--", "x", NULL), -EINVAL);
        assert_non_null(strstr(msg, "--root must be an absolute path"));
        assert_int_equal(parse(msg, sizeof(msg), &o, "--root=/r", "--", NULL), -EINVAL);
        assert_non_null(strstr(msg, "no command"));
        assert_int_equal(parse(msg, sizeof(msg), &o, "--root=/r", NULL), -EINVAL);

        char groups[1024] = "--groups=";
        for (int i = 0; i < 65; i++)
                snprintf(groups + strlen(groups), sizeof(groups) - strlen(groups), "%s%d",
                         i ? "," : "", i);
        assert_int_equal(
            parse(msg, sizeof(msg), &o, "--root=/r", "--user=1:1", groups, "--", "x", NULL),
            -EINVAL);
        assert_non_null(strstr(msg, "more than 64 groups"));
}

/* Runs `enter ARGS...` in a child with PATH=/bin and stdout/stderr to out
 * (with proc set, in a mount namespace of its own with proc mounted there);
 * its exit code. */
static int run_enter_proc(char *out, size_t outlen, char *const *args, const char *proc)
{
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(p[1], 1);
                dup2(p[1], 2);
                close(p[0]);
                setenv("PATH", "/bin", 1);
                setenv("MARK", "in-tree", 1);
                if (proc && (unshare(CLONE_NEWNS) < 0 ||
                             mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                             mount("proc", proc, "proc", 0, NULL) < 0))
                        _exit(99);
                int argc = 0;
                while (args[argc])
                        argc++;
                _exit(agent_enter_main(argc, (char **)args));
        }
        close(p[1]);
        size_t n = 0;
        ssize_t k;
        while (n + 1 < outlen && (k = read(p[0], out + n, outlen - 1 - n)) > 0)
                n += (size_t)k;
        out[n] = '\0';
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        return WEXITSTATUS(st);
}

static int run_enter(char *out, size_t outlen, char *const *args)
{
        return run_enter_proc(out, outlen, args, NULL);
}

static void test_chroot(void **state)
{
        if (geteuid() != 0) {
                test_skip("not-root", "chroot needs root");
                return;
        }
        if (access("/bin/busybox", X_OK) != 0)
                fail_msg("/bin/busybox is missing: scripts/install-deps.sh installs busybox-static");
        char *t = test_tmpdir_new("enter");
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "set -e; mkdir -p %s/bin %s/w/sub %s/proc; cp /bin/busybox %s/bin/; "
                 "for a in sh id cat; do ln -s busybox %s/bin/$a; done; "
                 "echo tree-marker > %s/marker; chmod 755 %s %s/w %s/w/sub",
                 t, t, t, t, t, t, t, t, t);
        assert_int_equal(system(cmd), 0);

        char out[4096];
        char root[600];
        snprintf(root, sizeof(root), "--root=%s", t);
        char *a1[] = {"enter",
                      root,
                      "--cwd=/w/sub",
                      "--user=1234:5678",
                      "--groups=7,8",
                      "--",
                      "sh",
                      "-c",
                      "pwd; id -u; id -g; id -G; echo $MARK; cat /marker",
                      NULL};
        int code = run_enter(out, sizeof(out), a1);
        if (code != 0 || strcmp(out, "/w/sub\n1234\n5678\n5678 7 8\nin-tree\ntree-marker\n") != 0)
                fail_msg("enter: exit %d, output:\n%s", code, out);

        /* No --user: root, in "/" */
        char *a2[] = {"enter", root, "--", "sh", "-c", "pwd; id -u; id -G", NULL};
        code = run_enter(out, sizeof(out), a2);
        if (code != 0 || strcmp(out, "/\n0\n0\n") != 0)
                fail_msg("enter as root: exit %d, output:\n%s", code, out);

        /* The tree's PATH, not the caller's: a program only the host has. */
        char *a3[] = {"enter", root, "--", "ls", NULL};
        code = run_enter(out, sizeof(out), a3);
        assert_int_equal(code, 127);
        assert_non_null(strstr(out, "cannot run ls: No such file or directory"));

        char *a4[] = {"enter", root, "--cwd=/nope", "--", "sh", "-c", "true", NULL};
        code = run_enter(out, sizeof(out), a4);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        assert_non_null(strstr(out, "cannot change to directory /nope"));

        char root2[620];
        snprintf(root2, sizeof(root2), "--root=%s/missing", t);
        char *a5[] = {"enter", root2, "--", "sh", NULL};
        code = run_enter(out, sizeof(out), a5);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        assert_non_null(strstr(out, "cannot change root to"));

        char *a6[] = {"enter", root, "--", "/marker", NULL}; /* not executable */
        code = run_enter(out, sizeof(out), a6);
        assert_int_equal(code, 126);

        /* --no-new-privs: the bit is set for the command */
        char *a8[] = {"enter", root, "--no-new-privs",        "--",
                      "sh",    "-c", "cat /proc/self/status", NULL};
        char proc[600];
        snprintf(proc, sizeof(proc), "%s/proc", t);
        code = run_enter_proc(out, sizeof(out), a8, proc);
        assert_int_equal(code, 0);
        assert_non_null(strstr(out, "NoNewPrivs:\t1"));
        char *a9[] = {"enter", root, "--", "sh", "-c", "cat /proc/self/status", NULL};
        code = run_enter_proc(out, sizeof(out), a9, proc);
        assert_int_equal(code, 0);
        assert_non_null(strstr(out, "NoNewPrivs:\t0"));

        /* --cgroup: the command runs in that cgroup v2 directory (one of
         * a cgroup2 mounted here: the host may have cgroup v1 at
         * /sys/fs/cgroup); one missing where no cgroup v2 would hold it is
         * passed over; missing on cgroup v2, a file, a directory that is
         * no cgroup: errors. */
        char *cgm = test_tmpdir_new("enter-cg");
        if (mount("none", cgm, "cgroup2", 0, NULL) < 0)
                fail_msg("mount cgroup2 on %s: %s", cgm, strerror(errno));
        char cgdir[700], cgopt[720], want[128];
        snprintf(cgdir, sizeof(cgdir), "%s/banger-enter-test-%d", cgm, (int)getpid());
        if (mkdir(cgdir, 0755) < 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", cgdir, strerror(errno));
        snprintf(cgopt, sizeof(cgopt), "--cgroup=%s", cgdir);
        char *a10[] = {"enter", root, cgopt, "--", "cat", "/proc/self/cgroup", NULL};
        code = run_enter_proc(out, sizeof(out), a10, proc);
        snprintf(want, sizeof(want), "0::/banger-enter-test-%d\n", (int)getpid());
        if (code != 0 || !strstr(out, want))
                fail_msg("enter --cgroup: exit %d, output:\n%s", code, out);
        /* missing where a cgroup v2 hierarchy would hold it: an error */
        char cgopt2[760];
        snprintf(cgopt2, sizeof(cgopt2), "--cgroup=%s/missing", cgdir);
        char *a13[] = {"enter", root, cgopt2, "--", "sh", "-c", "true", NULL};
        code = run_enter(out, sizeof(out), a13);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        if (!strstr(out, "cannot join cgroup") || !strstr(out, "the container's cgroup is missing"))
                fail_msg("enter --cgroup=missing: %s", out);
        rmdir(cgdir);
        umount2(cgm, MNT_DETACH);
        test_tmpdir_remove(cgm);
        free(cgm);
        char *a11[] = {"enter", root, "--cgroup=/nonexistent/banger-cg", "--", "sh", "-c", "true",
                       NULL};
        code = run_enter(out, sizeof(out), a11);
        if (code != 0)
                fail_msg("enter with a cgroup directory that is not there: exit %d:\n%s", code,
                         out);
        char marker_cg[620];
        snprintf(marker_cg, sizeof(marker_cg), "--cgroup=%s/marker", t); /* a file */
        char *a12[] = {"enter", root, marker_cg, "--", "sh", "-c", "true", NULL};
        code = run_enter(out, sizeof(out), a12);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        assert_non_null(strstr(out, "cannot join cgroup"));
        char plain_cg[620];
        snprintf(plain_cg, sizeof(plain_cg), "--cgroup=%s/w", t); /* a directory, no cgroup */
        char *a14[] = {"enter", root, plain_cg, "--", "sh", "-c", "true", NULL};
        code = run_enter(out, sizeof(out), a14);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        assert_non_null(strstr(out, "not a cgroup v2 directory"));

        char *a7[] = {"enter", root, "--user=1:x", "--", "sh", NULL};
        code = run_enter(out, sizeof(out), a7);
        assert_int_equal(code, AGENT_ENTER_EXIT_SETUP);
        assert_non_null(strstr(out, "--user is not UID:GID"));

        test_tmpdir_remove(t);
        free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse),
            cmocka_unit_test(test_chroot),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
