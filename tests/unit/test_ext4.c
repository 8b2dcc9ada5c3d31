/* Tests for lib/ext4: every scenario ends with `e2fsck -fn` on the image and
 * reads the contents back through libext2fs after reopening. */

#include "test_ext4_fixture.h"

/* ---- scenarios ---------------------------------------------------------- */

static void test_create_empty(void **state)
{
        struct ext4_create_opts o = {.label = "banger-test",
                                     .root_uid = 1000,
                                     .root_gid = 1001,
                                     .journal = true,
                                     .timestamp = 1600000000};
        struct ext4_fs *fs = mk(64 << 20, &o);
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_int_equal(u.block_size, 4096);
        assert_int_equal(u.blocks_total, 16384);
        assert_true(u.inodes_total >= 8192);
        close_and_check(fs, img);

        char label[17] = {0};
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, label, 16, 1024 + 0x78), 16);
        close(fd);
        assert_string_equal(label, "banger-test");

        fs = reopen();
        struct ext4_stat st = stat_of(fs, "/");
        assert_int_equal(st.mode, S_IFDIR | 0755);
        assert_int_equal(st.uid, 1000);
        assert_int_equal(st.gid, 1001);
        assert_int_equal(st.nlink, 3);
        assert_int_equal(st.mtime.tv_sec, 1600000000);
        st = stat_of(fs, "lost+found");
        assert_int_equal(st.mode, S_IFDIR | 0700);
        assert_int_equal(st.uid, 0);
        ext4_free(fs);

        FAILS(EINVAL, ext4_create(img, 1 << 20, NULL, &fs, err));
        struct ext4_create_opts bad = {.label = "a-label-longer-than-16"};
        FAILS(EINVAL, ext4_create(img, 64 << 20, &bad, &fs, err));
}

