#include "workspacesvc.h"

#include "banger/v1/workspace.pb-c.h"

/* Schema v1: the VM registry. Later versions append migrations; never edit one
 * that has shipped. */
const struct store_migration workspacesvc_migrations[] = {
        {1, "CREATE TABLE workspaces ("
            "  vm_id TEXT NOT NULL,"
            "  guest_path TEXT NOT NULL,"
            "  host_path TEXT NOT NULL,"
            "  head TEXT NOT NULL,"
            "  prepared_unix_ms INTEGER NOT NULL,"
            "  PRIMARY KEY (vm_id, guest_path)"
            ");"},
};
const size_t workspacesvc_n_migrations = ELEMENTSOF(workspacesvc_migrations);

static int workspace_health(struct workspacesvc *v, const Banger__V1__HealthRequest *in,
                     Banger__V1__HealthResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

const struct rpc_method_impl workspacesvc_workspace_methods[] = {
        RPC_METHOD("Health", workspace_health),
};
const size_t workspacesvc_n_workspace_methods = ELEMENTSOF(workspacesvc_workspace_methods);

int workspacesvc_register(struct workspacesvc *v, struct bg_error *err)
{
        return rpc_server_add_service(v->d->srv, &banger__v1__workspace_service__descriptor,
                                      workspacesvc_workspace_methods, workspacesvc_n_workspace_methods, v, err);
}
