/* lib/oci: image references, platforms, digests, WWW-Authenticate challenges
 * and Docker config credential selection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci_auth.h"
#include "oci_digest.h"
#include "oci_ref.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check_ref(const char *in, const char *reg, const char *repo, const char *tag,
                      const char *digest)
{
        struct oci_ref r;
        struct bg_error err = {0};
        int rc = oci_ref_parse(in, &r, &err);
        if (rc < 0)
                fail_msg("'%s' refused: %s", in, err.msg);
        assert_string_equal(r.registry, reg);
        assert_string_equal(r.repository, repo);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        oci_ref_done(&r);
}

static void bad_ref(const char *in, const char *msg_part)
{
        struct oci_ref r;
        struct bg_error err = {0};
        int rc = oci_ref_parse(in, &r, &err);
        if (rc >= 0) {
                oci_ref_done(&r);
                fail_msg("'%s' accepted", in);
        }
        assert_int_equal(rc, -EINVAL);
        if (msg_part && !strstr(err.msg, msg_part))
                fail_msg("'%s': message '%s' lacks '%s'", in, err.msg, msg_part);
}

static void test_ref_matrix(void **state)
{
        check_ref("debian", "docker.io", "library/debian", "latest", NULL);
        check_ref("debian:bookworm", "docker.io", "library/debian", "bookworm", NULL);
        check_ref("docker.io/debian:12", "docker.io", "library/debian", "12", NULL);
        check_ref("index.docker.io/library/debian", "docker.io", "library/debian", "latest", NULL);
        /* the Hub's aliases in any case (fuzz target oci_ref: a mixed-case
         * alias kept its name and lost the library/ prefix) */
        check_ref("registry-1.docKer.io/l", "docker.io", "library/l", "latest", NULL);
        check_ref("INDEX.docker.io/debian", "docker.io", "library/debian", "latest", NULL);
        check_ref("user/app:v1.2-rc_3", "docker.io", "user/app", "v1.2-rc_3", NULL);
        check_ref("ghcr.io/o/r/deep:t", "ghcr.io", "o/r/deep", "t", NULL);
        check_ref("localhost/x", "localhost", "x", "latest", NULL);
        check_ref("localhost:5000/x/y:1.0", "localhost:5000", "x/y", "1.0", NULL);
        check_ref("127.0.0.1:5000/a@sha256:" D64, "127.0.0.1:5000", "a", NULL, "sha256:" D64);
        check_ref("host:443/a:tag@sha256:" D64, "host:443", "a", "tag", "sha256:" D64);
        check_ref("[::1]:5000/img", "[::1]:5000", "img", "latest", NULL);
        check_ref("Quay.IO/a__b/c.d-e--f", "quay.io", "a__b/c.d-e--f", "latest", NULL);
        check_ref("localhost:5000", "docker.io", "library/localhost", "5000", NULL);

        bad_ref("", "empty");
        bad_ref("Debian", "invalid repository");
        bad_ref("debian:", "invalid tag");
        bad_ref("debian:-x", "invalid tag");
        bad_ref("debian@sha256:abc", "digest");
        bad_ref("debian@sha256:"
                "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                "digest");
        bad_ref("debian@md5:" D64, "digest");
        bad_ref("a//b", "invalid repository");
        bad_ref("a/b_", "invalid repository");
        bad_ref("a/.b", "invalid repository");
        bad_ref("a/b___c", "invalid repository");
        bad_ref("host:99999/a", "invalid registry");
        bad_ref("-host.com/a", "invalid registry");
        bad_ref("deb ian", "space");
        bad_ref("host.com/", "empty repository");

        struct oci_ref r;
        assert_int_equal(oci_ref_parse("debian:bookworm", &r, NULL), 0);
        char *s = oci_ref_to_string(&r);
        assert_string_equal(s, "docker.io/library/debian:bookworm");
        free(s);
        assert_string_equal(oci_registry_endpoint(r.registry), "registry-1.docker.io");
        oci_ref_done(&r);
        assert_string_equal(oci_registry_endpoint("ghcr.io"), "ghcr.io");
}

static void test_loopback(void **state)
{
        assert_true(oci_registry_is_loopback("localhost"));
        assert_true(oci_registry_is_loopback("localhost:5000"));
        assert_true(oci_registry_is_loopback("127.0.0.1:5000"));
        assert_true(oci_registry_is_loopback("127.1.2.3"));
        assert_true(oci_registry_is_loopback("[::1]:80"));
        assert_false(oci_registry_is_loopback("127.0.0.1.evil.com"));
        assert_false(oci_registry_is_loopback("localhost.evil.com:5000"));
        assert_false(oci_registry_is_loopback("128.0.0.1"));
        assert_false(oci_registry_is_loopback("docker.io"));
        assert_false(oci_registry_is_loopback("[::2]:5000"));
}

