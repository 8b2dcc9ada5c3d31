/* banger-workspacesvc: what users bring into VMs: workspaces, file sync, Exec. Owns workspaces.db. */
#pragma once

#include "daemon/daemon.h"

struct workspacesvc {
        struct daemon *d;
};

extern const struct store_migration workspacesvc_migrations[];
extern const size_t workspacesvc_n_migrations;
extern const struct rpc_method_impl workspacesvc_workspace_methods[];
extern const size_t workspacesvc_n_workspace_methods;

int workspacesvc_register(struct workspacesvc *v, struct bg_error *err);
