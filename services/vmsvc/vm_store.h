/* The VM registry in vms.db. One row per VM; vmsvc is its only writer.
 * The same database holds the templates (template_store.h). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

enum vm_state {
        VM_CREATED,
        VM_STARTING,
        VM_RUNNING,
        VM_STOPPING,
        VM_STOPPED,
        VM_ERROR,
        VM_PAUSED, /* the VMM runs, its vCPUs are stopped (vm pause) */
        _VM_STATE_MAX,
};

const char *vm_state_to_string(enum vm_state s);
int vm_state_from_string(const char *s); /* -EINVAL if unknown */

struct vm_record {
        char id[33]; /* 32 hex */
        char name[64];
        enum vm_state state;
        char error[256];
        uint32_t vcpu;
        uint32_t memory_mib;
        uint64_t work_disk_bytes;
        char image[256];
        char kernel[128];
        char vmm[16];
        char accel[8];
        char ip[16];
        char mac[18];
        char tap[16];
        int32_t pid;
        uint64_t pid_start;
        char host_key[256];
        char template_id[33]; /* the template it was cloned from; "" = booted cold */
        char root_disk[16];   /* how its root disk was made: disk_clone_method_to_string
                                 ("reflink", "sparse-copy", "qcow2-overlay"); "" before */
        bool launched;        /* a VMM was started for it at least once: false while
                                 its create has not got that far (reconcile undoes
                                 such a create whole) */
        bool agent_init;      /* banger's agent is the guest's init (vm create --init
                                 agent): no sshd, no template */
        int64_t created_unix_ms;
        int64_t updated_unix_ms;
};

extern const struct store_migration vm_store_migrations[];
extern const size_t vm_store_n_migrations;

/* Inserts rec (id and name must be new). -EEXIST naming the taken name. */
int vm_store_insert(sqlite3 *db, const struct vm_record *rec, struct bg_error *err);
/* Writes every column of rec over the row with rec->id. */
int vm_store_update(sqlite3 *db, const struct vm_record *rec, struct bg_error *err);
int vm_store_delete(sqlite3 *db, const char *id, struct bg_error *err);
/* By exact name, else by unique id prefix (at least 4 hex). -ENOENT, or
 * -EINVAL naming the candidates when a prefix is ambiguous. */
int vm_store_resolve(sqlite3 *db, const char *ref, struct vm_record *ret, struct bg_error *err);
/* All rows, oldest first. *ret is malloc'ed. */
int vm_store_list(sqlite3 *db, struct vm_record **ret, size_t *ret_n, struct bg_error *err);

/* Replaces the labels of VM id with these n pairs (checked by the caller;
 * bg_labels_check). Deleting the VM deletes them. */
int vm_store_set_labels(sqlite3 *db, const char *id, const char *const *keys,
                        const char *const *values, size_t n, struct bg_error *err);
/* Its labels sorted by key: two arrays of n malloc'ed strings (free with
 * bg_labels_free; both NULL when n is 0). */
int vm_store_get_labels(sqlite3 *db, const char *id, char ***ret_keys, char ***ret_values,
                        size_t *ret_n, struct bg_error *err);

/* A new random id (32 hex). */
void vm_new_id(char id[33]);
/* A free generated name, "vm-" + 6 hex from the id, unique in db. */
int vm_generate_name(sqlite3 *db, const char *id, char name[64], struct bg_error *err);
