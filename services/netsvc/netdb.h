/* net.db: netsvc's schema and the small SQLite helpers its modules share.
 *
 *   leases(vm_name PK, ip UNIQUE, mac UNIQUE, created_unix_ms)
 *   taps(name PK, vm_name, created_unix_ms, state)  state: creating, warm,
 *        used, deleting (a row is written before its kernel tap is created
 *        and marked deleting before it is removed, so reconcile can finish
 *        either step after a crash)
 *   released_ips(ip PK, seq)   when each address was last given back
 *   meta(key PK, value)        ip_hwm (highest address ever allocated, host
 *                              byte order), release_seq, tap_seq
 *
 * None of these functions lock: callers serialise access to the connection
 * (struct netsvc's lock). */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

extern const struct store_migration netsvc_migrations[];
extern const size_t netsvc_n_migrations;

/* Fills err with "what: sqlite message" mapped to -errno. */
int netdb_fail(sqlite3 *db, int rc, const char *what, struct bg_error *err);

/* meta.value of key, or def when the key is absent. */
int netdb_meta_get(sqlite3 *db, const char *key, int64_t def, int64_t *ret, struct bg_error *err);
int netdb_meta_set(sqlite3 *db, const char *key, int64_t value, struct bg_error *err);

/* Prepares sql into *ret (finalize it). */
int netdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, struct bg_error *err);

/* Steps st once, expecting the end (an INSERT, UPDATE or DELETE); else
 * netdb_fail with what. */
int netdb_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, struct bg_error *err);

/* Runs sql with one text parameter (?1) to its end. */
int netdb_exec_text(sqlite3 *db, const char *sql, const char *arg, const char *what,
                    struct bg_error *err);

/* Binds s as text, or NULL when s is NULL. */
void netdb_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s);
