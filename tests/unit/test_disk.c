/* lib/disk: clone (reflink or sparse copy keeping holes), qcow2 overlay, work
 * disk; and lib/util/names DNS-label checks. */
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
#include <unistd.h>

#include <cmocka.h>

#include "disk/disk.h"
#include "util/names.h"
#include "test_disk_fixture.h"
#include "test_tmpdir.h"

static char dir[64];

static void path_in(const char *name, char *buf, size_t len)
{
        snprintf(buf, len, "%s/%s", dir, name);
}

static void test_names(void **state)
{
        static const char *good[] = {
            "a", "web-1", "0", "x0-y1",
            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"};
        static const char *bad[] = {
            "",    "-a",  "a-",
            "A",   "a_b", "a.b",
            "a b", "é",   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"};
        struct bg_error err = {0};
        for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
                assert_true(bg_name_is_dns_label(good[i]));
                assert_int_equal(bg_name_check_dns_label("VM name", good[i], &err), 0);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                assert_false(bg_name_is_dns_label(bad[i]));
                assert_int_equal(bg_name_check_dns_label("VM name", bad[i], &err), -EINVAL);
                assert_non_null(strstr(err.msg, "VM name"));
        }
        assert_false(bg_name_is_dns_label(NULL));
        bg_name_check_dns_label("VM name", "Web", &err);
        assert_non_null(strstr(err.msg, "'W' at position 1"));
}

static void test_clone_method_names(void **state)
{
        for (int m = 0; m < _DISK_CLONE_METHOD_MAX; m++) {
                const char *s = disk_clone_method_to_string(m);
                assert_non_null(s);
                assert_int_equal(disk_clone_method_from_string(s), m);
        }
        assert_string_equal(disk_clone_method_to_string(DISK_CLONE_REFLINK), "reflink");
        assert_string_equal(disk_clone_method_to_string(DISK_CLONE_SPARSE_COPY), "sparse-copy");
        assert_string_equal(disk_clone_method_to_string(DISK_CLONE_QCOW2), "qcow2-overlay");
        assert_null(disk_clone_method_to_string(_DISK_CLONE_METHOD_MAX));
        assert_int_equal(disk_clone_method_from_string("copy"), -EINVAL);
        assert_int_equal(disk_clone_method_from_string(NULL), -EINVAL);
}

/* The image on one file system, the VM's directory on another (tmpfs and
 * the test's directory): no reflink can cross them and copy_file_range
 * refuses (EXDEV) since Linux 5.19, so this is the read/write path of the
 * sparse copy. Holes stay holes. */
static void test_clone_across_file_systems(void **state)
{
        struct stat shm, here;
        assert_int_equal(stat("/dev/shm", &shm), 0);
        assert_int_equal(stat(dir, &here), 0);
        char shmdir[] = "/dev/shm/bg-disk-XXXXXX";
        assert_non_null(mkdtemp(shmdir));
        char src[128], dst[128];
        snprintf(src, sizeof(src), "%s/src.img", shmdir);
        path_in("across.img", dst, sizeof(dst));
        make_holey(src, 12345);
        enum disk_clone_method m = DISK_CLONE_REFLINK;
        struct bg_error err = {0};
        assert_int_equal(disk_clone(src, dst, &m, &err), 0);
        if (shm.st_dev != here.st_dev)
                assert_int_equal(m, DISK_CLONE_SPARSE_COPY);
        assert_same_and_sparse(src, dst);
        unlink(dst);
        unlink(src);
        rmdir(shmdir);
}

static void test_clone_keeps_content_and_holes(void **state)
{
        char src[128], dst[128];
        path_in("src.img", src, sizeof(src));
        path_in("dst.img", dst, sizeof(dst));
        int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        const off_t size = 64 << 20;
        assert_int_equal(ftruncate(fd, size), 0);
        char block[4096];
        for (int k = 0; k < 3; k++) {
                memset(block, 'a' + k, sizeof(block));
                off_t at = (off_t)k * (20 << 20) + 12345;
                assert_int_equal(pwrite(fd, block, sizeof(block), at), (ssize_t)sizeof(block));
        }
        close(fd);

        enum disk_clone_method m;
        struct bg_error err = {0};
        assert_int_equal(disk_clone(src, dst, &m, &err), 0);
        assert_non_null(disk_clone_method_to_string(m));

        struct stat a, b;
        assert_int_equal(stat(src, &a), 0);
        assert_int_equal(stat(dst, &b), 0);
        assert_int_equal(a.st_size, b.st_size);
        /* sparse: far fewer blocks allocated than the size */
        assert_true((off_t)b.st_blocks * 512 < size / 8);
        int fa = open(src, O_RDONLY), fb = open(dst, O_RDONLY);
        char x[65536], y[65536];
        for (off_t off = 0; off < size; off += sizeof(x)) {
                assert_int_equal(pread(fa, x, sizeof(x), off), (ssize_t)sizeof(x));
                assert_int_equal(pread(fb, y, sizeof(y), off), (ssize_t)sizeof(y));
                assert_memory_equal(x, y, sizeof(x));
        }
        close(fa);
        close(fb);
        /* never over an existing file */
        assert_int_equal(disk_clone(src, dst, &m, &err), -EEXIST);
        unlink(dst);
        /* missing source */
        assert_true(disk_clone("/nonexistent/x", dst, &m, &err) < 0);
        assert_non_null(strstr(err.msg, "/nonexistent/x"));
}

static void test_qcow2_overlay(void **state)
{
        if (access("/usr/bin/qemu-img", X_OK) != 0)
                fail_msg("/usr/bin/qemu-img is missing (package qemu-utils; "
                         "scripts/install-deps.sh installs it)");
        char base[128], ov[128], out[2048];
        path_in("src.img", base, sizeof(base));
        path_in("overlay.qcow2", ov, sizeof(ov));
        struct bg_error err = {0};
        assert_int_equal(disk_qcow2_overlay("qemu-img", base, "raw", ov, &err), 0);
        char *argv[] = {"qemu-img", "info", ov, NULL};
        assert_int_equal(disk_run(argv, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "file format: qcow2"));
        assert_non_null(strstr(out, base));
        assert_int_equal(disk_qcow2_overlay("qemu-img", "relative.img", "raw", ov, &err), -EINVAL);
        assert_true(disk_qcow2_overlay("qemu-img", "/nonexistent.img", "raw", "/tmp/x.qcow2", &err) < 0);
        /* A chain: a clone's overlay over a template's overlay over the image. */
        char ov2[128];
        path_in("overlay2.qcow2", ov2, sizeof(ov2));
        assert_int_equal(disk_qcow2_overlay("qemu-img", ov, "qcow2", ov2, &err), 0);
        char *argv2[] = {"qemu-img", "info", "--backing-chain", ov2, NULL};
        assert_int_equal(disk_run(argv2, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "backing file format: qcow2"));
        assert_non_null(strstr(out, base));
        assert_int_equal(disk_qcow2_overlay("qemu-img", ov, "vmdk", "/tmp/y.qcow2", &err), -EINVAL);
        assert_non_null(strstr(err.msg, "vmdk"));
}

static void test_work_disk(void **state)
{
        if (access("/sbin/mkfs.ext4", X_OK) != 0 && access("/usr/sbin/mkfs.ext4", X_OK) != 0)
                fail_msg("mkfs.ext4 is missing (package e2fsprogs; scripts/install-deps.sh "
                         "installs it)");
        char p[128], out[4096];
        path_in("work.ext4", p, sizeof(p));
        struct bg_error err = {0};
        assert_int_equal(disk_make_work("mkfs.ext4", p, 128ull << 20, "work-test", &err), 0);
        char *fsck[] = {"e2fsck", "-fn", p, NULL};
        assert_int_equal(disk_run(fsck, out, sizeof(out)), 0);
        char *dump[] = {"dumpe2fs", "-h", p, NULL};
        assert_int_equal(disk_run(dump, out, sizeof(out)), 0);
        assert_non_null(strstr(out, "work-test"));
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, 128 << 20);
        assert_true((off_t)st.st_blocks * 512 < st.st_size / 2); /* lazy init keeps it sparse */
        assert_int_equal(disk_make_work("mkfs.ext4", p, 128ull << 20, NULL, &err), -EEXIST);
        assert_int_equal(disk_make_work("mkfs.ext4", p, 1 << 20, NULL, &err), -EINVAL);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "disk") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_clone_method_names),
            cmocka_unit_test(test_clone_keeps_content_and_holes),
            cmocka_unit_test(test_clone_across_file_systems),
            cmocka_unit_test(test_qcow2_overlay),
            cmocka_unit_test(test_work_disk),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
