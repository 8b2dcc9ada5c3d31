/* Downloads for kernel pulls (libcurl): progress and cancellation through the
 * operation's context, partial files never left behind, and a download cache
 * keyed by SHA-256 (CACHE/kernels/<sha256>) so that re-pulling what is
 * already here downloads nothing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct ops_ctx;

/* Largest file a pull downloads (a kernel .deb is ~70 MiB). */
#define KERNEL_FETCH_MAX (1024ull * 1024 * 1024)

/* Whether url is http:// or https:// (or file:// when allow_file). */
bool kernel_url_allowed(const char *url, bool allow_file);

/* Download url into dest (a temporary file beside it, renamed into place),
 * refusing more than max_bytes. Byte progress goes to ctx (may be NULL); when
 * ctx is cancelled the transfer stops with -ECANCELED. Errors name the URL:
 * HTTP status, resolve/connect failures (-EHOSTUNREACH), timeouts. */
int kernel_fetch(const char *url, const char *dest, uint64_t max_bytes, struct ops_ctx *ctx,
                 struct bg_error *err);

/* The file with this sha256 (lowercase hex) from the cache, downloading it
 * from url first when missing. The download must have the expected size
 * (when size > 0) and sha256, else it is deleted and -EBADMSG says
 * "<what> sha256 mismatch: <authority> says X, got Y". *ret_path (caller
 * frees) is the cache file. *ret_cached says whether it was there already
 * (may be NULL). */
int kernel_fetch_cached(const char *cache_dir, const char *url, const char *sha256, uint64_t size,
                        const char *what, const char *authority, struct ops_ctx *ctx,
                        char **ret_path, bool *ret_cached, struct bg_error *err);
