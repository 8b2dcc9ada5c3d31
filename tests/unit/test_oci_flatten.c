/* lib/oci flatten: layers flattened into a temp ext4 and read back (see
 * test_oci_flatten_fixture.h): whiteouts, opaque directories, every kind of
 * entry and metadata, digests and cancel, tar streams and rootfs
 * inspection. Hostile input and limits: test_oci_flatten_limits.c. */
#include "test_oci_flatten_fixture.h"

static void test_layers_and_whiteouts(void **state)
{
        struct tb l0, l1, l2;
        tb_open(&l0, OCI_COMPRESSION_GZIP);
        tb_dir(&l0, "./", 0755);
        tb_dir(&l0, "./etc/", 0755);
        tb_file(&l0, "./etc/hostname", "base\n");
        struct archive_entry *e = tb_entry("etc/shadow", AE_IFREG, 0640);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 42);
        tb_put(&l0, e, "secret", 6);
        e = tb_entry("usr/bin/ping", AE_IFREG, 04755); /* parents implicit */
        archive_entry_set_uid(e, 1234567);
        archive_entry_set_gid(e, 7654321);
        archive_entry_xattr_add_entry(e, "security.capability", "\x01\x00\x00\x02\x00\x20", 6);
        archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
        tb_put(&l0, e, "ELF", 3);
        tb_hardlink(&l0, "usr/bin/ping6", "usr/bin/ping");
        tb_symlink(&l0, "bin", "usr/bin");
        tb_symlink(&l0, "etc/long", "/a/very/long/target/that/does/not/fit/in/the/inode/at/all/x");
        e = tb_entry("dev/null", AE_IFCHR, 0666);
        archive_entry_set_rdev(e, makedev(1, 3));
        tb_put(&l0, e, NULL, 0);
        e = tb_entry("dev/sda", AE_IFBLK, 0660);
        archive_entry_set_rdev(e, makedev(8, 0));
        tb_put(&l0, e, NULL, 0);
        tb_put(&l0, tb_entry("run/fifo", AE_IFIFO, 0600), NULL, 0);
        tb_dir(&l0, "opq", 0700);
        tb_file(&l0, "opq/a", "a");
        tb_file(&l0, "opq/sub/b", "b");
        tb_file(&l0, "gone/deep/file", "x");
        tb_file(&l0, "became_dir", "file");
        tb_dir(&l0, "became_file", 0755);
        tb_file(&l0, "became_file/inner", "i");
        /* 3 MiB with a hole in the middle: stored sparse */
        size_t big = 3u << 20;
        char *buf = calloc(1, big);
        memset(buf, 'x', 4096);
        memset(buf + big - 4096, 'y', 4096);
        tb_put(&l0, tb_entry("var/sparse", AE_IFREG, 0644), buf, big);
        tb_close(&l0);

        tb_open(&l1, OCI_COMPRESSION_ZSTD);
        tb_file(&l1, "etc/.wh.shadow", "");
        tb_file(&l1, ".wh.gone", "");
        tb_dir(&l1, "opq", 0750);
        tb_file(&l1, "opq/c", "c"); /* before the marker: must survive it */
        tb_file(&l1, "opq/.wh..wh..opq", "");
        tb_dir(&l1, "became_dir", 0711);
        tb_file(&l1, "became_file", "now a file");
        tb_file(&l1, ".wh.never_existed", "");
        tb_file(&l1, "etc/hostname", "upper\n");
        tb_close(&l1);

        tb_open(&l2, OCI_COMPRESSION_NONE);
        tb_file(&l2, "etc/shadow", "back"); /* re-created after a whiteout */
        tb_hardlink(&l2, "etc/hostname.link", "etc/hostname");
        tb_close(&l2);

        struct oci_flatten_layer layers[] = {L(&l0), L(&l1), L(&l2)};
        char img[512];
        image_path(img, sizeof(img));
        struct oci_flatten_stats st;
        struct bg_error err = {0};
        int r = oci_flatten(layers, 3, img, &(struct oci_flatten_opts){.label = "oci"}, &st, &err);
        if (r < 0)
                fail_msg("flatten: %s", err.msg);
        assert_int_equal(st.whiteouts, 3); /* never_existed hides nothing */
        assert_int_equal(st.xattrs, 2);
        fsck_ok(img);

        struct stat hs;
        assert_int_equal(stat(img, &hs), 0);
        assert_true((uint64_t)hs.st_blocks * 512 < (uint64_t)hs.st_size / 2); /* sparse */

        struct ext4_fs *fs = open_img(img);
        struct ext4_stat s;
        expect_content(fs, "etc/hostname", "upper\n");
        expect_content(fs, "etc/shadow", "back");
        expect_missing(fs, "gone");
        expect_missing(fs, "opq/a");
        expect_missing(fs, "opq/sub");
        expect_content(fs, "opq/c", "c");
        assert_int_equal(ext4_lookup(fs, "opq", &s, NULL), 0);
        assert_int_equal(s.mode, S_IFDIR | 0750);

        assert_int_equal(ext4_lookup(fs, "usr/bin/ping", &s, NULL), 0);
        assert_int_equal(s.mode, S_IFREG | 04755);
        assert_int_equal(s.uid, 1234567);
        assert_int_equal(s.gid, 7654321);
        assert_int_equal(s.mtime.tv_sec, 1700000000);
        assert_int_equal(s.mtime.tv_nsec, 123456789);
        assert_int_equal(s.nlink, 2);
        struct ext4_stat s6;
        assert_int_equal(ext4_lookup(fs, "usr/bin/ping6", &s6, NULL), 0);
        assert_int_equal(s6.ino, s.ino);
        void *xv = NULL;
        size_t xl = 0;
        assert_int_equal(ext4_get_xattr(fs, "usr/bin/ping", "security.capability", &xv, &xl, NULL),
                         0);
        assert_int_equal(xl, 6);
        assert_memory_equal(xv, "\x01\x00\x00\x02\x00\x20", 6);
        free(xv);
        assert_int_equal(ext4_get_xattr(fs, "usr/bin/ping", "user.note", &xv, &xl, NULL), 0);
        assert_memory_equal(xv, "hello", 5);
        free(xv);
        assert_int_equal(ext4_lookup(fs, "usr", &s, NULL), 0); /* implicit parent */
        assert_int_equal(s.mode, S_IFDIR | 0755);

        char *target = NULL;
        assert_int_equal(ext4_readlink(fs, "bin", &target, NULL), 0);
        assert_string_equal(target, "usr/bin");
        free(target);
        assert_int_equal(ext4_readlink(fs, "etc/long", &target, NULL), 0);
        assert_string_equal(target, "/a/very/long/target/that/does/not/fit/in/the/inode/at/all/x");
        free(target);
        assert_int_equal(ext4_lookup(fs, "dev/null", &s, NULL), 0);
        assert_true(S_ISCHR(s.mode));
        assert_int_equal(s.rdev, makedev(1, 3));
        assert_int_equal(ext4_lookup(fs, "dev/sda", &s, NULL), 0);
        assert_true(S_ISBLK(s.mode));
        assert_int_equal(s.rdev, makedev(8, 0));
        assert_int_equal(ext4_lookup(fs, "run/fifo", &s, NULL), 0);
        assert_int_equal(s.mode, S_IFIFO | 0600);
        assert_int_equal(ext4_lookup(fs, "became_dir", &s, NULL), 0);
        assert_int_equal(s.mode, S_IFDIR | 0711);
        expect_content(fs, "became_file", "now a file");
        assert_int_equal(ext4_lookup(fs, "etc/hostname.link", &s, NULL), 0);
        assert_int_equal(s.nlink, 2);

        void *data = NULL;
        size_t len = 0;
        assert_int_equal(ext4_read_file(fs, "var/sparse", &data, &len, NULL), 0);
        assert_int_equal(len, big);
        assert_memory_equal(data, buf, big);
        free(data);
        assert_int_equal(ext4_lookup(fs, "var/sparse", &s, NULL), 0);
        assert_true(s.blocks * 512 < big);
        free(buf);
        ext4_free(fs);
}

