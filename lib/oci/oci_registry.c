/* oci_pull(): resolve a reference to the manifest for one platform
 * (through an index when the reference names one), fetch and check the
 * image config, then download the layers into the blob cache. The client's
 * transport, authentication and blob cache are in oci_http.c,
 * oci_registry_auth.c and oci_blob.c. */
#include "oci_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci_internal.h"
#include "oci_ref.h"

static const char *const ACCEPT_MANIFEST =
    "Accept: " OCI_MT_INDEX ", " DOCKER_MT_LIST ", " OCI_MT_MANIFEST ", " DOCKER_MT_MANIFEST;

static int fetch_manifest(struct oci_client *c, CURL *h, const char *what, const char *want_digest,
                          struct oci_manifest *ret, char digest[static OCI_DIGEST_LEN + 1],
                          struct bg_error *err)
{
        struct oci_sink s = {.fd = -1, .cap = OCI_MANIFEST_MAX, .c = c};
        struct oci_response resp = {.sink = &s, .c = c};
        int r = oci_registry_get(c, h, "manifests", what, ACCEPT_MANIFEST, &resp, err);
        if (r == -EFBIG)
                r = bg_error_set(err, EFBIG, "manifest %s is larger than %u bytes", what,
                                 OCI_MANIFEST_MAX);
        if (r >= 0) {
                oci_digest_buf(s.buf ? s.buf : "", s.len, digest);
                if (want_digest && strcmp(digest, want_digest) != 0)
                        r = bg_error_set(err, EBADMSG,
                                         "manifest %s does not match its digest (got %s)",
                                         want_digest, digest);
        }
        if (r >= 0)
                r = oci_manifest_parse(s.buf ? s.buf : "", s.len, resp.content_type, ret, err);
        oci_response_reset(&resp);
        free(s.buf);
        return r;
}

