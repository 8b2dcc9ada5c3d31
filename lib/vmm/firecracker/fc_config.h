/* A Firecracker microVM's configuration: the checks a spec must pass, the
 * boot arguments, and the API sequence that configures a fresh Firecracker
 * and starts the guest. Used by the driver (vmm_firecracker.c, also after a
 * jailer launch) and by the jailer's plan (fc_jailer.c). */
#pragma once

#include <stdint.h>

#include "util/error.h"
#include "vmm/vmm.h"

/* Guest vsock port the banger agent serves on (banger.agent=vsock:1024). */
#define FC_AGENT_VSOCK_PORT 1024

/* Most vCPUs Firecracker accepts. */
#define FC_VCPU_MAX 32

/* How long one API call may take (ms). */
#define FC_API_TIMEOUT_MS 10000

/* vCPU count Firecracker and banger accept: 1, or even and <= 32. */
int fc_check_vcpu(uint32_t vcpu, struct bg_error *err);

/* The boot_args Firecracker gets for spec, from vmm_cmdline_build() with
 * what Firecracker's machine needs: serial console ttyS0, the agent on
 * vsock port FC_AGENT_VSOCK_PORT (there is no virtio-serial), no PCI probe,
 * a quick i8042 probe (SendCtrlAltDel needs the i8042 driver). Supplied
 * boot_args replace Firecracker's defaults, so this is all the guest gets. */
int fc_boot_args(const struct vmm_spec *spec, char *buf, size_t len, struct bg_error *err);

/* Checks the machine and files of a spec before anything is started: id,
 * vcpu, memory, vmlinux, raw disks only, tap/MAC, vsock CID, path lengths
 * (the jailer's plan checks the same; the boot arguments are fc_boot_args'). */
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
