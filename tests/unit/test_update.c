/* lib/update: the release manifest's ed25519 signature (a throwaway key made
 * here), its parsing and release choice, versions, and the swap of
 * installed binaries with its rollback. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
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

#include "sha256.h"
#include "test_tmpdir.h"
#include "update_manifest.h"
#include "update_swap.h"

static char dir[64];
static char pub_b64[64], other_pub_b64[64];
static EVP_PKEY *key;

static void b64(const unsigned char *in, size_t n, char *out)
{
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static EVP_PKEY *make_key(char *pub_out)
{
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        assert_non_null(k);
        unsigned char raw[32];
        size_t len = sizeof(raw);
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
        b64(raw, len, pub_out);
        return k;
}

static void sign(const char *msg, char *sig_out)
{
        unsigned char sig[64];
        size_t len = sizeof(sig);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &len, (const unsigned char *)msg, strlen(msg)), 1);
        EVP_MD_CTX_free(md);
        b64(sig, len, sig_out);
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BIN(n)                                                                                     \
        "\"" n "\": {\"url\": \"https://r.example/" n "\", \"sha256\": \"" SHA "\", \"size\": 10}"
#define SIX                                                                                        \
        BIN("banger")                                                                              \
        "," BIN("banger-gateway") "," BIN("banger-vmsvc") "," BIN("banger-imagesvc") "," BIN(      \
            "banger-netsvc") "," BIN("banger-workspacesvc")

static const char manifest[] =
    "{\"releases\": [{\"version\": \"1.2.0\", \"binaries\": {" SIX "}},"
    " {\"version\": \"1.10.0\", \"binaries\": {" SIX
    "," BIN("banger-agent") "}},"
                            " {\"version\": \"1.10.0-rc.1\", \"binaries\": {" SIX "}}]}";

static void test_signature(void **state)
{
        char sig[128];
        struct bg_error err = {0};
        sign(manifest, sig);
        assert_int_equal(update_verify(manifest, strlen(manifest), sig, strlen(sig), pub_b64, &err),
                         0);
        /* trailing newline of a .sig file */
        char sig_nl[140];
        snprintf(sig_nl, sizeof(sig_nl), "%s\n", sig);
        assert_int_equal(
            update_verify(manifest, strlen(manifest), sig_nl, strlen(sig_nl), pub_b64, &err), 0);
        /* one byte changed */
        char *t = strdup(manifest);
        t[strlen(t) - 3] = '1';
        assert_int_equal(update_verify(t, strlen(t), sig, strlen(sig), pub_b64, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "does not verify"));
        free(t);
        /* another key */
        assert_int_equal(
            update_verify(manifest, strlen(manifest), sig, strlen(sig), other_pub_b64, &err),
            -EBADMSG);
        /* malformed signature and key */
        assert_int_equal(update_verify(manifest, strlen(manifest), "abcd", 4, pub_b64, &err),
                         -EINVAL);
        assert_int_equal(update_verify(manifest, strlen(manifest), sig, strlen(sig), "xyz", &err),
                         -EINVAL);
        assert_true(update_public_key_valid(pub_b64));
        assert_false(update_public_key_valid("AAAA"));
        assert_true(update_public_key_valid(update_builtin_public_key()));
}

static void test_versions(void **state)
{
        assert_true(update_version_valid("1.2.3"));
        assert_true(update_version_valid("0.1"));
        assert_true(update_version_valid("1.2.3-rc.1"));
        assert_false(update_version_valid("v1.2"));
        assert_false(update_version_valid("1..2"));
        assert_false(update_version_valid("1.2.3-"));
        assert_false(update_version_valid("1.2.3-RC"));
        assert_false(update_version_valid("1.2.3.4.5"));
        assert_true(update_version_compare("1.10.0", "1.9.9") > 0);
        assert_true(update_version_compare("1.2", "1.2.0") == 0);
        assert_true(update_version_compare("1.2.0-rc.1", "1.2.0") < 0);
        assert_true(update_version_compare("0.1.0", "9.9.9") < 0);
}

static void test_pick(void **state)
{
        struct update_release rel;
        struct bg_error err = {0};
        assert_int_equal(update_manifest_pick(manifest, strlen(manifest), NULL, &rel, &err), 0);
        assert_string_equal(rel.version, "1.10.0");
        assert_int_equal(rel.n_files, 7);
        assert_int_equal(update_manifest_pick(manifest, strlen(manifest), "1.2.0", &rel, &err), 0);
        assert_string_equal(rel.version, "1.2.0");
        assert_int_equal(rel.n_files, 6);
        assert_string_equal(rel.files[0].url, "https://r.example/banger");
        assert_int_equal(rel.files[0].size, 10);
        assert_int_equal(update_manifest_pick(manifest, strlen(manifest), "3.0.0", &rel, &err),
                         -ENOENT);
        assert_non_null(strstr(err.msg, "1.2.0, 1.10.0, 1.10.0-rc.1"));

        static const char *const bad[] = {
            "[]",
            "{\"releases\": []}",
            "{\"releases\": [{\"version\": \"1\", \"binaries\": {" BIN("banger") "}}]}",
            "{\"releases\": [{\"version\": \"x\", \"binaries\": {" SIX "}}]}",
            "{\"releases\": [{\"version\": \"1\", \"binaries\": {" SIX "," BIN("evil") "}}]}",
            "{\"releases\": [{\"version\": \"1\", \"binaries\": {" SIX
            ", \"banger-agent\": {\"url\": \"http://r.example/a\", \"sha256\": \"" SHA
            "\", \"size\": 1}}}]}",
            "{\"releases\": [{\"version\": \"1\", \"binaries\": {" SIX
            ", \"banger-agent\": {\"url\": \"https://r.example/a\", \"sha256\": \"abc\", \"size\": "
            "1}}}]}",
            "not json",
        };
        static const char *const why[] = {
            "no \"releases\"",
            "no \"releases\"",
            "does not list banger-gateway",
            "not like 1.2.3",
            "'evil' is not a banger binary",
            "not https://",
            "not 64 hex",
            "not JSON",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                assert_int_equal(update_manifest_pick(bad[i], strlen(bad[i]), NULL, &rel, &err),
                                 -EBADMSG);
                if (!strstr(err.msg, why[i]))
                        fail_msg("manifest %zu: '%s' does not say '%s'", i, err.msg, why[i]);
        }
}

