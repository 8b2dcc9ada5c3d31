#include "vm_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "forward_store.h"
#include "store/store.h"
#include "util/labels.h"
#include "store/store_rows.h"
#include "util/macro.h"

static const char *const state_names[_VM_STATE_MAX] = {
    [VM_CREATED] = "created",   [VM_STARTING] = "starting", [VM_RUNNING] = "running",
    [VM_STOPPING] = "stopping", [VM_STOPPED] = "stopped",   [VM_ERROR] = "error",
    [VM_PAUSED] = "paused",
};

const char *vm_state_to_string(enum vm_state s)
{
        if ((int)s < 0 || s >= _VM_STATE_MAX)
                return NULL;
        return state_names[s];
}

int vm_state_from_string(const char *s)
{
        for (int i = 0; s && i < _VM_STATE_MAX; i++)
                if (strcmp(s, state_names[i]) == 0)
                        return i;
        return -EINVAL;
}

/* v1 made a minimal table with no VMs ever stored in it; v2 is the registry. */
const struct store_migration vm_store_migrations[] = {
    {1, "CREATE TABLE vms ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  state TEXT NOT NULL,"
        "  created_unix_ms INTEGER NOT NULL,"
        "  updated_unix_ms INTEGER NOT NULL"
        ");"},
    {2, "ALTER TABLE vms ADD COLUMN error TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN vcpu INTEGER NOT NULL DEFAULT 1;"
        "ALTER TABLE vms ADD COLUMN memory_mib INTEGER NOT NULL DEFAULT 512;"
        "ALTER TABLE vms ADD COLUMN work_disk_bytes INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE vms ADD COLUMN image TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN kernel TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN vmm TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN accel TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN ip TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN mac TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN tap TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE vms ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE vms ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE vms ADD COLUMN host_key TEXT NOT NULL DEFAULT '';"},
    /* v3: snapshot templates, and the template a VM was cloned from. */
    {3, "ALTER TABLE vms ADD COLUMN template_id TEXT NOT NULL DEFAULT '';"
        "CREATE TABLE templates ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  state TEXT NOT NULL,"
        "  error TEXT NOT NULL DEFAULT '',"
        "  auto INTEGER NOT NULL DEFAULT 0,"
        "  auto_key TEXT NOT NULL DEFAULT '',"
        "  image TEXT NOT NULL,"
        "  kernel TEXT NOT NULL,"
        "  vcpu INTEGER NOT NULL,"
        "  memory_mib INTEGER NOT NULL,"
        "  work_disk_bytes INTEGER NOT NULL,"
        "  vmm TEXT NOT NULL,"
        "  accel TEXT NOT NULL DEFAULT '',"
        "  source_vm TEXT NOT NULL DEFAULT '',"
        "  tap TEXT NOT NULL DEFAULT '',"
        "  lease TEXT NOT NULL DEFAULT '',"
        "  pid INTEGER NOT NULL DEFAULT 0,"
        "  pid_start INTEGER NOT NULL DEFAULT 0,"
        "  created_unix_ms INTEGER NOT NULL,"
        "  updated_unix_ms INTEGER NOT NULL"
        ");"},
    /* v4: user labels (vm create --label), kept apart from the row so that
     * struct vm_record stays small. */
    {4, "CREATE TABLE vm_labels ("
        "  vm_id TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  value TEXT NOT NULL,"
        "  PRIMARY KEY (vm_id, key)"
        ");"},
    /* v5: whether a VMM was ever started for the VM; rows from before were. */
    {5, "ALTER TABLE vms ADD COLUMN launched INTEGER NOT NULL DEFAULT 1;"},
    /* v6: how the root disk was made (reflink, sparse copy, qcow2 overlay);
     * '' for rows from before, which `vm show` leaves out. */
    {6, "ALTER TABLE vms ADD COLUMN root_disk TEXT NOT NULL DEFAULT '';"},
    /* v7: detached port forwards (forward_store.h), one per host address and
     * port. */
    {7, "CREATE TABLE vm_forwards ("
        "  vm_id TEXT NOT NULL,"
        "  address TEXT NOT NULL,"
        "  host_port INTEGER NOT NULL,"
        "  guest_port INTEGER NOT NULL,"
        "  PRIMARY KEY (address, host_port)"
        ");"},
    /* v8: what runs as the guest's init: 'image' (its own) or 'agent'
     * (banger's agent, vm create --init agent); rows from before: 'image'. */
    {8, "ALTER TABLE vms ADD COLUMN init TEXT NOT NULL DEFAULT 'image';"},
};
const size_t vm_store_n_migrations = ELEMENTSOF(vm_store_migrations);

