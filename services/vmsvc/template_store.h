/* Snapshot templates in vms.db (table templates, migration 3 in vm_store.c).
 * A template is a booted guest, paused and saved: its RAM file, device
 * state and frozen disks live in STATE/templates/<id>/. VMs cloned from it
 * keep its id in vms.template_id. vmsvc is the only writer. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum tpl_state {
        TPL_BUILDING, /* its builder VM is booting or being saved */
        TPL_READY,    /* clones can start from it */
        TPL_ERROR,    /* the build failed (error says why) */
        _TPL_STATE_MAX,
};

const char *tpl_state_to_string(enum tpl_state s);
int tpl_state_from_string(const char *s); /* -EINVAL if unknown */

struct tpl_record {
        char id[33]; /* 32 hex; names its directory */
        char name[64];
        enum tpl_state state;
        char error[256];
        bool is_auto;      /* kept by vm.template = "auto", not by the user */
        char auto_key[65]; /* what an automatic template was made from (hex) */
        char image[256];
        char kernel[128];
        uint32_t vcpu;
        uint32_t memory_mib;
        uint64_t work_disk_bytes;
        char vmm[16];
        char accel[8];
        char source_vm[64]; /* --from VM, "" = a fresh VM of image + kernel */
        /* While building: the builder VM's tap and lease name and its VMM. */
        char tap[16];
        char lease[64];
        int32_t pid;
        uint64_t pid_start;
        int64_t created_unix_ms;
        int64_t updated_unix_ms;
};

int tpl_store_insert(sqlite3 *db, const struct tpl_record *t, struct bg_error *err);
int tpl_store_update(sqlite3 *db, const struct tpl_record *t, struct bg_error *err);
int tpl_store_delete(sqlite3 *db, const char *id, struct bg_error *err);
/* By exact name, else by unique id prefix (4+ hex). -ENOENT, -EINVAL when
 * ambiguous. */
int tpl_store_resolve(sqlite3 *db, const char *ref, struct tpl_record *ret, struct bg_error *err);
/* All rows, oldest first; *ret is malloc'ed. */
int tpl_store_list(sqlite3 *db, struct tpl_record **ret, size_t *ret_n, struct bg_error *err);
/* The automatic template made for key: 1 and *ret when there is one, 0 when
 * not. */
int tpl_store_find_auto(sqlite3 *db, const char *key, struct tpl_record *ret, struct bg_error *err);
/* How many VMs were cloned from template id; up to names_len bytes of their
 * names, comma separated, in names (may be NULL). */
int tpl_store_clones(sqlite3 *db, const char *id, size_t *ret_n, char *names, size_t names_len,
                     struct bg_error *err);
