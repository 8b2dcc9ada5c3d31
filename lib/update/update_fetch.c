#include "update_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static int fetch(const char *url, const struct update_fetch_opts *o, int fd, char **ret_buf,
                 size_t *ret_len, struct bg_error *err)
{
        const char *what = o->what ? o->what : "download";
        if (strncmp(url, "https://", 8) != 0)
                return bg_error_set(err, EINVAL, "%s: %.200s is not an https:// URL", what, url);
        const struct http_opts ho = {
            .protocols = "https",
            .redir_protocols = "https",
            .max_redirs = 5,
            .user_agent = "banger-update",
            .connect_timeout_s = 30,
            .low_speed_time_s = 60,
            .ca_file = o->ca_file,
        };
        _cleanup_(curl_easy_cleanupp) CURL *c = http_easy_new(&ho);
        if (!c)
                return bg_error_set(err, ENOMEM, "out of memory (curl)");
        struct http_result res;
        if (http_get(c, url, o->max_bytes, fd, ret_buf, &res) == 0) {
                if (ret_len)
                        *ret_len = res.got;
                return 0;
        }
        switch (res.outcome) {
        case HTTP_TOO_BIG:
                return bg_error_set(err, EFBIG, "%s (%.200s) is larger than %llu bytes%s%s", what,
                                    url, (unsigned long long)o->max_bytes,
                                    o->cap_key ? "; config " : "", o->cap_key ? o->cap_key : "");
        case HTTP_WRITE:
                return bg_error_set(err, res.write_errno, "%s: write: %s", what,
                                    strerror(res.write_errno));
        case HTTP_STATUS:
                return bg_error_set(err, res.status == 404 ? ENOENT : EIO, "%s: %.200s: HTTP %ld",
                                    what, url, res.status);
        case HTTP_TLS:
                return bg_error_set(err, EPERM,
                                    "%s: %.200s: TLS: %s (config update.ca_file sets "
                                    "the CAs)",
                                    what, url, res.msg);
        default:
                return bg_error_set(err, EHOSTUNREACH, "%s: %.200s: %s", what, url, res.msg);
        }
}

int update_fetch_mem(const char *url, const struct update_fetch_opts *o, char **ret,
                     size_t *ret_len, struct bg_error *err)
{
        return fetch(url, o, -1, ret, ret_len, err);
}

int update_fetch_fd(const char *url, const struct update_fetch_opts *o, int fd,
                    struct bg_error *err)
{
        return fetch(url, o, fd, NULL, NULL, err);
}
