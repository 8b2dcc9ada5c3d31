/* banger-vmsvc: VM lifecycle. Owns vms.db and the VM directories
 * (STATE/vms/<id>/). Reaches imagesvc (kernels, images) and netsvc (leases,
 * taps) over their sockets. */
#pragma once

#include <pthread.h>

#include "daemon/daemon.h"
#include "ops/ops.h"
#include "vm_lifecycle.h"

struct vmsvc {
        struct daemon *d;
        struct ops_registry *ops;
        pthread_mutex_t mu;
        struct rpc_client *imagesvc;
        struct rpc_client *netsvc;
        struct rpc_client *workspacesvc;
        struct vm_deps deps;
        struct vm_env env;
        char *owner_pubkey; /* the owner's ssh public key line(s) */
        struct idle_watch *idle; /* config vm.auto_stop_after (idle.h); NULL when off */
        pthread_mutex_t ssh_mu; /* one rewrite of CONFIG/ssh/{config,known_hosts} at a time */
};

extern const struct store_migration *const vmsvc_migrations;
extern const struct rpc_method_impl vmsvc_vm_methods[];
extern const size_t vmsvc_n_vm_methods;

/* Connects to the other services, opens the VM dirs, reconciles vms.db with
 * the running VMMs, and registers VmService. */
int vmsvc_setup(struct vmsvc *v, struct bg_error *err);
void vmsvc_done(struct vmsvc *v);

/* The driver for a VMM name ("qemu", "firecracker"), NULL if unknown. */
const struct vmm_driver *vmsvc_driver_for(const char *vmm);
