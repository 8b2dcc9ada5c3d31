/* lib/util/fs: the tree walk visits every entry once (directories before
 * and after their children) without following symlinks, and prunes where
 * asked; rm_rf removes a tree but never what a symlink in it points to;
 * mkdir_p makes parents and refuses a file in the way. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fs.h"

#include "test_tmpdir.h"

static char dir[256], outside[256];

static int setup(void **state)
{
        return test_tmpdir_make(dir, sizeof(dir), "fs") < 0 ||
                       test_tmpdir_make(outside, sizeof(outside), "fs-out") < 0
                   ? -1
                   : 0;
}

static int teardown(void **state)
{
        test_tmpdir_remove(outside);
        return test_tmpdir_remove(dir);
}

static const char *in(const char *base, const char *name)
{
        return test_path(base, name);
}

static void touch(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
}

/* dir/{a/{f,g},b/,lnk -> outside} with outside/keep */
static void make_tree(void)
{
        assert_int_equal(mkdir(in(dir, "a"), 0700), 0);
        assert_int_equal(mkdir(in(dir, "b"), 0700), 0);
        touch(in(dir, "a/f"));
        touch(in(dir, "a/g"));
        touch(in(outside, "keep"));
        assert_int_equal(symlink(outside, in(dir, "lnk")), 0);
}

struct trace {
        char log[1024];
        unsigned files, dirs_pre, dirs_post, links;
};

