/* lib/oci: manifest, index and image config parsing; platform selection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_manifest.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static int parse(const char *json, const char *ct, struct oci_manifest *m, struct bg_error *err)
{
        return oci_manifest_parse(json, strlen(json), ct, m, err);
}

static void test_manifest_oci_and_docker(void **state)
{
        const char *oci =
            "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
            "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"" DA "\",\"size\":100},"
            "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+"
            "gzip\",\"digest\":\"" DB "\",\"size\":12},"
            "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
            "\"digest\":\"" DC "\",\"size\":13}]}";
        struct oci_manifest m;
        assert_int_equal(parse(oci, NULL, &m, NULL), 0);
        assert_int_equal(m.kind, OCI_KIND_MANIFEST);
        assert_string_equal(m.config.digest, DA);
        assert_int_equal(m.n_layers, 2);
        assert_string_equal(m.layers[1].digest, DC);
        assert_int_equal(m.layers[1].size, 13);
        oci_manifest_done(&m);

        /* Docker schema2, media type only from Content-Type */
        const char *docker =
            "{\"schemaVersion\":2,"
            "\"config\":{\"mediaType\":\"" DOCKER_MT_CONFIG "\",\"digest\":\"" DA "\",\"size\":7},"
            "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs."
            "diff.tar.gzip\",\"digest\":\"" DB "\",\"size\":1}]}";
        assert_int_equal(parse(docker, DOCKER_MT_MANIFEST "; charset=utf-8", &m, NULL), 0);
        assert_string_equal(m.media_type, DOCKER_MT_MANIFEST);
        assert_int_equal(m.n_layers, 1);
        oci_manifest_done(&m);

        enum oci_compression c;
        assert_int_equal(
            oci_layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, NULL),
            0);
        assert_int_equal(c, OCI_COMPRESSION_GZIP);
        assert_int_equal(oci_layer_compression("application/vnd.oci.image.layer.v1.tar", &c, NULL),
                         0);
        assert_int_equal(c, OCI_COMPRESSION_NONE);
        assert_int_equal(oci_layer_compression("application/x-bzip2", &c, NULL), -EPROTONOSUPPORT);
}

