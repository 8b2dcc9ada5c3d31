#include "oci_registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci_auth.h"
#include "oci_digest.h"

#define MAX_REDIRECTS 5
#define TOKEN_MAX (1u << 20)
#define ERRBODY_MAX 512
#define PROGRESS_STEP (256u << 10)
#define USER_AGENT "banger-oci/0.1"

static const char *const ACCEPT_MANIFEST =
    "Accept: " OCI_MT_INDEX ", " DOCKER_MT_LIST ", " OCI_MT_MANIFEST ", " DOCKER_MT_MANIFEST;

struct client {
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
struct sink {
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
        struct client *c;
        /* outcome flags */
        bool too_big;
        int io_errno;
};

struct response {
        long status;
        char *www_auth;
        char *content_type;
        char errbody[ERRBODY_MAX];
        size_t errlen;
        struct sink *sink;
        struct client *c;
};

static void response_reset(struct response *r)
{
        free(r->www_auth);
        free(r->content_type);
        r->www_auth = r->content_type = NULL;
        r->status = 0;
        r->errlen = 0;
        r->errbody[0] = '\0';
}

static void sink_reset(struct sink *s)
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

static void stats_add(struct client *c, uint64_t req, uint64_t dl, uint64_t cached, uint64_t bytes)
{
        pthread_mutex_lock(&c->lock);
        c->stats.http_requests += req;
        c->stats.blobs_downloaded += dl;
        c->stats.blobs_cached += cached;
        c->stats.bytes_downloaded += bytes;
        pthread_mutex_unlock(&c->lock);
}

static void report(struct client *c, size_t layer, const char *digest, uint64_t done,
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
        struct response *r = userdata;
        size_t n = size * nmemb;
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                response_reset(r);
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
        struct response *r = userdata;
        size_t n = size * nmemb;
        if (r->status < 200 || r->status >= 300) {
                size_t room = sizeof(r->errbody) - 1 - r->errlen;
                size_t k = n < room ? n : room;
                memcpy(r->errbody + r->errlen, data, k);
                r->errlen += k;
                r->errbody[r->errlen] = '\0';
                return n;
        }
        struct sink *s = r->sink;
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
        stats_add(s->c, 0, 0, 0, n);
        if (s->written - s->last_report >= PROGRESS_STEP && s->written < s->expected) {
                s->last_report = s->written;
                report(s->c, s->layer, s->digest, s->written, s->expected);
        }
        return n;
}

static int on_xferinfo(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct client *c = userdata;
        if (atomic_load(&c->abort))
                return 1;
        if (c->opts->cancel && atomic_load(c->opts->cancel))
                return 1;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

static void curl_freep(char **p)
{
        if (*p)
                curl_free(*p);
}

/* Split url into lowercase scheme, host and port (default by scheme). */
static int url_origin(const char *url, char scheme[static 8], char host[static 256], long *port)
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
static bool http_allowed(const struct client *c, const char *host, long port)
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

static int check_url(struct client *c, const char *url, char scheme[static 8],
                     char host[static 256], long *port, struct bg_error *err)
{
        if (url_origin(url, scheme, host, port) < 0)
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

static CURL *easy_new(struct client *c)
{
        CURL *h = curl_easy_init();
        if (!h)
                return NULL;
        long low = c->opts->low_speed_timeout > 0 ? c->opts->low_speed_timeout : 60;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, low);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        return h;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);

static bool cancelled(const struct client *c)
{
        return c->opts->cancel && atomic_load(c->opts->cancel);
}

/* One request with manual redirects. The Authorization header (auth, may be
 * NULL) goes only to the registry origin. */
static int http_get(struct client *c, CURL *h, const char *url, const char *accept,
                    const char *auth, struct response *resp, struct bg_error *err)
{
        _cleanup_free_ char *cur = strdup(url);
        if (!cur)
                return -ENOMEM;
        for (int hop = 0;; hop++) {
                char scheme[8], host[256];
                long port;
                int r = check_url(c, cur, scheme, host, &port, err);
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
                response_reset(resp);
                sink_reset(resp->sink);
                curl_easy_setopt(h, CURLOPT_URL, cur);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
                stats_add(c, 1, 0, 0, 0);
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

static int base64_encode(const char *in, char **ret)
{
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(in);
        char *out = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)(unsigned char)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= (unsigned char)in[i + 2];
                out[o++] = tbl[(v >> 18) & 63];
                out[o++] = tbl[(v >> 12) & 63];
                out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? tbl[v & 63] : '=';
        }
        out[o] = '\0';
        *ret = out;
        return 0;
}

static int basic_header(const struct oci_credentials *cr, char **ret)
{
        _cleanup_free_ char *up = NULL;
        _cleanup_free_ char *b64 = NULL;
        if (asprintf(&up, "%s:%s", cr->username, cr->password) < 0)
                return -ENOMEM;
        int r = base64_encode(up, &b64);
        explicit_bzero(up, strlen(up));
        if (r < 0)
                return r;
        if (asprintf(ret, "Authorization: Basic %s", b64) < 0)
                return -ENOMEM;
        return 0;
}

static bool token_safe(const char *t)
{
        if (!*t || strlen(t) > 64 * 1024)
                return false;
        for (; *t; t++)
                if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f)
                        return false;
        return true;
}

/* Fetch a Bearer token for challenge ch. Credentials, when we have them for
 * this registry, go to the realm (the registry names its own token service). */
static int fetch_token(struct client *c, CURL *h, const struct oci_challenge *ch, char **ret,
                       struct bg_error *err)
{
        _cleanup_free_ char *scope_default = NULL;
        const char *scope = ch->scope;
        if (!scope) {
                if (asprintf(&scope_default, "repository:%s:pull", c->ref->repository) < 0)
                        return -ENOMEM;
                scope = scope_default;
        }
        __attribute__((cleanup(curl_freep))) char *esc_scope = curl_easy_escape(h, scope, 0);
        __attribute__((cleanup(curl_freep))) char *esc_service =
            ch->service ? curl_easy_escape(h, ch->service, 0) : NULL;
        if (!esc_scope || (ch->service && !esc_service))
                return -ENOMEM;
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%sscope=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                     esc_scope, esc_service ? "&service=" : "", esc_service ? esc_service : "") < 0)
                return -ENOMEM;
        char scheme[8], host[256];
        long port;
        int r = check_url(c, url, scheme, host, &port, err);
        if (r < 0)
                return bg_error_prefix(err, "token realm");

        _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
        _cleanup_free_ char *basic = NULL;
        if (c->have_creds) {
                r = basic_header(&c->creds, &basic);
                if (r < 0)
                        return r;
                hdrs = curl_slist_append(NULL, basic);
                if (!hdrs)
                        return -ENOMEM;
        }
        struct sink s = {.fd = -1, .cap = TOKEN_MAX, .c = c};
        struct response resp = {.sink = &s, .c = c};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        stats_add(c, 1, 0, 0, 0);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        if (basic)
                explicit_bzero(basic, strlen(basic));
        r = 0;
        if (cc == CURLE_ABORTED_BY_CALLBACK)
                r = bg_error_set(err, ECANCELED, "cancelled");
        else if (s.too_big)
                r = bg_error_set(err, EFBIG, "token response from %s is too large", host);
        else if (cc != CURLE_OK)
                r = bg_error_set(err, EIO, "token request to %s: %s", host, curl_easy_strerror(cc));
        else if (resp.status == 401 || resp.status == 403)
                r = bg_error_set(err, EACCES, "token service %s refused %s (HTTP %ld)", host,
                                 c->have_creds ? "the credentials" : "anonymous access",
                                 resp.status);
        else if (resp.status != 200)
                r = bg_error_set(err, EIO, "token service %s answered HTTP %ld", host, resp.status);
        if (r == 0) {
                json_error_t jerr;
                json_t *j = json_loadb(s.buf ? s.buf : "", s.len, 0, &jerr);
                const char *tok = json_string_value(json_object_get(j, "token"));
                if (!tok || !*tok)
                        tok = json_string_value(json_object_get(j, "access_token"));
                if (!tok || !token_safe(tok))
                        r = bg_error_set(err, EIO, "token service %s returned no usable token",
                                         host);
                else if (asprintf(ret, "Authorization: Bearer %s", tok) < 0)
                        r = -ENOMEM;
                json_decref(j);
        }
        response_reset(&resp);
        free(s.buf);
        return r;
}

