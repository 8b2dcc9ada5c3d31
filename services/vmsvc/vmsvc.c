#include "vmsvc.h"

#include "banger/v1/vm.pb-c.h"
#include "vm_store.h"

/* The schema lives with the registry code (vm_store.c). */
const struct store_migration *const vmsvc_migrations = vm_store_migrations;

static int vm_health(struct vmsvc *v, const Banger__V1__HealthRequest *in,
                     Banger__V1__HealthResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

const struct rpc_method_impl vmsvc_vm_methods[] = {
        RPC_METHOD("Health", vm_health),
};
const size_t vmsvc_n_vm_methods = ELEMENTSOF(vmsvc_vm_methods);

int vmsvc_register(struct vmsvc *v, struct bg_error *err)
{
        return rpc_server_add_service(v->d->srv, &banger__v1__vm_service__descriptor,
                                      vmsvc_vm_methods, vmsvc_n_vm_methods, v, err);
}
