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

#include <protobuf-c/protobuf-c.h>

#include "banger/v1/vm.pb-c.h"
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

/* One process of the task: the init process (exec_id "") or one started by
 * Exec. It runs as a WorkspaceService/StartExec operation in the VM; a pump
 * thread copies its output to containerd's FIFOs and records its exit, a
 * stdin thread forwards containerd's stdin FIFO with ExecInput. Fields are
 * under the ctx's lock; spec is fixed once the process exists. */
struct shim_proc {
        struct shim_proc *next; /* Exec processes: the ctx's list */
        struct shim_ctx *ctx;
        char exec_id[SHIM_MAX_ID + 1];
        struct bundle_process spec;
        char stdin_path[PATH_MAX], stdout_path[PATH_MAX], stderr_path[PATH_MAX];
        bool terminal;
        int status; /* Containerd__V1__Types__Status */
        char op[64]; /* its StartExec operation */
        int kill_signal; /* the last signal Kill sent */
        uint32_t exit_status;
        int64_t exited_sec;
        int32_t exited_nsec;
        unsigned rows, cols; /* terminal size asked before Start */
        bool stdin_eof_sent;
        bool connected; /* its command got past the SSH connect (ran) */
        bool pump_started, stdin_started;
        pthread_t pump, stdin_thread;
        int wake[2];  /* the pump tells the stdin thread the command ended */
        int refs;     /* handlers using p with the lock dropped; Delete waits */
};

#define SHIM_MAX_EXECS 64 /* Exec processes a task may have at once */

struct shim_events; /* events.c */

struct shim_ctx {
        struct shim_opts opts;
        char vm[64]; /* the banger VM's name, derived from namespace and id */
        struct ttrpc_server *srv;

        pthread_mutex_t lock;
        pthread_cond_t changed; /* a status, shutting_down */
        struct rpc_client *gw;  /* opened on first use, under lock */

        bool created, deleted, shutting_down;
        /* Kill calls under way (their signal still on its way through the
         * guest): exits wait for them to answer (process.c). */
        int kills;
        struct shim_proc init; /* exec_id "" */
        struct shim_proc *execs;
        size_t n_execs;
        struct shim_events *events; /* NULL: containerd gave no TTRPC_ADDRESS */
        /* The task runs in its pod sandbox's VM (vm is the sandbox's): it
         * neither creates nor deletes it. */
        bool in_sandbox_vm;
        bool rootfs_mounted; /* the shim mounted BUNDLE/rootfs */
        /* A pod's container: its image's tree in the sandbox's VM (pod.h);
         * "" otherwise. */
        char pod_root[128];
        char image[64];      /* the VM's image: the rootfs's "ctr-…" image */
        bool agent_init;     /* the rootfs has no init or sshd: banger's agent is init */
        bool oom_watching;   /* oom.c's thread runs (its last look not taken) */
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

/* ---- process.c: the task's processes ---- */

/* The process exec_id ("" = init), or NULL. Called with the lock held. */
struct shim_proc *shim_proc_find(struct shim_ctx *c, const char *exec_id);
/* Marks p stopped with status now and wakes waiters. Lock held. */
void shim_proc_set_stopped(struct shim_ctx *c, struct shim_proc *p, uint32_t status);
/* The environment entry that marks the task's processes in the guest (Pids
 * finds them by it): "BANGER_TASK_ID=<id>". */
void shim_task_marker(const struct shim_ctx *c, char *buf, size_t len);

/* ---- events.c: task events for containerd ---- */

/* Starts the publisher for containerd's ttrpc address (TTRPC_ADDRESS, as
 * containerd 1.6 gives its shims); without one, events are not sent. */
int shim_events_start(struct shim_ctx *c, const char *ttrpc_address, struct bg_error *err);
/* Queues an event (a containerd.events.* message) for topic ("/tasks/exit")
 * and returns; events go out in order on the publisher's thread. */
void shim_publish(struct shim_ctx *c, const char *topic, const ProtobufCMessage *event);

/* ---- oom.c: the guest kernel's OOM kills as /tasks/oom events ---- */

#define OOM_MAX_EVENTS 16 /* per task, however the guest's count moves */
struct shim_oom_state {
        bool have_base;
        uint64_t max; /* the highest count the guest reported */
        unsigned events;
};
/* One answer of the guest's OOM kill count: true when an event is due (the
 * count passed its highest so far, under the cap). The first answer is the
 * base and raises none. */
bool shim_oom_observe(struct shim_oom_state *s, uint64_t count);
/* Watches the task's VM while its init process runs (a detached thread). */
void shim_oom_watch_start(struct shim_ctx *c);
/* Waits (a bounded while) for the watcher's last look before the VM goes. */
void shim_oom_watch_wait(struct shim_ctx *c);

/* The stage of exec operation op_id (process.c): 1 the command runs (or
 * ran), 0 it is still connecting, -1 it failed before it ran, -2 unknown
 * (the call failed). */
int shim_exec_stage(struct shim_ctx *c, const char *op_id, bool log);
/* WorkspaceService/ExecInput for exec operation op_id: data (may be empty),
 * then eof; rows/cols > 0 a window change. -ENOSPC while the service holds
 * as much unsent input as it takes (send again later). */
int shim_exec_input(struct shim_ctx *c, const char *op_id, const void *data, size_t len, bool eof,
                    unsigned rows, unsigned cols, struct bg_error *err);

/* Task service table (task.c). */
extern const struct ttrpc_method shim_task_methods[];
extern const size_t shim_task_n_methods;

/* A gateway call with the shim's client (opened on first use). */
int shim_gw_call(struct shim_ctx *c, const char *method, const ProtobufCMessage *in,
                 const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                 uint32_t deadline_ms, struct bg_error *err);

/* VmService/Stats of VM vm (*ret: caller frees). vmsvc probes a VM's agent
 * for one caller at a time and answers the others ABORTED ("busy"): in a
 * pod every shim's OOM watch and containerd's metrics ask the same VM, so a
 * busy answer is asked again (every 150 ms) until deadline_ms. */
int shim_vm_stats(struct shim_ctx *c, const char *vm, uint32_t deadline_ms,
                  Banger__V1__VmStats **ret, struct bg_error *err);

/* The container's rootfs directory dir as a banger image (rootfs.h): found
 * by its content fingerprint, else built and registered. ret_name gets the
 * image's name; *ret_agent_init is true when the rootfs has no init or no
 * sshd, so its VM runs banger's agent as init (CreateVmRequest.init). An
 * empty rootfs is refused. */
int shim_rootfs_image(struct shim_ctx *c, const char *dir, char *ret_name, size_t len,
                      bool *ret_agent_init, struct bg_error *err);
/* Deletes the shim's rootfs images beyond the newest BANGER_SHIM_IMAGE_KEEP
 * (default 4) that no VM uses, never keep_name (may be NULL). Logs what it
 * removes. */
void shim_rootfs_prune(struct shim_ctx *c, const char *keep_name);
