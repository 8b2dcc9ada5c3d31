#include "template_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_rows.h"
#include "util/array.h"
#include "util/macro.h"
#include "util/strtable.h"

static const char *const tpl_state_names[_TPL_STATE_MAX] = {
    [TPL_BUILDING] = "building",
    [TPL_READY] = "ready",
    [TPL_ERROR] = "error",
};

DEFINE_STRING_TABLE_LOOKUP(tpl_state, enum tpl_state, tpl_state_names)

#define TPL_COLS                                                                                   \
        "id, name, state, error, auto, auto_key, image, kernel, vcpu, memory_mib, "                \
        "work_disk_bytes, vmm, accel, source_vm, tap, lease, pid, pid_start, created_unix_ms, "    \
        "updated_unix_ms"

static void bind_all(sqlite3_stmt *st, const void *rec)
{
        const struct tpl_record *t = rec;
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, tpl_state_to_string(t->state), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, t->error, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, t->is_auto);
        sqlite3_bind_text(st, 6, t->auto_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, t->image, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, t->kernel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, t->vcpu);
        sqlite3_bind_int64(st, 10, t->memory_mib);
        sqlite3_bind_int64(st, 11, (sqlite3_int64)t->work_disk_bytes);
        sqlite3_bind_text(st, 12, t->vmm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, t->accel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 14, t->source_vm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 15, t->tap, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 16, t->lease, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 17, t->pid);
        sqlite3_bind_int64(st, 18, (sqlite3_int64)t->pid_start);
        sqlite3_bind_int64(st, 19, t->created_unix_ms);
        sqlite3_bind_int64(st, 20, t->updated_unix_ms);
}

static void read_row(sqlite3_stmt *st, void *rec)
{
        struct tpl_record *t = rec;
        memset(t, 0, sizeof(*t));
        store_copy_col(st, 0, t->id, sizeof(t->id));
        store_copy_col(st, 1, t->name, sizeof(t->name));
        int s = tpl_state_from_string((const char *)sqlite3_column_text(st, 2));
        t->state = s < 0 ? TPL_ERROR : (enum tpl_state)s;
        store_copy_col(st, 3, t->error, sizeof(t->error));
        t->is_auto = sqlite3_column_int(st, 4) != 0;
        store_copy_col(st, 5, t->auto_key, sizeof(t->auto_key));
        store_copy_col(st, 6, t->image, sizeof(t->image));
        store_copy_col(st, 7, t->kernel, sizeof(t->kernel));
        t->vcpu = (uint32_t)sqlite3_column_int64(st, 8);
        t->memory_mib = (uint32_t)sqlite3_column_int64(st, 9);
        t->work_disk_bytes = (uint64_t)sqlite3_column_int64(st, 10);
        store_copy_col(st, 11, t->vmm, sizeof(t->vmm));
        store_copy_col(st, 12, t->accel, sizeof(t->accel));
        store_copy_col(st, 13, t->source_vm, sizeof(t->source_vm));
        store_copy_col(st, 14, t->tap, sizeof(t->tap));
        store_copy_col(st, 15, t->lease, sizeof(t->lease));
        t->pid = (int32_t)sqlite3_column_int64(st, 16);
        t->pid_start = (uint64_t)sqlite3_column_int64(st, 17);
        t->created_unix_ms = sqlite3_column_int64(st, 18);
        t->updated_unix_ms = sqlite3_column_int64(st, 19);
}

static const char *rec_id(const void *rec)
{
        return ((const struct tpl_record *)rec)->id;
}

static const char *rec_name(const void *rec)
{
        return ((const struct tpl_record *)rec)->name;
}

static const struct store_table templates_table = {
    .table = "templates",
    .cols = TPL_COLS,
    .update = "UPDATE templates SET id=?1, name=?2, state=?3, error=?4, auto=?5, auto_key=?6, "
              "image=?7, kernel=?8, vcpu=?9, memory_mib=?10, work_disk_bytes=?11, vmm=?12, "
              "accel=?13, source_vm=?14, tap=?15, lease=?16, pid=?17, pid_start=?18, "
              "created_unix_ms=?19, updated_unix_ms=?20 WHERE id=?1",
    .noun = "template",
    .nouns = "templates",
    .size = sizeof(struct tpl_record),
    .bind = bind_all,
    .read = read_row,
    .id = rec_id,
    .name = rec_name,
};

int tpl_store_insert(sqlite3 *db, const struct tpl_record *t, struct bg_error *err)
{
        return store_rows_insert(db, &templates_table, t, err);
}

int tpl_store_update(sqlite3 *db, const struct tpl_record *t, struct bg_error *err)
{
        return store_rows_update(db, &templates_table, t, err);
}

int tpl_store_delete(sqlite3 *db, const char *id, struct bg_error *err)
{
        return store_rows_delete(db, &templates_table, id, err);
}

int tpl_store_resolve(sqlite3 *db, const char *ref, struct tpl_record *ret, struct bg_error *err)
{
        return store_rows_resolve(db, &templates_table, ref, ret, err);
}

int tpl_store_list(sqlite3 *db, struct tpl_record **ret, size_t *ret_n, struct bg_error *err)
{
        void *v;
        int r = store_rows_list(db, &templates_table, &v, ret_n, err);
        if (r >= 0)
                *ret = v;
        return r;
}

int tpl_store_find_auto(sqlite3 *db, const char *key, struct tpl_record *ret, struct bg_error *err)
{
        return store_rows_find(db, &templates_table,
                               "WHERE auto=1 AND auto_key=?1 ORDER BY created_unix_ms DESC LIMIT 1",
                               key, ret, err);
}

int tpl_store_clones(sqlite3 *db, const char *id, size_t *ret_n, char *names, size_t names_len,
                     struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(
            db, "SELECT name FROM vms WHERE template_id=? ORDER BY created_unix_ms, id", -1, &st,
            NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare lookup");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        size_t n = 0, used = 0;
        if (names && names_len)
                names[0] = '\0';
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(st, 0);
                if (names && used + 1 < names_len) {
                        int w = snprintf(names + used, names_len - used, "%s%s", n ? ", " : "",
                                         name ? name : "");
                        used = w < 0 ? used : used + (size_t)w;
                        if (used >= names_len)
                                used = names_len - 1;
                }
                n++;
        }
        if (rc != SQLITE_DONE)
                return store_db_err(db, rc, err, "list clones");
        *ret_n = n;
        return 0;
}
