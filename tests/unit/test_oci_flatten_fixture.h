/* Shared by lib/oci flatten's unit tests (test_oci_flatten.c,
 * test_oci_flatten_limits.c): tar layers written with libarchive (gzip,
 * zstd, plain) into a temp directory, images checked with `e2fsck -fn` and
 * read back with lib/ext4. */
#pragma once

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

static inline void tb_open(struct tb *t, enum oci_compression comp)
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

static inline struct archive_entry *tb_entry(const char *path, mode_t type, mode_t perm)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, 1700000000, 123456789);
        return e;
}

static inline void tb_put(struct tb *t, struct archive_entry *e, const void *data, size_t len)
{
        archive_entry_set_size(e, (la_int64_t)len);
        assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
        if (len)
                assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t)len);
        archive_entry_free(e);
}

static inline void tb_dir(struct tb *t, const char *path, mode_t perm)
{
        tb_put(t, tb_entry(path, AE_IFDIR, perm), NULL, 0);
}

static inline void tb_file(struct tb *t, const char *path, const char *content)
{
        tb_put(t, tb_entry(path, AE_IFREG, 0644), content, strlen(content));
}

static inline void tb_symlink(struct tb *t, const char *path, const char *target)
{
        struct archive_entry *e = tb_entry(path, AE_IFLNK, 0777);
        archive_entry_set_symlink(e, target);
        tb_put(t, e, NULL, 0);
}

static inline void tb_hardlink(struct tb *t, const char *path, const char *target)
{
        struct archive_entry *e = tb_entry(path, AE_IFREG, 0644);
        archive_entry_set_hardlink(e, target);
        tb_put(t, e, NULL, 0);
}

static inline void tb_close(struct tb *t)
{
        assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
        archive_write_free(t->a);
        t->a = NULL;
}

static inline struct oci_flatten_layer L(const struct tb *t) {
        return (struct oci_flatten_layer){.path = t->path, .compression = t->comp};
}

static inline void
image_path(char *out, size_t n)
{
        snprintf(out, n, "%s/img%d.ext4", tmpdir, layer_no++);
}

static inline void fsck_ok(const char *img)
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

static inline struct ext4_fs *open_img(const char *img)
{
        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        if (ext4_open(img, &fs, &err) < 0)
                fail_msg("open %s: %s", img, err.msg);
        return fs;
}

static inline void expect_content(struct ext4_fs *fs, const char *path, const char *want)
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

static inline void expect_missing(struct ext4_fs *fs, const char *path)
{
        int r = ext4_lookup(fs, path, NULL, NULL);
        if (r != -ENOENT)
                fail_msg("%s: expected missing, got %d", path, r);
}

/* Flatten layers, expect failure with code and a message containing needle. */
static inline void expect_refused(const struct oci_flatten_layer *ls, size_t n,
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

static inline int setup(void **state)
{
        return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int teardown(void **state)
{
        return test_tmpdir_remove(tmpdir);
}

/* e2fsck is there, or a set-up failure said on stdout (false). */
static inline bool flatten_fixture_ready(void)
{
        if (system("command -v e2fsck >/dev/null 2>&1 || test -x /sbin/e2fsck") != 0) {
                printf("FAIL: set-up: e2fsck is not installed (package e2fsprogs; "
                       "scripts/install-deps.sh installs it)\n");
                return false;
        }
        return true;
}
