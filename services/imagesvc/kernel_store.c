#include "kernel_store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc.h"
#include "store/store.h"
#include "util/fileio.h"
#include "util/macro.h"

const char kernel_store_migration_2[] =
    "ALTER TABLE kernels ADD COLUMN format TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE kernels ADD COLUMN compression TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE kernels ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE kernels ADD COLUMN source TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE kernels ADD COLUMN banner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE kernels ADD COLUMN has_bzimage INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE kernels ADD COLUMN has_modules INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE kernels ADD COLUMN has_initrd INTEGER NOT NULL DEFAULT 0;"
    /* newline-separated lists */
    "ALTER TABLE kernels ADD COLUMN initramfs_modules TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE kernels ADD COLUMN missing_modules TEXT NOT NULL DEFAULT '';";

static char *join_lines(char **v, size_t n)
{
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
                len += strlen(v[i]) + 1;
        char *s = malloc(len);
        if (!s)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                k += (size_t)sprintf(s + k, "%s%s", i ? "\n" : "", v[i]);
        s[k] = '\0';
        return s;
}

static int split_lines(const char *s, char ***ret, size_t *ret_n)
{
        *ret = NULL;
        *ret_n = 0;
        if (!s || !s[0])
                return 0;
        size_t n = 1;
        for (const char *p = s; *p; p++)
                n += *p == '\n';
        char **v = calloc(n, sizeof(char *));
        if (!v)
                return -ENOMEM;
        size_t k = 0;
        for (const char *p = s;;) {
                const char *e = strchr(p, '\n');
                v[k] = e ? strndup(p, (size_t)(e - p)) : strdup(p);
                if (!v[k]) {
                        for (size_t i = 0; i < k; i++)
                                free(v[i]);
                        free(v);
                        return -ENOMEM;
                }
                k++;
                if (!e)
                        break;
                p = e + 1;
        }
        *ret = v;
        *ret_n = k;
        return 0;
}

static int db_fail(sqlite3 *db, int rc, const char *what, struct bg_error *err)
{
        return bg_error_set(err, -store_errno(rc), "kernels table: %s: %s", what,
                            sqlite3_errmsg(db));
}

int kernel_store_put(sqlite3 *db, const Banger__V1__Kernel *k, struct bg_error *err)
{
        static const char sql[] =
            "INSERT INTO kernels (id, name, version, sha256, created_unix_ms, format, "
            "compression, size, source, banner, has_bzimage, has_modules, has_initrd, "
            "initramfs_modules, missing_modules) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
            "ON CONFLICT(name) DO UPDATE SET version = ?3, sha256 = ?4, "
            "created_unix_ms = ?5, format = ?6, compression = ?7, size = ?8, source = ?9, "
            "banner = ?10, has_bzimage = ?11, has_modules = ?12, has_initrd = ?13, "
            "initramfs_modules = ?14, missing_modules = ?15";
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_fail(db, rc, "prepare insert", err);
        char id[24];
        rpc_new_op_id(id, sizeof(id));
        _cleanup_free_ char *mods = join_lines(k->initramfs_modules, k->n_initramfs_modules);
        _cleanup_free_ char *missing = join_lines(k->missing_modules, k->n_missing_modules);
        if (!mods || !missing)
                return bg_error_set(err, ENOMEM, "out of memory");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, k->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, k->version, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, k->sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, k->created_unix_ms);
        sqlite3_bind_text(st, 6, k->format, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, k->compression, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)k->size);
        sqlite3_bind_text(st, 9, k->source, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 10, k->banner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 11, k->bzimage_path[0] != '\0');
        sqlite3_bind_int(st, 12, k->modules_path[0] != '\0');
        sqlite3_bind_int(st, 13, k->initrd_path[0] != '\0');
        sqlite3_bind_text(st, 14, mods, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 15, missing, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return db_fail(db, rc, "insert", err);
        return 0;
}

static char *dup_or_empty(const unsigned char *s)
{
        return strdup(s ? (const char *)s : "");
}

static char *path_of(const char *kernels_dir, const char *name, const char *file, bool present)
{
        if (!present)
                return strdup("");
        char *p = NULL;
        if (file) {
                if (asprintf(&p, "%s/%s/%s", kernels_dir, name, file) < 0)
                        return NULL;
        } else if (asprintf(&p, "%s/%s", kernels_dir, name) < 0) {
                return NULL;
        }
        return p;
}

#define ROW_COLUMNS                                                                                \
        "name, version, sha256, created_unix_ms, format, compression, size, source, banner, "      \
        "has_bzimage, has_modules, has_initrd, initramfs_modules, missing_modules"

