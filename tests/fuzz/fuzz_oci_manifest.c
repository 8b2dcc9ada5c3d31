/* Fuzz target "oci_manifest": manifests, indexes and image configs as a
 * registry sends them (lib/oci/oci_manifest.c), through the calls the pull
 * makes on them: oci_manifest_parse with each Content-Type the pull may see,
 * oci_index_select for the platforms banger asks for, oci_layer_compression
 * of every layer, and oci_config_parse of the same bytes.
 *
 * Input: one selector byte (which Content-Type), then the body.
 * Checks beyond "no crash": a failure is -errno with a message; a parsed
 * manifest has validated digests ("sha256:" + 64 lowercase hex), at most
 * OCI_LAYERS_MAX layers, and a selected index entry is in range. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "oci_manifest.h"
#include "oci_ref.h"

static void check_digest(const char *d)
{
        CHECK(d && strlen(d) == 71 && strncmp(d, "sha256:", 7) == 0);
        for (size_t i = 7; i < 71; i++)
                CHECK((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f'));
}

static void check_failure(int r, const struct bg_error *err)
{
        CHECK(r < 0);
        CHECK(r == -ENOMEM || err->msg[0] != '\0');
}

static void strv_check(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                CHECK(v[i] != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const types[] = {
            NULL,
            OCI_MT_INDEX,
            OCI_MT_MANIFEST,
            DOCKER_MT_LIST,
            DOCKER_MT_MANIFEST,
            "application/json",
            "text/html; charset=utf-8",
            "",
        };
        static const char *const platforms[] = {"linux/amd64", "linux/arm64", "linux/arm64/v8",
                                                "linux/arm/v7"};
        if (size < 1)
                return 0;
        const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
        const uint8_t *body = data + 1;
        size_t len = size - 1;

        struct oci_manifest m;
        struct bg_error err = {0};
        int r = oci_manifest_parse(body, len, ct, &m, &err);
        if (r < 0)
                check_failure(r, &err);
        else if (m.kind == OCI_KIND_INDEX) {
                for (size_t i = 0; i < m.n_manifests; i++)
                        check_digest(m.manifests[i].digest);
                for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
                        struct oci_platform p;
                        struct bg_error e = {0};
                        CHECK(oci_platform_parse(platforms[i], &p, &e) == 0);
                        int k = oci_index_select(&m, &p, &e);
                        if (k < 0)
                                check_failure(k, &e);
                        else
                                CHECK((size_t)k < m.n_manifests);
                }
                oci_manifest_done(&m);
        } else {
                CHECK(m.kind == OCI_KIND_MANIFEST);
                CHECK(m.n_layers <= OCI_LAYERS_MAX);
                check_digest(m.config.digest);
                for (size_t i = 0; i < m.n_layers; i++) {
                        check_digest(m.layers[i].digest);
                        enum oci_compression c;
                        struct bg_error e = {0};
                        int k = oci_layer_compression(m.layers[i].media_type, &c, &e);
                        if (k < 0)
                                check_failure(k, &e);
                        else
                                CHECK(c == OCI_COMPRESSION_NONE || c == OCI_COMPRESSION_GZIP ||
                                      c == OCI_COMPRESSION_ZSTD);
                }
                oci_manifest_done(&m);
        }

        struct oci_image_config c;
        struct bg_error cerr = {0};
        r = oci_config_parse(body, len, &c, &cerr);
        if (r < 0)
                check_failure(r, &cerr);
        else {
                strv_check(c.env);
                strv_check(c.cmd);
                strv_check(c.entrypoint);
                for (size_t i = 0; i < c.n_labels; i++)
                        CHECK(c.labels[i].key && c.labels[i].value);
                for (size_t i = 0; i < c.n_diff_ids; i++)
                        check_digest(c.diff_ids[i]);
                oci_config_done(&c);
        }
        return 0;
}
