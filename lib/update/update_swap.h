/* Replacing the installed binaries of banger as one step.
 *
 * New files are written into a private staging directory inside the
 * install directory (same file system), checked, then each installed file
 * is kept under the staging directory (a hard link) and the new one renamed
 * over it. Every rename is atomic: a file is always the old or the new one,
 * never partial. update_swap_rollback puts the kept ones back. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "update_manifest.h"
#include "util/error.h"

struct update_swap {
        char dir[PATH_MAX];   /* where the binaries are installed */
        char stage[PATH_MAX]; /* dir/.banger-update-XXXXXX */
        char names[UPDATE_MAX_FILES][32];
        bool staged[UPDATE_MAX_FILES];
        bool swapped[UPDATE_MAX_FILES];
        size_t n;
};

/* Checks dir (a root caller refuses a directory that anyone but root owns or
 * may write, where another user could swap a path under it) and makes the
 * staging directory. */
int update_swap_open(const char *dir, struct update_swap *s, struct bg_error *err);

/* Opens a new staged file for name (0700 until committed); returns the fd. */
int update_swap_stage_fd(struct update_swap *s, const char *name, struct bg_error *err);

/* Checks the staged file of name against sha256 and size, makes it 0755. */
int update_swap_check(struct update_swap *s, const char *name, const char *sha256, uint64_t size,
                      struct bg_error *err);

/* Swaps every staged file in. On a failure, what was swapped is put back. */
int update_swap_commit(struct update_swap *s, struct bg_error *err);

/* Puts the kept binaries back (after a commit whose result is unhealthy). */
int update_swap_rollback(struct update_swap *s, struct bg_error *err);

/* Removes the staging directory and what it holds. */
void update_swap_close(struct update_swap *s);
