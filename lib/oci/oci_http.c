/* The registry client's HTTP transport (libcurl): where response bodies go
 * (a capped buffer, or a file hashed while it is written), progress and
 * statistics, cancellation, the URL rules (https; plain http only for
 * loopback and configured-insecure registries) and GET with redirects
 * followed by hand so the Authorization header only goes to the registry's
 * own origin. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oci_internal.h"
#include "oci_ref.h"

#define MAX_REDIRECTS 5
#define PROGRESS_STEP (256u << 10)
#define USER_AGENT "banger-oci/0.1"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup);

void oci_response_reset(struct oci_response *r)
{
        free(r->www_auth);
        free(r->content_type);
        r->www_auth = r->content_type = NULL;
        r->status = 0;
        r->errlen = 0;
        r->errbody[0] = '\0';
}

static void sink_reset(struct oci_sink *s)
{
        s->len = 0;
        s->too_big = false;
        s->io_errno = 0;
        if (s->fd >= 0) {
                if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
                        s->io_errno = errno;
                s->written = 0;
                s->last_report = 0;
                if (s->hasher) {
                        char discard[OCI_DIGEST_LEN + 1];
                        oci_hasher_final(s->hasher, discard);
                }
        }
}

void oci_stats_add(struct oci_client *c, uint64_t req, uint64_t dl, uint64_t cached, uint64_t bytes)
{
        pthread_mutex_lock(&c->lock);
        c->stats.http_requests += req;
        c->stats.blobs_downloaded += dl;
        c->stats.blobs_cached += cached;
        c->stats.bytes_downloaded += bytes;
        pthread_mutex_unlock(&c->lock);
}

void oci_report(struct oci_client *c, size_t layer, const char *digest, uint64_t done,
                uint64_t total)
{
        if (!c->opts->progress || layer == SIZE_MAX) /* SIZE_MAX: the config */
                return;
        pthread_mutex_lock(&c->lock);
        c->opts->progress(c->opts->userdata, layer, digest, done, total);
        pthread_mutex_unlock(&c->lock);
}

static char *header_value(const char *line, size_t n, const char *name)
{
        size_t k = strlen(name);
        if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
                return NULL;
        const char *v = line + k + 1;
        const char *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct oci_response *r = userdata;
        size_t n = size * nmemb;
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                oci_response_reset(r);
                const char *sp = memchr(data, ' ', n);
                if (sp)
                        r->status = strtol(sp + 1, NULL, 10);
                return n;
        }
        char *v;
        if ((v = header_value(data, n, "WWW-Authenticate"))) {
                free(r->www_auth);
                r->www_auth = v;
        } else if ((v = header_value(data, n, "Content-Type"))) {
                free(r->content_type);
                r->content_type = v;
        }
        return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct oci_response *r = userdata;
        size_t n = size * nmemb;
        if (r->status < 200 || r->status >= 300) {
                size_t room = sizeof(r->errbody) - 1 - r->errlen;
                size_t k = n < room ? n : room;
                memcpy(r->errbody + r->errlen, data, k);
                r->errlen += k;
                r->errbody[r->errlen] = '\0';
                return n;
        }
        struct oci_sink *s = r->sink;
        if (s->fd < 0) {
                if (n > s->cap - s->len) {
                        s->too_big = true;
                        return 0;
                }
                if (!s->buf || s->len + n + 1 > s->alloc) {
                        size_t want = s->alloc ? s->alloc : 16384;
                        while (want < s->len + n + 1)
                                want *= 2;
                        char *b = realloc(s->buf, want);
                        if (!b) {
                                s->io_errno = ENOMEM;
                                return 0;
                        }
                        s->buf = b;
                        s->alloc = want;
                }
                memcpy(s->buf + s->len, data, n);
                s->len += n;
                return n;
        }
        if (n > s->expected - s->written) {
                s->too_big = true;
                return 0;
        }
        for (size_t off = 0; off < n;) {
                ssize_t k = write(s->fd, data + off, n - off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        s->io_errno = errno;
                        return 0;
                }
                off += (size_t)k;
        }
        oci_hasher_update(s->hasher, data, n);
        s->written += n;
        oci_stats_add(s->c, 0, 0, 0, n);
        if (s->written - s->last_report >= PROGRESS_STEP && s->written < s->expected) {
                s->last_report = s->written;
                oci_report(s->c, s->layer, s->digest, s->written, s->expected);
        }
        return n;
}

static int on_xferinfo(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct oci_client *c = userdata;
        if (atomic_load(&c->abort))
                return 1;
        if (c->opts->cancel && atomic_load(c->opts->cancel))
                return 1;
        return 0;
}

