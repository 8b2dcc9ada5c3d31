#include "forward_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_rows.h"
#include "util/macro.h"

int forward_store_list(sqlite3 *db, const char *vm_id, struct forward_row **ret, size_t *ret_n,
                       struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db,
                                    vm_id ? "SELECT vm_id, address, host_port, guest_port FROM "
                                            "vm_forwards WHERE vm_id=? ORDER BY host_port, address"
                                          : "SELECT vm_id, address, host_port, guest_port FROM "
                                            "vm_forwards ORDER BY vm_id, host_port, address",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare forward list");
        if (vm_id)
                sqlite3_bind_text(st, 1, vm_id, -1, SQLITE_STATIC);
        struct forward_row *rows = NULL;
        size_t n = 0, cap = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 8;
                        struct forward_row *nr = realloc(rows, cap * sizeof(*rows));
                        if (!nr) {
                                free(rows);
                                return bg_error_set(err, ENOMEM, "out of memory");
                        }
                        rows = nr;
                }
                struct forward_row *r = &rows[n++];
                memset(r, 0, sizeof(*r));
                store_copy_col(st, 0, r->vm_id, sizeof(r->vm_id));
                store_copy_col(st, 1, r->address, sizeof(r->address));
                r->host_port = (uint16_t)sqlite3_column_int(st, 2);
                r->guest_port = (uint16_t)sqlite3_column_int(st, 3);
        }
        if (rc != SQLITE_DONE) {
                free(rows);
                return store_db_err(db, rc, err, "list forwards");
        }
        *ret = rows;
        *ret_n = n;
        return 0;
}

int forward_store_insert(sqlite3 *db, const struct forward_row *rows, size_t n,
                         struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "begin forward insert");
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO vm_forwards (vm_id, address, host_port, guest_port) "
                                "VALUES (?,?,?,?)",
                                -1, &ins, NULL);
        for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
                sqlite3_reset(ins);
                sqlite3_bind_text(ins, 1, rows[i].vm_id, -1, SQLITE_STATIC);
                sqlite3_bind_text(ins, 2, rows[i].address, -1, SQLITE_STATIC);
                sqlite3_bind_int(ins, 3, rows[i].host_port);
                sqlite3_bind_int(ins, 4, rows[i].guest_port);
                rc = sqlite3_step(ins);
                if (rc == SQLITE_DONE)
                        rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK) {
                int r = (rc & 0xff) == SQLITE_CONSTRAINT
                            ? bg_error_set(err, EEXIST, "a host port is forwarded already")
                            : store_db_err(db, rc, err, "insert forward");
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                return store_db_err(db, rc, err, "commit forwards");
        }
        return 0;
}

int forward_store_delete(sqlite3 *db, const char *vm_id, const char *address, uint16_t host_port,
                         struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(
            db,
            address ? "DELETE FROM vm_forwards WHERE vm_id=? AND address=? AND host_port=?"
                    : "DELETE FROM vm_forwards WHERE vm_id=?",
            -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare forward delete");
        sqlite3_bind_text(st, 1, vm_id, -1, SQLITE_STATIC);
        if (address) {
                sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 3, host_port);
        }
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : store_db_err(db, rc, err, "delete forward");
}
