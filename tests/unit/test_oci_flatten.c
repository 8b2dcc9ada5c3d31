/* lib/oci flatten: tar layers written here with libarchive (gzip, zstd,
 * plain), flattened into a temp ext4 and read back with lib/ext4; every image
 * is checked with `e2fsck -fn`. Covers whiteouts, opaque directories, every
 * kind of entry and metadata, every hostile-input rule and rootfs inspection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ext4.h"
#include "oci_digest.h"
#include "oci_flatten.h"
#include "oci_rootfs.h"
#include "test_tmpdir.h"

static char tmpdir[] = "/tmp/oci-flatten-XXXXXX";
static int layer_no;

struct tb {
        struct archive *a;
        char path[512];
        enum oci_compression comp;
};

static void tb_open(struct tb *t, enum oci_compression comp)
{
        snprintf(t->path, sizeof(t->path), "%s/layer%d.tar", tmpdir, layer_no++);
        t->comp = comp;
        t->a = archive_write_new();
        assert_non_null(t->a);
        assert_int_equal(archive_write_set_format_pax(t->a), ARCHIVE_OK);
        if (comp == OCI_COMPRESSION_GZIP)
                assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
        else if (comp == OCI_COMPRESSION_ZSTD)
                assert_int_equal(archive_write_add_filter_zstd(t->a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(t->a, t->path), ARCHIVE_OK);
}

static struct archive_entry *tb_entry(const char *path, mode_t type, mode_t perm)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, 1700000000, 123456789);
        return e;
}

static void tb_put(struct tb *t, struct archive_entry *e, const void *data, size_t len)
{
        archive_entry_set_size(e, (la_int64_t)len);
        assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
        if (len)
                assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t)len);
        archive_entry_free(e);
}

static void tb_dir(struct tb *t, const char *path, mode_t perm)
{
        tb_put(t, tb_entry(path, AE_IFDIR, perm), NULL, 0);
}

static void tb_file(struct tb *t, const char *path, const char *content)
{
        tb_put(t, tb_entry(path, AE_IFREG, 0644), content, strlen(content));
}

static void tb_symlink(struct tb *t, const char *path, const char *target)
{
        struct archive_entry *e = tb_entry(path, AE_IFLNK, 0777);
        archive_entry_set_symlink(e, target);
        tb_put(t, e, NULL, 0);
}

static void tb_hardlink(struct tb *t, const char *path, const char *target)
{
        struct archive_entry *e = tb_entry(path, AE_IFREG, 0644);
        archive_entry_set_hardlink(e, target);
        tb_put(t, e, NULL, 0);
}

static void tb_close(struct tb *t)
{
        assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
        archive_write_free(t->a);
        t->a = NULL;
}

static struct oci_flatten_layer L(const struct tb *t) {
        return (struct oci_flatten_layer){.path = t->path, .compression = t->comp};
}

static void
image_path(char *out, size_t n)
{
        snprintf(out, n, "%s/img%d.ext4", tmpdir, layer_no++);
}

static void fsck_ok(const char *img)
{
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s' >/dev/null 2>&1", img);
        int st = system(cmd);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s'", img);
                (void)system(cmd);
                fail_msg("e2fsck -fn failed on %s", img);
        }
}

static struct ext4_fs *open_img(const char *img)
{
        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        if (ext4_open(img, &fs, &err) < 0)
                fail_msg("open %s: %s", img, err.msg);
        return fs;
}

static void expect_content(struct ext4_fs *fs, const char *path, const char *want)
{
        void *data = NULL;
        size_t len = 0;
        struct bg_error err = {0};
        if (ext4_read_file(fs, path, &data, &len, &err) < 0)
                fail_msg("read %s: %s", path, err.msg);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(data, want, len);
        free(data);
}

static void expect_missing(struct ext4_fs *fs, const char *path)
{
        int r = ext4_lookup(fs, path, NULL, NULL);
        if (r != -ENOENT)
                fail_msg("%s: expected missing, got %d", path, r);
}

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

/* Flatten layers, expect failure with code and a message containing needle. */
static void expect_refused(const struct oci_flatten_layer *ls, size_t n,
                           const struct oci_flatten_opts *o, int code, const char *needle)
{
        char img[512];
        image_path(img, sizeof(img));
        struct bg_error err = {0};
        int r = oci_flatten(ls, n, img, o, NULL, &err);
        if (r >= 0)
                fail_msg("accepted, expected '%s'", needle);
        if (r != -code || !strstr(err.msg, needle))
                fail_msg("got %d '%s', expected %d with '%s'", r, err.msg, -code, needle);
        unlink(img);
}