static int record(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                  struct bg_error *err)
{
        struct trace *t = userdata;
        if (S_ISDIR(st->st_mode))
                post ? t->dirs_post++ : t->dirs_pre++;
        else if (S_ISLNK(st->st_mode))
                t->links++;
        else
                t->files++;
        /* the entry is reachable through (dfd, name) */
        struct stat again;
        assert_int_equal(fstatat(dfd, name, &again, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(again.st_ino, st->st_ino);
        size_t l = strlen(t->log);
        snprintf(t->log + l, sizeof(t->log) - l, "%s%s ", post ? "/" : "", name);
        return 0;
}

static void test_walk_visits_once_no_follow(void **state)
{
        struct bg_error err = {0};
        make_tree();
        struct trace t = {0};
        assert_int_equal(fs_walk_at(AT_FDCWD, dir, record, &t, &err), 0);
        assert_int_equal(t.files, 2);     /* a/f, a/g; not outside/keep */
        assert_int_equal(t.links, 1);     /* lnk, reported, not followed */
        assert_int_equal(t.dirs_pre, 3);  /* dir, a, b */
        assert_int_equal(t.dirs_post, 3); /* each closed after its children */
        /* a's children come between "a" and "/a" */
        char *a = strstr(t.log, " a "), *f = strstr(t.log, " f "), *ea = strstr(t.log, "/a ");
        assert_non_null(a);
        assert_non_null(f);
        assert_non_null(ea);
        assert_true(a < f && f < ea);
        /* the top is closed last */
        char last[300];
        snprintf(last, sizeof(last), "/%s ", dir);
        assert_string_equal(t.log + strlen(t.log) - strlen(last), last);
}

static int stop_at_g(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                     struct bg_error *err)
{
        if (strcmp(name, "g") == 0)
                return bg_error_set(err, ECANCELED, "stopped at %s", name);
        return 0;
}

static void test_walk_errors(void **state)
{
        struct bg_error err = {0};
        make_tree();
        assert_int_equal(fs_walk_at(AT_FDCWD, dir, stop_at_g, NULL, &err), -ECANCELED);
        assert_string_equal(err.msg, "stopped at g");
        struct trace t = {0};
        assert_int_equal(fs_walk_at(AT_FDCWD, in(dir, "nope"), record, &t, &err), -ENOENT);
        assert_int_equal(t.files + t.dirs_pre, 0);

        /* deeper than 64 levels: refused, not a stack overflow */
        char p[4096];
        snprintf(p, sizeof(p), "%s/deep", dir);
        assert_int_equal(mkdir(p, 0700), 0);
        for (int i = 0; i < 70; i++) {
                assert_int_equal(chdir(p), 0);
                assert_int_equal(mkdir("d", 0700), 0);
                snprintf(p, sizeof(p), "d");
        }
        assert_int_equal(chdir("/"), 0);
        assert_int_equal(fs_walk_at(AT_FDCWD, in(dir, "deep"), record, &t, &err), -ELOOP);
        assert_non_null(strstr(err.msg, "too deep"));
        /* rm_rf cannot either: take it down from the bottom by hand */
        assert_int_equal(chdir(in(dir, "deep")), 0);
        for (int i = 0; i < 69; i++)
                assert_int_equal(chdir("d"), 0);
        for (int i = 0; i < 70; i++) {
                assert_int_equal(rmdir("d"), 0);
                assert_int_equal(chdir(".."), 0);
        }
        assert_int_equal(chdir("/"), 0);
}

static void test_rm_rf_keeps_link_targets(void **state)
{
        struct bg_error err = {0};
        make_tree();
        assert_int_equal(rm_rf(dir, &err), 0);
        assert_int_equal(access(dir, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(access(in(outside, "keep"), F_OK), 0);
        /* missing is fine, and says nothing */
        assert_int_equal(rm_rf(dir, &err), 0);
        assert_int_equal(err.code, 0);
        /* a symlink given as the path: the link goes, its target stays */
        assert_int_equal(symlink(outside, dir), 0);
        assert_int_equal(rm_rf(dir, &err), 0);
        assert_int_equal(access(in(outside, "keep"), F_OK), 0);
        /* a plain file */
        touch(dir);
        assert_int_equal(rm_rf(dir, &err), 0);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_rm_rf_reports_failure(void **state)
{
        struct bg_error err = {0};
        make_tree();
        if (geteuid() == 0) {
                /* Root ignores permissions: a mount point cannot be removed. */
                /* Nor is it entered: what is mounted there stays. */
                assert_int_equal(mount("banger-test", in(dir, "a"), "tmpfs", 0, NULL), 0);
                touch(in(dir, "a/mounted"));
                assert_int_equal(rm_rf(dir, &err), -EBUSY);
                assert_non_null(strstr(err.msg, "remove "));
                assert_int_equal(access(in(dir, "a/mounted"), F_OK), 0);
                /* RM_RF_KEEP_MOUNTS: the mount point and what holds it are
                 * kept, everything else goes, and that is no error. */
                touch(in(dir, "loose"));
                bg_error_clear(&err);
                assert_int_equal(rm_rf_flags(dir, RM_RF_KEEP_MOUNTS, &err), 1);
                assert_int_equal(access(in(dir, "a/mounted"), F_OK), 0);
                assert_int_equal(access(in(dir, "loose"), F_OK), -1);
                assert_int_equal(umount(in(dir, "a")), 0);
                return;
        }
        assert_int_equal(chmod(in(dir, "a"), 0500), 0); /* a/f cannot be unlinked */
        assert_int_equal(rm_rf(dir, &err), -EACCES);
        assert_non_null(strstr(err.msg, "remove ")); /* f or g */
        assert_int_equal(chmod(in(dir, "a"), 0700), 0);
}

static int skip_a(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                  struct bg_error *err)
{
        if (strcmp(name, "a") == 0) {
                assert_false(post); /* a skipped directory gets no post call */
                return FS_WALK_SKIP;
        }
        return record(dfd, name, st, post, userdata, err);
}

static void test_walk_skip(void **state)
{
        struct bg_error err = {0};
        make_tree();
        struct trace t = {0};
        assert_int_equal(fs_walk_at(AT_FDCWD, dir, skip_a, &t, &err), 0);
        assert_int_equal(t.files, 0); /* a/f and a/g not visited */
        assert_int_equal(t.links, 1);
        assert_int_equal(t.dirs_pre, 2); /* dir, b */
        assert_int_equal(t.dirs_post, 2);
}

static mode_t mode_of(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        return st.st_mode & 07777;
}

static void test_mkdir_p(void **state)
{
        mode_t old = umask(0);
        char p[400];

        snprintf(p, sizeof(p), "%s/a/b//c/", dir);
        assert_int_equal(mkdir_p(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/a/b/c", dir);
        assert_int_equal(mode_of(p), 0700);
        snprintf(p, sizeof(p), "%s/a/b", dir);
        assert_int_equal(mode_of(p), 0755);
        snprintf(p, sizeof(p), "%s/a", dir);
        assert_int_equal(mode_of(p), 0755);

        /* Existing directory: fine, mode untouched. */
        assert_int_equal(mkdir_p(p, 0700), 0);
        assert_int_equal(mode_of(p), 0755);

        /* A file in the way. */
        snprintf(p, sizeof(p), "%s/file", dir);
        touch(p);
        assert_int_equal(mkdir_p(p, 0700), -ENOTDIR);
        snprintf(p, sizeof(p), "%s/file/sub", dir);
        assert_int_equal(mkdir_p(p, 0700), -ENOTDIR);

        assert_int_equal(mkdir_p("", 0700), -EINVAL);
        assert_int_equal(mkdir_p("/", 0700), 0);
        umask(old);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_walk_visits_once_no_follow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_walk_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rm_rf_keeps_link_targets, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rm_rf_reports_failure, setup, teardown),
            cmocka_unit_test_setup_teardown(test_walk_skip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
