/* lib/oci flatten against hostile layers (see test_oci_flatten_fixture.h):
 * every hostile-input rule, header ranges, size and entry limits, a
 * compression bomb, many whiteouts at linear cost, and a tar stream held to
 * the same limits. */
#include "test_oci_flatten_fixture.h"

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


/* Found by fuzz target oci_flatten: a single stream applied none of the
 * limits, so a sparse entry claiming 1 TiB was written into a 16 MiB image
 * (tests/fuzz/regress/oci_flatten). Now the stream's entries and file bytes
 * are held to max_entries and max_content_bytes at each header, before the
 * data is read. */
static void test_tar_stream_limits(void **state)
{
        struct tb t;
        tb_open(&t, OCI_COMPRESSION_NONE);
        tb_file(&t, "small", "x");
        tb_fill(&t, "big", 2u << 20, 'b');
        tb_close(&t);
        char img[512];
        image_path(img, sizeof(img));
        struct ext4_fs *fs = NULL;
        assert_int_equal(ext4_create(img, 32 << 20, NULL, &fs, NULL), 0);
        struct oci_flatten_opts o = {.max_content_bytes = 1u << 20};
        struct oci_flatten_stats st;
        struct bg_error err = {0};
        int fd = open(t.path, O_RDONLY | O_CLOEXEC);
        assert_int_equal(oci_flatten_tar_fd(fs, fd, "stream", &o, &st, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "stream: entry 'big' (2097152 bytes) takes the "
                                        "image's files past 1048576 bytes"));
        assert_int_equal(st.content_bytes, 1);
        assert_int_equal(ext4_lookup(fs, "big", NULL, NULL), -ENOENT); /* nothing written */
        close(fd);
        ext4_free(fs);

        /* max_entries counts the stream's entries too */
        assert_int_equal(ext4_create(img, 32 << 20, NULL, &fs, NULL), 0);
        o = (struct oci_flatten_opts){.max_entries = 1};
        fd = open(t.path, O_RDONLY | O_CLOEXEC);
        bg_error_clear(&err);
        assert_int_equal(oci_flatten_tar_fd(fs, fd, "stream", &o, NULL, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "more than 1 entries"));
        close(fd);
        ext4_free(fs);
        unlink(img);
}

int main(void)
{
        if (!flatten_fixture_ready())
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hostile),
            cmocka_unit_test(test_ranges),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_many_whiteouts),
            cmocka_unit_test(test_tar_stream_limits),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
