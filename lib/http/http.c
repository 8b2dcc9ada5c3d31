#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

CURL *http_easy_new(const struct http_opts *o)
{
        CURL *h = curl_easy_init();
        if (!h)
                return NULL;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o->protocols);
        if (o->redir_protocols) {
                curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, o->redir_protocols);
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirs);
        } else {
                curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        }
        curl_easy_setopt(h, CURLOPT_USERAGENT, o->user_agent);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
        if (o->ca_file && o->ca_file[0])
                curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
        if (o->xferinfo) {
                curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
                curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, o->xferinfo);
                curl_easy_setopt(h, CURLOPT_XFERINFODATA, o->xferinfo_ud);
        }
        return h;
}

struct sink {
        uint64_t max;
        uint64_t got;
        bool too_big;
        int werr;
        int fd;    /* >= 0: write here */
        char *buf; /* else: grow this */
        size_t cap;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
        struct sink *s = ud;
        size_t n = sz * nm;
        if (s->got + n > s->max) {
                s->too_big = true;
                return 0;
        }
        if (s->fd >= 0) {
                int r = loop_write(s->fd, p, n);
                if (r < 0) {
                        s->werr = -r;
                        return 0;
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

static enum http_outcome outcome_of(CURLcode rc, const struct sink *s)
{
        if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED)
                return HTTP_TOO_BIG;
        if (s->werr)
                return HTTP_WRITE;
        switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
                return HTTP_CANCELLED;
        case CURLE_WRITE_ERROR:
                return HTTP_WRITE;
        case CURLE_HTTP_RETURNED_ERROR:
                return HTTP_STATUS;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CONNECT_ERROR:
                return HTTP_TLS;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
                return HTTP_UNREACHABLE;
        case CURLE_OPERATION_TIMEDOUT:
                return HTTP_TIMEOUT;
        case CURLE_FILE_COULDNT_READ_FILE:
                return HTTP_NO_FILE;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return HTTP_BAD_PROTOCOL;
        default:
                return HTTP_OTHER;
        }
}

int http_get(CURL *h, const char *url, uint64_t max_bytes, int fd, char **ret_buf,
             struct http_result *res)
{
        struct sink s = {.max = max_bytes, .fd = fd};
        *res = (struct http_result){0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, res->msg);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        if (max_bytes < INT64_MAX)
                curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
        CURLcode rc = curl_easy_perform(h);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        res->got = s.got;
        if (rc == CURLE_OK && fd < 0 && !s.buf && !(s.buf = calloc(1, 1))) {
                s.werr = ENOMEM;
                rc = CURLE_WRITE_ERROR;
        }
        if (rc != CURLE_OK) {
                free(s.buf);
                res->outcome = outcome_of(rc, &s);
                res->write_errno = s.werr ? s.werr : (res->outcome == HTTP_WRITE ? EIO : 0);
                if (!res->msg[0])
                        snprintf(res->msg, sizeof(res->msg), "%s", curl_easy_strerror(rc));
                return -EIO;
        }
        if (fd < 0)
                *ret_buf = s.buf;
        return 0;
}