static void write_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static void assert_content(const char *path, const char *text)
{
        char buf[256] = "";
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n >= 0);
        buf[n] = '\0';
        assert_string_equal(buf, text);
}

static void stage(struct update_swap *sw, const char *name, const char *text)
{
        struct bg_error err = {0};
        int fd = update_swap_stage_fd(sw, name, &err);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        char hex[65];
        sha256_buf_hex(text, strlen(text), hex);
        assert_int_equal(update_swap_check(sw, name, hex, strlen(text), &err), 0);
}

static void test_swap(void **state)
{
        char bin[128];
        snprintf(bin, sizeof(bin), "%s/bin", dir);
        assert_int_equal(mkdir(bin, 0755), 0);
        write_file(test_path(bin, "banger"), "old banger");
        write_file(test_path(bin, "banger-gateway"), "old gateway");

        struct update_swap sw;
        struct bg_error err = {0};
        assert_int_equal(update_swap_open(bin, 0, &sw, &err), 0);
        stage(&sw, "banger", "new banger");
        stage(&sw, "banger-gateway", "new gateway");
        /* a staged file that does not match the manifest is refused */
        int fd = update_swap_stage_fd(&sw, "banger-vmsvc", &err);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "evil", 4), 4);
        close(fd);
        assert_int_equal(update_swap_check(&sw, "banger-vmsvc", SHA, 4, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "sha256 mismatch"));
        assert_int_equal(update_swap_check(&sw, "banger-vmsvc", SHA, 5, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "4 bytes"));
        /* the installed files are untouched until the commit */
        assert_content(test_path(bin, "banger"), "old banger");
        update_swap_close(&sw);
        assert_content(test_path(bin, "banger"), "old banger");

        assert_int_equal(update_swap_open(bin, 0, &sw, &err), 0);
        stage(&sw, "banger", "new banger");
        stage(&sw, "banger-gateway", "new gateway");
        assert_int_equal(update_swap_commit(&sw, &err), 0);
        assert_content(test_path(bin, "banger"), "new banger");
        assert_content(test_path(bin, "banger-gateway"), "new gateway");
        struct stat st;
        assert_int_equal(stat(test_path(bin, "banger"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(update_swap_rollback(&sw, &err), 0);
        assert_content(test_path(bin, "banger"), "old banger");
        assert_content(test_path(bin, "banger-gateway"), "old gateway");
        char stage_dir[PATH_MAX];
        snprintf(stage_dir, sizeof(stage_dir), "%s", sw.stage);
        update_swap_close(&sw);
        assert_int_equal(access(stage_dir, F_OK), -1);

        /* root refuses a directory others may write */
        if (geteuid() == 0) {
                assert_int_equal(chmod(bin, 0777), 0);
                assert_int_equal(update_swap_open(bin, 0, &sw, &err), -EPERM);
                assert_non_null(strstr(err.msg, "writable by others"));
                assert_int_equal(chmod(bin, 0755), 0);
        }
        update_swap_close(&sw);

        /* TRUSTED_PATH (system mode): every directory from / on must be
         * root's alone; the test's directory is under one that is not (or
         * is not root's), and a relative path is refused. */
        assert_int_equal(update_swap_open(bin, UPDATE_SWAP_TRUSTED_PATH, &sw, &err), -EPERM);
        assert_non_null(strstr(err.msg, "root does not replace binaries in it"));
        update_swap_close(&sw);
        assert_int_equal(update_swap_open("rel/bin", UPDATE_SWAP_TRUSTED_PATH, &sw, &err), -EINVAL);
        update_swap_close(&sw);
        /* a symlink on the way (/proc/self) is refused, not followed */
        assert_int_equal(update_swap_open("/proc/self/cwd", UPDATE_SWAP_TRUSTED_PATH, &sw, &err),
                         -EPERM);
        assert_non_null(strstr(err.msg, "symbolic link"));
        update_swap_close(&sw);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "update") < 0)
                return 1;
        key = make_key(pub_b64);
        EVP_PKEY *other = make_key(other_pub_b64);
        EVP_PKEY_free(other);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_signature),
            cmocka_unit_test(test_versions),
            cmocka_unit_test(test_pick),
            cmocka_unit_test(test_swap),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        EVP_PKEY_free(key);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
