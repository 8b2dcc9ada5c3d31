/* A Firecracker microVM's configuration: the checks a spec must pass, the
 * boot arguments, and the API sequence that configures a fresh Firecracker
 * and starts the guest. Used by the driver (vmm_firecracker.c, also after a
 * jailer launch) and by the jailer's plan (fc_jailer.c). */
#pragma once

#include <stdint.h>

#include "util/error.h"
#include "vmm/vmm.h"

/* Guest vsock port of the banger agent unless banger.agent=vsock:PORT says
 * otherwise (the agent's own default). */
#define FC_AGENT_VSOCK_PORT 1024

/* Supplied boot_args replace Firecracker's defaults, so the driver puts the
 * ones banger needs first: serial console, reboot = exit, panic = exit, no PCI
 * probe, quick i8042 probe (SendCtrlAltDel needs the i8042 driver). */
#define FC_BOOT_ARGS_BASE                                                                          \
        "console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"

/* Firecracker's x86_64 kernel command line limit, in bytes with the NUL. */
#define FC_CMDLINE_MAX 2048

/* Most vCPUs Firecracker accepts. */
#define FC_VCPU_MAX 32

/* How long one API call may take (ms). */
#define FC_API_TIMEOUT_MS 10000

/* vCPU count Firecracker and banger accept: 1, or even and <= 32. */
int fc_check_vcpu(uint32_t vcpu, struct bg_error *err);

/* The boot_args Firecracker gets: FC_BOOT_ARGS_BASE + " " + cmdline, plus
 * "banger.agent=vsock:1024" when cmdline names no agent channel. The agent's
 * vsock port is returned in *ret_port. A banger.agent that is not vsock:PORT
 * is refused (Firecracker has no virtio-serial), as is a result longer than
 * FC_CMDLINE_MAX - 1. */
int fc_boot_args(const char *cmdline, char *buf, size_t len, uint32_t *ret_port,
                 struct bg_error *err);

/* Checks a spec before anything is started: id, vcpu, memory, vmlinux, raw
 * disks only, tap/MAC, vsock CID, path lengths. */
int fc_check_spec(const struct vmm_spec *spec, struct bg_error *err);

/* Configures a fresh Firecracker over api_sock and starts the guest:
 * PUT /logger, /metrics, /machine-config, /boot-source, /drives/{id} per disk,
 * /network-interfaces/eth0 (when a tap is set), /vsock, then /actions
 * InstanceStart. Paths in fc_view are as Firecracker sees them (the VM dir
 * itself, or "/" inside a jail); fc_view->dir holds fc.log, metrics.json and
 * agent.sock. The first refused call stops the sequence; its error names the
 * call and quotes Firecracker's fault message. */
int fc_configure_and_start(const char *api_sock, const struct vmm_spec *fc_view,
                           struct bg_error *err);
