/* Shared between the files of lib/oci, not part of its API.
 *
 * The registry client behind oci_pull() (oci_registry.h) is four files:
 * oci_registry.c (the pull: client set-up, manifest and index resolution,
 * the image record), oci_http.c (libcurl transport: response sinks, URL and
 * plain-HTTP rules, GET with manual redirects), oci_registry_auth.c
 * (requests with authentication: Basic credentials and Bearer tokens) and
 * oci_blob.c (the blob cache: downloads verified against their digest,
 * parallel layer downloads). */
#pragma once

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "http.h"
#include "oci_auth.h"
#include "oci_digest.h"
#include "oci_manifest.h"
#include "oci_registry.h"
#include "util/error.h"

/* ---- the registry client (oci_registry.c, oci_http.c, oci_registry_auth.c,
 * oci_blob.c) ------------------------------------------------------------ */

#define ERRBODY_MAX 512

/* One pull: the registry endpoint, its credentials and the state the
 * download threads share. */
struct oci_client {
        const struct oci_ref *ref;
        const struct oci_pull_opts *opts;
        char origin[320]; /* "https://host:port" of the registry endpoint, no trailing slash */
        char scheme[8];
        char host[256]; /* lowercase, brackets for IPv6 */
        long port;
        struct oci_credentials creds;
        bool have_creds;
        char *config_path;

        pthread_mutex_t lock; /* guards everything below */
        char *auth_header;    /* "Authorization: ..." or NULL */
        struct oci_pull_stats stats;
        atomic_bool abort; /* set after the first failure of a parallel download */
};

/* Where a response body goes. */
struct oci_sink {
        /* buffer mode */
        char *buf;
        size_t len, cap, alloc; /* cap = size limit */
        /* file mode (fd >= 0) */
        int fd;
        struct oci_hasher *hasher;
        uint64_t written, expected;
        size_t layer;
        const char *digest;
        uint64_t last_report;
        struct oci_client *c;
        /* outcome flags */
        bool too_big;
        int io_errno;
};

/* One HTTP exchange: status, the headers banger reads and, for an error
 * status, the start of the body. */
struct oci_response {
        long status;
        char *www_auth;
        char *content_type;
        char errbody[ERRBODY_MAX];
        size_t errlen;
        struct oci_sink *sink;
        struct oci_client *c;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

static inline void curl_freep(char **p)
{
        if (*p)
                curl_free(*p);
}

/* ---- oci_http.c -------------------------------------------------------- */

/* Forget the status and headers of a previous exchange (also a redirect's). */
void oci_response_reset(struct oci_response *r);
/* Count requests, downloaded and cached blobs, and bytes (under c->lock). */
void oci_stats_add(struct oci_client *c, uint64_t req, uint64_t dl, uint64_t cached,
                   uint64_t bytes);
/* Progress of layer `layer` (SIZE_MAX: the config, not reported). */
void oci_report(struct oci_client *c, size_t layer, const char *digest, uint64_t done,
                uint64_t total);
/* Split url into lowercase scheme, host and port (default by scheme). */
int oci_url_origin(const char *url, char scheme[static 8], char host[static 256], long *port);
/* url is https, or http to a loopback or configured-insecure registry;
 * scheme, host and port are filled. -EINVAL or -EPERM with err. */
int oci_check_url(struct oci_client *c, const char *url, char scheme[static 8],
                  char host[static 256], long *port, struct bg_error *err);
/* A curl handle with banger's options and callbacks, or NULL. */
CURL *oci_easy_new(struct oci_client *c);
/* One request with manual redirects. The Authorization header (auth, may be
 * NULL) goes only to the registry origin. */
int oci_http_get(struct oci_client *c, CURL *h, const char *url, const char *accept,
                 const char *auth, struct oci_response *resp, struct bg_error *err);

/* ---- oci_registry_auth.c ----------------------------------------------- */

/* GET origin/v2/<repo>/<kind>/<what>, answering 401 challenges (Basic with
 * the Docker config's credentials, or a Bearer token); 200 or an error. */
int oci_registry_get(struct oci_client *c, CURL *h, const char *kind, const char *what,
                     const char *accept, struct oci_response *resp, struct bg_error *err);

/* ---- oci_blob.c -------------------------------------------------------- */

/* path and its missing parents, mode 0755. */
int oci_mkdir_p(const char *path, struct bg_error *err);
/* Make sure blob d is in the cache, downloaded and verified if it is not;
 * *ret_path is malloc'ed, *ret_downloaded (may be NULL) says whether it was
 * fetched now. layer is its index for progress (SIZE_MAX: the config). */
int oci_blob_fetch(struct oci_client *c, CURL *h, const struct oci_descriptor *d, size_t layer,
                   char **ret_path, bool *ret_downloaded, struct bg_error *err);
/* The whole file at path (at most max bytes, no symlink), NUL-terminated. */
int oci_read_small_file(const char *path, size_t max, char **ret, size_t *ret_len,
                        struct bg_error *err);
/* Every layer of m into the cache, opts->parallel at a time; the first
 * failure stops the others. */
int oci_download_layers(struct oci_client *c, const struct oci_manifest *m, struct oci_image *img,
                        struct bg_error *err);
