/* Tests for lib/ext4 on images it did not make, and on reading back:
 * opening what mkfs.ext4 made, the read caps, bad geometry, usage a guest's
 * superblock overstates, adding a host tree, readdir and copy_tree, size
 * estimates. The writing scenarios are in test_ext4.c. */

#include "test_ext4_fixture.h"

static void test_open_mkfs_image(void **state)
{
        char *argv[] = {
            "mkfs.ext4", "-F",  "-q", "-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
            img,         "64M", NULL};
        assert_int_equal(run(argv), 0);
        struct ext4_fs *fs = reopen();
        struct ext4_meta d = meta(S_IFDIR | 0700, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0600, 0, 0);
        OK(ext4_mkdir(fs, ".ssh", &d, err));
        const char *key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@host\n";
        OK(ext4_write_file(fs, ".ssh/authorized_keys", &f, key, strlen(key), err));
        struct ext4_meta wd = meta(S_IFDIR | 0755, 1000, 1000);
        struct ext4_meta wf = meta(S_IFREG | 0644, 1000, 1000);
        char path[128];
        for (int i = 0; i < 50; i++) {
                snprintf(path, sizeof(path), "workspace/src/mod%d", i);
                OK(ext4_mkdir_p(fs, path, &wd, err));
                for (int j = 0; j < 10; j++) {
                        snprintf(path, sizeof(path), "workspace/src/mod%d/file%d.c", i, j);
                        OK(ext4_write_file(fs, path, &wf, path, strlen(path), err));
                }
        }
        close_and_check(fs, img);
        fs = reopen();
        expect_content(fs, ".ssh/authorized_keys", key, strlen(key));
        assert_int_equal(stat_of(fs, ".ssh/authorized_keys").mode, S_IFREG | 0600);
        expect_content(fs, "workspace/src/mod49/file9.c", "workspace/src/mod49/file9.c", 27);
        assert_int_equal(stat_of(fs, "workspace/src").nlink, 52);
        ext4_free(fs);

        struct bg_error e = {0};
        char junk[320];
        snprintf(junk, sizeof(junk), "%s/junk", tmpdir);
        int fd = open(junk, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
        assert_true(ext4_open(junk, &fs, &e) < 0);
        assert_non_null(strstr(e.msg, junk));
}

/* A work disk is the guest's to write: an inode may claim any size. Whole
 * reads into memory stop at EXT4_READ_FILE_MAX and symlink targets at 4095
 * bytes, before anything is allocated (fuzz target ext4_read). */
static void test_read_caps(void **state)
{
        struct ext4_fs *fs = mk(16 << 20, NULL);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        struct ext4_file *file = NULL;
        OK(ext4_file_create(fs, "big", &f, &file, err));
        static char zeros[1 << 20];
        for (unsigned i = 0; i <= EXT4_READ_FILE_MAX / sizeof(zeros); i++) /* holes */
                OK(ext4_file_write(file, zeros, sizeof(zeros), err));
        OK(ext4_file_close(file, err));
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_symlink(fs, "link", "big", &l, err));
        close_and_check(fs, img);
        fs = reopen();
        void *data = NULL;
        size_t n = 0;
        FAILS(EFBIG, ext4_read_file(fs, "big", &data, &n, err));
        assert_null(data);
        ext4_free(fs);

        /* a symlink whose inode says its target is 1 GiB */
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "sif /link size 1073741824");
        char *argv[] = {"debugfs", "-w", "-R", cmd, img, NULL};
        assert_int_equal(run(argv), 0);
        fs = reopen();
        char *target = NULL;
        FAILS(EFBIG, ext4_readlink(fs, "link", &target, err));
        assert_null(target);
        ext4_free(fs);
}

/* A superblock whose first data block is off made libext2fs' bitmap reader
 * write past its buffer (fuzz target ext4_read, a heap overflow in the
 * daemon that opens a guest's work disk): refused before the bitmaps. */