static void test_digest_ok_and_cancel(void **state)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_GZIP);
        tb_file(&t, "a", "aaa");
        tb_close(&t);
        /* hash the file */
        int fd = open(t.path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        fstat(fd, &st);
        char *buf = malloc((size_t)st.st_size);
        assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        char dg[OCI_DIGEST_LEN + 1];
        oci_digest_buf(buf, (size_t)st.st_size, dg);
        free(buf);
        struct oci_flatten_layer l = L(&t);
        l.digest = dg;
        char img[512];
        image_path(img, sizeof(img));
        struct bg_error err = {0};
        if (oci_flatten(&l, 1, img, &(struct oci_flatten_opts){.size_bytes = 64 << 20}, NULL,
                        &err) < 0)
                fail_msg("%s", err.msg);
        assert_int_equal(stat(img, &st), 0);
        assert_int_equal(st.st_size, 64 << 20);
        fsck_ok(img);

        atomic_bool cancel = true;
        expect_refused(&l, 1, &(struct oci_flatten_opts){.cancel = &cancel}, ECANCELED,
                       "cancelled");
}

static void test_rootfs_inspect(void **state)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_GZIP);
        tb_dir(&t, "usr/lib/systemd", 0755);
        tb_put(&t, tb_entry("usr/lib/systemd/systemd", AE_IFREG, 0755), "ELF", 3);
        tb_symlink(&t, "lib", "usr/lib");
        tb_dir(&t, "sbin", 0755);
        tb_symlink(&t, "sbin/init", "../lib/systemd/systemd");
        tb_put(&t, tb_entry("usr/sbin/sshd", AE_IFREG, 0644), "not exec", 8);
        tb_symlink(&t, "escape", "../../../../../../../../etc");
        tb_symlink(&t, "loop1", "loop2");
        tb_symlink(&t, "loop2", "loop1");
        tb_close(&t);
        struct oci_flatten_layer l = L(&t);
        char img[512];
        image_path(img, sizeof(img));
        struct bg_error err = {0};
        if (oci_flatten(&l, 1, img, NULL, NULL, &err) < 0)
                fail_msg("%s", err.msg);
        fsck_ok(img);
        struct ext4_fs *fs = open_img(img);
        struct oci_rootfs_info info;
        assert_int_equal(oci_rootfs_inspect(fs, &info, NULL), 0);
        assert_true(info.has_init);
        assert_string_equal(info.init_path, "/sbin/init");
        assert_true(info.has_systemd);
        assert_false(info.has_sshd); /* not executable */

        char *res = NULL;
        struct ext4_stat st;
        assert_int_equal(oci_rootfs_resolve(fs, "/sbin/init", &res, &st, NULL), 0);
        assert_string_equal(res, "usr/lib/systemd/systemd");
        free(res);
        /* ".." and absolute targets stay inside the image */
        assert_int_equal(oci_rootfs_resolve(fs, "escape", &res, &st, NULL), -ENOENT);
        assert_int_equal(oci_rootfs_resolve(fs, "/../../usr/./sbin/../sbin/sshd", &res, &st, NULL),
                         0);
        assert_string_equal(res, "usr/sbin/sshd");
        free(res);
        assert_int_equal(oci_rootfs_resolve(fs, "/", &res, &st, NULL), 0);
        assert_string_equal(res, "");
        assert_true(S_ISDIR(st.mode));
        free(res);
        assert_int_equal(oci_rootfs_resolve(fs, "loop1", NULL, NULL, NULL), -ELOOP);
        assert_int_equal(oci_rootfs_resolve(fs, "usr/sbin/sshd/x", NULL, NULL, NULL), -ENOTDIR);
        ext4_free(fs);

        /* an image with sshd and no init */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_put(&t, tb_entry("usr/sbin/sshd", AE_IFREG, 0755), "ELF", 3);
        tb_close(&t);
        l = L(&t);
        image_path(img, sizeof(img));
        assert_int_equal(oci_flatten(&l, 1, img, NULL, NULL, NULL), 0);
        fs = open_img(img);
        assert_int_equal(oci_rootfs_inspect(fs, &info, NULL), 0);
        assert_false(info.has_init);
        assert_true(info.has_sshd);
        ext4_free(fs);
}

