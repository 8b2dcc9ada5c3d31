/* The RFC 822-like "deb822" format of Release, Packages and *.sources files:
 * paragraphs separated by blank lines, "Field: value" lines, continuation
 * lines starting with a space or tab. Lines starting with '#' are comments. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Find the next paragraph in buf[*pos..len): on success returns 1, sets
 * [*ret_start, *ret_end) to its span and advances *pos; returns 0 at the
 * end. */
int deb822_next_paragraph(const char *buf, size_t len, size_t *pos, size_t *ret_start,
                          size_t *ret_end);

/* Look a field up (name compared case-insensitively) in one paragraph. On
 * success returns 1 and a newly allocated value in *ret (caller frees): the
 * first line's value and each continuation line trimmed of surrounding
 * blanks, joined with '\n' (a continuation line of just "." becomes empty).
 * Returns 0 with *ret untouched when the field is absent, -ENOMEM. */
int deb822_field(const char *para, size_t len, const char *name, char **ret);

/* Whether the paragraph's field `name` has exactly the single-line value
 * `value`, without allocating (used to scan large Packages files). */
bool deb822_field_equals(const char *para, size_t len, const char *name, const char *value);