static void one_bad_file(const char *name, int code, const char *needle)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_GZIP);
        tb_file(&t, "ok", "fine");
        tb_file(&t, name, "x");
        tb_close(&t);
        struct oci_flatten_layer l = L(&t);
        expect_refused(&l, 1, NULL, code, needle);
}

static void test_hostile(void **state)
{
        one_bad_file("/etc/passwd", EINVAL, "'/etc/passwd' has an absolute path");
        one_bad_file("a/../../x", EINVAL, "'a/../../x' has a '..' component");
        one_bad_file("..", EINVAL, "'..' component");
        char longname[300];
        memset(longname, 'n', 256);
        longname[256] = '\0';
        one_bad_file(longname, ENAMETOOLONG, "longer than 255");
        one_bad_file("d/.wh..", EINVAL, "whiteout reaches outside");
        one_bad_file("d/.wh...", EINVAL, "whiteout reaches outside");
        one_bad_file(".wh..wh..opq", EINVAL, "opaque whiteout of the image root");

        struct tb t, u;
        /* through a symlink, in the same layer and across layers */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_symlink(&t, "lnk", "/etc");
        tb_file(&t, "lnk/passwd", "owned");
        tb_close(&t);
        struct oci_flatten_layer l = L(&t);
        expect_refused(&l, 1, NULL, ELOOP, "'lnk/passwd'");

        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_symlink(&t, "up", "../../../..");
        tb_close(&t);
        tb_open(&u, OCI_COMPRESSION_NONE);
        tb_dir(&u, "up/x", 0755);
        tb_close(&u);
        struct oci_flatten_layer two[] = {L(&t), L(&u)};
        expect_refused(two, 2, NULL, ELOOP, "'up/x/': parent 'up' is a symlink");

        /* whiteout through a symlink in a lower layer */
        tb_open(&u, OCI_COMPRESSION_NONE);
        tb_file(&u, "up/.wh.passwd", "");
        tb_close(&u);
        two[1] = L(&u);
        expect_refused(two, 2, NULL, ELOOP, "whiteout of 'up/passwd' goes through a symlink");

        /* parent is a regular file */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_file(&t, "f", "x");
        tb_file(&t, "f/x", "y");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, ENOTDIR, "'f/x'");

        /* hardlinks: missing, escaping, absolute, to a directory */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_hardlink(&t, "h", "nothing/here");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, EINVAL, "hardlink to missing target 'nothing/here'");
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_hardlink(&t, "h", "../../etc/shadow");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, EINVAL, "'h': hardlink target");
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_hardlink(&t, "h", "/etc/shadow");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, EINVAL, "absolute path");
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_dir(&t, "d", 0755);
        tb_hardlink(&t, "h", "d");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, EINVAL, "hardlink to directory 'd'");
        /* hardlink whose target is reached through a symlink */
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_symlink(&t, "s", "/etc");
        tb_hardlink(&t, "h", "s/passwd");
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, NULL, ELOOP, "goes through a symlink");

        /* too many entries */
        tb_open(&t, OCI_COMPRESSION_GZIP);
        for (int i = 0; i < 10; i++) {
                char n[16];
                snprintf(n, sizeof(n), "f%d", i);
                tb_file(&t, n, "x");
        }
        tb_close(&t);
        l = L(&t);
        expect_refused(&l, 1, &(struct oci_flatten_opts){.max_entries = 5}, EFBIG,
                       "more than 5 entries");

        /* digest mismatch, and a corrupted (truncated) blob */
        l.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        expect_refused(&l, 1, NULL, EBADMSG, "does not match its digest");
        int fd = open(t.path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 40), 0);
        close(fd);
        l.digest = NULL;
        expect_refused(&l, 1, NULL, EINVAL, "not a valid tar layer");

        /* not a tar at all */
        char junk[512];
        snprintf(junk, sizeof(junk), "%s/junk", tmpdir);
        FILE *f = fopen(junk, "w");
        fputs("this is not a tar file, not even close", f);
        fclose(f);
        l = (struct oci_flatten_layer){.path = junk, .compression = OCI_COMPRESSION_GZIP};
        expect_refused(&l, 1, NULL, EINVAL, "not a valid tar layer");
}

/* One entry, refused for what its header says (issue #19: an atime of
 * INT64_MAX overflowed the ext4 time encoding). */
static void one_bad_entry(struct archive_entry *e, int code, const char *needle)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_file(&t, "ok", "fine");
        bool reg = archive_entry_filetype(e) == AE_IFREG;
        tb_put(&t, e, reg ? "x" : NULL, reg ? 1 : 0);
        tb_close(&t);
        struct oci_flatten_layer l = L(&t);
        expect_refused(&l, 1, NULL, code, needle);
}