struct oci_image *oci_image_free(struct oci_image *img)
{
        if (!img)
                return NULL;
        free(img->reference);
        free(img->index_digest);
        free(img->manifest_digest);
        free(img->config_digest);
        oci_config_done(&img->config);
        for (size_t i = 0; i < img->n_layers; i++) {
                free(img->layers[i].digest);
                free(img->layers[i].media_type);
                free(img->layers[i].path);
        }
        free(img->layers);
        free(img);
        return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
        curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int client_init(struct oci_client *c, const struct oci_ref *ref,
                       const struct oci_pull_opts *opts, struct bg_error *err)
{
        c->ref = ref;
        c->opts = opts;
        pthread_mutex_init(&c->lock, NULL);
        const char *ep = oci_registry_endpoint(ref->registry);
        char key[256];
        bool plain = oci_registry_is_loopback(ep);
        for (const char *const *ins = opts->insecure_registries; !plain && ins && *ins; ins++)
                if (oci_registry_key_normalize(*ins, key, sizeof(key)) &&
                    (strcmp(key, ref->registry) == 0 || strcmp(key, ep) == 0))
                        plain = true;
        snprintf(c->origin, sizeof(c->origin), "%s://%s", plain ? "http" : "https", ep);
        if (oci_url_origin(c->origin, c->scheme, c->host, &c->port) < 0)
                return bg_error_set(err, EINVAL, "invalid registry '%s'", ref->registry);
        if (opts->docker_config) {
                c->config_path = strdup(opts->docker_config);
                if (!c->config_path)
                        return -ENOMEM;
                int r = oci_docker_config_credentials(opts->docker_config, ref->registry, &c->creds,
                                                      err);
                if (r < 0)
                        return r;
                c->have_creds = r > 0;
        }
        return 0;
}

static void client_done(struct oci_client *c)
{
        oci_credentials_done(&c->creds);
        free(c->config_path);
        if (c->auth_header)
                explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
        pthread_mutex_destroy(&c->lock);
}

static int pull(struct oci_client *c, CURL *h, struct oci_image *img, struct bg_error *err)
{
        const struct oci_ref *ref = c->ref;
        const struct oci_pull_opts *opts = c->opts;
        int r = oci_platform_parse(opts->platform, &img->platform, err);
        if (r < 0)
                return r;
        r = oci_mkdir_p(opts->cache_dir, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *blobdir = NULL;
        if (asprintf(&blobdir, "%s/blobs/sha256", opts->cache_dir) < 0)
                return -ENOMEM;
        r = oci_mkdir_p(blobdir, err);
        if (r < 0)
                return r;

        struct oci_manifest top = {0}, m = {0};
        char digest[OCI_DIGEST_LEN + 1];
        r = fetch_manifest(c, h, ref->digest ? ref->digest : ref->tag, ref->digest, &top, digest,
                           err);
        if (r < 0)
                return r;
        if (top.kind == OCI_KIND_INDEX) {
                img->index_digest = strdup(digest);
                int i = oci_index_select(&top, &img->platform, err);
                if (i < 0) {
                        oci_manifest_done(&top);
                        return i;
                }
                const struct oci_descriptor *d = &top.manifests[i];
                if (d->size > OCI_MANIFEST_MAX) {
                        oci_manifest_done(&top);
                        return bg_error_set(err, EFBIG, "manifest %s is larger than %u bytes",
                                            d->digest, OCI_MANIFEST_MAX);
                }
                _cleanup_free_ char *want = strdup(d->digest);
                oci_manifest_done(&top);
                if (!want || !img->index_digest)
                        return -ENOMEM;
                r = fetch_manifest(c, h, want, want, &m, digest, err);
                if (r < 0)
                        return r;
                if (m.kind != OCI_KIND_MANIFEST) {
                        oci_manifest_done(&m);
                        return bg_error_set(err, EINVAL, "index entry %s is not an image manifest",
                                            want);
                }
        } else
                m = top;

        img->manifest_digest = strdup(digest);
        img->config_digest = strdup(m.config.digest);
        img->layers = calloc(m.n_layers ? m.n_layers : 1, sizeof(*img->layers));
        if (!img->manifest_digest || !img->config_digest || !img->layers) {
                oci_manifest_done(&m);
                return -ENOMEM;
        }
        img->n_layers = m.n_layers;
        uint64_t declared = 0;
        for (size_t i = 0; i < m.n_layers; i++) {
                struct oci_layer *l = &img->layers[i];
                l->digest = strdup(m.layers[i].digest);
                l->media_type = strdup(m.layers[i].media_type);
                l->size = m.layers[i].size;
                img->compressed_size += l->size;
                if (!l->digest || !l->media_type) {
                        oci_manifest_done(&m);
                        return -ENOMEM;
                }
                /* checked by oci_manifest_parse */
                (void)oci_layer_compression(l->media_type, &l->compression, NULL);
                declared = l->size > UINT64_MAX - declared ? UINT64_MAX : declared + l->size;
        }
        /* Nothing is downloaded for an image whose blobs alone are over the
         * cap of what it may unpack to. */
        if (opts->max_image_bytes && declared > opts->max_image_bytes) {
                oci_manifest_done(&m);
                return bg_error_set(err, EFBIG,
                                    "image %s: its %zu layers are %llu bytes compressed, more than "
                                    "it may unpack to (%llu bytes, image.max_unpacked_size)",
                                    digest, img->n_layers, (unsigned long long)declared,
                                    (unsigned long long)opts->max_image_bytes);
        }

        /* The config: small, cached like any blob, parsed as data. */
        _cleanup_free_ char *cfg_path = NULL;
        r = oci_blob_fetch(c, h, &m.config, SIZE_MAX, &cfg_path, &img->config_downloaded, err);
        if (r >= 0) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                r = oci_read_small_file(cfg_path, OCI_CONFIG_MAX, &body, &len, err);
                if (r >= 0) {
                        char got[OCI_DIGEST_LEN + 1];
                        oci_digest_buf(body, len, got);
                        if (strcmp(got, m.config.digest) != 0) {
                                unlink(cfg_path);
                                r = bg_error_set(err, EBADMSG,
                                                 "cached config %s does not match its digest; "
                                                 "removed it, pull again",
                                                 m.config.digest);
                        }
                }
                if (r >= 0)
                        r = oci_config_parse(body, len, &img->config, err);
        }
        if (r >= 0 && img->config.n_diff_ids && img->config.n_diff_ids != m.n_layers)
                r = bg_error_set(err, EINVAL, "image config lists %zu layers, manifest %zu",
                                 img->config.n_diff_ids, m.n_layers);
        if (r >= 0)
                r = oci_download_layers(c, &m, img, err);
        oci_manifest_done(&m);
        return r;
}

int oci_pull(const struct oci_ref *ref, const struct oci_pull_opts *opts, struct oci_image **ret,
             struct oci_pull_stats *stats, struct bg_error *err)
{
        if (!ref || !opts || !opts->cache_dir || !*opts->cache_dir)
                return bg_error_set(err, EINVAL, "pull needs a reference and a cache directory");
        if (ref->digest && !oci_digest_valid(ref->digest))
                return bg_error_set(err, EINVAL, "invalid digest in reference");
        pthread_once(&curl_once, curl_init_once);
        if (curl_init_rc != CURLE_OK)
                return bg_error_set(err, EIO, "libcurl initialisation failed");

        struct oci_client c = {0};
        struct oci_image *img = calloc(1, sizeof(*img));
        int r = img ? 0 : -ENOMEM;
        if (r >= 0) {
                img->reference = oci_ref_to_string(ref);
                if (!img->reference)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = client_init(&c, ref, opts, err);
        if (r >= 0) {
                _cleanup_(curl_easy_cleanupp) CURL *h = oci_easy_new(&c);
                r = h ? pull(&c, h, img, err) : -ENOMEM;
        }
        if (stats)
                *stats = c.stats;
        if (c.opts)
                client_done(&c);
        if (r < 0) {
                oci_image_free(img);
                if (r == -ENOMEM)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (err && err->code == 0)
                        return bg_error_set(err, -r, "pull %s failed", ref->repository);
                return r;
        }
        *ret = img;
        return 0;
}
