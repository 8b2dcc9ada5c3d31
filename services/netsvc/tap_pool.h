/* The warm pool of guest taps.
 *
 * Taps are persistent tun/tap links named bgt<N> (N from net.db, never
 * reused), owned by the owner uid (TUNSETOWNER, so an unprivileged VMM can
 * open them), attached to the bridge, up, with the bridge-port isolation flag
 * when isolate_vms is set. A fixed number of worker threads ("parallel")
 * keeps `target` taps warm: each acquire wakes them and they refill in the
 * background. Warm-ups are deduplicated by counting the ones in flight, so
 * any number of wake-ups never creates more than target taps, and at most
 * `parallel` creations run at once.
 *
 * Crash safety: every tap has a row in net.db's taps table written before
 * its kernel link is created (state creating) and marked deleting before the
 * link is removed; tap_pool_reconcile() finishes or undoes whatever a killed
 * process left, in both directions (rows without links, bg links without
 * rows).
 *
 * Locking: the pool uses the caller's mutex (the one that serialises the
 * database connection) for its own state too. Functions take it themselves;
 * call none of them with it held. */
#pragma once

#include <net/if.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "validate.h"

#define TAP_POOL_MAX_PARALLEL 16

struct tap_pool_config {
        char bridge[IFNAMSIZ];
        uid_t owner;       /* TUNSETOWNER */
        bool isolated;     /* bridge-port isolation flag (isolate_vms) */
        unsigned target;   /* warm taps to keep ready */
        unsigned parallel; /* warm-up workers, 1..TAP_POOL_MAX_PARALLEL */
};

struct tap_pool;

enum tap_state {
        TAP_CREATING,
        TAP_WARM,
        TAP_USED,
        TAP_DELETING,
        _TAP_STATE_MAX,
};

const char *tap_state_to_string(enum tap_state s); /* "creating", "warm", "used", "deleting" */
int tap_state_from_string(const char *s);          /* enum value or -EINVAL */

struct tap_info {
        char name[IFNAMSIZ];
        char vm_name[NETSVC_VM_NAME_MAX + 1]; /* "" when none */
        enum tap_state state;
        int64_t created_unix_ms;
};

struct tap_pool_stats {
        unsigned target, warm, used, creating;
        char last_error[BG_ERROR_MSG_MAX]; /* last warm-up failure, "" when none */
};

struct tap_pool_reconcile_stats {
        unsigned adopted;       /* in-use taps kept */
        unsigned kept_warm;     /* warm taps kept */
        unsigned removed_rows;  /* rows whose tap was unfinished or gone */
        unsigned removed_links; /* bg taps in the kernel with no row (orphans) */
        unsigned recreated;     /* in-use taps whose link was missing */
};

/* lock is the caller's mutex for db; both must outlive the pool. The pool
 * is created paused (no workers): reconcile, then tap_pool_resume(). */
int tap_pool_new(const struct tap_pool_config *cfg, sqlite3 *db, pthread_mutex_t *lock,
                 struct tap_pool **ret, struct bg_error *err);
/* Stops the workers and frees p. Accepts NULL; returns NULL. Kernel taps
 * stay (they are warm for the next start). */
struct tap_pool *tap_pool_free(struct tap_pool *p);

/* Starts the warm-up workers (idempotent). */
int tap_pool_resume(struct tap_pool *p, struct bg_error *err);
/* Stops the workers after their current tap, waits for them. Acquire keeps
 * working (creating taps on demand) unless tap_pool_set_enabled(false). */
void tap_pool_pause(struct tap_pool *p);
/* Disabled (network torn down): acquire fails with EBUSY. */
void tap_pool_set_enabled(struct tap_pool *p, bool enabled);

/* Makes net.db and the kernel agree (pool paused): unfinished rows are
 * undone, warm taps re-checked (owner, bridge, isolation), in-use taps
 * adopted (re-created when their link vanished), bg taps without a row
 * deleted. */
int tap_pool_reconcile(struct tap_pool *p, struct tap_pool_reconcile_stats *ret,
                       struct bg_error *err);

/* A tap for vm_name: the tap it already holds, else a warm one, else a new
 * one created now. Wakes the workers to refill. */
int tap_pool_acquire(struct tap_pool *p, const char *vm_name, char ret[static IFNAMSIZ],
                     bool *ret_from_pool, bool *ret_already_held, struct bg_error *err);
/* Gives an in-use tap back: re-checked and warm again when the pool is short,
 * else deleted. ENOENT for a name netsvc does not own. */
int tap_pool_release(struct tap_pool *p, const char *tap, bool *ret_to_pool, struct bg_error *err);
/* Releases every tap held by vm_name; *ret_n how many. */
int tap_pool_release_vm(struct tap_pool *p, const char *vm_name, unsigned *ret_n,
                        struct bg_error *err);
/* Deletes every tap and its row (teardown); pauses the pool first. */
int tap_pool_remove_all(struct tap_pool *p, unsigned *ret_n, struct bg_error *err);

void tap_pool_stats(struct tap_pool *p, struct tap_pool_stats *ret);
/* Every row, by name. *ret malloc'd. */
int tap_pool_list(struct tap_pool *p, struct tap_info **ret, size_t *ret_n, struct bg_error *err);
/* Waits until target taps are warm and no warm-up is in flight; -ETIMEDOUT. */
int tap_pool_wait_warm(struct tap_pool *p, unsigned timeout_ms);