static void test_ranges(void **state)
{
        struct archive_entry *e = tb_entry("far", AE_IFREG, 0644);
        archive_entry_set_atime(e, INT64_MAX, 0);
        one_bad_entry(e, EINVAL, "'far': atime 9223372036854775807 is outside what ext4 stores");
        e = tb_entry("old", AE_IFREG, 0644);
        archive_entry_set_mtime(e, -(1ll << 40), 0);
        one_bad_entry(e, EINVAL, "'old': mtime -1099511627776 is outside");
        e = tb_entry("late", AE_IFREG, 0644);
        archive_entry_set_ctime(e, EXT4_TIME_MAX + 1, 0);
        one_bad_entry(e, EINVAL, "'late': ctime 15032385536");
        /* libarchive writes only 07777 of a mode; a hostile tar is written
         * by hand: one ustar header whose mode field says 0200644. */
        struct tb raw = {.comp = OCI_COMPRESSION_NONE};
        snprintf(raw.path, sizeof(raw.path), "%s/layer%d.tar", tmpdir, layer_no++);
        unsigned char h[512 * 3] = {0};
        snprintf((char *)h, 100, "modebits");
        memcpy(h + 100, "0200644", 8);
        memcpy(h + 108, "0000000", 8);
        memcpy(h + 116, "0000000", 8);
        memcpy(h + 124, "00000000000", 12);
        memcpy(h + 136, "14524103000", 12);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        FILE *rf = fopen(raw.path, "w");
        assert_non_null(rf);
        assert_int_equal(fwrite(h, 1, sizeof(h), rf), sizeof(h));
        fclose(rf);
        struct oci_flatten_layer rl = L(&raw);
        expect_refused(&rl, 1, NULL, EINVAL, "'modebits': mode 300644 has bits beyond 07777");
        e = tb_entry("dev/big", AE_IFCHR, 0600);
        archive_entry_set_rdevmajor(e, 5000);
        archive_entry_set_rdevminor(e, 1);
        one_bad_entry(e, EINVAL, "'dev/big': device 5000:1 is beyond what ext4 stores");

        /* The edges of what ext4 stores are kept exactly. */
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_NONE);
        e = tb_entry("edge", AE_IFREG, 0644);
        archive_entry_set_mtime(e, EXT4_TIME_MAX, 999999999);
        archive_entry_set_atime(e, EXT4_TIME_MIN, 0);
        tb_put(&t, e, "x", 1);
        e = tb_entry("before1970", AE_IFREG, 0644);
        archive_entry_set_mtime(e, -1, 500);
        tb_put(&t, e, "x", 1);
        tb_close(&t);
        struct oci_flatten_layer l = L(&t);
        char img[512];
        image_path(img, sizeof(img));
        struct bg_error err = {0};
        if (oci_flatten(&l, 1, img, NULL, NULL, &err) < 0)
                fail_msg("flatten: %s", err.msg);
        fsck_ok(img);
        struct ext4_fs *fs = open_img(img);
        struct ext4_stat st;
        assert_int_equal(ext4_lookup(fs, "edge", &st, &err), 0);
        assert_true(st.mtime.tv_sec == EXT4_TIME_MAX && st.mtime.tv_nsec == 999999999);
        assert_true(st.atime.tv_sec == EXT4_TIME_MIN);
        assert_int_equal(ext4_lookup(fs, "before1970", &st, &err), 0);
        assert_true(st.mtime.tv_sec == -1 && st.mtime.tv_nsec == 500);
        ext4_free(fs);
        unlink(img);
}

/* n bytes of byte c as one file: a layer that compresses to almost nothing. */
static void tb_fill(struct tb *t, const char *path, size_t n, int c)
{
        struct archive_entry *e = tb_entry(path, AE_IFREG, 0644);
        archive_entry_set_size(e, (la_int64_t)n);
        assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
        static char chunk[1 << 20];
        memset(chunk, c, sizeof(chunk));
        for (size_t left = n; left > 0;) {
                size_t k = left < sizeof(chunk) ? left : sizeof(chunk);
                assert_int_equal(archive_write_data(t->a, chunk, k), (la_ssize_t)k);
                left -= k;
        }
        archive_entry_free(e);
}

/* Issue #19, attack 4 at the library: a compression bomb and an image over
 * its size cap are refused from the scan, before the image is made, naming
 * the layer, the entry and the config key. */
