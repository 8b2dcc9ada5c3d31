/* Detached port forwards in vms.db (table vm_forwards): one row per host
 * address and port, naming the VM and guest port. Rows live while the VM
 * runs; forwards.c keeps the listeners that match them. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct forward_row {
        char vm_id[33];
        char address[16]; /* IPv4 */
        uint16_t host_port;
        uint16_t guest_port;
};

/* The rows of VM vm_id (NULL = of every VM), by host port. *ret is
 * malloc'ed (NULL when none). */
int forward_store_list(sqlite3 *db, const char *vm_id, struct forward_row **ret, size_t *ret_n,
                       struct bg_error *err);
/* Inserts n rows in one transaction (all or none). -EEXIST when an address
 * and port is taken. */
int forward_store_insert(sqlite3 *db, const struct forward_row *rows, size_t n,
                         struct bg_error *err);
/* Deletes VM vm_id's row for address:host_port, or (address NULL) every
 * row of the VM. */
int forward_store_delete(sqlite3 *db, const char *vm_id, const char *address, uint16_t host_port,
                         struct bg_error *err);
