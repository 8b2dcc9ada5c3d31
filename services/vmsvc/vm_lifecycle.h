/* What happens to one VM: create (reserve → network → disks → boot → agent),
 * start, stop, kill, delete. The service (vmsvc.c) turns RPCs into these
 * calls; the other services are reached through struct vm_deps, a seam tests
 * replace with fakes while keeping the real VMM, disks and guest agent. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "steps.h"
#include "util/error.h"
#include "vm_store.h"
#include "vmm/vmm.h"

struct vm_kernel_info {
        char bzimage[VMM_PATH_MAX];
        char vmlinux[VMM_PATH_MAX];
        char initramfs[VMM_PATH_MAX];
        char modules[VMM_PATH_MAX]; /* modules.ext4, "" if none */
};

struct vm_image_info {
        char rootfs[VMM_PATH_MAX];    /* ext4, read-only source of the root disk */
        char work_seed[VMM_PATH_MAX]; /* ext4 holding the image's /root, "" if none */
        bool has_init;
        bool has_sshd;
};

struct vm_net_info {
        char ip[16];
        unsigned prefix;
        char gateway[16];
        char dns[16];
        char mac[18];
};

/* Calls to imagesvc and netsvc. */
struct vm_deps {
        int (*kernel)(void *ud, const char *name, struct vm_kernel_info *ret, struct bg_error *err);
        int (*image)(void *ud, const char *name, struct vm_image_info *ret, struct bg_error *err);
        int (*lease)(void *ud, const char *vm, struct vm_net_info *ret, struct bg_error *err);
        int (*release_lease)(void *ud, const char *vm, struct bg_error *err);
        int (*acquire_tap)(void *ud, const char *vm, char tap[16], struct bg_error *err);
        int (*release_tap)(void *ud, const char *tap, struct bg_error *err);
        /* workspacesvc writes file_sync entries, the git identity and (ws_host
         * set, new VMs) a workspace onto the work disk before boot. May be
         * NULL. */
        int (*write_work_disk)(void *ud, const struct vm_record *rec, const char *work_disk,
                               bool fresh, const char *ws_host, const char *ws_guest,
                               struct bg_error *err);
        /* A deleted VM's workspaces are forgotten. May be NULL. */
        void (*forget_workspaces)(void *ud, const char *vm_id);
        /* Firecracker's jailer through netsvc (env->jailer); see vmm_spec. */
        int (*jail_start)(void *ud, const struct vmm_spec *spec, pid_t *ret_pid,
                          struct bg_error *err);
        void (*jail_clean)(void *ud, const struct vmm_spec *spec);
        void *ud;
};

struct vm_env {
        sqlite3 *db;
        pthread_mutex_t *mu; /* serialises row read-modify-write */
        char vms_dir[VMM_PATH_MAX];
        const struct vm_deps *deps;
        const struct vmm_driver *(*driver_for)(const char *vmm);
        char vmm[16];                /* driver for new VMs: "qemu" / "firecracker" */
        enum vmm_accel accel;        /* decided for this host */
        char qemu_img[VMM_PATH_MAX]; /* "qemu-img" */
        char mkfs[VMM_PATH_MAX];     /* "mkfs.ext4" */
        char binary[VMM_PATH_MAX];   /* the VMM binary */
        bool jailer;                 /* Firecracker VMs start through the jailer (netsvc) */
        const char *authorized_keys; /* owner's public key line(s) */
        char dns[80];                /* guests' resolvers ("a,b"); "" = the bridge address */
        uint32_t agent_timeout_ms;   /* boot to agent ready */
        uint32_t stop_timeout_ms;    /* graceful stop before SIGKILL */
        /* Called (without env->mu) after a VM record changed or went away;
         * may be NULL. */
        void (*changed)(void *ud);
        void *changed_ud;
};

/* The stages of vm_create / vm_start, for progress display. */
extern const char *const vm_create_stages[];
extern const size_t vm_n_create_stages;

/* rec is the row already inserted (state created). ws_host/ws_guest: the
 * workspace written onto the new work disk (NULL or "" = none). Runs every stage; on
 * failure rolls back, stores state error with the reason, returns < 0. */
int vm_create(struct vm_env *env, const char *id, const char *ws_host, const char *ws_guest,
              step_progress_fn progress, void *pctx, struct bg_error *err);
/* Boots a stopped VM (its disks exist). */
int vm_start(struct vm_env *env, const char *id, step_progress_fn progress, void *pctx,
             struct bg_error *err);
/* Agent Shutdown (sync + reboot) → wait → driver's own stop request → SIGKILL
 * after timeout; then gives the tap back. */
int vm_stop(struct vm_env *env, const char *id, struct bg_error *err);
int vm_kill(struct vm_env *env, const char *id, struct bg_error *err);
/* The record of a VM by name or id (under env->mu). */
int vm_load(struct vm_env *env, const char *ref, struct vm_record *ret, struct bg_error *err);
/* Connects to a running VM's guest agent. */
struct agent_conn;
int vm_agent_open(struct vm_env *env, const char *id, struct agent_conn **ret,
                  struct vm_record *ret_rec /* may be NULL */, struct bg_error *err);
/* The running VMM process of a VM (pid, start time) or -ESRCH. */
int vm_process(struct vm_env *env, const struct vm_record *r, pid_t *ret_pid, struct bg_error *err);
/* vcpu / memory / work disk (grow only) of a stopped VM; 0 = unchanged. */
int vm_set(struct vm_env *env, const char *id, uint32_t vcpu, uint32_t memory_mib,
           uint64_t work_disk_bytes, struct bg_error *err);

/* A running VM is refused unless force (then killed). Releases tap and lease,
 * removes the VM's directory and row. */
int vm_delete(struct vm_env *env, const char *id, bool force, struct bg_error *err);
