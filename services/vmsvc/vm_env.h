/* What the VM lifecycle works with: the kernel, image and network a guest
 * is given, the calls to the other services (struct vm_deps, a seam tests
 * replace with fakes) and the environment every lifecycle call takes
 * (struct vm_env). Shared by vm_lifecycle.c, vm_boot.c, vm_clone.c and
 * template.c. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "probe_gate.h"
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
        char templates_dir[VMM_PATH_MAX]; /* STATE/templates: one directory per template id */
        const struct vm_deps *deps;
        const struct vmm_driver *(*driver_for)(const char *vmm);
        char vmm[16];                /* driver for new VMs: "qemu" / "firecracker" */
        enum vmm_accel accel;        /* decided for this host */
        char qemu_img[VMM_PATH_MAX]; /* "qemu-img" */
        char mkfs[VMM_PATH_MAX];     /* "mkfs.ext4" */
        char binary[VMM_PATH_MAX];   /* the VMM binary */
        bool jailer;                 /* Firecracker VMs start through the jailer (netsvc) */
        /* Templates can be made and cloned with the VMM of new VMs (its driver
         * has VMM_CAP_SNAPSHOT and, for Firecracker, a version >= 1.16 and
         * no jailer); why_no_snapshots says why not otherwise. */
        bool snapshots;
        char why_no_snapshots[160];
        const char *authorized_keys; /* owner's public key line(s) */
        char dns[80];                /* guests' resolvers ("a,b"); "" = the bridge address */
        uint32_t agent_timeout_ms;   /* boot to agent ready */
        /* Probes of a running guest's agent (health, ports, stats, the idle
         * watch): one at a time per VM, each given probe_timeout_ms to
         * connect and answer (config vm.agent_probe_timeout). */
        struct probe_gate *probe_gate;
        uint32_t probe_timeout_ms;
        /* Console log cap (config vm.console_log_max; 0 = 16 MiB) and the
         * lock between its rotation (log_watch.c) and vm logs' reads. */
        uint64_t console_log_max;
        pthread_mutex_t log_mu;
        /* The binary run as each VM's console pump (vmm_console.h), which
         * keeps that cap while vmsvc is down; "" = the VMM writes
         * console.log itself and only log_watch caps it. */
        char console_pump[VMM_PATH_MAX];
        uint32_t stop_timeout_ms;    /* graceful stop before SIGKILL */
        /* Called (without env->mu) after a VM record changed or went away;
         * may be NULL. */
        void (*changed)(void *ud);
        void *changed_ud;
};
