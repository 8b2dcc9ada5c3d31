#include "tap_pool.h"

#include <string.h>
#include <time.h>

#include "hostnet/ifname.h"
#include "netdb.h"
#include "hostnet/netlink.h"
#include "util/array.h"
#include "util/strtable.h"
#include "util/timeutil.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u

struct tap_pool {
        struct tap_pool_config cfg;
        sqlite3 *db;
        pthread_mutex_t *lock; /* the caller's; guards db and every field below */
        pthread_cond_t cond;   /* state changed: counts, stop, enabled */
        pthread_t workers[TAP_POOL_MAX_PARALLEL];
        unsigned n_workers;
        bool stop;
        bool enabled;
        unsigned warm, used, creating; /* creating: warm-ups in flight */
        uint64_t backoff_until_ms;     /* monotonic; no warm-up before */
        unsigned backoff_ms;
        char last_error[BG_ERROR_MSG_MAX];
};

static const char *const state_names[_TAP_STATE_MAX] = {
    [TAP_CREATING] = "creating",
    [TAP_WARM] = "warm",
    [TAP_USED] = "used",
    [TAP_DELETING] = "deleting",
};

DEFINE_STRING_TABLE_LOOKUP(tap_state, enum tap_state, state_names)

/* ---- rows (lock held) ---- */

static int row_read(sqlite3_stmt *st, struct tap_info *t)
{
        memset(t, 0, sizeof(*t));
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *vm = (const char *)sqlite3_column_text(st, 1);
        const char *state = (const char *)sqlite3_column_text(st, 2);
        int s = tap_state_from_string(state);
        if (!name || !ifname_is_tap(name) || s < 0 || (vm && strlen(vm) > NETSVC_VM_NAME_MAX))
                return -EBADMSG;
        snprintf(t->name, sizeof(t->name), "%s", name);
        snprintf(t->vm_name, sizeof(t->vm_name), "%s", vm ? vm : "");
        t->state = (enum tap_state)s;
        t->created_unix_ms = sqlite3_column_int64(st, 3);
        return 0;
}

#define TAP_COLS "name, vm_name, state, created_unix_ms"

/* Rows matching where (bound to arg when arg is not NULL). Corrupt rows are
 * returned as TAP_DELETING with their name when it is a valid tap name (so
 * reconcile removes them) and skipped otherwise. */
