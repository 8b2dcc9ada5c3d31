/* vm cp from a VM: the tar stream the guest sends is hostile; cp_extract.h
 * must keep it inside the destination (cli/cp_extract.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp_extract.h"
#include "test_tmpdir.h"

static void name_ok(const char *in, const char *want)
{
        char out[256];
        struct bg_error err = {0};
        assert_int_equal(cp_entry_name(in, "base", "nb", out, sizeof(out), &err), 0);
        assert_string_equal(out, want);
}

static void name_refused(const char *in)
{
        char out[256];
        struct bg_error err = {0};
        assert_int_equal(cp_entry_name(in, "base", "nb", out, sizeof(out), &err), -EPERM);
        assert_true(err.msg[0] != '\0');
}

static void test_names(void **state)
{
        (void)state;
        name_ok("base", "nb");
        name_ok("base/", "nb");
        name_ok("./base/x/y", "nb/x/y");
        name_ok("base/.hidden", "nb/.hidden");
        name_refused("/etc/passwd");
        name_refused("/base/x");
        name_refused("../base");
        name_refused("base/../../x");
        name_refused("base/x/..");
        name_refused("base/./x");
        name_refused("base//x");
        name_refused("other");
        name_refused("basex");
        name_refused("");
        name_refused("./");
}

struct ent {
        const char *name;
        mode_t type;
        mode_t perm;
        const char *data; /* file content, or symlink/hardlink target */
        bool hardlink;
};

/* Writes a tar with the entries to path; returns an fd reading it. */
static int make_tar(const char *path, const struct ent *e, size_t n)
{
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *x = archive_entry_new();
                archive_entry_set_pathname(x, e[i].name);
                archive_entry_set_mtime(x, 1000000000, 0);
                if (e[i].hardlink) {
                        archive_entry_set_filetype(x, AE_IFREG);
                        archive_entry_set_hardlink(x, e[i].data);
                        archive_entry_set_size(x, 0);
                } else {
                        archive_entry_set_filetype(x, e[i].type);
                        archive_entry_set_perm(x, e[i].perm);
                        if (e[i].type == AE_IFLNK)
                                archive_entry_set_symlink(x, e[i].data);
                        archive_entry_set_size(x, e[i].type == AE_IFREG && e[i].data
                                                      ? (la_int64_t)strlen(e[i].data)
                                                      : 0);
                }
                assert_int_equal(archive_write_header(a, x), ARCHIVE_OK);
                if (e[i].type == AE_IFREG && e[i].data && !e[i].hardlink)
                        archive_write_data(a, e[i].data, strlen(e[i].data));
                archive_entry_free(x);
        }
        archive_write_close(a);
        archive_write_free(a);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static int run(const char *dir, const char *tar, const struct ent *e, size_t n, uint64_t max,
               struct bg_error *err)
{
        int fd = make_tar(tar, e, n);
        struct cp_extract_stats st;
        int r = cp_extract_fd(fd, dir, "base", "nb", max, 1000, &st, err);
        close(fd);
        return r;
}