/* React to a 401: compute a new Authorization header from the challenge.
 * `used` is the header the refused request carried. */
static int authenticate(struct client *c, CURL *h, const char *www_auth, const char *used,
                        struct bg_error *err)
{
        pthread_mutex_lock(&c->lock);
        bool changed = !((used == NULL && c->auth_header == NULL) ||
                         (used && c->auth_header && strcmp(used, c->auth_header) == 0));
        pthread_mutex_unlock(&c->lock);
        if (changed) /* another thread already refreshed it */
                return 0;

        struct oci_challenge ch = {0};
        int r = oci_challenge_parse(www_auth, &ch, err);
        if (r < 0)
                return bg_error_prefix(err, "registry %s requires authentication", c->host);
        char *hdr = NULL;
        if (ch.scheme == OCI_AUTH_BASIC) {
                if (!c->have_creds)
                        r = bg_error_set(err, EACCES,
                                         "registry %s requires a login and there are no "
                                         "credentials for it%s%s",
                                         c->ref->registry, c->config_path ? " in " : "",
                                         c->config_path ? c->config_path : "");
                else if (used && strncmp(used, "Authorization: Basic ", 21) == 0)
                        r = bg_error_set(err, EACCES,
                                         "registry %s refused the credentials for "
                                         "user '%s'",
                                         c->ref->registry, c->creds.username);
                else
                        r = basic_header(&c->creds, &hdr);
        } else {
                if (used && strncmp(used, "Authorization: Bearer ", 22) == 0 && !ch.scope)
                        r = bg_error_set(err, EACCES, "registry %s refused the token",
                                         c->ref->registry);
                else
                        r = fetch_token(c, h, &ch, &hdr, err);
        }
        oci_challenge_done(&ch);
        if (r < 0)
                return r;
        pthread_mutex_lock(&c->lock);
        free(c->auth_header);
        c->auth_header = hdr;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

static char *auth_copy(struct client *c, int *r)
{
        pthread_mutex_lock(&c->lock);
        char *a = c->auth_header ? strdup(c->auth_header) : NULL;
        *r = (c->auth_header && !a) ? -ENOMEM : 0;
        pthread_mutex_unlock(&c->lock);
        return a;
}

/* GET origin/v2/<repo>/<kind>/<ref> with authentication. */
static int registry_get(struct client *c, CURL *h, const char *kind, const char *what,
                        const char *accept, struct response *resp, struct bg_error *err)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/v2/%s/%s/%s", c->origin, c->ref->repository, kind, what) < 0)
                return -ENOMEM;
        for (int attempt = 0;; attempt++) {
                int r;
                _cleanup_free_ char *auth = auth_copy(c, &r);
                if (r < 0)
                        return r;
                r = http_get(c, h, url, accept, auth, resp, err);
                if (r < 0)
                        return r;
                if (resp->status == 401 && attempt < 2) {
                        r = authenticate(c, h, resp->www_auth, auth, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (resp->status == 401 || resp->status == 403)
                        return bg_error_set(err, EACCES,
                                            "registry %s denied access to %s (HTTP "
                                            "%ld)",
                                            c->ref->registry, c->ref->repository, resp->status);
                if (resp->status == 404)
                        return bg_error_set(err, ENOENT, "%s %s not found in %s/%s",
                                            strcmp(kind, "blobs") == 0 ? "blob" : "manifest", what,
                                            c->ref->registry, c->ref->repository);
                if (resp->status != 200) {
                        for (size_t i = 0; i < resp->errlen; i++)
                                if (!isprint((unsigned char)resp->errbody[i]))
                                        resp->errbody[i] = ' ';
                        return bg_error_set(err, EIO, "GET %s %s from %s: HTTP %ld %.120s", kind,
                                            what, c->ref->registry, resp->status, resp->errbody);
                }
                return 0;
        }
}

static int fetch_manifest(struct client *c, CURL *h, const char *what, const char *want_digest,
                          struct oci_manifest *ret, char digest[static OCI_DIGEST_LEN + 1],
                          struct bg_error *err)
{
        struct sink s = {.fd = -1, .cap = OCI_MANIFEST_MAX, .c = c};
        struct response resp = {.sink = &s, .c = c};
        int r = registry_get(c, h, "manifests", what, ACCEPT_MANIFEST, &resp, err);
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
        response_reset(&resp);
        free(s.buf);
        return r;
}

int oci_blob_path(const char *cache_dir, const char *digest, char **ret, struct bg_error *err)
{
        int r = oci_digest_check(digest, "blob digest", err);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s/blobs/sha256/%s", cache_dir, digest + 7) < 0)
                return -ENOMEM;
        return 0;
}

static int mkdir_p(const char *path, struct bg_error *err)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return bg_error_errno(err, -errno, "create directory '%s'", p);
                *s = '/';
        }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return bg_error_errno(err, -errno, "create directory '%s'", p);
        return 0;
}

