/* Start-up reconciliation of vms.db with the host: a VM recorded as live is
 * re-adopted only when its VMM process is still there (pidfile + same start
 * time + the driver's executable, so a recycled PID never counts); a VM whose
 * process is gone is marked stopped (or error, if it died while starting) and
 * its tap goes back to netsvc. VMs keep running across vmsvc restarts.
 *
 * A clone caught half-way (state starting, cloned from a template) is undone
 * whole: its guest may still carry the template's identity, so it is killed
 * and its tap, lease, directory and row go, as if it had never been asked
 * for. A cold create caught before its VMM ever ran is undone the same way,
 * except that its row stays, in state error, as a failed create's does.
 * Directories under vms_dir that no row names (a delete cut short after its
 * row went) are removed. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>

#include "util/error.h"
#include "vm_store.h"
#include "vmm/vmm.h"

/* The calls reconcile makes to netsvc, behind a seam for tests. */
struct vm_net_ops {
        int (*release_tap)(void *ud, const char *tap, struct bg_error *err);
        int (*release_lease)(void *ud, const char *vm, struct bg_error *err);
        void *ud;
};

struct reconcile_result {
        size_t adopted; /* live VMs re-attached */
        size_t undone;  /* clones caught half-way: killed, their network, files and row
                           gone; creates cut short before boot: undone, row in error */
        size_t orphans; /* VM directories no row names (a delete cut short): removed */
        size_t stopped; /* recorded live, process gone: now stopped/error */
        size_t failed;  /* rows that could not be reconciled (logged) */
};

/* vms_dir holds one directory per VM id. driver_for maps a record's vmm name
 * ("qemu", "firecracker") to its driver, NULL if unknown. */
int vm_reconcile(sqlite3 *db, const char *vms_dir,
                 const struct vmm_driver *(*driver_for)(const char *vmm),
                 const struct vm_net_ops *net, struct reconcile_result *ret, struct bg_error *err);

/* Fills the parts of a spec that identify a VM (id, name, dir, vsock CID). */
int vm_spec_identity(const struct vm_record *r, const char *vms_dir, struct vmm_spec *spec,
                     struct bg_error *err);