static void test_manifest_refused(void **state)
{
        struct oci_manifest m;
        struct bg_error err = {0};
        /* digest that would become a path */
        const char *evil = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                           "\"config\":{\"digest\":\"" DA "\",\"size\":1},"
                           "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                           "\"digest\":\"sha256:../../../etc/passwd\",\"size\":1}]}";
        assert_int_equal(parse(evil, NULL, &m, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "layer 0 digest"));
        /* oversize config */
        const char *big = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                          "\"config\":{\"digest\":\"" DA "\",\"size\":999999999},\"layers\":[]}";
        assert_int_equal(parse(big, NULL, &m, &err), -EFBIG);
        /* schema1 */
        assert_int_equal(parse("{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, &m, &err),
                         -EPROTONOSUPPORT);
        /* unknown layer type */
        const char *weird =
            "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
            "\"config\":{\"digest\":\"" DA "\",\"size\":1},"
            "\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" DB "\",\"size\":1}]}";
        assert_int_equal(parse(weird, NULL, &m, &err), -EPROTONOSUPPORT);
        assert_non_null(strstr(err.msg, "text/plain"));
        assert_int_equal(parse("[1,2]", NULL, &m, &err), -EINVAL);
        assert_int_equal(parse("{\"mediaType\":\"x/y\"}", NULL, &m, &err), -EPROTONOSUPPORT);
        /* size cap before parsing */
        size_t n = OCI_MANIFEST_MAX + 1;
        char *huge = malloc(n);
        memset(huge, ' ', n);
        assert_int_equal(oci_manifest_parse(huge, n, NULL, &m, &err), -EFBIG);
        free(huge);
        /* negative size */
        const char *neg = "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
                          "\"config\":{\"digest\":\"" DA "\",\"size\":-1},\"layers\":[]}";
        assert_int_equal(parse(neg, NULL, &m, &err), -EINVAL);
}

static const char *INDEX =
    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" DB "\",\"size\":2,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
    "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" DC "\",\"size\":3,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"" DA "\",\"size\":4,"
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";

static int select_for(const struct oci_manifest *m, const char *plat, struct bg_error *err)
{
        struct oci_platform p;
        assert_int_equal(oci_platform_parse(plat, &p, NULL), 0);
        return oci_index_select(m, &p, err);
}

static void test_index_select(void **state)
{
        struct oci_manifest m;
        assert_int_equal(parse(INDEX, NULL, &m, NULL), 0);
        assert_int_equal(m.kind, OCI_KIND_INDEX);
        assert_int_equal(m.n_manifests, 4);
        assert_int_equal(select_for(&m, NULL, NULL), 2);
        assert_int_equal(select_for(&m, "linux/amd64", NULL), 2);
        assert_int_equal(select_for(&m, "linux/arm64", NULL), 1);
        assert_int_equal(select_for(&m, "linux/arm64/v8", NULL), 1);
        assert_int_equal(select_for(&m, "linux/arm/v7", NULL), 0);
        assert_int_equal(select_for(&m, "linux/arm", NULL), 0);
        struct bg_error err = {0};
        assert_int_equal(select_for(&m, "linux/arm/v6", &err), -ENOENT);
        assert_non_null(strstr(err.msg, "linux/arm/v6"));
        assert_non_null(strstr(err.msg, "linux/amd64"));
        assert_int_equal(select_for(&m, "windows/amd64", &err), -ENOENT);
        oci_manifest_done(&m);

        /* Docker manifest list without mediaType in the body */
        const char *list =
            "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" DOCKER_MT_MANIFEST
            "\",\"digest\":\"" DB "\",\"size\":5,\"platform\":{\"os\":\"linux\","
            "\"architecture\":\"amd64\"}}]}";
        assert_int_equal(parse(list, DOCKER_MT_LIST, &m, NULL), 0);
        assert_int_equal(m.kind, OCI_KIND_INDEX);
        assert_int_equal(select_for(&m, "linux/amd64", NULL), 0);
        oci_manifest_done(&m);
}

static void test_config(void **state)
{
        const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
                          "\"Env\":[\"PATH=/usr/bin\",\"A=$(rm -rf /)\"],"
                          "\"Cmd\":[\"bash\"],\"Entrypoint\":null,\"WorkingDir\":\"/srv\","
                          "\"User\":\"1000:1000\",\"Labels\":{\"a\":\"1\",\"b\":\"two\"}},"
                          "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\"]}}";
        struct oci_image_config c;
        struct bg_error err = {0};
        assert_int_equal(oci_config_parse(cfg, strlen(cfg), &c, &err), 0);
        assert_string_equal(c.os, "linux");
        assert_string_equal(c.arch, "amd64");
        assert_string_equal(c.env[0], "PATH=/usr/bin");
        assert_string_equal(c.env[1], "A=$(rm -rf /)");
        assert_null(c.env[2]);
        assert_string_equal(c.cmd[0], "bash");
        assert_null(c.entrypoint);
        assert_string_equal(c.working_dir, "/srv");
        assert_string_equal(c.user, "1000:1000");
        assert_int_equal(c.n_labels, 2);
        assert_int_equal(c.n_diff_ids, 1);
        oci_config_done(&c);

        const char *bad = "{\"config\":{\"Env\":[1]}}";
        assert_int_equal(oci_config_parse(bad, strlen(bad), &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "Env"));
        const char *baddiff = "{\"rootfs\":{\"diff_ids\":[\"sha256:x\"]}}";
        assert_int_equal(oci_config_parse(baddiff, strlen(baddiff), &c, &err), -EINVAL);
        const char *empty = "{}";
        assert_int_equal(oci_config_parse(empty, 2, &c, &err), 0);
        assert_null(c.env);
        oci_config_done(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_manifest_oci_and_docker),
            cmocka_unit_test(test_manifest_refused),
            cmocka_unit_test(test_index_select),
            cmocka_unit_test(test_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