static int rows_select(struct tap_pool *p, const char *where, const char *arg,
                       struct tap_info **ret, size_t *ret_n, struct bg_error *err)
{
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT " TAP_COLS " FROM taps %s ORDER BY name", where);
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(p->db, sql, &st, err);
        if (r < 0)
                return r;
        if (arg)
                sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
        _cleanup_free_ struct tap_info *v = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (ARRAY_RESERVE(v, cap, n + 1) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (row_read(st, &v[n]) < 0) {
                        const char *name = (const char *)sqlite3_column_text(st, 0);
                        if (!name || !ifname_is_tap(name))
                                continue;
                        memset(&v[n], 0, sizeof(v[n]));
                        snprintf(v[n].name, sizeof(v[n].name), "%s", name);
                        v[n].state = TAP_DELETING;
                }
                n++;
        }
        if (rc != SQLITE_DONE)
                return netdb_fail(p->db, rc, "read taps", err);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

static int row_insert(struct tap_pool *p, const char *name, const char *vm, enum tap_state s,
                      struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r =
            netdb_prepare(p->db, "INSERT INTO taps(" TAP_COLS ") VALUES (?, ?, ?, ?)", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        netdb_bind_text_or_null(st, 2, vm);
        sqlite3_bind_text(st, 3, tap_state_to_string(s), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)now_real_msec());
        return netdb_step_done(p->db, st, "record tap", err);
}

static int row_update(struct tap_pool *p, const char *name, const char *vm, enum tap_state s,
                      struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r =
            netdb_prepare(p->db, "UPDATE taps SET vm_name = ?, state = ? WHERE name = ?", &st, err);
        if (r < 0)
                return r;
        netdb_bind_text_or_null(st, 1, vm);
        sqlite3_bind_text(st, 2, tap_state_to_string(s), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        return netdb_step_done(p->db, st, "update tap", err);
}

static int row_delete(struct tap_pool *p, const char *name, struct bg_error *err)
{
        return netdb_exec_text(p->db, "DELETE FROM taps WHERE name = ?", name, "delete tap row",
                               err);
}

/* A fresh name: bgt<N>, N from meta.tap_seq (never reused). */
static int next_name(struct tap_pool *p, char ret[static IFNAMSIZ], struct bg_error *err)
{
        int64_t seq;
        int r = netdb_meta_get(p->db, "tap_seq", 0, &seq, err);
        if (r < 0)
                return r;
        seq = seq >= 0 && seq < 999999999 ? seq + 1 : 1;
        r = netdb_meta_set(p->db, "tap_seq", seq, err);
        if (r < 0)
                return r;
        snprintf(ret, IFNAMSIZ, "bgt%lld", (long long)seq);
        return 0;
}

/* Writes the row first (state), then creates the kernel tap unlocked, then
 * sets final_state. On failure the tap and its row are gone again. Called and
 * returns with the lock held. */
static int create_tap(struct tap_pool *p, const char *vm, enum tap_state final_state,
                      char name[static IFNAMSIZ], struct bg_error *err)
{
        /* One transaction for the name and the row: half the commits. */
        int r = store_exec(p->db, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return r;
        r = next_name(p, name, err);
        if (r >= 0)
                r = row_insert(p, name, vm, TAP_CREATING, err);
        if (r >= 0)
                r = store_exec(p->db, "COMMIT", err);
        if (r < 0) {
                (void)store_exec(p->db, "ROLLBACK", NULL);
                return r;
        }
        struct tap_pool_config cfg = p->cfg;
        pthread_mutex_unlock(p->lock);
        r = netlink_tap_create(name, cfg.bridge, cfg.owner, (gid_t)-1, cfg.isolated, err);
        if (r < 0)
                (void)netlink_tap_delete(name, NULL);
        pthread_mutex_lock(p->lock);
        if (r >= 0)
                r = row_update(p, name, vm, final_state, err);
        if (r < 0) {
                struct bg_error e2 = {0};
                if (row_update(p, name, NULL, TAP_DELETING, &e2) >= 0) {
                        pthread_mutex_unlock(p->lock);
                        int k = netlink_tap_delete(name, &e2);
                        pthread_mutex_lock(p->lock);
                        if (k >= 0)
                                (void)row_delete(p, name, &e2);
                }
        }
        return r;
}

/* Marks the row deleting, removes the link unlocked, then the row. Lock held
 * on entry and exit. */
static int delete_tap(struct tap_pool *p, const char *name, struct bg_error *err)
{
        int r = row_update(p, name, NULL, TAP_DELETING, err);
        if (r < 0)
                return r;
        pthread_mutex_unlock(p->lock);
        r = netlink_tap_delete(name, err);
        pthread_mutex_lock(p->lock);
        if (r < 0)
                return r; /* row stays "deleting": reconcile retries */
        return row_delete(p, name, err);
}

/* ---- workers ---- */

static void set_backoff(struct tap_pool *p, const struct bg_error *e)
{
        snprintf(p->last_error, sizeof(p->last_error), "%s", e->msg[0] ? e->msg : "unknown error");
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS)
                p->backoff_ms = BACKOFF_MAX_MS;
        p->backoff_until_ms = now_mono_msec() + p->backoff_ms;
}

static void cond_wait_until(struct tap_pool *p, uint64_t until_mono_ms)
{
        if (!until_mono_ms) {
                pthread_cond_wait(&p->cond, p->lock);
                return;
        }
        struct timespec ts = {.tv_sec = (time_t)(until_mono_ms / 1000),
                              .tv_nsec = (long)(until_mono_ms % 1000) * 1000000L};
        pthread_cond_timedwait(&p->cond, p->lock, &ts);
}

static void *worker_main(void *arg)
{
        struct tap_pool *p = arg;
        pthread_mutex_lock(p->lock);
        while (!p->stop) {
                uint64_t now = now_mono_msec();
                if (!p->enabled) {
                        cond_wait_until(p, 0);
                        continue;
                }
                if (now < p->backoff_until_ms) {
                        cond_wait_until(p, p->backoff_until_ms);
                        continue;
                }
                if (p->warm + p->creating < p->cfg.target) {
                        struct bg_error e = {0};
                        char name[IFNAMSIZ];
                        p->creating++;
                        int r = create_tap(p, NULL, TAP_WARM, name, &e);
                        p->creating--;
                        if (r >= 0) {
                                p->warm++;
                                p->backoff_ms = 0;
                                p->last_error[0] = '\0';
                        } else {
                                set_backoff(p, &e);
                        }
                        pthread_cond_broadcast(&p->cond);
                        continue;
                }
                if (p->warm > p->cfg.target && p->creating == 0) {
                        /* Pool shrank (config): trim one warm tap. */
                        struct tap_info *v = NULL;
                        size_t n = 0;
                        struct bg_error e = {0};
                        int r = rows_select(p, "WHERE state = 'warm'", NULL, &v, &n, &e);
                        if (r >= 0 && n > 0) {
                                p->warm--;
                                r = delete_tap(p, v[0].name, &e);
                        }
                        free(v);
                        if (r < 0)
                                set_backoff(p, &e);
                        pthread_cond_broadcast(&p->cond);
                        continue;
                }
                cond_wait_until(p, 0);
        }
        pthread_mutex_unlock(p->lock);
        return NULL;
}

/* ---- public ---- */

int tap_pool_new(const struct tap_pool_config *cfg, sqlite3 *db, pthread_mutex_t *lock,
                 struct tap_pool **ret, struct bg_error *err)
{
        int r = ifname_validate(cfg->bridge, "bridge", err);
        if (r < 0)
                return r;
        if (cfg->parallel < 1 || cfg->parallel > TAP_POOL_MAX_PARALLEL)
                return bg_error_set(err, EINVAL, "tap pool: parallel must be 1..%d, not %u",
                                    TAP_POOL_MAX_PARALLEL, cfg->parallel);
        if (cfg->owner == (uid_t)-1)
                return bg_error_set(err, EINVAL, "tap pool: invalid owner uid");
        struct tap_pool *p = calloc(1, sizeof(*p));
        if (!p)
                return bg_error_set(err, ENOMEM, "out of memory");
        p->cfg = *cfg;
        p->db = db;
        p->lock = lock;
        p->enabled = true;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret = p;
        return 0;
}

struct tap_pool *tap_pool_free(struct tap_pool *p)
{
        if (!p)
                return NULL;
        tap_pool_pause(p);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
}

int tap_pool_resume(struct tap_pool *p, struct bg_error *err)
{
        pthread_mutex_lock(p->lock);
        if (p->n_workers > 0) {
                pthread_mutex_unlock(p->lock);
                return 0;
        }
        p->stop = false;
        p->backoff_until_ms = 0;
        p->backoff_ms = 0;
        int r = 0;
        for (unsigned i = 0; i < p->cfg.parallel; i++) {
                r = -pthread_create(&p->workers[i], NULL, worker_main, p);
                if (r < 0)
                        break;
                p->n_workers++;
        }
        pthread_mutex_unlock(p->lock);
        if (r < 0) {
                tap_pool_pause(p);
                return bg_error_set(err, -r, "start tap pool workers: %s", strerror(-r));
        }
        return 0;
}

void tap_pool_pause(struct tap_pool *p)
{
        pthread_mutex_lock(p->lock);
        unsigned n = p->n_workers;
        p->stop = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(p->lock);
        for (unsigned i = 0; i < n; i++)
                pthread_join(p->workers[i], NULL);
        pthread_mutex_lock(p->lock);
        p->n_workers = 0;
        pthread_mutex_unlock(p->lock);
}

void tap_pool_set_enabled(struct tap_pool *p, bool enabled)
{
        pthread_mutex_lock(p->lock);
        p->enabled = enabled;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(p->lock);
}

static const struct netlink_link *find_link(const struct netlink_link *links, size_t n,
                                            const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(links[i].name, name))
                        return &links[i];
        return NULL;
}

/* Reconcile holds the lock throughout: it runs before serving or inside
 * Setup with the workers paused, and the handful of netlink calls it makes
 * take milliseconds. */
/* A name next_name makes: "bgt" and a decimal number. */
static bool pool_tap_name(const char *name)
{
        if (strncmp(name, "bgt", 3) != 0 || !name[3] || name[3] == '0')
                return false;
        for (const char *c = name + 3; *c; c++)
                if (*c < '0' || *c > '9')
                        return false;
        return ifname_is_tap(name);
}

/* reconcile: the kernel tap (when the name is one) goes, then its row. */
static int forget_tap(struct tap_pool *p, const char *name, bool is_tap, struct bg_error *err)
{
        int r = is_tap ? netlink_tap_delete(name, err) : 0;
        return r < 0 ? r : row_delete(p, name, err);
}

int tap_pool_reconcile(struct tap_pool *p, struct tap_pool_reconcile_stats *ret,
                       struct bg_error *err)
{
        struct tap_pool_reconcile_stats s = {0};
        _cleanup_free_ struct netlink_link *links = NULL;
        size_t n_links = 0;
        int r = netlink_link_dump(&links, &n_links, err);
        if (r < 0)
                return r;

