/* SQLite access shared by the services: each service owns one database file.
 *
 * store_open opens (creating if needed) with WAL journaling, a busy timeout,
 * foreign keys on, and applies numbered migrations tracked in
 * PRAGMA user_version: migration i (1-based) brings the schema from i-1 to i,
 * each in its own transaction. A database whose user_version is newer than the
 * migrations this binary knows is refused (FAILED_PRECONDITION-style -EPROTO)
 * rather than guessed at. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include "util/error.h"
#include "util/macro.h"

struct store_migration {
        int version;     /* 1, 2, 3 … in order, no gaps */
        const char *sql; /* may contain several statements */
};

#define STORE_BUSY_TIMEOUT_MS 5000

int store_open(const char *path, const struct store_migration *migrations, size_t n_migrations,
               sqlite3 **ret, struct bg_error *err);
void store_close(sqlite3 *db);
int store_user_version(sqlite3 *db, int *ret);

/* Runs SQL with no results. */
int store_exec(sqlite3 *db, const char *sql, struct bg_error *err);

/* Runs fn inside BEGIN IMMEDIATE … COMMIT; rolls back when fn returns < 0 or
 * COMMIT fails. Returns fn's result (or the commit error). */
typedef int (*store_tx_fn)(sqlite3 *db, void *userdata, struct bg_error *err);
int store_transaction(sqlite3 *db, store_tx_fn fn, void *userdata, struct bg_error *err);

/* Maps a sqlite result code to -errno (SQLITE_BUSY -> -EBUSY, CONSTRAINT ->
 * -EEXIST, NOTFOUND -> -ENOENT, FULL -> -ENOSPC, READONLY -> -EROFS, …). */
int store_errno(int sqlite_rc);

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, store_close)
