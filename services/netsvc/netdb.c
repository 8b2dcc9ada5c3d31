#include "netdb.h"

/* Schema v1 shipped with the Foundation; later versions append migrations and
 * never edit one that has shipped. */
const struct store_migration netsvc_migrations[] = {
    {1, "CREATE TABLE leases ("
        "  vm_name TEXT PRIMARY KEY,"
        "  ip TEXT NOT NULL UNIQUE,"
        "  mac TEXT NOT NULL UNIQUE,"
        "  created_unix_ms INTEGER NOT NULL"
        ");"
        "CREATE TABLE taps ("
        "  name TEXT PRIMARY KEY,"
        "  vm_name TEXT,"
        "  created_unix_ms INTEGER NOT NULL"
        ");"},
    {2, "ALTER TABLE taps ADD COLUMN state TEXT NOT NULL DEFAULT 'warm'"
        "  CHECK (state IN ('creating', 'warm', 'used', 'deleting'));"
        "CREATE INDEX taps_vm ON taps(vm_name);"
        "CREATE TABLE released_ips ("
        "  ip TEXT PRIMARY KEY,"
        "  seq INTEGER NOT NULL"
        ");"
        "CREATE TABLE meta ("
        "  key TEXT PRIMARY KEY,"
        "  value INTEGER NOT NULL"
        ");"},
};
const size_t netsvc_n_migrations = ELEMENTSOF(netsvc_migrations);

int netdb_fail(sqlite3 *db, int rc, const char *what, struct bg_error *err)
{
        int r = store_errno(rc);
        return bg_error_set(err, -r, "net.db: %s: %s", what, db ? sqlite3_errmsg(db) : "?");
}

int netdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, struct bg_error *err)
{
        int rc = sqlite3_prepare_v2(db, sql, -1, ret, NULL);
        if (rc != SQLITE_OK)
                return netdb_fail(db, rc, "prepare", err);
        return 0;
}

int netdb_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, struct bg_error *err)
{
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return netdb_fail(db, rc, what, err);
        return 0;
}

int netdb_exec_text(sqlite3 *db, const char *sql, const char *arg, const char *what,
                    struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, sql, &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
        return netdb_step_done(db, st, what, err);
}

void netdb_bind_text_or_null(sqlite3_stmt *st, int idx, const char *s)
{
        if (s)
                sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, idx);
}

int netdb_meta_get(sqlite3 *db, const char *key, int64_t def, int64_t *ret, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db, "SELECT value FROM meta WHERE key = ?", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
                *ret = def;
        else
                return netdb_fail(db, rc, "read meta", err);
        return 0;
}

int netdb_meta_set(sqlite3 *db, const char *key, int64_t value, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = netdb_prepare(db,
                              "INSERT INTO meta(key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                              &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, value);
        return netdb_step_done(db, st, "write meta", err);
}