/* Make sure blob `d` is in the cache; *ret_path is malloc'ed. */
static int blob_fetch(struct client *c, CURL *h, const struct oci_descriptor *d, size_t layer,
                      char **ret_path, struct bg_error *err)
{
        _cleanup_free_ char *path = NULL;
        int r = oci_blob_path(c->opts->cache_dir, d->digest, &path, err);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == d->size) {
                stats_add(c, 0, 0, 1, 0);
                report(c, layer, d->digest, d->size, d->size);
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s/blobs/sha256/.tmp-%s.%d.%lx", c->opts->cache_dir, d->digest + 7,
                     (int)getpid(), (unsigned long)pthread_self()) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd =
            open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create '%s'", tmp);
        _cleanup_(oci_hasher_freep) struct oci_hasher *hs = oci_hasher_new();
        if (!hs) {
                unlink(tmp);
                return -ENOMEM;
        }
        struct sink s = {.fd = fd,
                         .hasher = hs,
                         .expected = d->size,
                         .layer = layer,
                         .digest = d->digest,
                         .c = c};
        struct response resp = {.sink = &s, .c = c};
        r = registry_get(c, h, "blobs", d->digest, NULL, &resp, err);
        response_reset(&resp);
        if (r == -EFBIG)
                r = bg_error_set(err, EBADMSG, "blob %s is larger than its %llu bytes", d->digest,
                                 (unsigned long long)d->size);
        if (r >= 0 && s.written != d->size)
                r = bg_error_set(err, EBADMSG, "blob %s: got %llu bytes, expected %llu", d->digest,
                                 (unsigned long long)s.written, (unsigned long long)d->size);
        if (r >= 0) {
                char got[OCI_DIGEST_LEN + 1];
                oci_hasher_final(hs, got);
                if (strcmp(got, d->digest) != 0)
                        r = bg_error_set(err, EBADMSG, "blob %s does not match its digest (got %s)",
                                         d->digest, got);
        }
        if (r >= 0 && fdatasync(fd) < 0)
                r = bg_error_errno(err, -errno, "sync '%s'", tmp);
        if (r >= 0 && rename(tmp, path) < 0)
                r = bg_error_errno(err, -errno, "rename '%s'", tmp);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        stats_add(c, 0, 1, 0, 0);
        report(c, layer, d->digest, d->size, d->size);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int read_small_file(const char *path, size_t max, char **ret, size_t *ret_len,
                           struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open '%s'", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat '%s'", path);
        if ((uint64_t)st.st_size > max)
                return bg_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        while (n < (size_t)st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return bg_error_errno(err, -errno, "read '%s'", path);
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

struct workers {
        struct client *c;
        const struct oci_manifest *m;
        struct oci_image *img;
        pthread_mutex_t lock;
        size_t next;
        int rc;
        struct bg_error err;
};

static void *worker_main(void *arg)
{
        struct workers *w = arg;
        _cleanup_(curl_easy_cleanupp) CURL *h = easy_new(w->c);
        for (;;) {
                pthread_mutex_lock(&w->lock);
                size_t i = w->next++;
                bool stop = w->rc < 0;
                pthread_mutex_unlock(&w->lock);
                if (stop || i >= w->m->n_layers)
                        break;
                struct bg_error e = {0};
                int r = h ? blob_fetch(w->c, h, &w->m->layers[i], i, &w->img->layers[i].path, &e)
                          : bg_error_set(&e, ENOMEM, "out of memory");
                if (r < 0) {
                        pthread_mutex_lock(&w->lock);
                        /* the first real failure wins over "stopped after another failure" */
                        if (w->rc >= 0) {
                                w->rc = r;
                                w->err = e;
                        }
                        pthread_mutex_unlock(&w->lock);
                        atomic_store(&w->c->abort, true);
                        break;
                }
        }
        return NULL;
}

static int download_layers(struct client *c, const struct oci_manifest *m, struct oci_image *img,
                           struct bg_error *err)
{
        unsigned n = c->opts->parallel ? c->opts->parallel : OCI_DEFAULT_PARALLEL;
        if (n > 32)
                n = 32;
        if (n > m->n_layers)
                n = (unsigned)m->n_layers;
        struct workers w = {.c = c, .m = m, .img = img};
        pthread_mutex_init(&w.lock, NULL);
        pthread_t tids[32];
        unsigned started = 0;
        for (; started < n; started++)
                if (pthread_create(&tids[started], NULL, worker_main, &w) != 0)
                        break;
        if (started == 0 && n > 0)
                worker_main(&w);
        for (unsigned i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        pthread_mutex_destroy(&w.lock);
        if (w.rc < 0) {
                if (err)
                        *err = w.err;
                return w.rc;
        }
        return 0;
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

static int client_init(struct client *c, const struct oci_ref *ref,
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
        if (url_origin(c->origin, c->scheme, c->host, &c->port) < 0)
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

static void client_done(struct client *c)
{
        oci_credentials_done(&c->creds);
        free(c->config_path);
        if (c->auth_header)
                explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
        pthread_mutex_destroy(&c->lock);
}

static int pull(struct client *c, CURL *h, struct oci_image *img, struct bg_error *err)
{
        const struct oci_ref *ref = c->ref;
        const struct oci_pull_opts *opts = c->opts;
        int r = oci_platform_parse(opts->platform, &img->platform, err);
        if (r < 0)
                return r;
        r = mkdir_p(opts->cache_dir, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *blobdir = NULL;
        if (asprintf(&blobdir, "%s/blobs/sha256", opts->cache_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(blobdir, err);
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
        }

        /* The config: small, cached like any blob, parsed as data. */
        _cleanup_free_ char *cfg_path = NULL;
        r = blob_fetch(c, h, &m.config, SIZE_MAX, &cfg_path, err);
        if (r >= 0) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                r = read_small_file(cfg_path, OCI_CONFIG_MAX, &body, &len, err);
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
                r = download_layers(c, &m, img, err);
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

        struct client c = {0};
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
                _cleanup_(curl_easy_cleanupp) CURL *h = easy_new(&c);
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