/* Split url into lowercase scheme, host and port (default by scheme). */
int oci_url_origin(const char *url, char scheme[static 8], char host[static 256], long *port)
{
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                return -EINVAL;
        __attribute__((cleanup(curl_freep))) char *s = NULL;
        __attribute__((cleanup(curl_freep))) char *h = NULL;
        __attribute__((cleanup(curl_freep))) char *p = NULL;
        if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
                return -EINVAL;
        if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK)
                return -EINVAL;
        if (strlen(s) >= 8 || strlen(h) >= 256)
                return -EINVAL;
        for (size_t i = 0; s[i]; i++)
                scheme[i] = (char)tolower((unsigned char)s[i]), scheme[i + 1] = '\0';
        for (size_t i = 0; h[i]; i++)
                host[i] = (char)tolower((unsigned char)h[i]), host[i + 1] = '\0';
        *port = strtol(p, NULL, 10);
        return 0;
}

/* May we speak plain HTTP to host:port? */
static bool http_allowed(const struct oci_client *c, const char *host, long port)
{
        char hp[300];
        snprintf(hp, sizeof(hp), "%s:%ld", host, port);
        if (oci_registry_is_loopback(hp))
                return true;
        const char *const *ins = c->opts->insecure_registries;
        for (; ins && *ins; ins++) {
                char key[256];
                if (!oci_registry_key_normalize(*ins, key, sizeof(key)))
                        continue;
                if (strcmp(key, hp) == 0 || strcmp(key, host) == 0)
                        return true;
                /* "docker.io" listed covers its endpoint host */
                if (strcmp(oci_registry_endpoint(key), host) == 0)
                        return true;
        }
        return false;
}

int oci_check_url(struct oci_client *c, const char *url, char scheme[static 8],
                  char host[static 256], long *port, struct bg_error *err)
{
        if (oci_url_origin(url, scheme, host, port) < 0)
                return bg_error_set(err, EINVAL, "invalid URL '%.120s'", url);
        if (strcmp(scheme, "https") == 0)
                return 0;
        if (strcmp(scheme, "http") == 0) {
                if (http_allowed(c, host, *port))
                        return 0;
                return bg_error_set(err, EPERM,
                                    "refusing plain HTTP to %s (only loopback and registries "
                                    "configured as insecure)",
                                    host);
        }
        return bg_error_set(err, EPERM, "refusing URL scheme '%s' in '%.100s'", scheme, url);
}

CURL *oci_easy_new(struct oci_client *c)
{
        const struct http_opts ho = {
            .protocols = "http,https",
            .user_agent = USER_AGENT,
            .connect_timeout_s = 30,
            .low_speed_time_s = c->opts->low_speed_timeout > 0 ? c->opts->low_speed_timeout : 60,
            .xferinfo = on_xferinfo,
            .xferinfo_ud = c,
        };
        CURL *h = http_easy_new(&ho);
        if (!h)
                return NULL;
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        return h;
}

static bool cancelled(const struct oci_client *c)
{
        return c->opts->cancel && atomic_load(c->opts->cancel);
}

/* One request with manual redirects. The Authorization header (auth, may be
 * NULL) goes only to the registry origin. */
int oci_http_get(struct oci_client *c, CURL *h, const char *url, const char *accept,
                 const char *auth, struct oci_response *resp, struct bg_error *err)
{
        _cleanup_free_ char *cur = strdup(url);
        if (!cur)
                return -ENOMEM;
        for (int hop = 0;; hop++) {
                char scheme[8], host[256];
                long port;
                int r = oci_check_url(c, cur, scheme, host, &port, err);
                if (r < 0)
                        return r;
                bool same =
                    strcmp(scheme, c->scheme) == 0 && strcmp(host, c->host) == 0 && port == c->port;
                _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
                struct curl_slist *t;
                if (accept) {
                        t = curl_slist_append(hdrs, accept);
                        if (!t)
                                return -ENOMEM;
                        hdrs = t;
                }
                if (auth && same) {
                        t = curl_slist_append(hdrs, auth);
                        if (!t)
                                return -ENOMEM;
                        hdrs = t;
                }
                oci_response_reset(resp);
                sink_reset(resp->sink);
                curl_easy_setopt(h, CURLOPT_URL, cur);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
                oci_stats_add(c, 1, 0, 0, 0);
                CURLcode cc = curl_easy_perform(h);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
                if (cc == CURLE_ABORTED_BY_CALLBACK) {
                        if (cancelled(c))
                                return bg_error_set(err, ECANCELED, "cancelled");
                        return bg_error_set(err, ECANCELED, "stopped after another failure");
                }
                if (resp->sink->too_big)
                        return bg_error_set(err, EFBIG, "response from %s is larger than allowed",
                                            host);
                if (resp->sink->io_errno)
                        return bg_error_errno(err, -resp->sink->io_errno, "write download");
                if (cc != CURLE_OK)
                        return bg_error_set(err, EIO, "GET %.120s: %s", cur,
                                            curl_easy_strerror(cc));
                long st = resp->status;
                if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) {
                        char *loc = NULL;
                        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
                        if (!loc)
                                return bg_error_set(err, EIO, "redirect without Location from %s",
                                                    host);
                        if (hop >= MAX_REDIRECTS)
                                return bg_error_set(err, EIO, "too many redirects from %.120s",
                                                    url);
                        char *next = strdup(loc);
                        if (!next)
                                return -ENOMEM;
                        free(cur);
                        cur = next;
                        continue;
                }
                return 0;
        }
}