static void test_tar_stream(void **state)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_ZSTD);
        tb_file(&t, "./etc/os-release", "ID=debian\n");
        tb_symlink(&t, "./etc/alias", "os-release");
        tb_close(&t);
        char img[512];
        image_path(img, sizeof(img));
        struct ext4_fs *fs = NULL;
        assert_int_equal(ext4_create(img, 32 << 20, NULL, &fs, NULL), 0);
        int fd = open(t.path, O_RDONLY | O_CLOEXEC);
        struct bg_error err = {0};
        struct oci_flatten_stats st;
        if (oci_flatten_tar_fd(fs, fd, "mmdebstrap", NULL, &st, &err) < 0)
                fail_msg("%s", err.msg);
        close(fd);
        assert_int_equal(st.entries, 2);
        expect_content(fs, "etc/os-release", "ID=debian\n");
        assert_int_equal(ext4_close(fs, NULL), 0);
        fsck_ok(img);

        /* the same rules apply to streams */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_file(&t, "../evil", "x");
        tb_close(&t);
        assert_int_equal(ext4_create(img, 32 << 20, NULL, &fs, NULL), 0);
        fd = open(t.path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(oci_flatten_tar_fd(fs, fd, "mmdebstrap", NULL, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "mmdebstrap: entry '../evil'"));
        close(fd);
        ext4_free(fs);
}

