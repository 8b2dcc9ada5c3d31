/* The host's apt sources, to pull kernels from the mirror the host already
 * uses. Reads <root>/etc/apt/sources.list (one-line format) and then
 * <root>/etc/apt/sources.list.d/ *.list and *.sources (deb822) in name order,
 * as apt does. */
#pragma once

#include <stddef.h>

#include "util/error.h"

struct debrepo_source {
        char *uri;        /* "http://deb.debian.org/debian", no trailing slash */
        char *suite;      /* "bookworm" */
        char *components; /* space-separated, "main contrib" */
        char *signed_by;  /* keyring path from signed-by/Signed-By, NULL if none */
        char *file;       /* the file the entry came from */
};
void debrepo_source_done(struct debrepo_source *s);
void debrepo_sources_free(struct debrepo_source *v, size_t n);

/* Every enabled binary ("deb") entry, one per URI and suite, in apt's order.
 * root NULL means "/". Missing files are fine; a malformed line is an error
 * naming the file and line. Caller frees with debrepo_sources_free. */
int debrepo_sources_list(const char *root, struct debrepo_source **ret, size_t *ret_n,
                         struct bg_error *err);

/* The first entry for the main Debian archive: an http(s) URI whose path
 * names "debian" (not debian-security/debian-ports) and a suite that is not
 * an -updates/-security/-backports/-proposed-updates pocket, with at least one
 * component. -ENOENT with a message when there is none. */
int debrepo_sources_find_debian(const char *root, struct debrepo_source *ret, struct bg_error *err);