static void test_open_bad_geometry(void **state)
{
        char *argv[] = {"mkfs.ext4", "-F",           "-q", "-b", "1024",
                        "-O",        "^has_journal", img,  "8M", NULL};
        assert_int_equal(run(argv), 0);
        ext4_free(reopen()); /* as made: fine */
        int fd = open(img, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        uint32_t first = 156; /* s_first_data_block, little-endian on x86 */
        assert_int_equal(pwrite(fd, &first, sizeof(first), 1024 + 20), (ssize_t)sizeof(first));
        close(fd);
        struct ext4_fs *fs = NULL;
        FAILS(EUCLEAN, ext4_open(img, &fs, err));
        assert_null(fs);
}

/* A guest-written superblock claiming more free blocks and inodes than the
 * filesystem has: the usage never wraps ("used" near 2^64). */
static void test_usage_free_over_total(void **state)
{
        char *argv[] = {"mkfs.ext4", "-F", "-q", "-b", "1024", "-O", "^has_journal,^metadata_csum",
                        img, "8M", NULL};
        assert_int_equal(run(argv), 0);
        int fd = open(img, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        uint32_t lots = 0xfffffff0u; /* s_free_blocks_count_lo, s_free_inodes_count */
        assert_int_equal(pwrite(fd, &lots, sizeof(lots), 1024 + 0x0c), (ssize_t)sizeof(lots));
        assert_int_equal(pwrite(fd, &lots, sizeof(lots), 1024 + 0x10), (ssize_t)sizeof(lots));
        close(fd);
        struct ext4_fs *fs = NULL;
        struct bg_error e = {0};
        if (ext4_open(img, &fs, &e) < 0) {
                assert_null(fs); /* refusing it is fine too */
                return;
        }
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_true(u.blocks_free <= u.blocks_total);
        assert_int_equal(u.blocks_used + u.blocks_free, u.blocks_total);
        assert_true(u.inodes_free <= u.inodes_total);
        assert_int_equal(u.inodes_used + u.inodes_free, u.inodes_total);
        ext4_free(fs);
}

/* Compare host tree hp with image tree ip. */
static void compare_tree(struct ext4_fs *fs, const char *hp, const char *ip)
{
        struct stat hs;
        assert_int_equal(lstat(hp, &hs), 0);
        struct ext4_stat is = stat_of(fs, ip);
        assert_int_equal(is.mode, hs.st_mode);
        assert_int_equal(is.uid, hs.st_uid);
        assert_int_equal(is.gid, hs.st_gid);
        assert_int_equal(is.mtime.tv_sec, hs.st_mtim.tv_sec);
        assert_int_equal(is.mtime.tv_nsec, hs.st_mtim.tv_nsec);
        if (S_ISREG(hs.st_mode)) {
                assert_int_equal(is.size, hs.st_size);
                assert_int_equal(is.nlink, hs.st_nlink);
                void *h = malloc(hs.st_size + 1);
                int fd = open(hp, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(read(fd, h, hs.st_size + 1), hs.st_size);
                close(fd);
                expect_content(fs, ip, h, hs.st_size);
                free(h);
        } else if (S_ISLNK(hs.st_mode)) {
                char t[4096];
                ssize_t n = readlink(hp, t, sizeof(t) - 1);
                assert_true(n > 0);
                t[n] = '\0';
                char *it = NULL;
                OK(ext4_readlink(fs, ip, &it, err));
                assert_string_equal(it, t);
                free(it);
        } else if (S_ISDIR(hs.st_mode)) {
                assert_int_equal(is.nlink, hs.st_nlink);
                DIR *d = opendir(hp);
                assert_non_null(d);
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        char h2[1024], i2[1024];
                        snprintf(h2, sizeof(h2), "%s/%s", hp, de->d_name);
                        snprintf(i2, sizeof(i2), "%s/%s", ip, de->d_name);
                        compare_tree(fs, h2, i2);
                }
                closedir(d);
        }
}

static void write_host(const char *path, const void *data, size_t n)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        close(fd);
}

static void test_add_tree(void **state)
{
        char host[300], p[400];
        snprintf(host, sizeof(host), "%s/host", tmpdir);
        assert_int_equal(mkdir(host, 0755), 0);
        snprintf(p, sizeof(p), "%s/kernel/drivers/net", host);
        char mk1[400];
        snprintf(mk1, sizeof(mk1), "%s/kernel", host);
        assert_int_equal(mkdir(mk1, 0750), 0);
        snprintf(mk1, sizeof(mk1), "%s/kernel/drivers", host);
        assert_int_equal(mkdir(mk1, 0755), 0);
        assert_int_equal(mkdir(p, 0700), 0);
        char *buf = calloc(1, 400000);
        assert_non_null(buf);
        rng_state = 7;
        for (size_t i = 0; i < 150000; i++)
                buf[i] = (char)rnd();
        for (int i = 0; i < 40; i++) {
                snprintf(p, sizeof(p), "%s/kernel/drivers/net/mod%d.ko", host, i);
                write_host(p, buf + i * 1000, (size_t)(i * 7001));
        }
        snprintf(p, sizeof(p), "%s/zeros", host);
        write_host(p, buf + 150000, 150000);
        snprintf(p, sizeof(p), "%s/modules.dep", host);
        write_host(p, "kernel/a.ko:\n", 13);
        char l2[400];
        snprintf(l2, sizeof(l2), "%s/modules.dep.hard", host);
        assert_int_equal(link(p, l2), 0);
        snprintf(l2, sizeof(l2), "%s/kernel/hard2", host);
        assert_int_equal(link(p, l2), 0);
        snprintf(p, sizeof(p), "%s/build", host);
        assert_int_equal(symlink("/usr/src/linux-headers-6.1.0-amd64-with-a-long-name-here/x", p),
                         0);
        snprintf(p, sizeof(p), "%s/short", host);
        assert_int_equal(symlink("kernel", p), 0);
        snprintf(p, sizeof(p), "%s/fifo", host);
        assert_int_equal(mkfifo(p, 0600), 0);
        snprintf(p, sizeof(p), "%s/kernel/drivers/net/mod3.ko", host);
        bool xattrs = setxattr(p, "user.test", "\0\1\2", 3, 0) == 0;
        if (!xattrs && errno != ENOTSUP)
                fail_msg("setxattr user.test on %s: %s", p, strerror(errno));
        struct timespec ts[2] = {{.tv_sec = 1500000000, .tv_nsec = 42},
                                 {.tv_sec = 1500000001, .tv_nsec = 4242}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);

        struct ext4_fs *fs = mk(64 << 20, NULL);
        FAILS(ENOENT, ext4_add_tree(fs, host, "/lib/modules/6.1.0", NULL, err));
        FAILS(ENOENT, ext4_add_tree(fs, host, "/nope/x/y", NULL, err));
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        OK(ext4_mkdir_p(fs, "lib/modules", &d, err));
        OK(ext4_add_tree(fs, host, "/lib/modules/6.1.0", NULL, err));
        struct ext4_tree_opts o = {
            .override_owner = true, .uid = 1234, .gid = 5678, .no_xattrs = true};
        OK(ext4_add_tree(fs, host, "/", &o, err));
        /* keep_existing_dirs: a directory already there keeps its metadata */
        struct ext4_meta keep = meta(S_IFDIR | 0700, 7, 7);
        OK(ext4_mkdir(fs, "/keep", &keep, err));
        struct ext4_tree_opts ko = {
            .override_owner = true, .uid = 1234, .keep_existing_dirs = true};
        OK(ext4_add_tree(fs, host, "/keep", &ko, err));
        close_and_check(fs, img);

        fs = reopen();
        compare_tree(fs, host, "lib/modules/6.1.0");
        struct ext4_stat a = stat_of(fs, "lib/modules/6.1.0/modules.dep");
        struct ext4_stat b = stat_of(fs, "lib/modules/6.1.0/kernel/hard2");
        assert_int_equal(a.ino, b.ino);
        assert_int_equal(a.nlink, 3);
        assert_int_equal(stat_of(fs, "lib/modules/6.1.0/fifo").mode, S_IFIFO | 0600);
        assert_int_equal(stat_of(fs, "lib/modules/6.1.0/zeros").blocks, 0);
        assert_int_equal(stat_of(fs, "/kernel/drivers/net/mod3.ko").uid, 1234);
        assert_int_equal(stat_of(fs, "/").gid, 5678);
        assert_int_equal(stat_of(fs, "/keep").mode, S_IFDIR | 0700);
        assert_int_equal(stat_of(fs, "/keep").uid, 7);
        assert_int_equal(stat_of(fs, "/keep/kernel").uid, 1234); /* new dirs as usual */
        assert_int_equal(stat_of(fs, "/keep/modules.dep").uid, 1234);
        void *v = NULL;
        size_t n = 0;
        if (xattrs) {
                OK(ext4_get_xattr(fs, "lib/modules/6.1.0/kernel/drivers/net/mod3.ko", "user.test",
                                  &v, &n, err));
                assert_int_equal(n, 3);
                assert_memory_equal(v, "\0\1\2", 3);
                free(v);
                FAILS(ENODATA,
                      ext4_get_xattr(fs, "kernel/drivers/net/mod3.ko", "user.test", &v, &n, err));
        }
        ext4_free(fs);
        free(buf);
        if (!xattrs)
                test_skip("no-user-xattr",
                          "the file system of %s has no user xattrs: the "
                          "xattr copy is not checked",
                          host);
}

/* ---- readdir and copy_tree ---------------------------------------------- */

static int count_entry(void *ud, const char *name, const struct ext4_stat *st)
{
        char *seen = ud;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return -EINVAL;
        strcat(seen, name);
        strcat(seen, S_ISDIR(st->mode) ? "/ " : " ");
        return 0;
}

static void same_entry(struct ext4_fs *a, struct ext4_fs *b, const char *pa, const char *pb)
{
        struct ext4_stat x = stat_of(a, pa), y = stat_of(b, pb);
        assert_int_equal(x.mode, y.mode);
        assert_int_equal(x.uid, y.uid);
        assert_int_equal(x.gid, y.gid);
        assert_int_equal(x.size, y.size);
        assert_int_equal(x.mtime.tv_sec, y.mtime.tv_sec);
        assert_int_equal(x.mtime.tv_nsec, y.mtime.tv_nsec);
        assert_int_equal(x.rdev, y.rdev);
}

static void test_readdir_copy_tree(void **state)
{
        char img2[320];
        snprintf(img2, sizeof(img2), "%s/copy.ext4", tmpdir);
        struct ext4_fs *src = mk(64 << 20, NULL);
        struct ext4_meta d700 = meta(S_IFDIR | 0700, 0, 0), d755 = meta(S_IFDIR | 0755, 5, 6);
        OK(ext4_mkdir(src, "/root", &d700, err));
        OK(ext4_mkdir(src, "/root/.config", &d755, err));
        OK(ext4_mkdir(src, "/root/.config/deep", &d755, err));
        size_t big = 3u << 20;
        char *buf = malloc(big);
        assert_non_null(buf);
        for (size_t i = 0; i < big; i++)
                buf[i] = (char)(i * 2654435761u >> 13);
        struct ext4_meta f = meta(S_IFREG | 0644, 1000, 1000);
        OK(ext4_write_file(src, "/root/.config/deep/big", &f, buf, big, err));
        OK(ext4_write_file(src, "/root/empty", &f, "", 0, err));
        struct ext4_meta suid = meta(S_IFREG | 04755, 0, 0);
        OK(ext4_write_file(src, "/root/tool", &suid, "ELF", 3, err));
        OK(ext4_set_xattr(src, "/root/tool", "security.capability", "\1\2\3", 3, err));
        OK(ext4_set_xattr(src, "/root/.config", "user.note", "hi", 2, err));
        OK(ext4_hardlink(src, "/root/tool2", "/root/tool", err));
        struct ext4_meta l = meta(S_IFLNK | 0777, 0, 0);
        OK(ext4_symlink(src, "/root/dangling", "/nowhere/at/all", &l, err));
        struct ext4_meta fifo = meta(S_IFIFO | 0600, 0, 0), chr = meta(S_IFCHR | 0666, 0, 0);
        OK(ext4_mknod(src, "/root/fifo", &fifo, 0, err));
        OK(ext4_mknod(src, "/root/null", &chr, makedev(1, 3), err));
        OK(ext4_symlink(src, "/link-to-root", "root", &l, err));

        char seen[512] = "";
        OK(ext4_readdir(src, "/root/.config", count_entry, seen, err));
        assert_string_equal(seen, "deep/ ");
        FAILS(ENOTDIR, ext4_readdir(src, "/root/tool", count_entry, seen, err));
        FAILS(ENOENT, ext4_readdir(src, "/nope", count_entry, seen, err));

        struct ext4_fs *dst = NULL;
        struct ext4_create_opts co = {0};
        OK(ext4_create(img2, 64 << 20, &co, &dst, err));
        FAILS(ENOTDIR, ext4_copy_tree(src, "/link-to-root", dst, "/", NULL, err));
        struct ext4_copy_opts few = {.max_entries = 3};
        FAILS(EFBIG, ext4_copy_tree(src, "/root", dst, "/", &few, err));
        struct ext4_copy_opts small = {.max_bytes = 1 << 20};
        FAILS(EFBIG, ext4_copy_tree(src, "/root", dst, "/", &small, err));
        ext4_free(dst);
        dst = NULL;
        OK(ext4_create(img2, 64 << 20, &co, &dst, err));
        OK(ext4_copy_tree(src, "/root", dst, "/", NULL, err));
        close_and_check(dst, img2);
        OK(ext4_open(img2, &dst, err));

        same_entry(src, dst, "/root", "/");
        static const char *const names[] = {".config",  ".config/deep", ".config/deep/big",
                                            "empty",    "tool",         "tool2",
                                            "dangling", "fifo",         "null"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char a[64], b[64];
                snprintf(a, sizeof(a), "/root/%s", names[i]);
                snprintf(b, sizeof(b), "/%s", names[i]);
                same_entry(src, dst, a, b);
        }
        expect_content(dst, "/.config/deep/big", buf, big);
        assert_int_equal(stat_of(dst, "/tool").ino, stat_of(dst, "/tool2").ino);
        assert_int_equal(stat_of(dst, "/tool").nlink, 2);
        char *target = NULL;
        OK(ext4_readlink(dst, "/dangling", &target, err));
        assert_string_equal(target, "/nowhere/at/all");
        free(target);
        void *v = NULL;
        size_t n = 0;
        OK(ext4_get_xattr(dst, "/tool", "security.capability", &v, &n, err));
        assert_int_equal(n, 3);
        assert_memory_equal(v, "\1\2\3", 3);
        free(v);
        OK(ext4_get_xattr(dst, "/.config", "user.note", &v, &n, err));
        assert_memory_equal(v, "hi", 2);
        free(v);
        ext4_free(dst);
        ext4_free(src);
        free(buf);
}

static void test_estimate_and_variants(void **state)
{
        assert_true(ext4_estimate_size(0, 0) >= 8u << 20);
        assert_int_equal(ext4_estimate_size(0, 0) % (1 << 20), 0);
        assert_true(ext4_estimate_size(100u << 20, 10) > 100u << 20);

        uint64_t size = ext4_estimate_size(20u << 20, 3000);
        struct ext4_create_opts o = {.no_metadata_csum = true, .journal = true};
        struct ext4_fs *fs = mk(size, &o);
        struct ext4_meta d = meta(S_IFDIR | 0755, 0, 0);
        struct ext4_meta f = meta(S_IFREG | 0644, 0, 0);
        char *buf = malloc(7000);
        assert_non_null(buf);
        memset(buf, 'q', 7000);
        char path[64];
        size_t total = 0;
        for (int i = 0; i < 3000 && total < (20u << 20); i++) {
                snprintf(path, sizeof(path), "d%d/f%d", i % 30, i);
                if (i < 30) {
                        snprintf(path, sizeof(path), "d%d", i);
                        OK(ext4_mkdir(fs, path, &d, err));
                        snprintf(path, sizeof(path), "d%d/f%d", i % 30, i);
                }
                OK(ext4_write_file(fs, path, &f, buf, (size_t)(i % 7000), err));
                total += (size_t)(i % 7000);
        }
        struct ext4_usage u;
        ext4_usage(fs, &u);
        assert_true(u.blocks_free > 0 && u.inodes_free > 0);
        close_and_check(fs, img);
        free(buf);
}

int main(void)
{
        if (!ext4_tools_ready())
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_open_mkfs_image, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_caps, setup, teardown),
            cmocka_unit_test_setup_teardown(test_open_bad_geometry, setup, teardown),
            cmocka_unit_test_setup_teardown(test_usage_free_over_total, setup, teardown),
            cmocka_unit_test_setup_teardown(test_add_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(test_readdir_copy_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(test_estimate_and_variants, setup, teardown),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