/* A silent writer (mmdebstrap bootstraps for minutes before its tar) does
 * not delay a cancel: the reader notices within a poll slice. */
static void *cancel_later(void *flag)
{
        struct timespec ts = {0, 150 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_store((atomic_bool *)flag, true);
        return NULL;
}

static void test_cancel_silent_stream(void **state)
{
        int pipefd[2];
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        char img[512];
        image_path(img, sizeof(img));
        struct ext4_fs *fs = NULL;
        assert_int_equal(ext4_create(img, 32 << 20, NULL, &fs, NULL), 0);
        atomic_bool cancel = false;
        struct oci_flatten_opts o = {.cancel = &cancel};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, cancel_later, &cancel), 0);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct bg_error err = {0};
        /* the write end stays open and silent: without the poll this blocks
         * forever */
        assert_int_equal(oci_flatten_tar_fd(fs, pipefd[0], "mmdebstrap", &o, NULL, &err),
                         -ECANCELED);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        pthread_join(th, NULL);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_true(ms < 5000);
        close(pipefd[0]);
        close(pipefd[1]);
        ext4_free(fs);
}

static void test_entry_path(void **state)
{
        char out[4096];
        assert_int_equal(oci_entry_path("./a//b/./c/", out, sizeof(out), NULL), 0);
        assert_string_equal(out, "a/b/c");
        assert_int_equal(oci_entry_path("./", out, sizeof(out), NULL), 0);
        assert_string_equal(out, "");
        assert_int_equal(oci_entry_path(".", out, sizeof(out), NULL), 0);
        assert_string_equal(out, "");
        assert_int_equal(oci_entry_path("a/..b/c..", out, sizeof(out), NULL), 0);
        assert_string_equal(out, "a/..b/c..");
        assert_int_equal(oci_entry_path("/a", out, sizeof(out), NULL), -EINVAL);
        assert_int_equal(oci_entry_path("a/../b", out, sizeof(out), NULL), -EINVAL);
        assert_int_equal(oci_entry_path("", out, sizeof(out), NULL), -EINVAL);
        char *huge = malloc(5000);
        memset(huge, 'a', 4999);
        huge[4999] = '\0';
        for (int i = 100; i < 4999; i += 100)
                huge[i] = '/';
        assert_int_equal(oci_entry_path(huge, out, sizeof(out), NULL), -ENAMETOOLONG);
        free(huge);
}

int main(void)
{
        if (!flatten_fixture_ready())
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_entry_path),
            cmocka_unit_test(test_layers_and_whiteouts),
            cmocka_unit_test(test_digest_ok_and_cancel),
            cmocka_unit_test(test_rootfs_inspect),
            cmocka_unit_test(test_tar_stream),
            cmocka_unit_test(test_cancel_silent_stream),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
