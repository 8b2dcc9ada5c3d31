/* HTTPS downloads for `banger update` (libcurl): https:// only, redirects
 * too, verified against the system CAs or ca_file, capped in size. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct update_fetch_opts {
        const char *ca_file; /* NULL or "" = the system's CA store */
        uint64_t max_bytes;  /* more is refused */
        const char *what;    /* for messages ("the manifest", "banger-vmsvc") */
        const char *cap_key; /* the config key that sets max_bytes, named when it is hit */
};

/* url into a malloc'ed buffer (NUL-terminated beyond *ret_len). */
int update_fetch_mem(const char *url, const struct update_fetch_opts *o, char **ret,
                     size_t *ret_len, struct bg_error *err);
/* url into fd (from its current offset). */
int update_fetch_fd(const char *url, const struct update_fetch_opts *o, int fd,
                    struct bg_error *err);
