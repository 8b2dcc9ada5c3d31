/* Registry v2 client (libcurl): resolve a reference to an image manifest for
 * one platform and download its config and layers into a content-addressed
 * blob cache, verifying every blob against its digest while it streams.
 *
 * Transport rules: HTTPS, except plain HTTP for loopback registries and those
 * the caller lists as insecure. Redirects are followed by hand (at most 5,
 * http/https only, the same HTTP rule per target host): the Authorization
 * header goes only to the registry's own scheme://host:port, never to a
 * storage host a blob redirects to. Credentials from the Docker config are
 * sent to the registry host (Basic) and to the token realm that registry's
 * Bearer challenge names (as Docker does), and nowhere else. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci_manifest.h"
#include "oci_ref.h"
#include "util/error.h"

#define OCI_DEFAULT_PARALLEL 4

/* Progress of one blob: bytes of layer `layer` (index in the manifest) so far
 * and its size. Called from download threads, one call at a time, with
 * done == total once per layer (also for a blob found in the cache). */
typedef void (*oci_progress_fn)(void *userdata, size_t layer, const char *digest, uint64_t done,
                                uint64_t total);

struct oci_pull_opts {
        const char *cache_dir;     /* required: blobs live in cache_dir/blobs/sha256/<hex> */
        const char *platform;      /* "os/arch[/variant]"; NULL = linux/amd64 */
        const char *docker_config; /* config.json with credentials; NULL = anonymous only */
        const char *const *insecure_registries; /* NULL-terminated host[:port] list or NULL */
        unsigned parallel;        /* concurrent layer downloads; 0 = OCI_DEFAULT_PARALLEL */
        oci_progress_fn progress; /* may be NULL */
        void *userdata;
        const atomic_bool *cancel; /* set to true to stop: the pull fails with -ECANCELED */
        long low_speed_timeout;    /* abort a transfer slower than 1 KiB/s for this many
                                      seconds; 0 = 60 */
        uint64_t max_image_bytes;  /* refuse (-EFBIG, before any blob is fetched) a manifest
                                      whose layers add up to more; 0 = no cap */
};

struct oci_pull_stats {
        uint64_t http_requests;    /* every HTTP request made (including redirects, auth) */
        uint64_t blobs_downloaded; /* config and layers fetched from the network */
        uint64_t blobs_cached;     /* config and layers found in the cache */
        uint64_t bytes_downloaded; /* blob bytes received */
};

struct oci_layer {
        char *digest; /* validated sha256:<hex> */
        char *media_type;
        enum oci_compression compression;
        uint64_t size;
        char *path;      /* the verified blob in the cache */
        bool downloaded; /* fetched by this pull (not found in the cache) */
};

/* A pulled image: everything in the cache, nothing flattened yet. */
struct oci_image {
        char *reference;       /* canonical reference string */
        char *index_digest;    /* digest of the index the reference named, or NULL */
        char *manifest_digest; /* digest of the platform's image manifest */
        char *config_digest;
        struct oci_platform platform; /* the platform that was selected */
        struct oci_image_config config;
        struct oci_layer *layers;
        size_t n_layers;
        uint64_t compressed_size; /* sum of layer sizes */
        bool config_downloaded;   /* the config blob was fetched by this pull */
};

/* Pull ref into the cache. On success *ret is owned by the caller (free with
 * oci_image_free). stats (may be NULL) is filled on success and failure.
 * Errors: -EINVAL bad input, -ENOENT unknown image/tag/platform, -EACCES
 * authentication refused, -EPERM plain HTTP not allowed, -EBADMSG digest or
 * size mismatch, -EFBIG over a size cap, -ECANCELED cancelled, -EIO network
 * or HTTP failure; err names the blob or URL. Partial files are removed. */
int oci_pull(const struct oci_ref *ref, const struct oci_pull_opts *opts, struct oci_image **ret,
             struct oci_pull_stats *stats, struct bg_error *err);

struct oci_image *oci_image_free(struct oci_image *img);

static inline void oci_image_freep(struct oci_image **p)
{
        oci_image_free(*p);
}

/* cache_dir/blobs/sha256/<hex> for digest (validated first; -EINVAL if not a
 * sha256 digest). *ret is malloc'ed. */
int oci_blob_path(const char *cache_dir, const char *digest, char **ret, struct bg_error *err);
