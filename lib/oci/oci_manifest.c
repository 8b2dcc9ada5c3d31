#include "oci_manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_digest.h"

static void descriptor_done(struct oci_descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->arch);
        free(d->variant);
        *d = (struct oci_descriptor){0};
}

void oci_manifest_done(struct oci_manifest *m)
{
        if (!m)
                return;
        free(m->media_type);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_done(&m->manifests[i]);
        free(m->manifests);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_done(&m->layers[i]);
        free(m->layers);
        *m = (struct oci_manifest){0};
}

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static int parse_descriptor(json_t *j, const char *what, bool with_platform,
                            struct oci_descriptor *ret, struct bg_error *err)
{
        if (!json_is_object(j))
                return bg_error_set(err, EINVAL, "%s is not a JSON object", what);
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        const char *digest = json_string_value(json_object_get(j, "digest"));
        json_t *size = json_object_get(j, "size");
        int r = oci_digest_check(digest, what, err);
        if (r < 0)
                return r;
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return bg_error_set(err, EINVAL, "%s has no valid size", what);
        struct oci_descriptor d = {0};
        d.media_type = strdup(mt ? mt : "");
        d.digest = strdup(digest);
        d.size = (uint64_t)json_integer_value(size);
        if (with_platform) {
                json_t *p = json_object_get(j, "platform");
                d.os = dup_or_null(json_string_value(json_object_get(p, "os")));
                d.arch = dup_or_null(json_string_value(json_object_get(p, "architecture")));
                d.variant = dup_or_null(json_string_value(json_object_get(p, "variant")));
        }
        if (!d.media_type || !d.digest) {
                descriptor_done(&d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

int oci_manifest_parse(const void *body, size_t len, const char *content_type,
                       struct oci_manifest *ret, struct bg_error *err)
{
        if (len > OCI_MANIFEST_MAX)
                return bg_error_set(err, EFBIG, "manifest of %zu bytes exceeds the %u byte limit",
                                    len, OCI_MANIFEST_MAX);
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return bg_error_set(err, EINVAL, "manifest is not valid JSON: line %d: %s",
                                    jerr.line, jerr.text);
        struct oci_manifest m = {0};
        int rc = 0;
        if (!json_is_object(root)) {
                rc = bg_error_set(err, EINVAL, "manifest is not a JSON object");
                goto out;
        }
        const char *mt = json_string_value(json_object_get(root, "mediaType"));
        char ct[128] = "";
        if (content_type) {
                snprintf(ct, sizeof(ct), "%s", content_type);
                ct[strcspn(ct, "; \t")] = '\0';
        }
        if (!mt || !*mt)
                mt = ct[0] ? ct : NULL;
        json_t *jv = json_object_get(root, "schemaVersion");
        if (json_is_integer(jv) && json_integer_value(jv) == 1) {
                rc = bg_error_set(err, EPROTONOSUPPORT,
                                  "Docker schema1 manifests are not supported");
                goto out;
        }
        json_t *manifests = json_object_get(root, "manifests");
        json_t *layers = json_object_get(root, "layers");
        if (!mt || !*mt || strcmp(mt, "application/json") == 0 ||
            strcmp(mt, "application/octet-stream") == 0) {
                /* OCI allows mediaType to be absent: tell by shape. */
                if (json_is_array(manifests))
                        mt = OCI_MT_INDEX;
                else if (json_is_array(layers))
                        mt = OCI_MT_MANIFEST;
        }
        if (!mt) {
                rc = bg_error_set(err, EINVAL, "manifest has no media type");
                goto out;
        }
        m.media_type = strdup(mt);
        if (!m.media_type) {
                rc = -ENOMEM;
                goto out;
        }
        if (strcmp(mt, OCI_MT_INDEX) == 0 || strcmp(mt, DOCKER_MT_LIST) == 0) {
                m.kind = OCI_KIND_INDEX;
                if (!json_is_array(manifests)) {
                        rc = bg_error_set(err, EINVAL, "index has no \"manifests\" array");
                        goto out;
                }
                size_t n = json_array_size(manifests);
                if (n > 4096) {
                        rc = bg_error_set(err, EFBIG, "index lists %zu manifests", n);
                        goto out;
                }
                m.manifests = calloc(n ? n : 1, sizeof(*m.manifests));
                if (!m.manifests) {
                        rc = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        char what[64];
                        snprintf(what, sizeof(what), "index entry %zu digest", i);
                        rc = parse_descriptor(json_array_get(manifests, i), what, true,
                                              &m.manifests[i], err);
                        if (rc < 0)
                                goto out;
                        m.n_manifests++;
                }
        } else if (strcmp(mt, OCI_MT_MANIFEST) == 0 || strcmp(mt, DOCKER_MT_MANIFEST) == 0) {
                m.kind = OCI_KIND_MANIFEST;
                rc = parse_descriptor(json_object_get(root, "config"), "config digest", false,
                                      &m.config, err);
                if (rc < 0)
                        goto out;
                if (m.config.size > OCI_CONFIG_MAX) {
                        rc = bg_error_set(err, EFBIG,
                                          "image config of %llu bytes exceeds the %u byte limit",
                                          (unsigned long long)m.config.size, OCI_CONFIG_MAX);
                        goto out;
                }
                if (!json_is_array(layers)) {
                        rc = bg_error_set(err, EINVAL, "manifest has no \"layers\" array");
                        goto out;
                }
                size_t n = json_array_size(layers);
                if (n > OCI_LAYERS_MAX) {
                        rc = bg_error_set(err, EFBIG, "manifest lists %zu layers (limit %d)", n,
                                          OCI_LAYERS_MAX);
                        goto out;
                }
                m.layers = calloc(n ? n : 1, sizeof(*m.layers));
                if (!m.layers) {
                        rc = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        char what[64];
                        snprintf(what, sizeof(what), "layer %zu digest", i);
                        rc = parse_descriptor(json_array_get(layers, i), what, false, &m.layers[i],
                                              err);
                        if (rc < 0)
                                goto out;
                        m.n_layers++;
                        enum oci_compression comp;
                        rc = oci_layer_compression(m.layers[i].media_type, &comp, err);
                        if (rc < 0)
                                goto out;
                }
        } else {
                rc = bg_error_set(err, EPROTONOSUPPORT, "unsupported manifest media type '%.80s'",
                                  mt);
                goto out;
        }
out:
        json_decref(root);
        if (rc < 0) {
                oci_manifest_done(&m);
                if (rc == -ENOMEM)
                        return bg_error_set(err, ENOMEM, "out of memory");
                return rc;
        }
        *ret = m;
        return 0;
}

static bool str_eq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

int oci_index_select(const struct oci_manifest *index, const struct oci_platform *p,
                     struct bg_error *err)
{
        int found = -1;
        for (size_t i = 0; i < index->n_manifests; i++) {
                const struct oci_descriptor *d = &index->manifests[i];
                if (!str_eq(d->os, p->os) || !str_eq(d->arch, p->arch))
                        continue;
                /* Attestation manifests use the "unknown" platform and never match. */
                if (p->variant[0]) {
                        const char *v = d->variant && *d->variant ? d->variant : NULL;
                        if (!v && strcmp(p->arch, "arm64") == 0 && strcmp(p->variant, "v8") == 0)
                                return (int)i;
                        if (v && strcmp(v, p->variant) == 0)
                                return (int)i;
                        continue;
                }
                if (!d->variant || !*d->variant)
                        return (int)i;
                if (found < 0)
                        found = (int)i;
        }
        if (found >= 0)
                return found;
        char offers[160] = "";
        size_t o = 0;
        for (size_t i = 0; i < index->n_manifests && o < sizeof(offers) - 1; i++) {
                const struct oci_descriptor *d = &index->manifests[i];
                int k =
                    snprintf(offers + o, sizeof(offers) - o, "%s%s/%s%s%s", o ? ", " : "",
                             d->os ? d->os : "?", d->arch ? d->arch : "?",
                             d->variant && *d->variant ? "/" : "", d->variant ? d->variant : "");
                if (k < 0)
                        break;
                o += (size_t)k;
                if (o >= sizeof(offers))
                        o = sizeof(offers) - 1;
        }
        return bg_error_set(err, ENOENT, "no image for platform %s/%s%s%s (the index has: %s)",
                            p->os, p->arch, p->variant[0] ? "/" : "", p->variant,
                            offers[0] ? offers : "nothing");
}

int oci_layer_compression(const char *mt, enum oci_compression *ret, struct bg_error *err)
{
        static const struct {
                const char *type;
                enum oci_compression c;
        } table[] = {
            {"application/vnd.oci.image.layer.v1.tar", OCI_COMPRESSION_NONE},
            {"application/vnd.oci.image.layer.v1.tar+gzip", OCI_COMPRESSION_GZIP},
            {"application/vnd.oci.image.layer.v1.tar+zstd", OCI_COMPRESSION_ZSTD},
            {"application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_COMPRESSION_NONE},
            {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_COMPRESSION_GZIP},
            {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_COMPRESSION_ZSTD},
            {"application/vnd.docker.image.rootfs.diff.tar", OCI_COMPRESSION_NONE},
            {"application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_COMPRESSION_GZIP},
            {"application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_COMPRESSION_ZSTD},
            {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_COMPRESSION_GZIP},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (mt && strcmp(mt, table[i].type) == 0) {
                        *ret = table[i].c;
                        return 0;
                }
        return bg_error_set(err, EPROTONOSUPPORT, "unsupported layer media type '%.100s'",
                            mt ? mt : "(none)");
}

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

void oci_config_done(struct oci_image_config *c)
{
        if (!c)
                return;
        free(c->os);
        free(c->arch);
        free(c->variant);
        strv_free(c->env);
        strv_free(c->cmd);
        strv_free(c->entrypoint);
        free(c->working_dir);
        free(c->user);
        for (size_t i = 0; i < c->n_labels; i++) {
                free(c->labels[i].key);
                free(c->labels[i].value);
        }
        free(c->labels);
        for (size_t i = 0; i < c->n_diff_ids; i++)
                free(c->diff_ids[i]);
        free(c->diff_ids);
        *c = (struct oci_image_config){0};
}

/* A JSON array of strings into a NULL-terminated vector; absent or null → NULL. */
static int strv_from_json(json_t *a, const char *what, char ***ret, struct bg_error *err)
{
        if (!a || json_is_null(a)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(a))
                return bg_error_set(err, EINVAL, "image config: %s is not an array", what);
        size_t n = json_array_size(a);
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (!s) {
                        strv_free(v);
                        return bg_error_set(err, EINVAL, "image config: %s[%zu] is not a string",
                                            what, i);
                }
                v[i] = strdup(s);
                if (!v[i]) {
                        strv_free(v);
                        return -ENOMEM;
                }
        }
        *ret = v;
        return 0;
}

int oci_config_parse(const void *body, size_t len, struct oci_image_config *ret,
                     struct bg_error *err)
{
        if (len > OCI_CONFIG_MAX)
                return bg_error_set(err, EFBIG, "image config of %zu bytes exceeds %u bytes", len,
                                    OCI_CONFIG_MAX);
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return bg_error_set(err, EINVAL, "image config is not valid JSON: line %d: %s",
                                    jerr.line, jerr.text);
        struct oci_image_config c = {0};
        int rc = 0;
        if (!json_is_object(root)) {
                rc = bg_error_set(err, EINVAL, "image config is not a JSON object");
                goto out;
        }
        c.os = dup_or_null(json_string_value(json_object_get(root, "os")));
        c.arch = dup_or_null(json_string_value(json_object_get(root, "architecture")));
        c.variant = dup_or_null(json_string_value(json_object_get(root, "variant")));
        json_t *cfg = json_object_get(root, "config");
        if (cfg && !json_is_null(cfg)) {
                if (!json_is_object(cfg)) {
                        rc = bg_error_set(err, EINVAL, "image config: \"config\" is not an object");
                        goto out;
                }
                if ((rc = strv_from_json(json_object_get(cfg, "Env"), "Env", &c.env, err)) < 0 ||
                    (rc = strv_from_json(json_object_get(cfg, "Cmd"), "Cmd", &c.cmd, err)) < 0 ||
                    (rc = strv_from_json(json_object_get(cfg, "Entrypoint"), "Entrypoint",
                                         &c.entrypoint, err)) < 0)
                        goto out;
                const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
                const char *user = json_string_value(json_object_get(cfg, "User"));
                c.working_dir = dup_or_null(wd && *wd ? wd : NULL);
                c.user = dup_or_null(user && *user ? user : NULL);
                json_t *labels = json_object_get(cfg, "Labels");
                if (json_is_object(labels)) {
                        size_t n = json_object_size(labels);
                        c.labels = calloc(n ? n : 1, sizeof(*c.labels));
                        if (!c.labels) {
                                rc = -ENOMEM;
                                goto out;
                        }
                        const char *k;
                        json_t *v;
                        json_object_foreach(labels, k, v)
                        {
                                const char *s = json_string_value(v);
                                if (!s)
                                        continue;
                                c.labels[c.n_labels].key = strdup(k);
                                c.labels[c.n_labels].value = strdup(s);
                                c.n_labels++;
                                if (!c.labels[c.n_labels - 1].key ||
                                    !c.labels[c.n_labels - 1].value) {
                                        rc = -ENOMEM;
                                        goto out;
                                }
                        }
                }
        }
        json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
        if (json_is_array(ids)) {
                size_t n = json_array_size(ids);
                if (n > OCI_LAYERS_MAX) {
                        rc = bg_error_set(err, EFBIG, "image config lists %zu layers", n);
                        goto out;
                }
                c.diff_ids = calloc(n ? n : 1, sizeof(char *));
                if (!c.diff_ids) {
                        rc = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        const char *d = json_string_value(json_array_get(ids, i));
                        rc = oci_digest_check(d, "image config diff_id", err);
                        if (rc < 0)
                                goto out;
                        c.diff_ids[i] = strdup(d);
                        if (!c.diff_ids[i]) {
                                rc = -ENOMEM;
                                goto out;
                        }
                        c.n_diff_ids++;
                }
        }
        if ((json_object_get(root, "os") && !c.os) ||
            (json_object_get(root, "architecture") && !c.arch)) {
                rc = bg_error_set(err, EINVAL, "image config: os/architecture are not strings");
                goto out;
        }
out:
        json_decref(root);
        if (rc < 0) {
                oci_config_done(&c);
                if (rc == -ENOMEM)
                        return bg_error_set(err, ENOMEM, "out of memory");
                return rc;
        }
        *ret = c;
        return 0;
}
