/* The calls vmsvc makes to the other services, over their sockets: the
 * struct vm_deps the lifecycle (vm_lifecycle.h) works through, answered by
 * imagesvc (kernels, images), netsvc (leases, taps, the jailer) and
 * workspacesvc (the work disk's user files, workspaces). Tests replace the
 * struct vm_deps with fakes; this is the real one. */
#pragma once

#include <stdint.h>

#include "paths/paths.h"
#include "rpc/rpc.h"
#include "util/error.h"
#include "vm_lifecycle.h"

struct vm_peers {
        struct rpc_client *imagesvc;
        struct rpc_client *netsvc;
        struct rpc_client *workspacesvc;
        const char *jailer_binary; /* config firecracker.jailer_binary (borrowed) */
        uint64_t console_log_max;  /* config vm.console_log_max, for a jailed VM's
                                      console pump (netsvc starts it) */
};

/* Opens clients of the three services' sockets under paths (nothing is
 * connected until the first call). */
int vm_peers_open(struct vm_peers *p, const struct bg_paths *paths, const char *jailer_binary,
                  struct bg_error *err);
/* Closes what vm_peers_open opened; fine on a partly opened one. */
void vm_peers_close(struct vm_peers *p);

/* The lifecycle's struct vm_deps over p (p must outlive it). */
void vm_peers_deps(struct vm_peers *p, struct vm_deps *ret);

/* netsvc's ReleaseTap, as reconcile's seam wants it (ud: struct vm_peers). */
int vm_peers_release_tap(void *peers, const char *tap, struct bg_error *err);
/* netsvc's Release of a lease (for reconcile's undo of a half-made clone). */
int vm_peers_release_lease(void *peers, const char *vm, struct bg_error *err);