static void test_file_types(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0750, 1, 2);
        OK(ext4_mkdir(fs, "dir", &d, err));
        struct ext4_meta f = meta(S_IFREG | 04755, 70000, 80000);
        OK(ext4_write_file(fs, "dir/file", &f, "hello\n", 6, err));
        OK(ext4_write_file(fs, "empty", &f, "", 0, err));
        struct ext4_meta l = meta(S_IFLNK | 0777, 3, 4);
        OK(ext4_symlink(fs, "dir/fast", "file", &l, err));
        char slow[301];
        memset(slow, 'x', 300);
        slow[0] = '/';
        slow[300] = '\0';
        OK(ext4_symlink(fs, "slow", slow, &l, err));
        struct ext4_meta c = meta(S_IFCHR | 0666, 0, 0);
        OK(ext4_mknod(fs, "null", &c, makedev(1, 3), err));
        struct ext4_meta b = meta(S_IFBLK | 0660, 0, 6);
        OK(ext4_mknod(fs, "bigdev", &b, makedev(259, 300000), err));
        struct ext4_meta p = meta(S_IFIFO | 0644, 0, 0);
        OK(ext4_mknod(fs, "fifo", &p, 0, err));
        struct ext4_meta s = meta(S_IFSOCK | 0755, 0, 0);
        OK(ext4_mknod(fs, "sock", &s, 0, err));
        struct ext4_meta bad = meta(S_IFREG | 0644, 0, 0);
        FAILS(EINVAL, ext4_mknod(fs, "bad", &bad, 0, err));
        FAILS(EINVAL, ext4_symlink(fs, "badlink", "", &l, err));
        close_and_check(fs, img);

        fs = reopen();
        struct ext4_stat st = stat_of(fs, "dir");
        assert_int_equal(st.mode, S_IFDIR | 0750);
        assert_int_equal(st.nlink, 2);
        assert_int_equal(st.uid, 1);
        assert_int_equal(st.gid, 2);
        st = stat_of(fs, "/dir/file");
        assert_int_equal(st.mode, S_IFREG | 04755);
        assert_int_equal(st.uid, 70000);
        assert_int_equal(st.gid, 80000);
        assert_int_equal(st.size, 6);
        assert_int_equal(st.nlink, 1);
        assert_int_equal(st.blocks, 8);
        assert_int_equal(st.mtime.tv_sec, 1600000000);
        assert_int_equal(st.mtime.tv_nsec, 123456789);
        assert_int_equal(st.atime.tv_nsec, 111);
        assert_int_equal(st.ctime.tv_nsec, 999999999);
        expect_content(fs, "dir/file", "hello\n", 6);
        expect_content(fs, "empty", "", 0);
        st = stat_of(fs, "dir/fast");
        assert_int_equal(st.mode, S_IFLNK | 0777);
        assert_int_equal(st.size, 4);
        char *t = NULL;
        OK(ext4_readlink(fs, "dir/fast", &t, err));
        assert_string_equal(t, "file");
        free(t);
        OK(ext4_readlink(fs, "slow", &t, err));
        assert_string_equal(t, slow);
        free(t);
        st = stat_of(fs, "slow");
        assert_int_equal(st.size, 300);
        assert_int_equal(st.blocks, 8);
        st = stat_of(fs, "null");
        assert_int_equal(st.mode, S_IFCHR | 0666);
        assert_int_equal(major(st.rdev), 1);
        assert_int_equal(minor(st.rdev), 3);
        st = stat_of(fs, "bigdev");
        assert_int_equal(st.mode, S_IFBLK | 0660);
        assert_int_equal(major(st.rdev), 259);
        assert_int_equal(minor(st.rdev), 300000);
        assert_int_equal(stat_of(fs, "fifo").mode, S_IFIFO | 0644);
        assert_int_equal(stat_of(fs, "sock").mode, S_IFSOCK | 0755);
        assert_int_equal(stat_of(fs, "/").nlink, 4); /* ., lost+found, dir */
        FAILS(ENOENT, ext4_lookup(fs, "bad", NULL, err));
        ext4_free(fs);

        /* debugfs agrees on the device numbers */
        char *argv[] = {"debugfs", "-R", "stat /bigdev", img, NULL};
        assert_int_equal(run(argv), 0);
}

static void test_hardlinks(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        OK(ext4_mkdir(fs, "d", &d, err));
        OK(ext4_write_file(fs, "a", &f, "data", 4, err));
        OK(ext4_hardlink(fs, "b", "a", err));
        OK(ext4_hardlink(fs, "d/c", "/a", err));
        OK(ext4_hardlink(fs, "d/c", "a", err)); /* same inode: nothing to do */
        assert_int_equal(stat_of(fs, "a").nlink, 3);
        assert_int_equal(stat_of(fs, "a").ino, stat_of(fs, "d/c").ino);
        FAILS(EPERM, ext4_hardlink(fs, "e", "d", err));
        FAILS(ENOENT, ext4_hardlink(fs, "e", "nothing", err));
        OK(ext4_unlink(fs, "a", err));
        assert_int_equal(stat_of(fs, "b").nlink, 2);
        OK(ext4_write_file(fs, "b", &f, "new", 3, err)); /* replaces one name */
        assert_int_equal(stat_of(fs, "d/c").nlink, 1);
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_symlink(fs, "sl", "d/c", &l, err));
        OK(ext4_hardlink(fs, "sl2", "sl", err)); /* links the symlink itself */
        assert_int_equal(stat_of(fs, "sl").nlink, 2);
        FAILS(EISDIR, ext4_unlink(fs, "d", err));
        close_and_check(fs, img);

        fs = reopen();
        expect_content(fs, "d/c", "data", 4);
        expect_content(fs, "b", "new", 3);
        assert_int_equal(stat_of(fs, "sl2").mode, S_IFLNK | 0777);
        ext4_free(fs);
}