static int row_to_kernel(sqlite3_stmt *st, const char *kernels_dir, Banger__V1__Kernel *k)
{
        k->name = dup_or_empty(sqlite3_column_text(st, 0));
        if (!k->name)
                return -ENOMEM;
        k->version = dup_or_empty(sqlite3_column_text(st, 1));
        k->sha256 = dup_or_empty(sqlite3_column_text(st, 2));
        k->created_unix_ms = sqlite3_column_int64(st, 3);
        k->format = dup_or_empty(sqlite3_column_text(st, 4));
        k->compression = dup_or_empty(sqlite3_column_text(st, 5));
        k->size = (uint64_t)sqlite3_column_int64(st, 6);
        k->source = dup_or_empty(sqlite3_column_text(st, 7));
        k->banner = dup_or_empty(sqlite3_column_text(st, 8));
        bool has_bz = sqlite3_column_int(st, 9), has_mod = sqlite3_column_int(st, 10),
             has_initrd = sqlite3_column_int(st, 11);
        k->dir = path_of(kernels_dir, k->name, NULL, true);
        k->bzimage_path = path_of(kernels_dir, k->name, KERNEL_FILE_BZIMAGE, has_bz);
        k->vmlinux_path = path_of(kernels_dir, k->name, KERNEL_FILE_VMLINUX, true);
        k->initramfs_path = path_of(kernels_dir, k->name, KERNEL_FILE_INITRAMFS, true);
        k->modules_path = path_of(kernels_dir, k->name, KERNEL_FILE_MODULES, has_mod);
        k->initrd_path = path_of(kernels_dir, k->name, KERNEL_FILE_INITRD, has_initrd);
        if (!k->version || !k->sha256 || !k->format || !k->compression || !k->source ||
            !k->banner || !k->dir || !k->bzimage_path || !k->vmlinux_path || !k->initramfs_path ||
            !k->modules_path || !k->initrd_path)
                return -ENOMEM;
        if (split_lines((const char *)sqlite3_column_text(st, 12), &k->initramfs_modules,
                        &k->n_initramfs_modules) < 0 ||
            split_lines((const char *)sqlite3_column_text(st, 13), &k->missing_modules,
                        &k->n_missing_modules) < 0)
                return -ENOMEM;
        return 0;
}

static void free_str(char *s)
{
        if (s && s != protobuf_c_empty_string)
                free(s);
}

void kernel_clear(Banger__V1__Kernel *k)
{
        if (!k)
                return;
        char **strs[] = {&k->name,         &k->version,        &k->format,       &k->compression,
                         &k->sha256,       &k->source,         &k->dir,          &k->bzimage_path,
                         &k->vmlinux_path, &k->initramfs_path, &k->modules_path, &k->initrd_path,
                         &k->banner};
        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                free_str(*strs[i]);
        for (size_t i = 0; i < k->n_initramfs_modules; i++)
                free(k->initramfs_modules[i]);
        free(k->initramfs_modules);
        for (size_t i = 0; i < k->n_missing_modules; i++)
                free(k->missing_modules[i]);
        free(k->missing_modules);
        banger__v1__kernel__init(k);
}

int kernel_store_get(sqlite3 *db, const char *kernels_dir, const char *name,
                     Banger__V1__Kernel *out, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT " ROW_COLUMNS " FROM kernels WHERE name = ?1", -1,
                                    &st, NULL);
        if (rc != SQLITE_OK)
                return db_fail(db, rc, "prepare select", err);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return bg_error_set(err, ENOENT, "kernel '%s' not found", name);
        if (rc != SQLITE_ROW)
                return db_fail(db, rc, "select", err);
        if (row_to_kernel(st, kernels_dir, out) < 0) {
                kernel_clear(out);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

int kernel_store_list(sqlite3 *db, const char *kernels_dir, Banger__V1__ListKernelsResponse *out,
                      struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT " ROW_COLUMNS " FROM kernels ORDER BY name", -1,
                                    &st, NULL);
        if (rc != SQLITE_OK)
                return db_fail(db, rc, "prepare select", err);
        Banger__V1__Kernel **v = NULL;
        size_t n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                Banger__V1__Kernel **nv = realloc(v, (n + 1) * sizeof(*v));
                Banger__V1__Kernel *k = nv ? malloc(sizeof(*k)) : NULL;
                if (nv)
                        v = nv;
                if (!k) {
                        rc = SQLITE_NOMEM;
                        break;
                }
                banger__v1__kernel__init(k);
                v[n++] = k;
                if (row_to_kernel(st, kernels_dir, k) < 0) {
                        rc = SQLITE_NOMEM;
                        break;
                }
        }
        if (rc != SQLITE_DONE) {
                for (size_t i = 0; i < n; i++) {
                        kernel_clear(v[i]);
                        free(v[i]);
                }
                free(v);
                return rc == SQLITE_NOMEM ? bg_error_set(err, ENOMEM, "out of memory")
                                          : db_fail(db, rc, "select", err);
        }
        out->kernels = v;
        out->n_kernels = n;
        return 0;
}

int kernel_store_exists(sqlite3 *db, const char *name, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM kernels WHERE name = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_fail(db, rc, "prepare select", err);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return db_fail(db, rc, "select", err);
}

int kernel_store_delete(sqlite3 *db, const char *name, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "DELETE FROM kernels WHERE name = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_fail(db, rc, "prepare delete", err);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return db_fail(db, rc, "delete", err);
        if (sqlite3_changes(db) == 0)
                return bg_error_set(err, ENOENT, "kernel '%s' not found", name);
        return 0;
}

static json_t *strv_json(char **v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

int kernel_write_metadata(const Banger__V1__Kernel *k, const char *path, struct bg_error *err)
{
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I}", "name", k->name, "version",
                      k->version, "format", k->format, "compression", k->compression, "size",
                      (json_int_t)k->size, "sha256", k->sha256, "source", k->source, "banner",
                      k->banner, "created_unix_ms", (json_int_t)k->created_unix_ms);
        if (!o)
                return bg_error_set(err, ENOMEM, "kernel metadata: cannot build JSON");
        json_object_set_new(o, "initramfs_modules",
                            strv_json(k->initramfs_modules, k->n_initramfs_modules));
        json_object_set_new(o, "missing_modules",
                            strv_json(k->missing_modules, k->n_missing_modules));
        json_object_set_new(o, "has_bzimage", json_boolean(k->bzimage_path[0]));
        json_object_set_new(o, "has_modules", json_boolean(k->modules_path[0]));
        json_object_set_new(o, "has_initrd", json_boolean(k->initrd_path[0]));
        _cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(o);
        if (!text)
                return bg_error_set(err, ENOMEM, "kernel metadata: cannot build JSON");
        return write_file_atomic(path, text, strlen(text), 0644, err);
}