static void test_extract_keeps_modes_and_times(void **state)
{
        (void)state;
        char tmp[256];
        assert_int_equal(test_tmpdir_make(tmp, sizeof(tmp), "cp"), 0);
        char dst[300];
        snprintf(dst, sizeof(dst), "%s/dst", tmp);
        mkdir(dst, 0755);
        struct ent e[] = {
            {"base", AE_IFDIR, 0750, NULL, false},
            {"base/f", AE_IFREG, 0640, "hello", false},
            {"base/x", AE_IFREG, 04755, "#!/bin/sh\n", false},
            {"base/l", AE_IFLNK, 0777, "/etc/passwd", false},
        };
        struct bg_error err = {0};
        assert_int_equal(run(dst, test_path(tmp, "t.tar"), e, 4, CP_MAX_BYTES, &err), 0);
        struct stat st;
        assert_int_equal(stat(test_path(dst, "nb"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(stat(test_path(dst, "nb/f"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_mtime, 1000000000);
        assert_int_equal(st.st_size, 5);
        /* setuid is dropped. */
        assert_int_equal(stat(test_path(dst, "nb/x"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        /* A symlink is made as a symlink, never followed. */
        assert_int_equal(lstat(test_path(dst, "nb/l"), &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        test_tmpdir_remove(tmp);
}

static void test_hostile_streams(void **state)
{
        (void)state;
        char tmp[256];
        assert_int_equal(test_tmpdir_make(tmp, sizeof(tmp), "cp"), 0);
        char dst[300], outside[300], dst2[300];
        snprintf(dst, sizeof(dst), "%s/dst", tmp);
        snprintf(outside, sizeof(outside), "%s/outside", tmp);
        snprintf(dst2, sizeof(dst2), "%s/dst2", tmp);
        mkdir(dst, 0755);
        mkdir(outside, 0755);
        struct bg_error err = {0};

        /* A symlink to a host directory, then a file through it: the symlink
         * is removed (ARCHIVE_EXTRACT_UNLINK) or the entry refused, never
         * followed. */
        struct ent via_link[] = {
            {"base", AE_IFDIR, 0755, NULL, false},
            {"base/l", AE_IFLNK, 0777, outside, false},
            {"base/l/evil", AE_IFREG, 0644, "x", false},
        };
        (void)run(dst, test_path(tmp, "1.tar"), via_link, 3, CP_MAX_BYTES, &err);
        assert_int_equal(access(test_path(outside, "evil"), F_OK), -1);
        struct stat lst;
        if (lstat(test_path(dst, "nb/l"), &lst) == 0 && S_ISDIR(lst.st_mode))
                assert_int_equal(access(test_path(dst, "nb/l/evil"), F_OK), 0);

        /* '..' and absolute names. */
        struct ent dotdot[] = {{"base/../../outside/evil2", AE_IFREG, 0644, "x", false}};
        /* (the first test left nb/ behind: start from an empty DST again) */
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "2.tar"), dotdot, 1, CP_MAX_BYTES, &err), -EPERM);
        assert_int_equal(access(test_path(outside, "evil2"), F_OK), -1);
        struct ent absolute[] = {{"/tmp/evil3", AE_IFREG, 0644, "x", false}};
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "3.tar"), absolute, 1, CP_MAX_BYTES, &err),
                         -EPERM);

        /* A hard link to a host file. */
        struct ent hard[] = {{"base", AE_IFREG, 0644, "/etc/passwd", true}};
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "4.tar"), hard, 1, CP_MAX_BYTES, &err), -EPERM);

        /* A device. */
        struct ent dev[] = {{"base", AE_IFCHR, 0644, NULL, false}};
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "5.tar"), dev, 1, CP_MAX_BYTES, &err), -EPERM);

        /* More data than allowed. */
        struct ent big[] = {{"base", AE_IFREG, 0644, "0123456789", false}};
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "6.tar"), big, 1, 5, &err), -EFBIG);

        /* An existing symlink of the host's in DST is replaced, not followed. */
        mkdir(dst2, 0755);
        assert_int_equal(symlink(outside, test_path(dst2, "nb")), 0);
        struct ent over[] = {{"base/evil4", AE_IFREG, 0644, "x", false}};
        bg_error_clear(&err);
        (void)run(dst2, test_path(tmp, "7.tar"), over, 1, CP_MAX_BYTES, &err);
        assert_int_equal(access(test_path(outside, "evil4"), F_OK), -1);
        char dst3[300];
        snprintf(dst3, sizeof(dst3), "%s/dst3", tmp);
        mkdir(dst3, 0755);
        assert_int_equal(symlink(test_path(outside, "target"), test_path(dst3, "nb")), 0);
        struct ent file_over[] = {{"base", AE_IFREG, 0644, "x", false}};
        bg_error_clear(&err);
        assert_int_equal(run(dst3, test_path(tmp, "8.tar"), file_over, 1, CP_MAX_BYTES, &err), 0);
        assert_int_equal(access(test_path(outside, "target"), F_OK), -1);
        struct stat st;
        assert_int_equal(lstat(test_path(dst3, "nb"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(stat(outside, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        /* Nothing named base. */
        struct ent none[] = {{"other", AE_IFREG, 0644, "x", false}};
        bg_error_clear(&err);
        assert_int_equal(run(dst, test_path(tmp, "9.tar"), none, 1, CP_MAX_BYTES, &err), -EPERM);
        test_tmpdir_remove(tmp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_extract_keeps_modes_and_times),
            cmocka_unit_test(test_hostile_streams),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
