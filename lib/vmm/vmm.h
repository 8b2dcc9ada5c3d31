/* The VMM driver interface. vmsvc decides what a VM is (disks, kernel,
 * network, boot parameters); a driver only turns that into a running VMM
 * process and back. Drivers: qemu/vmm_qemu.c (QEMU microvm) and
 * firecracker/vmm_firecracker.c; what they share is in vmm_proc.h (the
 * process) and vmm_log.h (why it stopped).
 *
 * Files of one VM live in its directory (spec->dir), with fixed names so a
 * restarted vmsvc can find them (VMM_FILE_*):
 *   vmm.pid       pidfile of the VMM process (lib/util/pidfile format)
 *   console.log   guest serial console (written by a console pump when
 *                 spec->console_fd is set, vmm_console.h)
 *   agent.sock    host end of the agent channel (QEMU virtio-serial chardev,
 *                 or Firecracker's hybrid-vsock uds)
 *   exec-N.sock   QEMU virtio-serial only: host ends of the exec ports
 *                 (spec->exec_ports of them, N = 0..), one command each
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
/* Longest kernel command line, with its NUL: x86's COMMAND_LINE_SIZE, which
 * is also Firecracker's limit. */
#define VMM_CMDLINE_MAX 2048

/* The fixed names in a VM's directory (above). */
#define VMM_FILE_PID "vmm.pid"
#define VMM_FILE_CONSOLE "console.log"
#define VMM_FILE_LOG "vmm.log"
#define VMM_FILE_AGENT "agent.sock"
/* Exec port N's socket: printf format with one unsigned. */
#define VMM_FILE_EXEC_FMT "exec-%u.sock"
/* Most exec ports a VM may have (spec->exec_ports). */
#define VMM_EXEC_PORTS_MAX 16

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

/* What the VM manager knows about the guest and tells it on the kernel
 * command line (with spec->name and spec->mac). The driver adds what it
 * knows about the machine and builds the whole line in one place,
 * vmm_cmdline_build() (vmm_cmdline.h). */
struct vmm_boot {
        char ip[16];       /* "172.30.0.5"; "" = the guest's network is not set up */
        unsigned prefix;   /* 8..30 */
        char gateway[16];  /* "172.30.0.1" */
        char dns[80];      /* "10.0.0.53" or "1.1.1.1,8.8.8.8"; "" = none */
        bool modules_disk; /* disks[2] is the kernel's modules.ext4 */
        char init[128];    /* init= on the root disk; "" = the image's own */
        /* banger.init=agent: the initramfs's agent stays the guest's init
         * (guest/agent/agent_pid1.h); init is ignored then. */
        bool agent_init;
};

/* Where the guest's RAM lives. A template is built with its RAM in a file
 * (shared: the guest's writes land in the file); a clone maps the
 * template's file privately (copy-on-write: pages it only reads stay shared
 * with every other clone). */
struct vmm_memory {
        char path[VMM_PATH_MAX]; /* "" = anonymous memory */
        bool shared;
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
        struct vmm_boot boot;              /* the guest's kernel command line parameters */
        struct vmm_disk disks[VMM_MAX_DISKS];
        unsigned n_disks;
        char tap[16];       /* "" = no network */
        char mac[18];       /* "52:54:00:…" */
        uint32_t vsock_cid; /* >= 3; Firecracker and vhost-vsock */
        /* QEMU with the virtio-serial agent channel: this many more ports
         * (org.banger.exec.N, host end DIR/exec-N.sock), each serving one
         * connection, so long commands do not hold the agent channel.
         * 0..VMM_EXEC_PORTS_MAX; part of the device set a snapshot keeps. */
        unsigned exec_ports;
        enum vmm_accel accel;
        struct vmm_memory mem;
        /* A snapshot's device state to resume instead of booting ("" = a cold
         * boot). Needs VMM_CAP_SNAPSHOT and mem.path = the snapshot's memory
         * (not shared). launch() returns with the guest paused where the
         * snapshot left it; resume() starts it. The device set (disks, net,
         * agent channel) must be the snapshot's; their host paths, the tap
         * and the MAC may differ. */
        char restore[VMM_PATH_MAX];
        /* > 0: the write end of a console pump's pipe (vmm_console.h): the
         * guest's serial console goes there, never to a file the VMM grows.
         * 0: the VMM writes dir/console.log itself (QEMU) or its stdout
         * (Firecracker) to vmm.log. Used by launch() only. */
        int console_fd;
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
#define VMM_AGENT_TRANSPORT_BIT(t) (1u << (t))

/* What a driver offers beyond launch, stop, kill, alive, adopt and query
 * (struct vmm_driver's caps). */
#define VMM_CAP_PAUSE (1u << 0)    /* pause() and resume() */
#define VMM_CAP_SNAPSHOT (1u << 1) /* snapshot(), and launch() with spec->restore */
#define VMM_CAP_HOTPLUG (1u << 2)  /* devices added to a running guest (none yet) */

/* Where a running VMM says its guest is. */
enum vmm_run_state {
        VMM_RUN_NOT_STARTED, /* configured, not booted (Firecracker "Not started", QEMU prelaunch)
                              */
        VMM_RUN_RUNNING,
        VMM_RUN_PAUSED, /* vCPUs stopped by pause() */
        VMM_RUN_OTHER,  /* anything else the VMM reports (QEMU: guest-panicked, shutdown, ...) */
        _VMM_RUN_MAX,
};
/* "not-started", "running", "paused", "other"; NULL when out of range. */
const char *vmm_run_state_to_string(enum vmm_run_state s);
/* The enum for one of those words; -EINVAL for others. */
int vmm_run_state_from_string(const char *s);

struct vmm_status {
        enum vmm_run_state state;
        char detail[32]; /* the VMM's own word: QEMU's "running", Firecracker's "Paused" */
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
        const char *name;          /* "qemu", "firecracker" */
        unsigned caps;             /* VMM_CAP_* */
        unsigned agent_transports; /* VMM_AGENT_TRANSPORT_BIT()s launch may pick from */
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
        /* Asks the running VMM where its guest is (QEMU: QMP query-status;
         * Firecracker: GET / "state"). -ESRCH when the process is gone. */
        int (*query)(const struct vmm_spec *spec, const struct vmm_handle *h,
                     struct vmm_status *ret, struct bg_error *err);
        /* With VMM_CAP_PAUSE: stops the guest's vCPUs and starts them again
         * (QEMU: QMP stop / cont; Firecracker: PATCH /vm Paused / Resumed).
         * The process, its memory and devices stay. -ESRCH when it is gone. */
        int (*pause)(const struct vmm_spec *spec, const struct vmm_handle *h, struct bg_error *err);
        int (*resume)(const struct vmm_spec *spec, const struct vmm_handle *h,
                      struct bg_error *err);
        /* With VMM_CAP_SNAPSHOT: pauses the guest (it stays paused) and
         * writes its device state to state_path (created, must not exist)
         * and its memory to mem_path. QEMU keeps the memory where it is: it
         * needs spec->mem shared and mem_path = spec->mem.path. Firecracker
         * writes the memory out to mem_path, which must not exist (clones map
         * it: it is never rewritten in place). On failure state_path (and a
         * memory file the call created) is removed; the VM stays paused. */
        int (*snapshot)(const struct vmm_spec *spec, const struct vmm_handle *h,
                        const char *state_path, const char *mem_path, struct bg_error *err);
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