#define COLS                                                                                       \
        "id, name, state, error, vcpu, memory_mib, work_disk_bytes, image, kernel, vmm, accel, "   \
        "ip, mac, tap, pid, pid_start, host_key, created_unix_ms, updated_unix_ms, template_id, "  \
        "launched, root_disk, init"

static void bind_all(sqlite3_stmt *st, const void *rec)
{
        const struct vm_record *r = rec;
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, vm_state_to_string(r->state), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, r->vcpu);
        sqlite3_bind_int64(st, 6, r->memory_mib);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->work_disk_bytes);
        sqlite3_bind_text(st, 8, r->image, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, r->kernel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, r->vmm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, r->accel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, r->ip, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, r->mac, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 14, r->tap, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 15, r->pid);
        sqlite3_bind_int64(st, 16, (sqlite3_int64)r->pid_start);
        sqlite3_bind_text(st, 17, r->host_key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 18, r->created_unix_ms);
        sqlite3_bind_int64(st, 19, r->updated_unix_ms);
        sqlite3_bind_text(st, 20, r->template_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 21, r->launched ? 1 : 0);
        sqlite3_bind_text(st, 22, r->root_disk, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 23, r->agent_init ? "agent" : "image", -1, SQLITE_STATIC);
}

static void read_row(sqlite3_stmt *st, void *rec)
{
        struct vm_record *r = rec;
        memset(r, 0, sizeof(*r));
        store_copy_col(st, 0, r->id, sizeof(r->id));
        store_copy_col(st, 1, r->name, sizeof(r->name));
        int s = vm_state_from_string((const char *)sqlite3_column_text(st, 2));
        r->state = s < 0 ? VM_ERROR : (enum vm_state)s;
        store_copy_col(st, 3, r->error, sizeof(r->error));
        r->vcpu = (uint32_t)sqlite3_column_int64(st, 4);
        r->memory_mib = (uint32_t)sqlite3_column_int64(st, 5);
        r->work_disk_bytes = (uint64_t)sqlite3_column_int64(st, 6);
        store_copy_col(st, 7, r->image, sizeof(r->image));
        store_copy_col(st, 8, r->kernel, sizeof(r->kernel));
        store_copy_col(st, 9, r->vmm, sizeof(r->vmm));
        store_copy_col(st, 10, r->accel, sizeof(r->accel));
        store_copy_col(st, 11, r->ip, sizeof(r->ip));
        store_copy_col(st, 12, r->mac, sizeof(r->mac));
        store_copy_col(st, 13, r->tap, sizeof(r->tap));
        r->pid = (int32_t)sqlite3_column_int64(st, 14);
        r->pid_start = (uint64_t)sqlite3_column_int64(st, 15);
        store_copy_col(st, 16, r->host_key, sizeof(r->host_key));
        r->created_unix_ms = sqlite3_column_int64(st, 17);
        r->updated_unix_ms = sqlite3_column_int64(st, 18);
        store_copy_col(st, 19, r->template_id, sizeof(r->template_id));
        r->launched = sqlite3_column_int(st, 20) != 0;
        store_copy_col(st, 21, r->root_disk, sizeof(r->root_disk));
        const char *init = (const char *)sqlite3_column_text(st, 22);
        r->agent_init = init && streq(init, "agent");
}

static const char *rec_id(const void *rec)
{
        return ((const struct vm_record *)rec)->id;
}

static const char *rec_name(const void *rec)
{
        return ((const struct vm_record *)rec)->name;
}

static const struct store_table vms_table = {
    .table = "vms",
    .cols = COLS,
    .update = "UPDATE vms SET id=?1, name=?2, state=?3, error=?4, vcpu=?5, memory_mib=?6, "
              "work_disk_bytes=?7, image=?8, kernel=?9, vmm=?10, accel=?11, ip=?12, mac=?13, "
              "tap=?14, pid=?15, pid_start=?16, host_key=?17, created_unix_ms=?18, "
              "updated_unix_ms=?19, template_id=?20, launched=?21, root_disk=?22, "
              "init=?23 "
              "WHERE id=?1",
    .noun = "VM",
    .nouns = "VMs",
    .size = sizeof(struct vm_record),
    .bind = bind_all,
    .read = read_row,
    .id = rec_id,
    .name = rec_name,
};