static void test_xattrs(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_usage base;
        ext4_usage(fs, &base);
        struct ext4_meta f = meta(S_IFREG | 0755, 0, 0);
        OK(ext4_write_file(fs, "ping", &f, "x", 1, err));
        /* vfs_cap_data v2: magic, cap_net_raw permitted+effective */
        const uint8_t cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
        OK(ext4_set_xattr(fs, "ping", "security.capability", cap, sizeof(cap), err));
        OK(ext4_set_xattr(fs, "ping", "user.empty", "", 0, err));
        OK(ext4_set_xattr(fs, "ping", "trusted.overlay.opaque", "y", 1, err));
        char big[3000];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)(i * 7);
        OK(ext4_set_xattr(fs, "ping", "user.big", big, sizeof(big), err)); /* needs a block */
        OK(ext4_set_xattr(fs, "ping", "user.empty", "v2", 2, err));        /* replace */
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_symlink(fs, "link", "ping", &l, err));
        OK(ext4_set_xattr(fs, "link", "trusted.t", "on-link", 7, err));
        FAILS(ENOENT, ext4_set_xattr(fs, "missing", "user.a", "b", 1, err));
        close_and_check(fs, img);

        fs = reopen();
        void *v = NULL;
        size_t n = 0;
        OK(ext4_get_xattr(fs, "ping", "security.capability", &v, &n, err));
        assert_int_equal(n, sizeof(cap));
        assert_memory_equal(v, cap, sizeof(cap));
        free(v);
        OK(ext4_get_xattr(fs, "ping", "user.big", &v, &n, err));
        assert_int_equal(n, sizeof(big));
        assert_memory_equal(v, big, sizeof(big));
        free(v);
        OK(ext4_get_xattr(fs, "ping", "user.empty", &v, &n, err));
        assert_int_equal(n, 2);
        assert_memory_equal(v, "v2", 2);
        free(v);
        OK(ext4_get_xattr(fs, "ping", "trusted.overlay.opaque", &v, &n, err));
        assert_int_equal(n, 1);
        free(v);
        OK(ext4_get_xattr(fs, "link", "trusted.t", &v, &n, err));
        assert_int_equal(n, 7);
        free(v);
        FAILS(ENODATA, ext4_get_xattr(fs, "ping", "user.none", &v, &n, err));
        /* freeing the file frees its xattr block too */
        OK(ext4_unlink(fs, "ping", err));
        OK(ext4_unlink(fs, "link", err));
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_int_equal(u.blocks_used, base.blocks_used);
        assert_int_equal(u.inodes_used, base.inodes_used);
        close_and_check(fs, img);
}

static void test_long_names(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        char name[300];
        memset(name, 'n', sizeof(name));
        name[255] = '\0';
        OK(ext4_write_file(fs, name, &f, "ok", 2, err));
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        name[0] = 'd';
        OK(ext4_mkdir(fs, name, &d, err));
        name[0] = 'n';
        name[255] = 'n';
        name[256] = '\0';
        FAILS(ENAMETOOLONG, ext4_write_file(fs, name, &f, "no", 2, err));
        FAILS(ENAMETOOLONG, ext4_mkdir(fs, name, &d, err));
        FAILS(ENAMETOOLONG, ext4_lookup(fs, name, NULL, err));
        FAILS(EINVAL, ext4_write_file(fs, "a/../b", &f, "no", 2, err));
        close_and_check(fs, img);
        fs = reopen();
        name[255] = '\0';
        expect_content(fs, name, "ok", 2);
        ext4_free(fs);
}

