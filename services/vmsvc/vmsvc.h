/* banger-vmsvc: VM lifecycle. Owns vms.db and the VM directories
 * (STATE/vms/<id>/). Reaches imagesvc (kernels, images), netsvc (leases,
 * taps, the jailer) and workspacesvc over their sockets (vm_deps.h).
 *
 * Files: vmsvc.c set-up, vmsvc_rpc.c the VmService handlers, vm_probes.c
 * logs/stats/ports/health, vm_deps.c the calls to other services,
 * vm_lifecycle.c what happens to one VM, reconcile.c start-up adoption,
 * idle.c auto-stop, vm_boot.c what a boot, a clone and a template build
 * share, vm_clone.c a VM resumed from a template, template.c and
 * template_store.c the templates, template_rpc.c TemplateService,
 * forwards.c and forward_store.c detached port forwards; the VMM drivers
 * are lib/vmm. */
#pragma once

#include <pthread.h>

#include "daemon/daemon.h"
#include "ops/ops.h"
#include "vm_deps.h"
#include "template.h"
#include "vm_lifecycle.h"

struct vmsvc {
        struct daemon *d;
        struct ops_registry *ops;
        pthread_mutex_t mu;
        struct vm_peers peers; /* imagesvc, netsvc, workspacesvc */
        struct vm_deps deps;
        struct vm_env env;
        struct tpl_env tpl;      /* snapshot templates (template.h) */
        char *owner_pubkey;      /* the owner's ssh public key line(s) */
        char key_path[4096];     /* its private key: banger's own or config ssh.key_path */
        struct idle_watch *idle; /* config vm.auto_stop_after (idle.h); NULL when off */
        struct log_watch *logs;  /* config vm.console_log_max (log_watch.h) */
        pthread_mutex_t ssh_mu;  /* one rewrite of CONFIG/ssh/{config,known_hosts} at a time */
        struct forwards *fwds;   /* detached port forwards (forwards.h) */
};

extern const struct store_migration *const vmsvc_migrations;
/* VmService's handlers (vmsvc_rpc.c), in the service descriptor's order. */
extern const struct rpc_method_impl vmsvc_vm_methods[];
extern const size_t vmsvc_n_vm_methods;
/* GetOperation, CancelOperation and ListOperations of both services: one
 * registry (v->ops) holds VM and template operations (vmsvc_rpc.c). */
int vmsvc_get_op_h(struct vmsvc *v, const Banger__V1__GetOperationRequest *in,
                   Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err);
int vmsvc_cancel_op_h(struct vmsvc *v, const Banger__V1__CancelOperationRequest *in,
                      Banger__V1__Operation *out, const struct rpc_call *call,
                      struct bg_error *err);
int vmsvc_list_ops_h(struct vmsvc *v, const Banger__V1__ListOperationsRequest *in,
                     Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                     struct bg_error *err);
/* TemplateService's handlers (template_rpc.c). */
extern const struct rpc_method_impl vmsvc_template_methods[];
extern const size_t vmsvc_n_template_methods;

/* Connects to the other services, opens the VM dirs, reconciles vms.db with
 * the running VMMs, and registers VmService. */
int vmsvc_setup(struct vmsvc *v, struct bg_error *err);
void vmsvc_done(struct vmsvc *v);

/* The driver for a VMM name ("qemu", "firecracker"), NULL if unknown. */
const struct vmm_driver *vmsvc_driver_for(const char *vmm);

/* Rewrites CONFIG/ssh/{config,known_hosts} from the VM records (ssh_files.h);
 * v is the struct vmsvc. Failures are logged: ssh access is a convenience
 * next to the VM itself. */
void vmsvc_ssh_refresh(void *v);
/* env.changed: the ssh files, then the forwards of VMs that stopped. */
void vmsvc_changed(void *v);
