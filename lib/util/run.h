/* Finding and running helper programs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Finds the program name: a name with a '/' is taken as it is (it must be a
 * regular file we may execute); otherwise the first match in the absolute
 * directories of $PATH ("/usr/local/bin:/usr/bin:/bin" when unset or
 * empty), then in extra_dirs (a ':'-separated list, or NULL), e.g. the sbin
 * directories a user's PATH often lacks. Writes the path found into buf.
 * 0, -ENOENT (none found), -EACCES, -ENAMETOOLONG. */
int find_program(const char *name, const char *extra_dirs, char *buf, size_t len);
/* Only in the absolute directories of dirs (a ':'-separated list), never
 * $PATH: for root code that must not run whatever a caller's PATH offers.
 * name must not contain '/'. */
int find_program_in(const char *name, const char *dirs, char *buf, size_t len);

/* Standard fds of a child in bg_run_wait: an open fd of ours, or these. */
#define BG_RUN_INHERIT (-1) /* the same fd as ours */
#define BG_RUN_NULL (-2)    /* /dev/null */

struct bg_run_opts {
        /* "K=V" entries added to the environment, replacing the same names
         * (NULL: none); with env_only, the child's whole environment. */
        const char *const *env;
        bool env_only;
        /* 0: wait as long as it takes. Else the child runs in its own process
         * group, and when it has not exited after timeout_ms the group is
         * killed (SIGKILL), reaped, and the result is -ETIMEDOUT. */
        unsigned timeout_ms;
};

/* Runs argv (argv[0] looked up in PATH unless it has a '/') with its stdin,
 * stdout and stderr set to in_fd, out_fd and err_fd, and waits for it. The
 * child starts with no signal blocked and SIGPIPE at its default. opts may be
 * NULL. Returns the exit status (0..255; 128+N for signal N; err says which
 * when it is not 0), -ETIMEDOUT, or -errno when it could not run (-ENOENT:
 * no such program). */
int bg_run_wait(const char *const argv[], int in_fd, int out_fd, int err_fd,
                const struct bg_run_opts *opts, struct bg_error *err);

/* bg_run_wait in two steps, for a caller with work to do while the child
 * runs (feed or drain its pipes, let another thread kill it): start, then
 * reap (name is for messages; a timeout kills the child's process group when
 * opts->timeout_ms made one at the start, else the child). */
int bg_run_start(const char *const argv[], int in_fd, int out_fd, int err_fd,
                 const struct bg_run_opts *opts, pid_t *ret_pid, struct bg_error *err);
int bg_run_reap(pid_t pid, const char *name, unsigned timeout_ms, struct bg_error *err);

/* Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and stderr
 * collected for the error message; env (NULL-terminated "K=V" list, or NULL)
 * is added to the environment. *out gets stdout (malloc'ed, NUL-terminated,
 * at most max bytes: more is -E2BIG). Returns the exit status (0..255; 128+N
 * for signal N), or -errno when it could not run. out may be NULL. */
int bg_run_capture(const char *const argv[], const char *const env[], char **out, size_t *len,
                   size_t max, struct bg_error *err);

/* bg_run_wait with stdin from /dev/null and stdout (and stderr when
 * with_stderr, else /dev/null) kept in memory: the first len - 1 bytes of it
 * into buf, NUL-terminated (the rest is dropped). For short answers of
 * trusted programs (--version, resolvectl) under opts->timeout_ms. Returns
 * what bg_run_wait returns; buf holds what was printed in every case. */
int bg_run_head(const char *const argv[], const struct bg_run_opts *opts, bool with_stderr,
                char *buf, size_t len, struct bg_error *err);
