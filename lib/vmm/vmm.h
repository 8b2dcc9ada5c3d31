/* The VMM driver interface. vmsvc decides what a VM is (disks, kernel,
 * network, boot parameters); a driver only turns that into a running VMM
 * process and back. Drivers: qemu/vmm_qemu.c (QEMU microvm) and
 * firecracker/vmm_firecracker.c; what they share is in vmm_proc.h (the
 * process) and vmm_log.h (why it stopped).
 *
 * Files of one VM live in its directory (spec->dir), with fixed names so a
 * restarted vmsvc can find them (VMM_FILE_*):
 *   vmm.pid       pidfile of the VMM process (lib/util/pidfile format)
 *   console.log   guest serial console
 *   agent.sock    host end of the agent channel (QEMU virtio-serial chardev,
 *                 or Firecracker's hybrid-vsock uds)
 *   qmp.sock      QEMU's QMP;  api.sock  Firecracker's API socket
 *   vmm.log       the VMM's own stdout/stderr
 * The VMM process is detached (own session) so it outlives vmsvc. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define VMM_MAX_DISKS 4
#define VMM_PATH_MAX 256

/* The fixed names in a VM's directory (above). */
#define VMM_FILE_PID "vmm.pid"
#define VMM_FILE_CONSOLE "console.log"
#define VMM_FILE_LOG "vmm.log"
#define VMM_FILE_AGENT "agent.sock"

enum vmm_accel {
        VMM_ACCEL_AUTO, /* KVM when it can run the guest kernel, else TCG */
        VMM_ACCEL_KVM,
        VMM_ACCEL_TCG,
};

enum vmm_disk_format {
        VMM_DISK_RAW,
        VMM_DISK_QCOW2,
};

struct vmm_disk {
        char path[VMM_PATH_MAX];
        enum vmm_disk_format format;
        bool read_only;
};

/* Everything a driver needs to start one VM. Disk order is the guest's
 * device order: [0] root (/dev/vda), [1] work (/dev/vdb), [2] modules (/dev/vdc). */
struct vmm_spec {
        char id[33];               /* VM id, hex */
        char name[64];             /* VM name (DNS label) */
        char dir[VMM_PATH_MAX];    /* the VM's directory */
        char binary[VMM_PATH_MAX]; /* qemu-system-x86_64 / firecracker (PATH lookup if relative) */
        uint32_t vcpu;
        uint32_t memory_mib;
        char kernel_bzimage[VMM_PATH_MAX]; /* QEMU boots this */
        char kernel_vmlinux[VMM_PATH_MAX]; /* Firecracker boots this */
        char initrd[VMM_PATH_MAX];         /* the banger initramfs */
        char cmdline[2048]; /* root=, banger.* …; drivers add console/reboot settings */
        struct vmm_disk disks[VMM_MAX_DISKS];
        unsigned n_disks;
        char tap[16];       /* "" = no network */
        char mac[18];       /* "52:54:00:…" */
        uint32_t vsock_cid; /* >= 3; Firecracker and vhost-vsock */
        enum vmm_accel accel;
        /* Firecracker through its jailer, which netsvc stages and starts
         * (config firecracker.jailer); NULL = Firecracker is started
         * directly. jail_start returns Firecracker's pid (not our child);
         * jail_clean removes the chroot. */
        int (*jail_start)(void *ud, const struct vmm_spec *spec, pid_t *ret_pid,
                          struct bg_error *err);
        void (*jail_clean)(void *ud, const struct vmm_spec *spec);
        void *jail_ud;
};

enum vmm_agent_transport {
        VMM_AGENT_SERIAL_UNIX,  /* QEMU virtio-serial port, host end a unix socket */
        VMM_AGENT_HYBRID_VSOCK, /* Firecracker: uds + "CONNECT <port>\n" */
        VMM_AGENT_VSOCK,        /* QEMU vhost-vsock: AF_VSOCK to (spec->vsock_cid, agent_port) */
};

/* A running (or adopted) VMM. */
struct vmm_handle {
        pid_t pid;
        uint64_t start_time; /* /proc start time, guards against PID reuse */
        enum vmm_agent_transport agent_transport;
        char agent_path[VMM_PATH_MAX]; /* agent.sock */
        uint32_t agent_port;           /* vsock port for hybrid vsock */
        char accel[8];                 /* "kvm" or "tcg": what it actually runs with */
};

struct vmm_driver {
        const char *name; /* "qemu", "firecracker" */
        /* Starts the VMM detached, writes dir/vmm.pid, returns once the VMM
         * accepted the configuration (QEMU: QMP answers; Firecracker:
         * InstanceStart returned 204). On failure nothing is left running. */
        int (*launch)(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err);
        /* Asks the guest to power off without the agent (QEMU: ACPI
         * system_powerdown/quit via QMP; Firecracker: SendCtrlAltDel). Does
         * not wait. */
        int (*request_stop)(const struct vmm_spec *spec, const struct vmm_handle *h,
                            struct bg_error *err);
        /* SIGKILL, then waits (bounded) until the process is gone. */
        int (*kill)(const struct vmm_handle *h, struct bg_error *err);
        /* 1 while the process that was started is alive (same start time). */
        int (*alive)(const struct vmm_handle *h);
        /* Re-attaches to a VMM started earlier, from dir/vmm.pid, only if
         * /proc shows the same start time and an executable of this driver.
         * -ESRCH when it is gone. */
        int (*adopt)(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err);
        /* Why it exited, in words, from its exit status and log (after the
         * fact; may be empty). */
        void (*exit_reason)(const struct vmm_spec *spec, int wait_status, char *buf, size_t len);
};

extern const struct vmm_driver vmm_qemu_driver;
extern const struct vmm_driver vmm_firecracker_driver;

/* dir + "/" + name (no doubled slash when dir is "/", as in a jail's view);
 * -ENAMETOOLONG when it does not fit. */
int vmm_path(char *buf, size_t len, const char *dir, const char *name);
/* 1-32 lowercase hex digits: a VM id (it names files, and Firecracker's
 * --id). */
bool vmm_id_valid(const char *id);
/* "52:54:00:12:34:56" (hex digits of either case). */
bool vmm_mac_valid(const char *mac);