static void test_platform(void **state)
{
        struct oci_platform p;
        assert_int_equal(oci_platform_parse(NULL, &p, NULL), 0);
        assert_string_equal(p.os, "linux");
        assert_string_equal(p.arch, "amd64");
        assert_string_equal(p.variant, "");
        assert_int_equal(oci_platform_parse("linux/arm64/v8", &p, NULL), 0);
        assert_string_equal(p.arch, "arm64");
        assert_string_equal(p.variant, "v8");
        assert_int_equal(oci_platform_parse("linux/x86_64", &p, NULL), 0);
        assert_string_equal(p.arch, "amd64");
        assert_int_equal(oci_platform_parse("linux/aarch64", &p, NULL), 0);
        assert_string_equal(p.arch, "arm64");
        assert_int_equal(oci_platform_parse("linux", &p, NULL), -EINVAL);
        assert_int_equal(oci_platform_parse("linux/arm/v7/x", &p, NULL), -EINVAL);
        assert_int_equal(oci_platform_parse("linux//v7", &p, NULL), -EINVAL);
        assert_int_equal(oci_platform_parse("linux/amd64/", &p, NULL), -EINVAL);
        assert_int_equal(oci_platform_parse("linux/am d64", &p, NULL), -EINVAL);
}

static void test_digest(void **state)
{
        assert_true(oci_digest_valid("sha256:" D64));
        assert_false(oci_digest_valid(NULL));
        assert_false(oci_digest_valid("sha256:" D64 "0"));
        assert_false(oci_digest_valid("sha256:../../../../etc/passwd"));
        assert_false(oci_digest_valid(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"));
        assert_false(oci_digest_valid("sha512:" D64));
        assert_false(oci_digest_valid("sha256:" D64 "/x"));
        struct bg_error err = {0};
        assert_int_equal(oci_digest_check("sha256:zz", "layer 3 digest", &err), -EINVAL);
        assert_non_null(strstr(err.msg, "layer 3 digest"));

        char d[OCI_DIGEST_LEN + 1];
        oci_digest_buf("abc", 3, d);
        assert_string_equal(
            d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        struct oci_hasher *h = oci_hasher_new();
        oci_hasher_update(h, "a", 1);
        oci_hasher_update(h, "bc", 2);
        char d2[OCI_DIGEST_LEN + 1];
        oci_hasher_final(h, d2);
        assert_string_equal(d, d2);
        oci_hasher_free(h);
}

static void test_challenge(void **state)
{
        struct oci_challenge c;
        assert_int_equal(oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                             "service=\"registry.docker.io\",scope=\"repository:"
                                             "library/debian:pull\"",
                                             &c, NULL),
                         0);
        assert_int_equal(c.scheme, OCI_AUTH_BEARER);
        assert_string_equal(c.realm, "https://auth.docker.io/token");
        assert_string_equal(c.service, "registry.docker.io");
        assert_string_equal(c.scope, "repository:library/debian:pull");
        oci_challenge_done(&c);

        assert_int_equal(
            oci_challenge_parse("bearer  realm=http://127.0.0.1:9/t , service = x", &c, NULL), 0);
        assert_string_equal(c.realm, "http://127.0.0.1:9/t");
        assert_string_equal(c.service, "x");
        assert_null(c.scope);
        oci_challenge_done(&c);

        assert_int_equal(oci_challenge_parse("Basic realm=\"Registry \\\"R\\\"\"", &c, NULL), 0);
        assert_int_equal(c.scheme, OCI_AUTH_BASIC);
        assert_string_equal(c.realm, "Registry \"R\"");
        oci_challenge_done(&c);

        assert_int_equal(oci_challenge_parse("Basic", &c, NULL), 0);
        oci_challenge_done(&c);

        struct bg_error err = {0};
        assert_int_equal(oci_challenge_parse("Bearer service=\"x\"", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "realm"));
        assert_int_equal(oci_challenge_parse("Digest realm=\"x\"", &c, NULL), -EINVAL);
        assert_int_equal(oci_challenge_parse("Bearer realm=\"unterminated", &c, NULL), -EINVAL);
        assert_int_equal(oci_challenge_parse("Bearer =x", &c, NULL), -EINVAL);
        assert_int_equal(oci_challenge_parse(NULL, &c, NULL), -EINVAL);
}

static const char *CONFIG =
    "{\"auths\": {"
    "  \"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
    "  \"127.0.0.1:5000\": {\"auth\": \"bG9jYWw6c2VjcmV0OndpdGg6Y29sb25z\"},"
    "  \"https://ghcr.io\": {\"username\": \"gh\", \"password\": \"ghpw\"},"
    "  \"evil.example.com\": {\"auth\": \"ZXZpbDpldmls\"},"
    "  \"broken.io\": {\"auth\": \"!!!\"}"
    "}}";

static void expect_creds(const char *reg, const char *user, const char *pw)
{
        struct oci_credentials c = {0};
        struct bg_error err = {0};
        int r = oci_docker_config_credentials_from_json(CONFIG, reg, &c, &err);
        if (!user) {
                assert_int_equal(r, 0);
                assert_null(c.username);
                return;
        }
        if (r != 1)
                fail_msg("%s: %d %s", reg, r, err.msg);
        assert_string_equal(c.username, user);
        assert_string_equal(c.password, pw);
        oci_credentials_done(&c);
}

static void test_docker_config(void **state)
{
        expect_creds("docker.io", "hub", "hubpw");
        expect_creds("127.0.0.1:5000", "local", "secret:with:colons");
        expect_creds("ghcr.io", "gh", "ghpw");
        expect_creds("GHCR.io", "gh", "ghpw");
        /* never by prefix, suffix, other port or another host */
        expect_creds("127.0.0.1", NULL, NULL);
        expect_creds("127.0.0.1:5001", NULL, NULL);
        expect_creds("example.com", NULL, NULL);
        expect_creds("ghcr.io.evil.com", NULL, NULL);
        expect_creds("quay.io", NULL, NULL);

        struct oci_credentials c = {0};
        struct bg_error err = {0};
        assert_int_equal(oci_docker_config_credentials_from_json(CONFIG, "broken.io", &c, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "broken.io"));
        assert_int_equal(oci_docker_config_credentials_from_json("{", "x.io", &c, &err), -EINVAL);
        assert_int_equal(oci_docker_config_credentials_from_json("{}", "x.io", &c, &err), 0);

        /* from a file; a missing file is "no credentials" */
        char dir[] = "/tmp/oci-cfg-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[256];
        snprintf(path, sizeof(path), "%s/config.json", dir);
        assert_int_equal(oci_docker_config_credentials(path, "docker.io", &c, NULL), 0);
        FILE *f = fopen(path, "w");
        fputs(CONFIG, f);
        fclose(f);
        assert_int_equal(oci_docker_config_credentials(path, "docker.io", &c, NULL), 1);
        assert_string_equal(c.username, "hub");
        oci_credentials_done(&c);
        unlink(path);
        rmdir(dir);

        setenv("DOCKER_CONFIG", "/x/y", 1);
        char *p = oci_docker_config_default_path();
        assert_string_equal(p, "/x/y/config.json");
        free(p);
        unsetenv("DOCKER_CONFIG");
        setenv("HOME", "/home/u", 1);
        p = oci_docker_config_default_path();
        assert_string_equal(p, "/home/u/.docker/config.json");
        free(p);

        char key[64];
        assert_true(oci_registry_key_normalize("https://Index.Docker.IO/v1/", key, sizeof(key)));
        assert_string_equal(key, "docker.io");
        assert_true(oci_registry_key_normalize("http://127.0.0.1:5000/v2/", key, sizeof(key)));
        assert_string_equal(key, "127.0.0.1:5000");
        assert_false(oci_registry_key_normalize("https:///v1", key, sizeof(key)));
}

/* --image X: a reference to pull, or the name of a local image. */
static void test_is_reference(void **state)
{
        assert_true(oci_ref_is_reference("debian:bookworm"));
        assert_true(oci_ref_is_reference("localhost:5000/test/busy"));
        assert_true(oci_ref_is_reference("library/debian"));
        assert_true(oci_ref_is_reference(
            "busy@sha256:"
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
        assert_false(oci_ref_is_reference("typo"));
        assert_false(oci_ref_is_reference("golden"));
        assert_false(oci_ref_is_reference("debian-bookworm"));
        assert_false(oci_ref_is_reference("debian"));
        assert_false(oci_ref_is_reference(""));

        struct oci_ref r = {0};
        struct bg_error err = {0};
        char b[16];
        assert_int_equal(oci_ref_parse("localhost:5000/test/busy:v1", &r, &err), 0);
        assert_int_equal(oci_ref_default_name(&r, b, sizeof(b), 64), 0);
        assert_string_equal(b, "busy-v1");
        assert_int_equal(oci_ref_default_name(&r, b, sizeof(b), 4), 0);
        assert_string_equal(b, "busy"); /* cut, and the trailing '-' dropped */
        oci_ref_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_ref_matrix),   cmocka_unit_test(test_loopback),
            cmocka_unit_test(test_platform),     cmocka_unit_test(test_digest),
            cmocka_unit_test(test_challenge),    cmocka_unit_test(test_docker_config),
            cmocka_unit_test(test_is_reference),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
