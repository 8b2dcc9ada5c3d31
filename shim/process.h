/* Handlers of containerd.task.v2.Task for the task's processes
 * (process.c); task.c's table lists them. Each has the ttrpc_handler_fn
 * shape. */
#pragma once

#include <limits.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "shim.h"

#define SHIM_PROC_HANDLER(name)                                                                    \
        int name(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *len,                 \
                 struct bg_error *err)

SHIM_PROC_HANDLER(shim_h_start);
SHIM_PROC_HANDLER(shim_h_state);
SHIM_PROC_HANDLER(shim_h_wait);
SHIM_PROC_HANDLER(shim_h_kill);
SHIM_PROC_HANDLER(shim_h_exec);
SHIM_PROC_HANDLER(shim_h_resize_pty);
SHIM_PROC_HANDLER(shim_h_close_io);
SHIM_PROC_HANDLER(shim_h_pids);
SHIM_PROC_HANDLER(shim_h_stats);

/* Sets up p's fields that are not zero (lock not needed: p is not shared
 * yet). */
int shim_proc_init(struct shim_ctx *c, struct shim_proc *p);
/* Delete of exec process p (lock held; dropped while its threads end): it
 * must have ended or never started; p leaves the list and is freed. Its exit
 * status and time go to *ret_status and *ret_exited. */
int shim_proc_delete_exec(struct shim_ctx *c, struct shim_proc *p, uint32_t *ret_status,
                          Google__Protobuf__Timestamp *ret_exited, struct bg_error *err);

/* The command a process runs in the guest: env(1), looked up in the guest's
 * PATH (/usr/bin/env, busybox's /bin/env), with the spec's env and the
 * markers (task, then exec), then the spec's args:
 *   - root NULL (the task's own VM): for a user other than 0:0 without
 *     groups, setpriv(1) with the spec's uid, gid and additional gids first;
 *   - root set (a pod's container, its image copied into the sandbox's VM
 *     at root, pod.h): `banger-agent enter --root=ROOT --cgroup=CG
 *     --cwd=CWD --user=UID:GID --groups=... [--no-new-privs] --` first
 *     (CG: POD_GUEST_CGROUP and ROOT's last name), which joins the
 *     container's cgroup, chroots, changes to the spec's cwd and user inside
 *     the tree and looks the program up there.
 * argv points into spec, marker, root and the struct itself. */
#define SHIM_GUEST_AGENT "/usr/sbin/banger-agent"
struct shim_cmd {
        char **argv; /* malloc'd; free with shim_cmd_free */
        size_t argc;
        char reuid[24], regid[24];
        char groups[BUNDLE_MAX_GIDS * 11 + 16];
        char user[32];
        char root[PATH_MAX + 8], cgroup[PATH_MAX + 48], cwd[PATH_MAX + 8];
};
int shim_cmd_build(const struct bundle_process *spec, const char *marker, const char *exec_marker,
                   const char *root, struct shim_cmd *ret);
void shim_cmd_free(struct shim_cmd *cmd);
