#include "kernel_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
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

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct ops_ctx *ctx = ud;
        if (ops_ctx_cancelled(ctx))
                return 1; /* CURLE_ABORTED_BY_CALLBACK */
        ops_ctx_progress(ctx, (uint64_t)dlnow, dltotal > 0 ? (uint64_t)dltotal : 0);
        return 0;
}

static int map_failure(const struct http_result *res, const char *url, uint64_t max,
                       struct bg_error *err)
{
        switch (res->outcome) {
        case HTTP_CANCELLED:
                return bg_error_set(err, ECANCELED, "download of %s cancelled", url);
        case HTTP_TOO_BIG:
                return bg_error_set(err, EFBIG, "%s is larger than %llu bytes; refused", url,
                                    (unsigned long long)max);
        case HTTP_WRITE:
                return bg_error_set(err, res->write_errno, "download %s: write failed: %s", url,
                                    strerror(res->write_errno));
        case HTTP_STATUS:
                return bg_error_set(err, res->status == 404 || res->status == 410 ? ENOENT : EIO,
                                    "download %s: HTTP %ld", url, res->status);
        case HTTP_UNREACHABLE:
                return bg_error_set(err, EHOSTUNREACH, "download %s: %s", url, res->msg);
        case HTTP_TIMEOUT:
                return bg_error_set(err, ETIMEDOUT, "download %s: %s", url, res->msg);
        case HTTP_NO_FILE:
                return bg_error_set(err, ENOENT, "download %s: %s", url, res->msg);
        case HTTP_BAD_PROTOCOL:
                return bg_error_set(err, EINVAL, "download %s: %s", url, res->msg);
        default:
                return bg_error_set(err, EIO, "download %s: %s", url, res->msg);
        }
}

/* Downloads url into fd (at most max_bytes; 0: KERNEL_FETCH_MAX). */
static int fetch_to_fd(const char *url, int fd, uint64_t max_bytes, struct ops_ctx *ctx,
                       struct bg_error *err)
{
        if (!kernel_url_allowed(url, true))
                return bg_error_set(err, EINVAL, "URL '%.200s' is not http(s):// or file:///", url);
        uint64_t max = max_bytes ? max_bytes : KERNEL_FETCH_MAX;
        const struct http_opts ho = {
            .protocols = "http,https,file",
            .redir_protocols = "http,https",
            .max_redirs = 10,
            .user_agent = "banger/" BANGER_VERSION,
            .connect_timeout_s = 20,
            .low_speed_time_s = 60,
            .xferinfo = ctx ? on_progress : NULL,
            .xferinfo_ud = ctx,
        };
        _cleanup_(curl_easy_cleanupp) CURL *c = http_easy_new(&ho);
        if (!c)
                return bg_error_set(err, ENOMEM, "cannot initialise libcurl");
        struct http_result res;
        if (http_get(c, url, max, fd, NULL, &res) < 0)
                return map_failure(&res, url, max, err);
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
