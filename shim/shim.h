/* containerd-shim-banger-v2: containerd's runtime shim v2 for banger. One
 * shim process serves one task (containerd starts a shim per container),
 * speaks containerd.task.v2.Task over ttrpc on a unix socket, and is a
 * client of banger's gateway only: the task's process runs in a banger VM
 * through VmService and WorkspaceService calls, as the CLI makes them. */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bundle.h"
#include "paths/paths.h"
#include "rpc/rpc.h"
#include "rpc/status.h"
#include "ttrpc/server.h"
#include "util/error.h"

#define SHIM_MAX_ID 76 /* containerd's own limit on container ids */
#define SHIM_MAX_NS 76
#define SHIM_DEFAULT_SOCKET_DIR "/run/containerd/s"

struct shim_opts {
        char ns[SHIM_MAX_NS + 1];
        char id[SHIM_MAX_ID + 1];
        char address[PATH_MAX]; /* containerd's grpc address (-address) */
        char bundle[PATH_MAX];  /* -bundle, else the working directory */
        bool debug;
};

struct shim_ctx {
        struct shim_opts opts;
        char vm[64]; /* the banger VM's name, derived from namespace and id */
        struct ttrpc_server *srv;

        pthread_mutex_t lock;
        pthread_cond_t changed; /* status, shutting_down */
        struct rpc_client *gw;  /* opened on first use, under lock */

        bool created, deleted, shutting_down;
        int status; /* Containerd__V1__Types__Status */
        char stdout_path[PATH_MAX], stderr_path[PATH_MAX];
        struct bundle_process proc;
        char exec_op[64]; /* WorkspaceService StartExec operation */
        int kill_signal;  /* set by Kill while running */
        uint32_t exit_status;
        int64_t exited_sec;
        int32_t exited_nsec;
        bool pump_started;
        pthread_t pump;
        /* The task runs in its pod sandbox's VM (vm is the sandbox's): it
         * neither creates nor deletes it. */
        bool in_sandbox_vm;
        bool rootfs_mounted; /* the shim mounted BUNDLE/rootfs */
        char image[64];      /* the VM's image: the rootfs's "ctr-…" image */
};

/* Parses containerd's shim command line (go flag syntax: -flag value,
 * -flag=value, --flag value) into opts and the action ("start", "delete",
 * or "" to serve). Prints the problem and returns -EINVAL on bad usage. */
int shim_parse_args(int argc, char **argv, struct shim_opts *opts, const char **ret_action);

/* The VM name for a task: "ctr-" + 16 hex of sha256(namespace/id). */
int shim_vm_name(const char *ns, const char *id, char *out, size_t len);

/* The ttrpc address containerd 1.6 expects: unix://DIR/<sha256(address/ns/id)>,
 * DIR = $BANGER_SHIM_SOCKET_DIR or /run/containerd/s. path gets the bare path. */
int shim_socket_address(const struct shim_opts *o, char *path, size_t path_len);

/* `start`: binds the socket, spawns the serving shim with it, writes the
 * bundle's address file and prints unix://PATH. Returns an exit code. */
int shim_cmd_start(const struct shim_opts *o, int argc, char **argv);
/* `delete`: removes the task's VM (if any) and socket, prints a packed
 * DeleteResponse. Returns an exit code. */
int shim_cmd_delete(const struct shim_opts *o);
/* The serving shim: serves the listening socket on fd until Shutdown. */
int shim_serve(const struct shim_opts *o, int listen_fd);

/* The listening socket `start` handed to the serving shim (fd 3), or -1. */
int shim_listen_fd_from_env(void);

/* Task service table (task.c). */
extern const struct ttrpc_method shim_task_methods[];
extern const size_t shim_task_n_methods;

/* A gateway call with the shim's client (opened on first use). */
int shim_gw_call(struct shim_ctx *c, const char *method, const ProtobufCMessage *in,
                 const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                 uint32_t deadline_ms, struct bg_error *err);

/* The container's rootfs directory dir as a banger image (rootfs.h): found
 * by its content fingerprint, else built and registered. ret_name gets the
 * image's name. */
int shim_rootfs_image(struct shim_ctx *c, const char *dir, char *ret_name, size_t len,
                      struct bg_error *err);
/* Deletes the shim's rootfs images beyond the newest BANGER_SHIM_IMAGE_KEEP
 * (default 4) that no VM uses, never keep_name (may be NULL). Logs what it
 * removes. */
void shim_rootfs_prune(struct shim_ctx *c, const char *keep_name);
