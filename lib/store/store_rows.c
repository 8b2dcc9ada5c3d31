#include "store/store_rows.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/array.h"
#include "util/macro.h"

int store_db_err(sqlite3 *db, int rc, struct bg_error *err, const char *what)
{
        return bg_error_set(err, -store_errno(rc), "%s: %s", what, sqlite3_errmsg(db));
}

void store_copy_col(sqlite3_stmt *st, int col, char *dst, size_t len)
{
        const unsigned char *v = sqlite3_column_text(st, col);
        snprintf(dst, len, "%s", v ? (const char *)v : "");
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct bg_error *err,
                   const char *what)
{
        int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
        return rc == SQLITE_OK ? 0 : store_db_err(db, rc, err, what);
}

/* "SELECT cols FROM table " + tail, malloc'ed (NULL: out of memory). */
static char *select_sql(const struct store_table *t, const char *tail)
{
        char *sql = NULL;
        return asprintf(&sql, "SELECT %s FROM %s %s", t->cols, t->table, tail) < 0 ? NULL : sql;
}

int store_rows_insert(sqlite3 *db, const struct store_table *t, const void *rec,
                      struct bg_error *err)
{
        /* As many parameters as columns: one more than the commas. */
        size_t n = 1;
        for (const char *p = t->cols; *p; p++)
                n += *p == ',';
        _cleanup_free_ char *sql = NULL, *params = malloc(2 * n);
        if (!params)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                params[2 * i] = '?';
                params[2 * i + 1] = i + 1 < n ? ',' : '\0';
        }
        if (asprintf(&sql, "INSERT INTO %s (%s) VALUES (%s)", t->table, t->cols, params) < 0) {
                sql = NULL;
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(db, sql, &st, err, "prepare insert");
        if (r < 0)
                return r;
        t->bind(st, rec);
        int rc = sqlite3_step(st);
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return bg_error_set(err, EEXIST, "a %s named '%s' already exists", t->noun,
                                    t->name(rec));
        if (rc != SQLITE_DONE) {
                char what[64];
                snprintf(what, sizeof(what), "insert %s", t->noun);
                return store_db_err(db, rc, err, what);
        }
        return 0;
}

int store_rows_update(sqlite3 *db, const struct store_table *t, const void *rec,
                      struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(db, t->update, &st, err, "prepare update");
        if (r < 0)
                return r;
        t->bind(st, rec);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
                char what[64];
                snprintf(what, sizeof(what), "update %s", t->noun);
                return store_db_err(db, rc, err, what);
        }
        if (sqlite3_changes(db) != 1)
                return bg_error_set(err, ENOENT, "no %s with id %s", t->noun, t->id(rec));
        return 0;
}

int store_rows_delete(sqlite3 *db, const struct store_table *t, const char *id,
                      struct bg_error *err)
{
        _cleanup_free_ char *sql = NULL;
        if (asprintf(&sql, "DELETE FROM %s WHERE id=?", t->table) < 0) {
                sql = NULL;
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(db, sql, &st, err, "prepare delete");
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
                char what[64];
                snprintf(what, sizeof(what), "delete %s", t->noun);
                return store_db_err(db, rc, err, what);
        }
        if (sqlite3_changes(db) != 1)
                return bg_error_set(err, ENOENT, "no %s with id %s", t->noun, id);
        return 0;
}

int store_rows_find(sqlite3 *db, const struct store_table *t, const char *where, const char *arg,
                    void *ret, struct bg_error *err)
{
        _cleanup_free_ char *sql = select_sql(t, where);
        if (!sql)
                return bg_error_set(err, ENOMEM, "out of memory");
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(db, sql, &st, err, "prepare lookup");
        if (r < 0)
                return r;
        if (arg)
                sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                t->read(st, ret);
                return 1;
        }
        if (rc != SQLITE_DONE) {
                char what[64];
                snprintf(what, sizeof(what), "look up %s", t->noun);
                return store_db_err(db, rc, err, what);
        }
        return 0;
}

static bool is_hex(const char *s)
{
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

int store_rows_resolve(sqlite3 *db, const struct store_table *t, const char *ref, void *ret,
                       struct bg_error *err)
{
        if (!ref || !ref[0] || strlen(ref) > 63)
                return bg_error_set(err, EINVAL, "a %s is named by its name or an id prefix",
                                    t->noun);
        int r = store_rows_find(db, t, "WHERE name=?1", ref, ret, err);
        if (r != 0)
                return r < 0 ? r : 0;
        if (strlen(ref) < 4 || !is_hex(ref))
                return bg_error_set(err, ENOENT, "no %s named '%s'", t->noun, ref);

        _cleanup_free_ char *sql =
            select_sql(t, "WHERE substr(id, 1, length(?1)) = ?1 ORDER BY created_unix_ms LIMIT 3");
        _cleanup_free_ char *found = calloc(3, t->size);
        if (!sql || !found)
                return bg_error_set(err, ENOMEM, "out of memory");
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        r = prepare(db, sql, &st, err, "prepare lookup");
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 3)
                t->read(st, found + t->size * n++);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
                char what[64];
                snprintf(what, sizeof(what), "look up %s", t->noun);
                return store_db_err(db, rc, err, what);
        }
        if (n == 0)
                return bg_error_set(err, ENOENT, "no %s named '%s' and no %s id starts with it",
                                    t->noun, ref, t->noun);
        if (n > 1)
                return bg_error_set(
                    err, EINVAL, "'%s' matches several %s (%s, %s%s); give more of the id", ref,
                    t->nouns, t->name(found), t->name(found + t->size), n > 2 ? ", …" : "");
        memcpy(ret, found, t->size);
        return 0;
}

int store_rows_list(sqlite3 *db, const struct store_table *t, void **ret, size_t *ret_n,
                    struct bg_error *err)
{
        _cleanup_free_ char *sql = select_sql(t, "ORDER BY created_unix_ms, id");
        if (!sql)
                return bg_error_set(err, ENOMEM, "out of memory");
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(db, sql, &st, err, "prepare list");
        if (r < 0)
                return r;
        _cleanup_free_ char *v = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (array_reserve((void **)&v, &cap, n + 1, t->size) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                t->read(st, v + t->size * n++);
        }
        if (rc != SQLITE_DONE) {
                char what[64];
                snprintf(what, sizeof(what), "list %s", t->nouns);
                return store_db_err(db, rc, err, what);
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}
