/* Requests to the registry with authentication. A 401 names a scheme:
 * Basic gets the Docker config's credentials for this registry, Bearer a
 * token from the realm the challenge names (credentials go there too, as
 * Docker does). The resulting Authorization header is shared by the
 * download threads and refreshed once when a request is refused. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_internal.h"

#define TOKEN_MAX (1u << 20)

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
static int fetch_token(struct oci_client *c, CURL *h, const struct oci_challenge *ch, char **ret,
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
        int r = oci_check_url(c, url, scheme, host, &port, err);
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
        struct oci_sink s = {.fd = -1, .cap = TOKEN_MAX, .c = c};
        struct oci_response resp = {.sink = &s, .c = c};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        oci_stats_add(c, 1, 0, 0, 0);
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
        oci_response_reset(&resp);
        free(s.buf);
        return r;
}

/* React to a 401: compute a new Authorization header from the challenge.
 * `used` is the header the refused request carried. */
static int authenticate(struct oci_client *c, CURL *h, const char *www_auth, const char *used,
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

static char *auth_copy(struct oci_client *c, int *r)
{
        pthread_mutex_lock(&c->lock);
        char *a = c->auth_header ? strdup(c->auth_header) : NULL;
        *r = (c->auth_header && !a) ? -ENOMEM : 0;
        pthread_mutex_unlock(&c->lock);
        return a;
}

/* GET origin/v2/<repo>/<kind>/<ref> with authentication. */
int oci_registry_get(struct oci_client *c, CURL *h, const char *kind, const char *what,
                     const char *accept, struct oci_response *resp, struct bg_error *err)
{
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/v2/%s/%s/%s", c->origin, c->ref->repository, kind, what) < 0)
                return -ENOMEM;
        for (int attempt = 0;; attempt++) {
                int r;
                _cleanup_free_ char *auth = auth_copy(c, &r);
                if (r < 0)
                        return r;
                r = oci_http_get(c, h, url, accept, auth, resp, err);
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
