/* Replacing the installed binaries of banger as one step.
 *
 * New files are written into a private staging directory inside the
 * install directory (same file system), checked, then each installed file
 * is kept under the staging directory (a hard link) and the new one renamed
 * over it. Every rename is atomic: a file is always the old or the new one,
 * never partial. update_swap_rollback puts the kept ones back.
 *
 * Everything after update_swap_open is done through descriptors of the
 * install directory and the staging directory (openat, linkat, renameat,
 * O_NOFOLLOW), never by path. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "update_manifest.h"
#include "util/error.h"

/* update_swap_open flags. TRUSTED_PATH (root's system-mode update): the
 * directory is reached from / one component at a time (openat, O_NOFOLLOW:
 * a symlink anywhere on the way is refused), and every directory on the way,
 * itself included, must be root's and writable by no one else. */
#define UPDATE_SWAP_TRUSTED_PATH (1u << 0)

struct update_swap {
        char dir[PATH_MAX];   /* where the binaries are installed (messages) */
        char stage[PATH_MAX]; /* dir/.banger-update-XXXXXX ("" = none) */
        int dfd;              /* the install directory, -1 = none */
        int sfd;              /* the staging directory, -1 = none */
        char names[UPDATE_MAX_FILES][32];
        bool staged[UPDATE_MAX_FILES];
        bool swapped[UPDATE_MAX_FILES];
        size_t n;
};

/* Checks dir (without TRUSTED_PATH, a root caller still refuses a directory
 * that anyone but root owns or may write) and makes the staging directory.
 * s is usable with update_swap_close whatever this returns. */
int update_swap_open(const char *dir, unsigned flags, struct update_swap *s, struct bg_error *err);

/* Opens a new staged file for name (0700 until checked); returns the fd. */
int update_swap_stage_fd(struct update_swap *s, const char *name, struct bg_error *err);

/* Checks the staged file of name against sha256 and size, makes it 0755. */
int update_swap_check(struct update_swap *s, const char *name, const char *sha256, uint64_t size,
                      struct bg_error *err);

/* Swaps every staged file in. On a failure, what was swapped is put back. */
int update_swap_commit(struct update_swap *s, struct bg_error *err);

/* Puts the kept binaries back (after a commit whose result is unhealthy). */
int update_swap_rollback(struct update_swap *s, struct bg_error *err);

/* Whether any staged file was swapped in (and not put back). */
bool update_swap_swapped(const struct update_swap *s);

/* Removes the staging directory and what it holds; closes the descriptors. */
void update_swap_close(struct update_swap *s);
