/* The parts of bringing a guest up that a cold boot (vm_lifecycle.c), a
 * clone of a template (vm_clone.c) and a template build (template.c) share:
 * the disks of a new guest, the VMM spec, and reaching the guest agent. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "banger/v1/agent.pb-c.h"
#include "disk/disk.h"
#include "identity.h"
#include "vm_env.h"

/* File names in a VM's (or a template's) directory. */
#define VM_FILE_ROOT_QCOW2 "root.qcow2" /* QEMU: qcow2 overlay over the image */
#define VM_FILE_ROOT_RAW "root.img"     /* Firecracker: reflink or sparse copy */
#define VM_FILE_WORK "work.ext4"

struct agent_conn;

/* The root disk's file name and format for driver drv_name. */
const char *vm_root_file(const char *drv_name);
bool vm_root_is_qcow2(const char *drv_name);

/* The disks of a new guest in dir: a copy-on-write root over the image's
 * rootfs (how: *ret_root, when not NULL), a fresh work disk with the image's /root (its work seed)
 * and the guest's identity (the owner's key, a new sshd host key whose public line goes to
 * host_key_pub). */
int vm_disks_new(struct vm_env *env, const char *dir, const char *drv_name,
                 const struct vm_image_info *img, uint64_t work_bytes, const char *name,
                 char host_key_pub[IDENTITY_PUBKEY_MAX], enum disk_clone_method *ret_root,
                 struct bg_error *err);

/* A root disk for drv_name at dst over base (base_format "raw" or "qcow2"):
 * a qcow2 overlay for QEMU, else a reflink or sparse copy (disk_clone). How
 * it was made goes to *ret_method. */
int vm_root_disk_new(struct vm_env *env, const char *drv_name, const char *base,
                     const char *base_format, const char *dst, enum disk_clone_method *ret_method,
                     struct bg_error *err);

/* Exec ports of a QEMU VM (vmm_spec.exec_ports): how many commands API
 * clients (workspacesvc Exec, the containerd shim) run at once through the
 * agent without holding its channel. */
#define VM_EXEC_PORTS 8

/* Fills everything of s but its identity (vm_spec_identity) and memory: the
 * VMM binary, vcpu and memory, the kernel, the disks in dir (root, work, the
 * kernel's modules), tap and MAC, accel, exec ports, the jailer hooks and what the guest
 * is told on its kernel command line. */
void vm_spec_machine(struct vm_env *env, struct vmm_spec *s, const char *drv_name, uint32_t vcpu,
                     uint32_t memory_mib, const struct vm_kernel_info *k, const char *tap,
                     const char *mac, const struct vm_net_info *net);

/* Where a VM or template record notes its running VMM. */
struct vm_vmm_note {
        int32_t *pid;
        uint64_t *pid_start;
        char *accel; /* char[8], as struct vmm_handle's */
};

/* Launches spec with drv into *h and notes the VMM (pid, start time,
 * accelerator) in n. The guest's console goes through a console pump
 * (env->console_pump, vmm_console.h) unless the VMM is jailed. */
int vm_vmm_launch(struct vm_env *env, const struct vmm_driver *drv, const struct vmm_spec *spec,
                  struct vmm_handle *h, const struct vm_vmm_note *n, struct bg_error *err);
/* The undo of vm_vmm_launch: kills the VMM, reaps it, and clears the pid and
 * start time in n. The kill's result. */
int vm_vmm_kill(const struct vmm_driver *drv, const struct vmm_handle *h,
                const struct vm_vmm_note *n, struct bg_error *err);

/* Connects to the agent of a running VMM. */
int vm_agent_connect(const struct vmm_spec *spec, const struct vmm_handle *h, uint64_t timeout_ms,
                     struct agent_conn **ret, struct bg_error *err);

/* A guest's CPU time since boot (ms, all CPUs): what it spent working (user,
 * nice, system, irq, softirq) and in all. */
void vm_cpu_times(const Banger__V1__AgentCpu *u, uint64_t *ret_busy, uint64_t *ret_total);

/* Waits (polling the agent's Stats every 500 ms) until the guest's CPUs were
 * busy less than busy_frac of the time over two intervals in a row, or
 * max_ms passed (not an error: a guest that never settles is saved as it
 * is). Returns how long it waited, in ms. */
uint64_t vm_agent_settle(const struct vmm_spec *spec, const struct vmm_handle *h, double busy_frac,
                         uint64_t max_ms, const atomic_bool *cancel);

/* Waits up to timeout_ms until the agent answers Health (and, with
 * want_sshd, until something listens on TCP port 22 in the guest). Fails at
 * once, saying why, when the VMM exits, and with -ECANCELED when *cancel (may
 * be NULL) turns true. */
int vm_agent_wait(const struct vmm_driver *drv, const struct vmm_spec *spec,
                  const struct vmm_handle *h, uint32_t timeout_ms, bool want_sshd,
                  const atomic_bool *cancel, struct bg_error *err);
