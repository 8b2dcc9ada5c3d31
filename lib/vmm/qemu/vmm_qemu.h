/* The QEMU microvm driver (vmm_qemu_driver in vmm.h) and the pieces of it
 * that tests and the accel probe use on their own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/qemu/qemu_machine.h"
#include "vmm/vmm.h"

/* The virtio-serial port the guest agent serves on (banger.agent=virtio-serial:…). */
#define VMM_QEMU_AGENT_PORT_NAME "org.banger.agent.0"
/* Exec port N's name in the guest: printf format with one unsigned. */
#define VMM_QEMU_EXEC_PORT_FMT "org.banger.exec.%u"
/* The guest vsock port of the agent when QEMU uses vhost-vsock. */
#define VMM_QEMU_AGENT_VSOCK_PORT 1024
/* The QMP socket of a QEMU guest, in its VM directory. */
#define VMM_QEMU_QMP_SOCK "qmp.sock"
/* How long launch waits for QMP to answer. */
#define VMM_QEMU_QMP_WAIT_MS 10000
/* How long kill waits for the process to disappear after SIGKILL. */
#define VMM_QEMU_KILL_WAIT_MS 5000
/* How long a snapshot's state may take to write or load. */
#define VMM_QEMU_MIGRATE_WAIT_MS 60000
/* How long one QMP command of request_stop, query, pause or resume may take. */
#define VMM_QEMU_QMP_CALL_MS 5000

/* How the command line is built beyond the spec. */
struct vmm_qemu_opts {
        enum vmm_accel accel; /* VMM_ACCEL_KVM or VMM_ACCEL_TCG (AUTO is refused) */
        bool vsock;           /* agent over vhost-vsock (guest-cid spec->vsock_cid) */
        uint32_t
            tsc_khz; /* TCG: the TSC frequency the guest is told (0: not told; never under KVM) */
};

/* Builds QEMU's argv for spec: a NULL-terminated array the caller frees with
 * vmm_qemu_argv_free(). Pure: looks at nothing but its arguments. Refuses
 * (-EINVAL with a message) what QEMU could not be given safely: too many
 * disks, a bad tap name or MAC, unix socket paths longer than sun_path, a
 * vsock CID < 3, vcpu or memory out of range, and whatever
 * vmm_cmdline_build() refuses for -append. */
int vmm_qemu_build_argv(const struct vmm_spec *spec, const struct vmm_qemu_opts *opts,
                        char ***ret_argv, struct bg_error *err);
/* Frees an argv from vmm_qemu_build_argv; accepts NULL, returns NULL. */
char **vmm_qemu_argv_free(char **argv);
