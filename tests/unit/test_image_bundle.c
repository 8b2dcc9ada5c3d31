/* Image bundles (services/imagesvc/bundle.c): the manifest parser, a round
 * trip through bundle_write/bundle_read, and hostile bundles (wrong
 * checksum, path traversal, a huge declared size, a missing or extra file,
 * links, a zstd bomb past the limit, garbage, truncation), each refused with
 * a message that says what is wrong. Also the image catalog parser. */
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
#include <zstd.h>

#include <cmocka.h>

#include "bundle.h"
#include "image_bundle.h"
#include "sha256.h"
#include "test_tmpdir.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char dir[128];

static int setup(void **state)
{
        return test_tmpdir_make(dir, sizeof(dir), "bundle");
}

static int teardown(void **state)
{
        return test_tmpdir_remove(dir);
}

static int parse(const char *json, uint64_t max, struct bundle_manifest *m, struct bg_error *err)
{
        memset(err, 0, sizeof(*err));
        return bundle_manifest_parse(json, strlen(json), max, m, err);
}

static void test_manifest_ok(void **state)
{
        struct bundle_manifest m;
        struct bg_error err;
        assert_int_equal(parse("{\"format\":\"banger-image-bundle\",\"version\":1,\"name\":"
                               "\"web\",\"ref\":\"docker.io/x:1\",\"kernel\":\"k1\",\"files\":"
                               "[{\"path\":\"rootfs.ext4\",\"size\":4096,\"sha256\":\"" SHA_A
                               "\"}]}",
                               0, &m, &err),
                         0);
        assert_string_equal(m.name, "web");
        assert_string_equal(m.ref, "docker.io/x:1");
        assert_string_equal(m.kernel, "k1");
        assert_int_equal(m.n_files, 1);
        assert_int_equal(m.files[0].size, 4096);
        /* and back: what bundle_manifest_format writes parses to the same */
        char *text = bundle_manifest_format(&m);
        assert_non_null(text);
        struct bundle_manifest m2;
        assert_int_equal(parse(text, 0, &m2, &err), 0);
        assert_memory_equal(&m, &m2, sizeof(m));
        free(text);
}

static void expect_refused(const char *json, uint64_t max, int code, const char *words)
{
        struct bundle_manifest m;
        struct bg_error err;
        int r = parse(json, max, &m, &err);
        if (r != -code || !strstr(err.msg, words))
                fail_msg("%s: got %d '%s', want %d '%s'", json, r, err.msg, -code, words);
}

static void test_manifest_refused(void **state)
{
#define F(files) "{\"format\":\"banger-image-bundle\",\"version\":1,\"name\":\"x\",\"files\":" files "}"
#define ROOT(size, sha) "{\"path\":\"rootfs.ext4\",\"size\":" size ",\"sha256\":\"" sha "\"}"
        expect_refused("[]", 0, EBADMSG, "not a JSON object");
        expect_refused("{", 0, EBADMSG, "not JSON");
        expect_refused("{\"format\":\"tar\",\"version\":1}", 0, EBADMSG, "not a banger image bundle");
        expect_refused("{\"format\":\"banger-image-bundle\",\"version\":2,\"name\":\"x\"}", 0,
                       EPROTONOSUPPORT, "version 2 is not supported");
        expect_refused("{\"format\":\"banger-image-bundle\",\"version\":1,\"name\":\"../x\","
                       "\"files\":[" ROOT("1", SHA_A) "]}",
                       0, EBADMSG, "not a valid image name");
        expect_refused(F("[]"), 0, EBADMSG, "has no files");
        expect_refused(F("[" ROOT("1", "abc") "]"), 0, EBADMSG, "no valid sha256");
        expect_refused(F("[" ROOT("-1", SHA_A) "]"), 0, EBADMSG, "no valid size");
        expect_refused(F("[" ROOT("1", SHA_A) "," ROOT("1", SHA_A) "]"), 0, EBADMSG, "twice");
        expect_refused(F("[{\"path\":\"../../etc/passwd\",\"size\":1,\"sha256\":\"" SHA_A "\"}]"), 0,
                       EBADMSG, "is not one a bundle may hold");
        expect_refused(F("[" ROOT("1", SHA_A) "]") "x", 0, EBADMSG, "not JSON");
        /* a huge declared size is refused before anything is unpacked */
        expect_refused(F("[" ROOT("1099511627776", SHA_A) "]"), 64ull << 20, EFBIG,
                       "image.max_unpacked_size");
        expect_refused("{\"format\":\"banger-image-bundle\",\"version\":1,\"name\":\"x\","
                       "\"format\":\"banger-image-bundle\"}",
                       0, EBADMSG, "not JSON");
#undef F
#undef ROOT
}

