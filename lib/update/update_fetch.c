#include "update_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sink {
        const struct update_fetch_opts *o;
        uint64_t got;
        bool over;
        int fd;    /* >= 0: write here */
        char *buf; /* else: grow this */
        size_t cap;
        int werr;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
        struct sink *s = ud;
        size_t n = sz * nm;
        if (s->got + n > s->o->max_bytes) {
                s->over = true;
                return 0;
        }
        if (s->fd >= 0) {
                for (size_t done = 0; done < n;) {
                        ssize_t w = write(s->fd, p + done, n - done);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                s->werr = errno;
                                return 0;
                        }
                        done += (size_t)w;
                }
        } else {
                if (s->got + n + 1 > s->cap) {
                        size_t cap = s->cap ? s->cap : 16384;
                        while (cap < s->got + n + 1)
                                cap *= 2;
                        char *b = realloc(s->buf, cap);
                        if (!b) {
                                s->werr = ENOMEM;
                                return 0;
                        }
                        s->buf = b;
                        s->cap = cap;
                }
                memcpy(s->buf + s->got, p, n);
                s->buf[s->got + n] = '\0';
        }
        s->got += n;
        return n;
}

static int fetch(const char *url, const struct update_fetch_opts *o, struct sink *s,
                 struct bg_error *err)
{
        const char *what = o->what ? o->what : "download";
        if (strncmp(url, "https://", 8) != 0)
                return bg_error_set(err, EINVAL, "%s: %.200s is not an https:// URL", what, url);
        CURL *c = curl_easy_init();
        if (!c)
                return bg_error_set(err, ENOMEM, "out of memory (curl)");
        char cerr[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        /* Under 1 KiB/s for a minute: give up. */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "banger-update");
        if (o->ca_file && o->ca_file[0])
                curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        if (cc == CURLE_OK)
                return 0;
        if (s->over || cc == CURLE_FILESIZE_EXCEEDED)
                return bg_error_set(err, EFBIG, "%s (%.200s) is larger than %llu bytes%s%s", what,
                                    url, (unsigned long long)o->max_bytes,
                                    o->cap_key ? "; config " : "", o->cap_key ? o->cap_key : "");
        if (s->werr)
                return bg_error_set(err, s->werr, "%s: write: %s", what, strerror(s->werr));
        if (cc == CURLE_HTTP_RETURNED_ERROR)
                return bg_error_set(err, status == 404 ? ENOENT : EIO, "%s: %.200s: HTTP %ld", what,
                                    url, status);
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
            cc == CURLE_SSL_CONNECT_ERROR)
                return bg_error_set(err, EPERM,
                                    "%s: %.200s: TLS: %s (config update.ca_file sets "
                                    "the CAs)",
                                    what, url, cerr[0] ? cerr : curl_easy_strerror(cc));
        return bg_error_set(err, EHOSTUNREACH, "%s: %.200s: %s", what, url,
                            cerr[0] ? cerr : curl_easy_strerror(cc));
}

int update_fetch_mem(const char *url, const struct update_fetch_opts *o, char **ret,
                     size_t *ret_len, struct bg_error *err)
{
        struct sink s = {.o = o, .fd = -1};
        int r = fetch(url, o, &s, err);
        if (r >= 0 && !s.buf && !(s.buf = calloc(1, 1)))
                r = bg_error_set(err, ENOMEM, "out of memory");
        if (r < 0) {
                free(s.buf);
                return r;
        }
        *ret = s.buf;
        *ret_len = s.got;
        return 0;
}

int update_fetch_fd(const char *url, const struct update_fetch_opts *o, int fd,
                    struct bg_error *err)
{
        struct sink s = {.o = o, .fd = fd};
        return fetch(url, o, &s, err);
}
