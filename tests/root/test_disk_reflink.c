/* disk_clone on the file systems a state directory lives on: XFS made with
 * reflink=1 (FICLONE: the clone shares the image's extents, FIEMAP marks
 * them shared) and ext4 (no FICLONE: a sparse copy that keeps the holes).
 * Each file system is a sparse image file, loop-mounted in a temp dir. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk/disk.h"
#include "../unit/skip.h"
#include "../unit/test_disk_fixture.h"
#include "../unit/test_tmpdir.h"

static char dir[64];

static const char *find_tool(const char *name)
{
        static char p[4][128];
        static int k;
        static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
        k = (k + 1) % 4;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
                snprintf(p[k], sizeof(p[k]), "%s/%s", dirs[i], name);
                if (access(p[k], X_OK) == 0)
                        return p[k];
        }
        return NULL;
}

/* Makes a sparse image of size MiB with mkfs_argv (image path last) and
 * mounts it (loop) on mnt. */
static void make_and_mount(const char *img, const char *mnt, unsigned size_mib,
                           const char *const *mkfs_argv)
{
        char out[4096];
        int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)size_mib << 20), 0);
        close(fd);
        char *argv[16];
        size_t n = 0;
        for (; mkfs_argv[n]; n++)
                argv[n] = (char *)mkfs_argv[n];
        argv[n++] = (char *)img;
        argv[n] = NULL;
        int r = disk_run(argv, out, sizeof(out));
        if (r != 0)
                fail_msg("%s %s: exit %d: %s", argv[0], img, r, out);
        assert_int_equal(mkdir(mnt, 0700), 0);
        char *mount_argv[] = {
            (char *)find_tool("mount"), "-o", "loop", (char *)img, (char *)mnt, NULL};
        assert_non_null(mount_argv[0]);
        r = disk_run(mount_argv, out, sizeof(out));
        if (r != 0)
                fail_msg("mount -o loop %s: exit %d: %s", img, r, out);
}

static void unmount(const char *mnt)
{
        if (umount2(mnt, MNT_DETACH) < 0)
                fail_msg("umount %s: %m", mnt);
        rmdir(mnt);
}

/* The number of extents of path and how many of them FIEMAP flags shared. */
static void extents(const char *path, unsigned *ret_n, unsigned *ret_shared)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        size_t sz = sizeof(struct fiemap) + 32 * sizeof(struct fiemap_extent);
        struct fiemap *fm = calloc(1, sz);
        assert_non_null(fm);
        fm->fm_length = FIEMAP_MAX_OFFSET;
        fm->fm_flags = FIEMAP_FLAG_SYNC;
        fm->fm_extent_count = 32;
        assert_int_equal(ioctl(fd, FS_IOC_FIEMAP, fm), 0);
        unsigned shared = 0;
        for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
                shared += (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED) != 0;
        *ret_n = fm->fm_mapped_extents;
        *ret_shared = shared;
        free(fm);
        close(fd);
}

static void test_xfs_reflink(void **state)
{
        const char *mkfs = find_tool("mkfs.xfs");
        if (!mkfs)
                fail_msg("mkfs.xfs is missing (package xfsprogs; scripts/install-deps.sh "
                         "installs it)");
        const char *img = test_path(dir, "xfs.img"), *mnt = test_path(dir, "xfs");
        /* 300 MiB is XFS's smallest; the image file stays sparse. */
        const char *argv[] = {mkfs, "-q", "-f", "-m", "reflink=1", NULL};
        make_and_mount(img, mnt, 300, argv);
        char src[256], dst[256];
        snprintf(src, sizeof(src), "%s/rootfs.ext4", mnt);
        snprintf(dst, sizeof(dst), "%s/root.img", mnt);
        make_holey(src, 0);
        enum disk_clone_method m = DISK_CLONE_SPARSE_COPY;
        struct bg_error err = {0};
        int r = disk_clone(src, dst, &m, &err);
        if (r < 0)
                fail_msg("disk_clone on XFS: %s", err.msg);
        assert_string_equal(disk_clone_method_to_string(m), "reflink");
        assert_same_and_sparse(src, dst);
        unsigned n, shared;
        extents(dst, &n, &shared);
        assert_int_equal(n, 3);
        assert_int_equal(shared, 3); /* every data extent is the image's */
        /* Writing the clone unshares that extent only; the image is untouched. */
        int fd = open(dst, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "zzzz", 4, 0), 4);
        assert_int_equal(fsync(fd), 0);
        close(fd);
        extents(dst, &n, &shared);
        assert_int_equal(shared, 2);
        char c;
        fd = open(src, O_RDONLY | O_CLOEXEC);
        assert_int_equal(pread(fd, &c, 1, 0), 1);
        close(fd);
        assert_int_equal(c, 'a');
        unmount(mnt);
        unlink(img);
}

static void test_ext4_sparse_copy(void **state)
{
        const char *mkfs = find_tool("mkfs.ext4");
        if (!mkfs)
                fail_msg("mkfs.ext4 is missing (package e2fsprogs; scripts/install-deps.sh "
                         "installs it)");
        const char *img = test_path(dir, "ext4.img"), *mnt = test_path(dir, "ext4");
        const char *argv[] = {mkfs, "-q", "-F", NULL};
        make_and_mount(img, mnt, 200, argv);
        char src[256], dst[256];
        snprintf(src, sizeof(src), "%s/rootfs.ext4", mnt);
        snprintf(dst, sizeof(dst), "%s/root.img", mnt);
        make_holey(src, 0);
        enum disk_clone_method m = DISK_CLONE_REFLINK;
        struct bg_error err = {0};
        int r = disk_clone(src, dst, &m, &err);
        if (r < 0)
                fail_msg("disk_clone on ext4: %s", err.msg);
        assert_string_equal(disk_clone_method_to_string(m), "sparse-copy");
        assert_same_and_sparse(src, dst);
        unsigned n, shared;
        extents(dst, &n, &shared);
        assert_int_equal(n, 3); /* its own three extents, nothing shared */
        assert_int_equal(shared, 0);
        unmount(mnt);
        unlink(img);
}

int main(void)
{
        if (geteuid() != 0)
                return test_skip_main("not-root", "loop-mounting file systems needs root");
        if (access("/dev/loop-control", F_OK) != 0)
                return test_skip_main("no-loop", "/dev/loop-control: %s", strerror(errno));
        if (test_tmpdir_make(dir, sizeof(dir), "disk-reflink") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_xfs_reflink),
            cmocka_unit_test(test_ext4_sparse_copy),
        };
        int r = test_status(cmocka_run_group_tests(tests, NULL, NULL));
        /* A failed test may have left its mount: detach both before removing. */
        umount2(test_path(dir, "xfs"), MNT_DETACH);
        umount2(test_path(dir, "ext4"), MNT_DETACH);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