static void test_paths_no_follow(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_mkdir(fs, "real", &d, err));
        OK(ext4_write_file(fs, "real/f", &f, "1", 1, err));
        OK(ext4_symlink(fs, "link", "real", &l, err));
        struct bg_error e = {0};
        assert_int_equal(ext4_lookup(fs, "link/f", NULL, &e), -ELOOP);
        assert_non_null(strstr(e.msg, "'link'"));
        FAILS(ELOOP, ext4_write_file(fs, "link/g", &f, "1", 1, err));
        FAILS(ELOOP, ext4_mkdir_p(fs, "link/x/y", &d, err));
        FAILS(ENOTDIR, ext4_lookup(fs, "real/f/x", NULL, err));
        FAILS(ENOENT, ext4_mkdir(fs, "missing/x", &d, err));
        assert_int_equal(stat_of(fs, "link").mode, S_IFLNK | 0777);
        assert_int_equal(stat_of(fs, "./real//f/").size, 1);
        FAILS(EBUSY, ext4_remove_tree(fs, "/", err));
        close_and_check(fs, img);
}

/* debugfs -w -R CMD on the image (the guest's doing: it owns the disk). */
static void debugfs_w(const char *cmd)
{
        char *argv[] = {"debugfs", "-w", "-R", (char *)cmd, img, NULL};
        assert_int_equal(run(argv), 0);
}

/* Issue 19 item 2: what a guest (or an image) writes into the inodes is not
 * believed. Each corruption gets an error, never a crash, a hang or an
 * allocation of the size the inode claims. */
static void test_guest_corruptions(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_write_file(fs, ".gitconfig", &f, "[user]\n", 7, err));
        OK(ext4_write_file(fs, "data", &f, "0123456789", 10, err));
        OK(ext4_symlink(fs, "link", "data", &l, err));
        OK(ext4_symlink(fs, "loop", "loop", &l, err));
        close_and_check(fs, img);
        /* truncate -s 4G .gitconfig, a symlink claiming a 1 MiB target, a
         * file whose extent tree header is garbage. */
        debugfs_w("sif /.gitconfig size 4294967296");
        debugfs_w("sif /link size 1048576");
        debugfs_w("sif /data block[0] 0x12345678");
        fs = reopen();
        void *data = NULL;
        size_t len = 0;
        struct bg_error e = {0};
        assert_int_equal(ext4_read_file_max(fs, ".gitconfig", 64 << 10, &data, &len, &e), -EFBIG);
        assert_non_null(strstr(e.msg, ".gitconfig"));
        assert_non_null(strstr(e.msg, "4294967296"));
        assert_null(data);
        char *target = NULL;
        assert_true(ext4_readlink(fs, "link", &target, &e) < 0);
        assert_null(target);
        /* A symlink to itself is not followed, so it cannot loop. */
        assert_true(ext4_read_file_max(fs, "loop", 64 << 10, &data, &len, &e) < 0);
        assert_true(ext4_lookup(fs, "loop/x", NULL, &e) < 0);
        /* A broken extent header: an error (libext2fs's, mapped), or at most
         * the 10 bytes the inode says, never more. */
        int r = ext4_read_file_max(fs, "data", 64 << 10, &data, &len, &e);
        if (r >= 0) {
                assert_true(len <= 10);
                free(data);
        }
        ext4_close(fs, &e);
        /* A superblock with a wrong magic number: refused at open. */
        int fd = open(img, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "\0\0", 2, 1024 + 56), 2);
        close(fd);
        fs = NULL;
        assert_true(ext4_open(img, &fs, &e) < 0);
        assert_null(fs);
        assert_true(e.msg[0] != '\0');
}

static void test_deep_dirs(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_usage base;
        ext4_usage(fs, &base);
        char path[2048] = "";
        for (int i = 0; i < 300; i++)
                strcat(path, i ? "/dd" : "dd");
        OK(ext4_mkdir_p(fs, path, &d, err));
        strcat(path, "/leaf");
        OK(ext4_write_file(fs, path, &f, "deep", 4, err));
        close_and_check(fs, img);
        fs = reopen();
        expect_content(fs, path, "deep", 4);
        assert_int_equal(stat_of(fs, "dd/dd").nlink, 3);
        OK(ext4_remove_tree(fs, "dd", err));
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_int_equal(u.blocks_used, base.blocks_used);
        assert_int_equal(u.inodes_used, base.inodes_used);
        assert_int_equal(stat_of(fs, "/").nlink, 3);
        close_and_check(fs, img);
}

