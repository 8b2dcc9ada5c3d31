/* The row operations a table of records keyed by id with a unique name
 * needs, written once: insert, update, delete, resolve (exact name, else a
 * unique id prefix) and list. A table describes itself in a struct
 * store_table: its SQL names, the words its messages use, and how a record
 * is bound to the statement's parameters and read back from a row.
 *
 * The columns are listed in one string (cols); bind() binds them as ?1..?N
 * in that order and read() reads them from a row as columns 0..N-1. The
 * first column is the id, the second the name. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>

#include "util/error.h"

struct store_table {
        const char *table;  /* "vms" */
        const char *cols;   /* "id, name, state, ..." */
        const char *update; /* "UPDATE vms SET id=?1, name=?2, ... WHERE id=?1" */
        const char *noun;   /* "VM": "no VM named 'x'" */
        const char *nouns;  /* "VMs": "'x' matches several VMs" */
        size_t size;        /* sizeof the record */
        void (*bind)(sqlite3_stmt *st, const void *rec);
        void (*read)(sqlite3_stmt *st, void *rec); /* clears rec first */
        const char *(*id)(const void *rec);
        const char *(*name)(const void *rec);
};

/* A sqlite failure as -errno with "what: sqlite's message" in err. */
int store_db_err(sqlite3 *db, int rc, struct bg_error *err, const char *what);
/* Text column col into dst (len bytes, truncated; NULL reads as ""). */
void store_copy_col(sqlite3_stmt *st, int col, char *dst, size_t len);

/* -EEXIST naming the taken name when the id or name is not new. */
int store_rows_insert(sqlite3 *db, const struct store_table *t, const void *rec,
                      struct bg_error *err);
/* Replaces the row with rec's id; -ENOENT when there is none. */
int store_rows_update(sqlite3 *db, const struct store_table *t, const void *rec,
                      struct bg_error *err);
int store_rows_delete(sqlite3 *db, const struct store_table *t, const char *id,
                      struct bg_error *err);
/* By exact name, else by unique id prefix (at least 4 hex). -ENOENT, or
 * -EINVAL when the prefix is ambiguous (naming the first matches). */
int store_rows_resolve(sqlite3 *db, const struct store_table *t, const char *ref, void *ret,
                       struct bg_error *err);
/* Every row, by creation time then id (created_unix_ms), into a malloc'ed
 * array of records. */
int store_rows_list(sqlite3 *db, const struct store_table *t, void **ret, size_t *ret_n,
                    struct bg_error *err);
/* The first row of "SELECT cols FROM table WHERE <where>" with ?1 bound to
 * arg (may be NULL: nothing bound): 1 and *ret, 0 when there is none. */
int store_rows_find(sqlite3 *db, const struct store_table *t, const char *where, const char *arg,
                    void *ret, struct bg_error *err);
