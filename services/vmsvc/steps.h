/* A start/create sequence is a list of steps, each with an undo. When a step
 * fails, the steps that finished are undone in reverse order, and the error
 * says what failed and anything the rollback could not undo:
 *   "boot: qemu exited with status 1; rollback: release tap bg3: busy" */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include "util/error.h"

struct step {
        const char *name; /* stage name shown to users: "network", "disks", "boot" */
        int (*run)(void *ctx, struct bg_error *err);
        /* May be NULL when there is nothing to undo. Failures are reported. */
        int (*undo)(void *ctx, struct bg_error *err);
};

/* Called before each step runs (progress); may be NULL. */
typedef void (*step_progress_fn)(void *ctx, const char *stage);

/* Runs steps in order. Returns 0, or the failing step's -errno with err set
 * as described above. ret_failed (may be NULL) gets the index of the failed
 * step, or n when all succeeded. When *cancel (may be NULL) turns true, the
 * next step is not started: it fails with -ECANCELED ("cancelled") and what
 * finished is undone. */
int steps_run(const struct step *steps, size_t n, void *ctx, step_progress_fn progress,
              const atomic_bool *cancel, size_t *ret_failed, struct bg_error *err);