static void test_big_dir(void **state)
{
        struct ext4_fs *fs = mk(128 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        OK(ext4_mkdir(fs, "big", &d, err));
        char path[64];
        for (int i = 0; i < 10000; i++) {
                snprintf(path, sizeof(path), "big/file-with-a-longish-name-%05d", i);
                OK(ext4_write_file(fs, path, &f, path, strlen(path), err));
        }
        for (int i = 0; i < 100; i++) {
                snprintf(path, sizeof(path), "big/sub%03d", i);
                OK(ext4_mkdir(fs, path, &d, err));
        }
        assert_int_equal(stat_of(fs, "big").nlink, 102);
        close_and_check(fs, img);
        fs = reopen();
        for (int i = 0; i < 10000; i += 997) {
                snprintf(path, sizeof(path), "big/file-with-a-longish-name-%05d", i);
                expect_content(fs, path, path, strlen(path));
        }
        /* remove every other file, then add more: reuses and keeps it clean */
        for (int i = 0; i < 10000; i += 2) {
                snprintf(path, sizeof(path), "big/file-with-a-longish-name-%05d", i);
                OK(ext4_unlink(fs, path, err));
        }
        for (int i = 0; i < 50; i++) {
                snprintf(path, sizeof(path), "big/sub%03d", i);
                OK(ext4_remove_tree(fs, path, err));
        }
        assert_int_equal(stat_of(fs, "big").nlink, 52);
        FAILS(ENOENT, ext4_lookup(fs, "big/file-with-a-longish-name-00000", NULL, err));
        close_and_check(fs, img);
}

static double cpu_seconds(void)
{
        struct rusage ru;
        assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Removing or replacing every name of a big directory costs about what
 * making them did: one block per name, not a scan of the directory per name
 * (which made the whiteouts of a hostile layer O(N^2)). CPU time, so a
 * loaded machine does not matter; the quadratic version took over ten times
 * longer here. */
static void test_unlink_many(void **state)
{
        const int n = 40000;
        struct ext4_fs *fs = mk(256 << 20, &(struct ext4_create_opts){.inodes = 50000});
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        OK(ext4_mkdir(fs, "d", &d, err));
        char path[64];
        double t0 = cpu_seconds();
        for (int i = 0; i < n; i++) {
                snprintf(path, sizeof(path), "d/a-whiteout-target-%06d", i);
                OK(ext4_write_file(fs, path, &f, NULL, 0, err));
        }
        double made = cpu_seconds() - t0;
        t0 = cpu_seconds();
        for (int i = n - 1; i >= 0; i -= 2) {
                snprintf(path, sizeof(path), "d/a-whiteout-target-%06d", i);
                OK(ext4_write_file(fs, path, &f, "new", 3, err)); /* replaced */
                snprintf(path, sizeof(path), "d/a-whiteout-target-%06d", i - 1);
                OK(ext4_unlink(fs, path, err));
        }
        double changed = cpu_seconds() - t0;
        fprintf(stderr, "%d names: made in %.2f s CPU, half replaced and half removed in %.2f s\n",
                n, made, changed);
        assert_true(changed < 3 * made + 1.0);
        close_and_check(fs, img);
        fs = reopen();
        expect_content(fs, "d/a-whiteout-target-000001", "new", 3);
        FAILS(ENOENT, ext4_lookup(fs, "d/a-whiteout-target-000000", NULL, err));
        /* and in a directory read back from disk (no remembered blocks) */
        for (int i = 1; i < n; i += 2) {
                snprintf(path, sizeof(path), "d/a-whiteout-target-%06d", i);
                if (i % 1000 == 1)
                        OK(ext4_unlink(fs, path, err));
        }
        close_and_check(fs, img);
}

/* More subdirectories than a link count holds (dir_nlink: count 1), then
 * back below: the count is exact again, counted once, not per removal. */
static void test_many_subdirs(void **state)
{
        const int n = 65010;
        struct ext4_fs *fs = mk(400 << 20, &(struct ext4_create_opts){.inodes = 70000});
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        OK(ext4_mkdir(fs, "top", &d, err));
        char path[64];
        for (int i = 0; i < n; i++) {
                snprintf(path, sizeof(path), "top/%05d", i);
                OK(ext4_mkdir(fs, path, &d, err));
        }
        assert_int_equal(stat_of(fs, "top").nlink, 1);
        for (int i = 0; i < 30; i++) {
                snprintf(path, sizeof(path), "top/%05d", i);
                OK(ext4_remove_tree(fs, path, err));
        }
        assert_int_equal(stat_of(fs, "top").nlink, n - 30 + 2);
        OK(ext4_mkdir(fs, "top/again", &d, err));
        assert_int_equal(stat_of(fs, "top").nlink, n - 29 + 2);
        close_and_check(fs, img);
}

/* Times outside what an inode holds (a layer's atime of INT64_MAX, negative
 * or too large nanoseconds) are stored clamped, as the kernel does, with no
 * arithmetic overflow on the way. */
static void test_time_range(void **state)
{
        struct ext4_fs *fs = mk(32 << 20, NULL);
        struct ext4_meta m = meta(S_IFREG | 0644, 0, 0);
        m.atime = (struct timespec){.tv_sec = INT64_MAX, .tv_nsec = 5};
        m.mtime = (struct timespec){.tv_sec = INT64_MIN, .tv_nsec = -1};
        m.ctime = (struct timespec){.tv_sec = EXT4_TIME_MAX + 1, .tv_nsec = 1000000000};
        OK(ext4_write_file(fs, "far", &m, "x", 1, err));
        struct ext4_meta g = meta(S_IFREG | 0644, 0, 0);
        g.atime = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
        g.mtime = (struct timespec){.tv_sec = 4102444800LL, .tv_nsec = 999999999}; /* 2100 */
        g.ctime = (struct timespec){.tv_sec = EXT4_TIME_MIN, .tv_nsec = 1};
        OK(ext4_write_file(fs, "edge", &g, "x", 1, err));
        close_and_check(fs, img);
        fs = reopen();
        struct ext4_stat st = stat_of(fs, "far");
        assert_true(st.atime.tv_sec == EXT4_TIME_MAX && st.atime.tv_nsec == 5);
        assert_true(st.mtime.tv_sec == EXT4_TIME_MIN && st.mtime.tv_nsec == 0);
        assert_true(st.ctime.tv_sec == EXT4_TIME_MAX && st.ctime.tv_nsec == 0);
        st = stat_of(fs, "edge");
        assert_true(st.atime.tv_sec == -1 && st.atime.tv_nsec == 0);
        assert_true(st.mtime.tv_sec == 4102444800LL && st.mtime.tv_nsec == 999999999);
        assert_true(st.ctime.tv_sec == EXT4_TIME_MIN && st.ctime.tv_nsec == 1);
        ext4_free(fs);
}

/* A streamed file still open when its image is closed or dropped: the image
 * goes, and the file keeps no pointer into it (ASan saw a use after free),
 * failing cleanly instead. */
static void test_file_open_at_close(void **state)
{
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_file *file = NULL;
        struct ext4_fs *fs = mk(32 << 20, NULL);
        OK(ext4_file_create(fs, "open", &f, &file, err));
        OK(ext4_file_write(file, "abc", 3, err));
        FAILS(EBUSY, ext4_close(fs, err));
        FAILS(EBADF, ext4_file_write(file, "d", 1, err));
        FAILS(EBADF, ext4_file_close(file, err));
        fs = mk(32 << 20, NULL);
        OK(ext4_file_create(fs, "open", &f, &file, err));
        OK(ext4_file_write(file, "abc", 3, err));
        ext4_free(fs);
        FAILS(EBADF, ext4_file_close(file, err));
}

static void test_stream_50mb(void **state)
{
        const size_t size = 50u * 1000 * 1000 + 123;
        uint8_t *data = malloc(size);
        assert_non_null(data);
        rng_state = 42;
        for (size_t i = 0; i < size; i++)
                data[i] = rnd();
        memset(data + 4096 * 100, 0, 4096 * 300);    /* a hole */
        memset(data + 4096 * 1000 + 5, 0, 4096 * 3); /* zeros, but not block aligned */
        memset(data + size - 10000, 0, 10000);       /* zero tail */

        struct ext4_fs *fs = mk(128 << 20, NULL);
        struct ext4_meta f = meta(S_IFREG | 0600, 5, 5);
        struct ext4_file *h = NULL;
        OK(ext4_file_create(fs, "big.bin", &f, &h, err));
        FAILS(EBUSY, ext4_mkdir(fs, "x", &f, err));
        static const size_t chunks[] = {1, 4095, 7919, 1 << 20, 3 * 4096, (1 << 20) + 3, 65537};
        size_t off = 0;
        for (int i = 0; off < size; i++) {
                size_t n = chunks[i % ELEMENTSOF(chunks)];
                if (n > size - off)
                        n = size - off;
                OK(ext4_file_write(h, data + off, n, err));
                off += n;
        }
        OK(ext4_file_close(h, err));

        /* a file of 3000 alternating data and hole blocks: a deep extent tree */
        uint8_t *frag = calloc(6000, 4096);
        assert_non_null(frag);
        for (size_t b = 0; b < 6000; b += 2)
                memset(frag + b * 4096, (int)(b % 250) + 1, 4096);
        OK(ext4_write_file(fs, "frag.bin", &f, frag, 6000 * 4096, err));
        close_and_check(fs, img);

        fs = reopen();
        struct ext4_stat st = stat_of(fs, "big.bin");
        assert_int_equal(st.size, size);
        assert_true(st.blocks * 512 < size - 4096 * 300 + 4096); /* holes were skipped */
        expect_content(fs, "big.bin", data, size);
        expect_content(fs, "frag.bin", frag, 6000 * 4096);
        /* 3000 extents need a tree of index and leaf blocks besides the data */
        uint64_t fb = stat_of(fs, "frag.bin").blocks;
        assert_true(fb > 3000 * 8 + 8 * 8 && fb < 3000 * 8 + 8 * 20);
        ext4_free(fs);
        free(frag);
        free(data);
}

static void test_replace(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        struct ext4_usage base;
        ext4_usage(fs, &base);
        size_t n = 3 << 20;
        char *buf = malloc(n);
        assert_non_null(buf);
        memset(buf, 'a', n);
        OK(ext4_write_file(fs, "f", &f, buf, n, err));
        memset(buf, 'b', n);
        OK(ext4_write_file(fs, "f", &f, buf, 100, err)); /* old blocks are freed */
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_int_equal(u.blocks_used, base.blocks_used + 1);

        OK(ext4_mkdir(fs, "d", &d, err));
        OK(ext4_write_file(fs, "d/keep", &f, "k", 1, err));
        struct ext4_meta d2 = meta(S_IFDIR | 0700, 7, 8);
        OK(ext4_mkdir(fs, "d", &d2, err)); /* existing dir: new metadata, same content */
        struct ext4_stat st = stat_of(fs, "d");
        assert_int_equal(st.mode, S_IFDIR | 0700);
        assert_int_equal(st.uid, 7);
        expect_content(fs, "d/keep", "k", 1);

        OK(ext4_mkdir(fs, "f", &d, err)); /* file replaced by a directory */
        assert_int_equal(stat_of(fs, "f").mode, S_IFDIR | 0755);
        OK(ext4_mkdir_p(fs, "d/sub/subsub", &d, err));
        OK(ext4_write_file(fs, "d/sub/subsub/x", &f, buf, n, err));
        OK(ext4_write_file(fs, "d", &f, "now a file", 10, err)); /* tree replaced by a file */
        expect_content(fs, "d", "now a file", 10);
        OK(ext4_symlink(fs, "d", "target", &l, err)); /* file replaced by a symlink */
        assert_int_equal(stat_of(fs, "/").nlink, 4);  /* ., lost+found, f */
        OK(ext4_remove_tree(fs, "d", err));
        OK(ext4_remove_tree(fs, "f", err));
        ext4_usage(fs, &u);
        assert_int_equal(u.blocks_used, base.blocks_used);
        assert_int_equal(u.inodes_used, base.inodes_used);
        assert_int_equal(stat_of(fs, "/").nlink, 3);
        close_and_check(fs, img);
        free(buf);
}

static void test_remove_tree_counts(void **state)
{
        struct ext4_fs *fs = mk(64 << 20, NULL);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_mkdir(fs, "x", &d, err));
        OK(ext4_write_file(fs, "x/outside", &f, "o", 1, err));
        struct ext4_usage base;
        ext4_usage(fs, &base);
        char *buf = calloc(1, 250000);
        assert_non_null(buf);
        memset(buf, 'z', 100000);
        char path[128];
        for (int i = 0; i < 20; i++) {
                snprintf(path, sizeof(path), "x/t/d%d", i);
                OK(ext4_mkdir_p(fs, path, &d, err));
                for (int j = 0; j < 30; j++) {
                        snprintf(path, sizeof(path), "x/t/d%d/f%d", i, j);
                        OK(ext4_write_file(fs, path, &f, buf, (size_t)(j * 7000), err));
                }
                snprintf(path, sizeof(path), "x/t/d%d/link", i);
                OK(ext4_symlink(
                    fs, path, "/a/very/long/target/that/does/not/fit/in/the/inode/itself/at/all/x",
                    &l, err));
                snprintf(path, sizeof(path), "x/t/d%d/hl", i);
                OK(ext4_hardlink(fs, path, "x/outside", err));
                snprintf(path, sizeof(path), "x/t/d%d/f1", i);
                OK(ext4_set_xattr(fs, path, "user.big", buf + 100000, 2000, err));
        }
        OK(ext4_hardlink(fs, "x/t/d0/inner", "x/t/d1/f5", err));
        assert_int_equal(stat_of(fs, "x/outside").nlink, 21);
        OK(ext4_remove_tree(fs, "x/t", err));
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_int_equal(u.blocks_used, base.blocks_used);
        assert_int_equal(u.inodes_used, base.inodes_used);
        assert_int_equal(stat_of(fs, "x/outside").nlink, 1);
        assert_int_equal(stat_of(fs, "x").nlink, 2);
        close_and_check(fs, img);
        fs = reopen();
        expect_content(fs, "x/outside", "o", 1);
        ext4_free(fs);
        free(buf);
}

int main(void)
{
        if (!ext4_tools_ready())
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_create_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_file_types, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hardlinks, setup, teardown),
            cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
            cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
            cmocka_unit_test_setup_teardown(test_paths_no_follow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_deep_dirs, setup, teardown),
            cmocka_unit_test_setup_teardown(test_guest_corruptions, setup, teardown),
            cmocka_unit_test_setup_teardown(test_big_dir, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stream_50mb, setup, teardown),
            cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
            cmocka_unit_test_setup_teardown(test_remove_tree_counts, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unlink_many, setup, teardown),
            cmocka_unit_test_setup_teardown(test_many_subdirs, setup, teardown),
            cmocka_unit_test_setup_teardown(test_time_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_file_open_at_close, setup, teardown),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
