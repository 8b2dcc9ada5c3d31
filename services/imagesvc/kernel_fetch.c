#include "kernel_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"
#include "sha256.h"
#include "util/fileio.h"
#include "util/macro.h"
#include "util/version.h"

bool kernel_url_allowed(const char *url, bool allow_file)
{
        if (!url || strlen(url) > 2048)
                return false;
        for (const char *p = url; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f)
                        return false;
        if (strncmp(url, "https://", 8) == 0)
                return url[8] != '\0';
        if (strncmp(url, "http://", 7) == 0)
                return url[7] != '\0';
        return allow_file && strncmp(url, "file:///", 8) == 0;
}

struct xfer {
        int fd;
        uint64_t written;
        uint64_t max;
        bool too_big;
        int write_errno;
        struct ops_ctx *ctx;
};

static size_t on_data(char *buf, size_t size, size_t n, void *ud)
{
        struct xfer *x = ud;
        size_t len = size * n;
        if (x->written + len > x->max) {
                x->too_big = true;
                return 0;
        }
        int r = loop_write(x->fd, buf, len);
        if (r < 0) {
                x->write_errno = -r;
                return 0;
        }
        x->written += len;
        return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct xfer *x = ud;
        if (!x->ctx)
                return 0;
        if (ops_ctx_cancelled(x->ctx))
                return 1; /* CURLE_ABORTED_BY_CALLBACK */
        ops_ctx_progress(x->ctx, (uint64_t)dlnow, dltotal > 0 ? (uint64_t)dltotal : 0);
        return 0;
}

static void curl_cleanupp(CURL **c)
{
        if (*c)
                curl_easy_cleanup(*c);
}

static int map_curl(CURLcode rc, long http, const struct xfer *x, const char *url,
                    const char *curl_msg, struct bg_error *err)
{
        switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
                return bg_error_set(err, ECANCELED, "download of %s cancelled", url);
        case CURLE_WRITE_ERROR:
                if (x->too_big)
                        return bg_error_set(err, EFBIG, "%s is larger than %llu bytes; refused",
                                            url, (unsigned long long)x->max);
                return bg_error_set(err, x->write_errno ? x->write_errno : EIO,
                                    "download %s: write failed: %s", url,
                                    strerror(x->write_errno ? x->write_errno : EIO));
        case CURLE_HTTP_RETURNED_ERROR:
                return bg_error_set(err, http == 404 || http == 410 ? ENOENT : EIO,
                                    "download %s: HTTP %ld", url, http);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
                return bg_error_set(err, EHOSTUNREACH, "download %s: %s", url, curl_msg);
        case CURLE_OPERATION_TIMEDOUT:
                return bg_error_set(err, ETIMEDOUT, "download %s: %s", url, curl_msg);
        case CURLE_FILE_COULDNT_READ_FILE:
                return bg_error_set(err, ENOENT, "download %s: %s", url, curl_msg);
        case CURLE_UNSUPPORTED_PROTOCOL:
                return bg_error_set(err, EINVAL, "download %s: %s", url, curl_msg);
        default:
                return bg_error_set(err, EIO, "download %s: %s", url, curl_msg);
        }
}

/* Downloads url into fd (at most max_bytes; 0: KERNEL_FETCH_MAX). */
static int fetch_to_fd(const char *url, int fd, uint64_t max_bytes, struct ops_ctx *ctx,
                       struct bg_error *err)
{
        if (!kernel_url_allowed(url, true))
                return bg_error_set(err, EINVAL, "URL '%.200s' is not http(s):// or file:///", url);
        struct xfer x = {.fd = fd, .max = max_bytes ? max_bytes : KERNEL_FETCH_MAX, .ctx = ctx};
        char errbuf[CURL_ERROR_SIZE] = "";
        _cleanup_(curl_cleanupp) CURL *c = curl_easy_init();
        if (!c)
                return bg_error_set(err, ENOMEM, "cannot initialise libcurl");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "banger/" BANGER_VERSION);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
        if (x.max < INT64_MAX)
                curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max);

        CURLcode rc = curl_easy_perform(c);
        long http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        if (rc == CURLE_FILESIZE_EXCEEDED) {
                x.too_big = true;
                rc = CURLE_WRITE_ERROR;
        }
        if (rc != CURLE_OK)
                return map_curl(rc, http, &x, url, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                                err);
        return 0;
}

int kernel_fetch(const char *url, const char *dest, uint64_t max_bytes, struct ops_ctx *ctx,
                 struct bg_error *err)
{
        _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
        int r = atomic_file_open(dest, &f, err);
        if (r >= 0)
                r = fetch_to_fd(url, f.fd, max_bytes, ctx, err);
        if (r >= 0)
                r = atomic_file_commit(&f, 0644, err);
        return r;
}

int kernel_fetch_cached(const char *cache_dir, const char *url, const char *sha256, uint64_t size,
                        const char *what, const char *authority, struct ops_ctx *ctx,
                        char **ret_path, bool *ret_cached, struct bg_error *err)
{
        if (!sha256_hex_valid(sha256))
                return bg_error_set(err, EINVAL, "%s: '%.80s' is not a sha256", what, sha256);
        char lower[SHA256_HEX_LEN + 1];
        for (size_t i = 0; i <= SHA256_HEX_LEN; i++)
                lower[i] =
                    (char)(sha256[i] >= 'A' && sha256[i] <= 'F' ? sha256[i] + 32 : sha256[i]);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", cache_dir, lower) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");

        char got[SHA256_HEX_LEN + 1];
        uint64_t got_size = 0;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                /* Re-check: the cache is a convenience, never trusted blindly. */
                if (sha256_file_hex(path, got, &got_size, NULL) == 0 && streq(got, lower)) {
                        if (ret_cached)
                                *ret_cached = true;
                        *ret_path = TAKE_PTR(path);
                        return 0;
                }
                unlink(path);
        }

        /* Published under its digest only once it has been checked. */
        _cleanup_(atomic_file_abort) struct atomic_file dl = ATOMIC_FILE_INIT;
        int r = atomic_file_open(path, &dl, err);
        if (r < 0)
                return r;
        r = fetch_to_fd(url, dl.fd, size ? size : KERNEL_FETCH_MAX, ctx, err);
        if (r < 0)
                return r;
        r = sha256_fd_hex(dl.fd, got, &got_size, err);
        if (r < 0)
                return r;
        if (size && got_size != size)
                return bg_error_set(err, EBADMSG, "%s size mismatch: %s says %llu bytes, got %llu",
                                    what, authority, (unsigned long long)size,
                                    (unsigned long long)got_size);
        if (!streq(got, lower))
                return bg_error_set(err, EBADMSG, "%s sha256 mismatch: %s says %s, got %s", what,
                                    authority, lower, got);
        r = atomic_file_commit(&dl, 0644, err);
        if (r < 0)
                return r;
        if (ret_cached)
                *ret_cached = false;
        *ret_path = TAKE_PTR(path);
        return 0;
}
