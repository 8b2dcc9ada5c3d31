/* banger-workspacesvc: what users bring into VMs: workspaces, file sync, Exec. Owns workspaces.db. */
#pragma once

#include "ws_agent.h"

#include <pthread.h>

#include "daemon/daemon.h"
#include "ops/ops.h"
#include "rpc/rpc.h"

struct workspacesvc {
        struct daemon *d;
        pthread_mutex_t mu; /* the db and the exports dir */
        struct ops_registry *ops;
        struct ws_exec_registry *execs; /* StartExec output */
        struct rpc_client *vmsvc;
        struct ws_runner run;  /* where commands run: agent pool, SSH key */
        char key_path[600];    /* the owner's ssh key */
        char home[4096];       /* the owner's home ("~/" in file_sync) */
        char exports_dir[600]; /* STATE/exports: patches being read in chunks */
};

extern const struct store_migration workspacesvc_migrations[];
extern const size_t workspacesvc_n_migrations;
extern const struct rpc_method_impl workspacesvc_workspace_methods[];
extern const size_t workspacesvc_n_workspace_methods;

/* Clients, paths and the operation registry; then registers the service. */
int workspacesvc_register(struct workspacesvc *v, struct bg_error *err);
void workspacesvc_done(struct workspacesvc *v);
