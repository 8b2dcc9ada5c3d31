/* banger-vmsvc: VM lifecycle. Owns vms.db. */
#pragma once

#include "daemon/daemon.h"

struct vmsvc {
        struct daemon *d;
};

extern const struct store_migration *const vmsvc_migrations;
extern const struct rpc_method_impl vmsvc_vm_methods[];
extern const size_t vmsvc_n_vm_methods;

int vmsvc_register(struct vmsvc *v, struct bg_error *err);