/* ---- bundles made by hand ---- */

struct tarbuf {
        unsigned char *p;
        size_t len, cap;
};

static void tb_add(struct tarbuf *t, const void *d, size_t n)
{
        if (n == 0)
                return; /* memcpy from NULL is undefined even for 0 bytes */
        if (t->len + n > t->cap) {
                t->cap = (t->len + n) * 2;
                t->p = realloc(t->p, t->cap);
                assert_non_null(t->p);
        }
        memcpy(t->p + t->len, d, n);
        t->len += n;
}

static void tb_entry(struct tarbuf *t, const char *name, char type, uint64_t hdr_size,
                     const void *data, size_t len)
{
        unsigned char b[512] = {0};
        snprintf((char *)b, 100, "%s", name);
        memcpy(b + 100, "0000644", 7);
        snprintf((char *)b + 124, 12, "%011llo", (unsigned long long)hdr_size);
        b[156] = (unsigned char)type;
        memcpy(b + 257, "ustar", 6);
        memcpy(b + 263, "00", 2);
        memset(b + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < 512; i++)
                sum += b[i];
        snprintf((char *)b + 148, 8, "%06o", sum);
        tb_add(t, b, 512);
        tb_add(t, data, len);
        static const unsigned char zero[512];
        if (len % 512)
                tb_add(t, zero, 512 - len % 512);
}

static void tb_end(struct tarbuf *t)
{
        static const unsigned char zero[1024];
        tb_add(t, zero, sizeof(zero));
}

static void manifest_entry(struct tarbuf *t, const char *files)
{
        char m[2048];
        snprintf(m, sizeof(m),
                 "{\"format\":\"banger-image-bundle\",\"version\":1,\"name\":\"hand\","
                 "\"files\":[%s]}",
                 files);
        tb_entry(t, "manifest.json", '0', strlen(m), m, strlen(m));
}

/* Compresses t into dir/name and returns an fd open on it. */
static int zfile(struct tarbuf *t, const char *name)
{
        size_t cap = ZSTD_compressBound(t->len);
        void *z = malloc(cap);
        size_t n = ZSTD_compress(z, cap, t->p, t->len, 1);
        assert_false(ZSTD_isError(n));
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, z, n), (ssize_t)n);
        lseek(fd, 0, SEEK_SET);
        free(z);
        free(t->p);
        memset(t, 0, sizeof(*t));
        return fd;
}

/* Reads the bundle fd into a fresh directory; the result and err. */
static int read_into(int fd, const char *sub, uint64_t max, struct bundle_manifest *m,
                     struct bg_error *err)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s.d", dir, sub);
        assert_int_equal(mkdir(p, 0700), 0);
        int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        struct bundle_io io = {.max_unpacked = max};
        memset(err, 0, sizeof(*err));
        int r = bundle_read(fd, dfd, &io, m, err);
        close(dfd);
        close(fd);
        return r;
}

static void expect_bundle_refused(struct tarbuf *t, const char *name, uint64_t max, int code,
                                  const char *words)
{
        struct bundle_manifest m;
        struct bg_error err;
        int r = read_into(zfile(t, name), name, max, &m, &err);
        if (r != -code || !strstr(err.msg, words))
                fail_msg("%s: got %d '%s', want %d '%s'", name, r, err.msg, -code, words);
}

