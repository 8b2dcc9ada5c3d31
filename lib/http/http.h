/* The one place banger sets up a libcurl handle for a download: the
 * protocols it may speak, redirects, timeouts, the slow-transfer cut-off,
 * the user agent, CAs and a progress/cancel callback (http_easy_new), and
 * a capped GET into a file descriptor or a buffer whose outcome is said
 * without libcurl's codes (http_get). Used by lib/oci (registries), lib/update
 * (`banger update`) and imagesvc's kernel downloads; each maps a failure to
 * its own -errno and message. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);

struct http_opts {
        const char *protocols;       /* CURLOPT_PROTOCOLS_STR: "https", "http,https,file" */
        const char *redir_protocols; /* NULL: redirects are not followed */
        long max_redirs;             /* with redir_protocols */
        const char *user_agent;
        long connect_timeout_s;
        long low_speed_time_s; /* under 1 KiB/s this many seconds: give up */
        const char *ca_file;   /* NULL or "": the system's CA store */
        /* Called as bytes move; nonzero aborts the transfer (HTTP_CANCELLED).
         * NULL: no callback. */
        curl_xferinfo_callback xferinfo;
        void *xferinfo_ud;
};

/* A new easy handle with o's options (NOSIGNAL always), or NULL (out of
 * memory). The caller owns it (curl_easy_cleanup). */
CURL *http_easy_new(const struct http_opts *o);

enum http_outcome {
        HTTP_OK,
        HTTP_CANCELLED,    /* the xferinfo callback aborted */
        HTTP_TOO_BIG,      /* more than max_bytes (announced or received) */
        HTTP_WRITE,        /* writing what came failed: write_errno */
        HTTP_STATUS,       /* the server answered >= 400: status */
        HTTP_TLS,          /* certificate or TLS handshake refused */
        HTTP_UNREACHABLE,  /* name not resolved, or no connection */
        HTTP_TIMEOUT,      /* connect or transfer timed out */
        HTTP_NO_FILE,      /* file:// that cannot be read */
        HTTP_BAD_PROTOCOL, /* a protocol the handle may not use */
        HTTP_OTHER,        /* anything else: see msg */
};

struct http_result {
        enum http_outcome outcome;
        long status;               /* the HTTP status, when there was one */
        int write_errno;           /* HTTP_WRITE */
        uint64_t got;              /* bytes received */
        char msg[CURL_ERROR_SIZE]; /* libcurl's words for a failure */
};

/* GETs url with h into fd (>= 0, from its offset) or, with fd < 0, into a
 * malloc'ed buffer NUL-terminated beyond res->got (*ret_buf, the caller's;
 * written only on success); more than max_bytes is refused. Returns 0, or
 * -EIO with res->outcome saying why (each caller maps it to its own -errno
 * and message). */
int http_get(CURL *h, const char *url, uint64_t max_bytes, int fd, char **ret_buf,
             struct http_result *res);
