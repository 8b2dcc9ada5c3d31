/* OCI / Docker manifests, indexes and image configs (JSON, jansson): parsed
 * into plain structs with every digest validated. Image config values are
 * data only; nothing here runs them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci_ref.h"
#include "util/error.h"

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"

#define OCI_MANIFEST_MAX (4u << 20) /* manifests and indexes */
#define OCI_CONFIG_MAX (4u << 20)   /* image configs */
#define OCI_LAYERS_MAX 1000         /* layers in one image */

enum oci_compression {
        OCI_COMPRESSION_NONE,
        OCI_COMPRESSION_GZIP,
        OCI_COMPRESSION_ZSTD,
};

struct oci_descriptor {
        char *media_type;
        char *digest; /* validated sha256:<hex> */
        uint64_t size;
        /* index entries only */
        char *os, *arch, *variant;
};

enum oci_manifest_kind {
        OCI_KIND_INDEX,    /* OCI index or Docker manifest list */
        OCI_KIND_MANIFEST, /* OCI image manifest or Docker schema2 */
};

struct oci_manifest {
        enum oci_manifest_kind kind;
        char *media_type;
        /* OCI_KIND_INDEX */
        struct oci_descriptor *manifests;
        size_t n_manifests;
        /* OCI_KIND_MANIFEST */
        struct oci_descriptor config;
        struct oci_descriptor *layers;
        size_t n_layers;
};

/* Parse a manifest or index body. content_type is the HTTP Content-Type (may
 * be NULL); the body's own "mediaType" wins when present. Refuses Docker
 * schema1, unknown media types, bad digests, more than OCI_LAYERS_MAX layers.
 * Release with oci_manifest_done. */
int oci_manifest_parse(const void *body, size_t len, const char *content_type,
                       struct oci_manifest *ret, struct bg_error *err);
void oci_manifest_done(struct oci_manifest *m);

/* Pick the index entry for platform p: os and arch must match; a requested
 * variant must match (an entry without variant matches "v8" for arm64); with
 * no variant requested, an entry without variant is preferred, then the first
 * match. Returns the index or -ENOENT with a message listing what the index
 * offers. */
int oci_index_select(const struct oci_manifest *index, const struct oci_platform *p,
                     struct bg_error *err);

/* Compression of a layer media type, or -EPROTONOSUPPORT for a type that is
 * not a tar layer. */
int oci_layer_compression(const char *media_type, enum oci_compression *ret, struct bg_error *err);

struct oci_label {
        char *key;
        char *value;
};

/* What an image config says (strings malloc'ed; arrays NULL-terminated, NULL
 * when absent). */
struct oci_image_config {
        char *os, *arch, *variant;
        char **env;        /* "KEY=value" */
        char **cmd;        /* argv */
        char **entrypoint; /* argv */
        char *working_dir;
        char *user;
        struct oci_label *labels;
        size_t n_labels;
        char **diff_ids; /* rootfs.diff_ids, validated */
        size_t n_diff_ids;
};

int oci_config_parse(const void *body, size_t len, struct oci_image_config *ret,
                     struct bg_error *err);
void oci_config_done(struct oci_image_config *c);