static void test_limits(void **state)
{
        struct tb base, bomb, small;
        tb_open(&base, OCI_COMPRESSION_GZIP);
        tb_file(&base, "etc/hostname", "base");
        tb_close(&base);
        tb_open(&bomb, OCI_COMPRESSION_GZIP);
        tb_fill(&bomb, "data/bomb", 200u << 20, 'x');
        tb_close(&bomb);
        struct oci_flatten_layer two[] = {L(&base), L(&bomb)};
        two[1].digest = NULL;
        struct oci_flatten_opts o = {.max_ratio = 100};
        char img[512];
        image_path(img, sizeof(img));
        struct oci_flatten_stats st;
        struct bg_error err = {0};
        assert_int_equal(oci_flatten(two, 2, img, &o, &st, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "layer 1: entry 'data/bomb' makes the layer unpack to "
                                        "more than 100 times its"));
        assert_non_null(strstr(err.msg, "image.max_layer_ratio"));
        assert_int_equal(st.over_limit, 1);
        assert_int_equal(access(img, F_OK), -1); /* refused before the image was made */

        /* Under the floor, a layer is not held to the ratio. */
        tb_open(&small, OCI_COMPRESSION_GZIP);
        tb_fill(&small, "data/zeros-ish", 8u << 20, 'y');
        tb_close(&small);
        two[1] = L(&small);
        o.max_ratio = 2;
        image_path(img, sizeof(img));
        bg_error_clear(&err);
        if (oci_flatten(two, 2, img, &o, &st, &err) < 0)
                fail_msg("flatten under the floor: %s", err.msg);
        assert_int_equal(st.over_limit, -1);
        unlink(img);

        /* The image's files over max_content_bytes: the entry that crosses it. */
        o = (struct oci_flatten_opts){.max_content_bytes = 12u << 20};
        struct oci_flatten_layer three[] = {L(&base), L(&small), L(&small)};
        image_path(img, sizeof(img));
        bg_error_clear(&err);
        assert_int_equal(oci_flatten(three, 3, img, &o, &st, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "layer 2: entry 'data/zeros-ish' (8388608 bytes) takes "
                                        "the image's files past 12582912 bytes "
                                        "(image.max_unpacked_size)"));
        assert_int_equal(st.over_limit, 2);
        assert_int_equal(access(img, F_OK), -1);
}

static double cpu_seconds(void)
{
        struct rusage ru;
        assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A layer that whiteouts every name of a directory of N costs about what
 * making them did, not a scan of the directory per whiteout. */
static void test_many_whiteouts(void **state)
{
        const int n = 20000;
        struct tb mk, wh;
        char name[64];
        tb_open(&mk, OCI_COMPRESSION_NONE);
        tb_dir(&mk, "d", 0755);
        for (int i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "d/entry-%06d", i);
                tb_put(&mk, tb_entry(name, AE_IFREG, 0644), NULL, 0);
        }
        tb_close(&mk);
        tb_open(&wh, OCI_COMPRESSION_NONE);
        for (int i = n - 1; i >= 0; i--) {
                snprintf(name, sizeof(name), "d/.wh.entry-%06d", i);
                tb_put(&wh, tb_entry(name, AE_IFREG, 0644), NULL, 0);
        }
        tb_close(&wh);
        struct oci_flatten_layer both[] = {L(&mk), L(&wh)};
        char img[512];
        struct bg_error err = {0};
        struct oci_flatten_stats st;
        image_path(img, sizeof(img));
        double t0 = cpu_seconds();
        assert_int_equal(oci_flatten(both, 1, img, NULL, &st, &err), 0);
        double one = cpu_seconds() - t0;
        unlink(img);
        image_path(img, sizeof(img));
        t0 = cpu_seconds();
        if (oci_flatten(both, 2, img, NULL, &st, &err) < 0)
                fail_msg("flatten: %s", err.msg);
        double two = cpu_seconds() - t0;
        fprintf(stderr, "%d entries: %.2f s CPU; with a layer whiting them all out: %.2f s\n", n,
                one, two);
        assert_int_equal(st.whiteouts, (uint64_t)n);
        assert_true(two < 3 * one + 1.0);
        fsck_ok(img);
        unlink(img);
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

static int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        return test_tmpdir_remove(tmpdir);
}

int main(void)
{
        if (system("command -v e2fsck >/dev/null 2>&1 || test -x /sbin/e2fsck") != 0) {
                printf("FAIL: set-up: e2fsck is not installed (package e2fsprogs; "
                       "scripts/install-deps.sh installs it)\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_entry_path),     cmocka_unit_test(test_layers_and_whiteouts),
            cmocka_unit_test(test_hostile),        cmocka_unit_test(test_digest_ok_and_cancel),
            cmocka_unit_test(test_rootfs_inspect), cmocka_unit_test(test_tar_stream),
            cmocka_unit_test(test_cancel_silent_stream),
            cmocka_unit_test(test_ranges),         cmocka_unit_test(test_limits),
            cmocka_unit_test(test_many_whiteouts),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