        pthread_mutex_lock(p->lock);
        _cleanup_free_ struct tap_info *rows = NULL;
        size_t n_rows = 0;
        r = rows_select(p, "", NULL, &rows, &n_rows, err);
        for (size_t i = 0; r >= 0 && i < n_rows; i++) {
                struct tap_info *t = &rows[i];
                const struct netlink_link *l = find_link(links, n_links, t->name);
                bool is_tap = l && streq(l->kind, "tun");
                struct bg_error e = {0};
                switch (t->state) {
                case TAP_CREATING:
                case TAP_DELETING:
                        /* Unfinished: the caller never got this tap. */
                        r = forget_tap(p, t->name, is_tap, err);
                        s.removed_rows++;
                        break;
                case TAP_WARM:
                        /* On the bridge and up: keep it (isolation re-applied).
                         * Otherwise re-take it: owner, bridge, isolation, up. */
                        if (is_tap && l->up && streq(l->master, p->cfg.bridge) &&
                            netlink_port_set_isolated(t->name, p->cfg.isolated, &e) >= 0) {
                                s.kept_warm++;
                                break;
                        }
                        if (is_tap && netlink_tap_create(t->name, p->cfg.bridge, p->cfg.owner,
                                                         (gid_t)-1, p->cfg.isolated, &e) >= 0) {
                                s.kept_warm++;
                                break;
                        }
                        r = forget_tap(p, t->name, is_tap, err);
                        s.removed_rows++;
                        break;
                case TAP_USED:
                        /* Adopt: a VMM may hold it open, so a link that is still
                         * on the bridge is left alone apart from isolation. */
                        if (is_tap && streq(l->master, p->cfg.bridge)) {
                                (void)netlink_port_set_isolated(t->name, p->cfg.isolated, &e);
                                s.adopted++;
                                break;
                        }
                        if (l && !is_tap) {
                                /* Someone else's link took the name: forget ours. */
                                r = forget_tap(p, t->name, false, err);
                                s.removed_rows++;
                                break;
                        }
                        r = netlink_tap_create(t->name, p->cfg.bridge, p->cfg.owner, (gid_t)-1,
                                               p->cfg.isolated, err);
                        if (r >= 0) {
                                if (is_tap)
                                        s.adopted++;
                                else
                                        s.recreated++;
                        }
                        break;
                default:
                        break;
                }
        }
        /* Orphans: taps named the way the pool names them (bgt<N>) that the
         * database does not know, left by a crash between the link and its
         * row. Only those: another program's tun link whose name merely
         * starts with "bg" is not banger's to delete. */
        for (size_t i = 0; r >= 0 && i < n_links; i++) {
                const struct netlink_link *l = &links[i];
                if (!streq(l->kind, "tun") || !pool_tap_name(l->name))
                        continue;
                bool known = false;
                for (size_t j = 0; j < n_rows && !known; j++)
                        known = streq(rows[j].name, l->name);
                if (known)
                        continue;
                r = netlink_tap_delete(l->name, err);
                s.removed_links++;
        }
        if (r >= 0) {
                _cleanup_free_ struct tap_info *now = NULL;
                size_t n_now = 0;
                r = rows_select(p, "", NULL, &now, &n_now, err);
                p->warm = p->used = 0;
                for (size_t i = 0; r >= 0 && i < n_now; i++) {
                        if (now[i].state == TAP_WARM)
                                p->warm++;
                        else if (now[i].state == TAP_USED)
                                p->used++;
                }
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(p->lock);
        if (r >= 0 && ret)
                *ret = s;
        return r < 0 ? r : 0;
}

int tap_pool_acquire(struct tap_pool *p, const char *vm_name, char ret[static IFNAMSIZ],
                     bool *ret_from_pool, bool *ret_already_held, struct bg_error *err)
{
        int r = netsvc_validate_vm_name(vm_name, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(p->lock);
        _cleanup_free_ struct tap_info *v = NULL;
        size_t n = 0;
        bool from_pool = false, held = false;
        char name[IFNAMSIZ] = "";
        if (!p->enabled) {
                r = bg_error_set(err, EBUSY,
                                 "the guest network is torn down; run Setup (or restart "
                                 "banger-netsvc) first");
                goto out;
        }
        r = rows_select(p, "WHERE vm_name = ?1 AND state = 'used'", vm_name, &v, &n, err);
        if (r < 0)
                goto out;
        if (n > 0) {
                snprintf(name, sizeof(name), "%s", v[0].name);
                held = true;
                goto out;
        }
        free(TAKE_PTR(v));
        r = rows_select(p, "WHERE state = 'warm'", NULL, &v, &n, err);
        if (r < 0)
                goto out;
        if (n > 0) {
                r = row_update(p, v[0].name, vm_name, TAP_USED, err);
                if (r < 0)
                        goto out;
                snprintf(name, sizeof(name), "%s", v[0].name);
                p->warm--;
                p->used++;
                from_pool = true;
                pthread_cond_broadcast(&p->cond); /* refill */
                goto out;
        }
        /* Pool empty: create one for this VM now. */
        r = create_tap(p, vm_name, TAP_USED, name, err);
        if (r >= 0)
                p->used++;
        pthread_cond_broadcast(&p->cond);
out:
        pthread_mutex_unlock(p->lock);
        if (r < 0)
                return r;
        memcpy(ret, name, IFNAMSIZ);
        if (ret_from_pool)
                *ret_from_pool = from_pool;
        if (ret_already_held)
                *ret_already_held = held;
        return 0;
}

/* Lock held. */
static int release_locked(struct tap_pool *p, const struct tap_info *t, bool *ret_to_pool,
                          struct bg_error *err)
{
        *ret_to_pool = false;
        if (t->state == TAP_WARM) {
                *ret_to_pool = true; /* already back: idempotent */
                return 0;
        }
        if (t->state != TAP_USED)
                return bg_error_set(err, EBUSY, "tap '%s' is being %s", t->name,
                                    t->state == TAP_CREATING ? "created" : "removed");
        p->used--;
        if (p->enabled && p->warm + p->creating < p->cfg.target) {
                struct bg_error e = {0};
                int r = row_update(p, t->name, NULL, TAP_CREATING, &e);
                if (r >= 0) {
                        struct tap_pool_config cfg = p->cfg;
                        p->creating++;
                        pthread_mutex_unlock(p->lock);
                        /* Fails (EBUSY) while a VMM still holds it open. */
                        r = netlink_tap_create(t->name, cfg.bridge, cfg.owner, (gid_t)-1,
                                               cfg.isolated, &e);
                        pthread_mutex_lock(p->lock);
                        p->creating--;
                        if (r >= 0)
                                r = row_update(p, t->name, NULL, TAP_WARM, &e);
                        if (r >= 0) {
                                p->warm++;
                                *ret_to_pool = true;
                                pthread_cond_broadcast(&p->cond);
                                return 0;
                        }
                }
        }
        int r = delete_tap(p, t->name, err);
        pthread_cond_broadcast(&p->cond);
        return r;
}

int tap_pool_release(struct tap_pool *p, const char *tap, bool *ret_to_pool, struct bg_error *err)
{
        int r = ifname_validate_tap(tap, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(p->lock);
        _cleanup_free_ struct tap_info *v = NULL;
        size_t n = 0;
        bool to_pool = false;
        r = rows_select(p, "WHERE name = ?1", tap, &v, &n, err);
        if (r >= 0 && n == 0)
                r = bg_error_set(err, ENOENT, "tap '%s' is not one of banger's taps", tap);
        if (r >= 0)
                r = release_locked(p, &v[0], &to_pool, err);
        pthread_mutex_unlock(p->lock);
        if (r >= 0 && ret_to_pool)
                *ret_to_pool = to_pool;
        return r < 0 ? r : 0;
}

int tap_pool_release_vm(struct tap_pool *p, const char *vm_name, unsigned *ret_n,
                        struct bg_error *err)
{
        int r = netsvc_validate_vm_name(vm_name, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(p->lock);
        _cleanup_free_ struct tap_info *v = NULL;
        size_t n = 0;
        unsigned k = 0;
        r = rows_select(p, "WHERE vm_name = ?1 AND state = 'used'", vm_name, &v, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                bool to_pool;
                r = release_locked(p, &v[i], &to_pool, err);
                if (r >= 0)
                        k++;
        }
        pthread_mutex_unlock(p->lock);
        if (r >= 0 && ret_n)
                *ret_n = k;
        return r < 0 ? r : 0;
}

int tap_pool_remove_all(struct tap_pool *p, unsigned *ret_n, struct bg_error *err)
{
        tap_pool_pause(p);
        pthread_mutex_lock(p->lock);
        _cleanup_free_ struct tap_info *v = NULL;
        size_t n = 0;
        unsigned k = 0;
        int r = rows_select(p, "", NULL, &v, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = delete_tap(p, v[i].name, err);
                if (r >= 0)
                        k++;
        }
        if (r >= 0)
                p->warm = p->used = 0;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(p->lock);
        if (r >= 0 && ret_n)
                *ret_n = k;
        return r < 0 ? r : 0;
}

void tap_pool_stats(struct tap_pool *p, struct tap_pool_stats *ret)
{
        pthread_mutex_lock(p->lock);
        ret->target = p->cfg.target;
        ret->warm = p->warm;
        ret->used = p->used;
        ret->creating = p->creating;
        snprintf(ret->last_error, sizeof(ret->last_error), "%s", p->last_error);
        pthread_mutex_unlock(p->lock);
}

int tap_pool_list(struct tap_pool *p, struct tap_info **ret, size_t *ret_n, struct bg_error *err)
{
        pthread_mutex_lock(p->lock);
        int r = rows_select(p, "", NULL, ret, ret_n, err);
        pthread_mutex_unlock(p->lock);
        return r;
}

int tap_pool_wait_warm(struct tap_pool *p, unsigned timeout_ms)
{
        uint64_t until = now_mono_msec() + timeout_ms;
        int r = 0;
        pthread_mutex_lock(p->lock);
        while (p->warm < p->cfg.target || p->creating > 0) {
                if (now_mono_msec() >= until) {
                        r = -ETIMEDOUT;
                        break;
                }
                cond_wait_until(p, until);
        }
        pthread_mutex_unlock(p->lock);
        return r;
}