int vm_store_insert(sqlite3 *db, const struct vm_record *rec, struct bg_error *err)
{
        return store_rows_insert(db, &vms_table, rec, err);
}

int vm_store_update(sqlite3 *db, const struct vm_record *rec, struct bg_error *err)
{
        return store_rows_update(db, &vms_table, rec, err);
}

int vm_store_delete(sqlite3 *db, const char *id, struct bg_error *err)
{
        int r = vm_store_set_labels(db, id, NULL, NULL, 0, err);
        if (r < 0)
                return r;
        r = forward_store_delete(db, id, NULL, 0, err);
        if (r < 0)
                return r;
        return store_rows_delete(db, &vms_table, id, err);
}

int vm_store_resolve(sqlite3 *db, const char *ref, struct vm_record *ret, struct bg_error *err)
{
        return store_rows_resolve(db, &vms_table, ref, ret, err);
}

int vm_store_list(sqlite3 *db, struct vm_record **ret, size_t *ret_n, struct bg_error *err)
{
        void *v;
        int r = store_rows_list(db, &vms_table, &v, ret_n, err);
        if (r >= 0)
                *ret = v;
        return r;
}

void vm_new_id(char id[33])
{
        uint8_t b[16];
        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
                for (size_t i = 0; i < sizeof(b); i++)
                        b[i] = (uint8_t)rand();
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(id + 2 * i, 3, "%02x", b[i]);
}

int vm_generate_name(sqlite3 *db, const char *id, char name[64], struct bg_error *err)
{
        /* "vm-" + the first 6 hex of the id, longer if taken. */
        for (size_t len = 6; len <= 32; len += 2) {
                snprintf(name, 64, "vm-%.*s", (int)len, id);
                struct vm_record r;
                struct bg_error e = {0};
                int rr = vm_store_resolve(db, name, &r, &e);
                if (rr == -ENOENT)
                        return 0;
                if (rr < 0 && rr != -EINVAL)
                        return bg_error_set(err, -rr, "%s", e.msg);
        }
        return bg_error_set(err, EEXIST, "could not find a free name for VM %s", id);
}

int vm_store_set_labels(sqlite3 *db, const char *id, const char *const *keys,
                        const char *const *values, size_t n, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *del = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
        int rc = sqlite3_prepare_v2(db, "DELETE FROM vm_labels WHERE vm_id=?", -1, &del, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare label delete");
        sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(del);
        if (rc != SQLITE_DONE)
                return store_db_err(db, rc, err, "delete labels");
        if (n == 0)
                return 0;
        rc = sqlite3_prepare_v2(db, "INSERT INTO vm_labels (vm_id, key, value) VALUES (?,?,?)", -1,
                                &ins, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare label insert");
        for (size_t i = 0; i < n; i++) {
                sqlite3_reset(ins);
                sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(ins, 2, keys[i], -1, SQLITE_STATIC);
                sqlite3_bind_text(ins, 3, values[i], -1, SQLITE_STATIC);
                rc = sqlite3_step(ins);
                if (rc != SQLITE_DONE)
                        return store_db_err(db, rc, err, "insert label");
        }
        return 0;
}

int vm_store_get_labels(sqlite3 *db, const char *id, char ***ret_keys, char ***ret_values,
                        size_t *ret_n, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(
            db, "SELECT key, value FROM vm_labels WHERE vm_id=? ORDER BY key", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_db_err(db, rc, err, "prepare label list");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        char **k = NULL, **v = NULL;
        size_t n = 0, cap = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 8;
                        char **nk = realloc(k, cap * sizeof(*k));
                        if (nk)
                                k = nk;
                        char **nv = nk ? realloc(v, cap * sizeof(*v)) : NULL;
                        if (nv)
                                v = nv;
                        if (!nk || !nv)
                                goto oom;
                }
                const unsigned char *kt = sqlite3_column_text(st, 0);
                const unsigned char *vt = sqlite3_column_text(st, 1);
                k[n] = strdup(kt ? (const char *)kt : "");
                v[n] = strdup(vt ? (const char *)vt : "");
                n++;
                if (!k[n - 1] || !v[n - 1])
                        goto oom;
        }
        if (rc != SQLITE_DONE) {
                bg_labels_free(k, v, n);
                return store_db_err(db, rc, err, "list labels");
        }
        *ret_keys = k;
        *ret_values = v;
        *ret_n = n;
        return 0;
oom:
        bg_labels_free(k, v, n);
        return bg_error_set(err, ENOMEM, "out of memory");
}