static void test_round_trip(void **state)
{
        /* 3 MiB + 100 bytes: data, a 1 MiB run of zeros, more data */
        size_t len = (3u << 20) + 100;
        unsigned char *data = calloc(1, len);
        for (size_t i = 0; i < (1u << 20); i++)
                data[i] = (unsigned char)(i * 7 + 1);
        for (size_t i = 2u << 20; i < len; i++)
                data[i] = (unsigned char)(i * 13 + 5);
        char src[256], out[256];
        snprintf(src, sizeof(src), "%s/src.ext4", dir);
        int fd = open(src, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        snprintf(out, sizeof(out), "%s/rt.tar.zst", dir);
        int ofd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        struct bundle_manifest m = {0};
        snprintf(m.name, sizeof(m.name), "web");
        snprintf(m.kernel, sizeof(m.kernel), "k1");
        struct bg_error err = {0};
        assert_int_equal(bundle_write(ofd, &m, fd, NULL, &err), 0);
        close(fd);
        char hex[65];
        sha256_buf_hex(data, len, hex);
        assert_string_equal(m.files[0].sha256, hex);
        lseek(ofd, 0, SEEK_SET);
        struct bundle_manifest got;
        assert_int_equal(read_into(ofd, "rt", 64ull << 20, &got, &err), 0);
        assert_string_equal(got.name, "web");
        assert_string_equal(got.kernel, "k1");
        assert_int_equal(got.files[0].size, len);
        char p[256];
        snprintf(p, sizeof(p), "%s/rt.d/rootfs.ext4", dir);
        uint64_t size = 0;
        assert_int_equal(sha256_file_hex(p, hex, &size, &err), 0);
        assert_int_equal(size, len);
        assert_string_equal(hex, m.files[0].sha256);
        /* the zero run stayed a hole */
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_true((uint64_t)st.st_blocks * 512 < len - (512u << 10));
        free(data);
}

static void test_hostile_bundles(void **state)
{
        static const char payload[] = "not an ext4 file system, but bytes";
        char hex[65], files[512];
        sha256_buf_hex(payload, strlen(payload), hex);
        snprintf(files, sizeof(files), "{\"path\":\"rootfs.ext4\",\"size\":%zu,\"sha256\":\"%s\"}",
                 strlen(payload), hex);
        struct tarbuf t = {0};

        /* the good one, for contrast */
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        struct bundle_manifest m;
        struct bg_error err;
        assert_int_equal(read_into(zfile(&t, "good"), "good", 0, &m, &err), 0);

        /* wrong checksum */
        char bad[512];
        snprintf(bad, sizeof(bad), "{\"path\":\"rootfs.ext4\",\"size\":%zu,\"sha256\":\"%s\"}",
                 strlen(payload), SHA_A);
        manifest_entry(&t, bad);
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        expect_bundle_refused(&t, "badsum", 0, EBADMSG, "sha256 mismatch");

        /* path traversal */
        manifest_entry(&t, files);
        tb_entry(&t, "../rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        expect_bundle_refused(&t, "trav", 0, EBADMSG, "path traversal");
        manifest_entry(&t, files);
        tb_entry(&t, "/etc/rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        expect_bundle_refused(&t, "abs", 0, EBADMSG, "path traversal");

        /* a symlink and a directory are not regular files */
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '2', 0, NULL, 0);
        tb_end(&t);
        expect_bundle_refused(&t, "link", 0, EBADMSG, "not a regular file");

        /* a missing file */
        manifest_entry(&t, files);
        tb_end(&t);
        expect_bundle_refused(&t, "missing", 0, EBADMSG, "not in the archive");

        /* an extra file */
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_entry(&t, "evil.sh", '0', 3, "hi\n", 3);
        tb_end(&t);
        expect_bundle_refused(&t, "extra", 0, EBADMSG, "not in its manifest");

        /* the same file twice */
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        expect_bundle_refused(&t, "twice", 0, EBADMSG, "appears twice");

        /* manifest not first */
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        manifest_entry(&t, files);
        tb_end(&t);
        expect_bundle_refused(&t, "order", 0, EBADMSG, "first entry");

        /* a huge declared size: refused before a byte is unpacked */
        manifest_entry(&t, "{\"path\":\"rootfs.ext4\",\"size\":1099511627776,\"sha256\":\"" SHA_A
                           "\"}");
        tb_end(&t);
        expect_bundle_refused(&t, "huge", 64ull << 20, EFBIG, "image.max_unpacked_size");

        /* a zstd bomb past the limit: 96 MiB of zeros (a few KiB compressed)
         * against a 64 MiB limit is refused by its declared size; the same
         * entry under a small declared size is refused by the header. */
        size_t big = 96u << 20;
        void *zeros = calloc(1, big);
        char zhex[65], zf[512];
        sha256_buf_hex(zeros, big, zhex);
        snprintf(zf, sizeof(zf), "{\"path\":\"rootfs.ext4\",\"size\":%zu,\"sha256\":\"%s\"}", big,
                 zhex);
        manifest_entry(&t, zf);
        tb_entry(&t, "rootfs.ext4", '0', big, zeros, big);
        tb_end(&t);
        expect_bundle_refused(&t, "bomb", 64ull << 20, EFBIG, "image.max_unpacked_size");
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '0', big, zeros, big);
        tb_end(&t);
        expect_bundle_refused(&t, "bomb2", 64ull << 20, EBADMSG, "the manifest says");
        free(zeros);

        /* not zstd at all, and a truncated one */
        char p[256];
        snprintf(p, sizeof(p), "%s/garbage", dir);
        int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_int_equal(write(fd, "this is not zstd at all, not even close....", 43), 43);
        lseek(fd, 0, SEEK_SET);
        assert_int_equal(read_into(fd, "garbage", 0, &m, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "not zstd"));
        manifest_entry(&t, files);
        tb_entry(&t, "rootfs.ext4", '0', strlen(payload), payload, strlen(payload));
        tb_end(&t);
        fd = zfile(&t, "trunc");
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(ftruncate(fd, st.st_size / 2), 0);
        assert_int_equal(read_into(fd, "trunc", 0, &m, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "truncated"));
}

static void test_catalog(void **state)
{
        struct image_catalog_entry *e = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        const char *ok = "[{\"name\":\"web\",\"url\":\"https://example.com/web.tar.zst\","
                         "\"sha256\":\"" SHA_A "\",\"size\":123,\"description\":\"a web image\"},"
                         "{\"name\":\"db\",\"url\":\"http://h/db.tar.zst\",\"sha256\":\"" SHA_A
                         "\"}]";
        assert_int_equal(image_catalog_parse(ok, strlen(ok), false, &e, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(e[0].name, "web");
        assert_int_equal(e[0].size, 123);
        assert_string_equal(e[1].description, "");
        free(e);
        const char *obj = "{\"images\":[{\"name\":\"x\",\"url\":\"file:///srv/x.tar.zst\","
                          "\"sha256\":\"" SHA_A "\"}]}";
        assert_int_equal(image_catalog_parse(obj, strlen(obj), true, &e, &n, &err), 0);
        assert_int_equal(n, 1);
        free(e);
        /* file:// entries only in a file:// catalog */
        assert_int_equal(image_catalog_parse(obj, strlen(obj), false, &e, &n, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "file:// URLs only"));
        const char *bad[] = {
            "{}",
            "[{\"name\":\"../x\",\"url\":\"http://h/x\",\"sha256\":\"" SHA_A "\"}]",
            "[{\"name\":\"x\",\"url\":\"ftp://h/x\",\"sha256\":\"" SHA_A "\"}]",
            "[{\"name\":\"x\",\"url\":\"http://h/x\",\"sha256\":\"zz\"}]",
            "[{\"name\":\"x\",\"url\":\"http://h/x\"}]",
            "[{\"name\":\"x\",\"url\":\"http://h/x\",\"sha256\":\"" SHA_A "\",\"size\":-1}]",
            "[{\"name\":\"x\",\"url\":\"http://h/x\",\"sha256\":\"" SHA_A
            "\"},{\"name\":\"x\",\"url\":\"http://h/y\",\"sha256\":\"" SHA_A "\"}]",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&err, 0, sizeof(err));
                if (image_catalog_parse(bad[i], strlen(bad[i]), true, &e, &n, &err) != -EBADMSG)
                        fail_msg("catalog %zu accepted: %s", i, bad[i]);
                assert_true(err.msg[0] != '\0');
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_manifest_ok),
            cmocka_unit_test(test_manifest_refused),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_hostile_bundles),
            cmocka_unit_test(test_catalog),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
