/* Run a helper program and collect its standard output. */
#pragma once

#include <stddef.h>

#include "util/error.h"

/* Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and stderr
 * collected for the error message; env (NULL-terminated "K=V" list, or NULL)
 * is added to the environment. *out gets stdout (malloc'ed, NUL-terminated,
 * at most max bytes: more is -E2BIG). Returns the exit status (0..255; 128+N
 * for signal N), or -errno when it could not run. out may be NULL. */
int bg_run_capture(const char *const argv[], const char *const env[], char **out, size_t *len,
                   size_t max, struct bg_error *err);
