/* A Firecracker microVM's configuration: the checks a spec must pass, the
 * boot arguments, and the API sequences that make a fresh Firecracker run a
 * guest: configure and start it (a cold boot), or load a snapshot into it
 * (a template's clone). Used by the driver (vmm_firecracker.c, also after a
 * jailer launch) and by the jailer's plan (fc_jailer.c). */
#pragma once

#include <stdint.h>

#include "util/error.h"
#include "vmm/firecracker/fc_api.h"
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
 * vcpu, memory, vmlinux (a cold boot's), raw disks only, tap/MAC, vsock
 * CID, path lengths, mem.path absolute (the jailer's plan checks the same;
 * the boot arguments are fc_boot_args'). With spec->restore also what a
 * restore needs: the state file, the memory file mapped private (regular,
 * readable, at least memory_mib MiB: Firecracker maps it MAP_PRIVATE and a
 * short file would end in SIGBUS) and a tap for the snapshot's network
 * interface. */
int fc_check_spec(const struct vmm_spec *spec, struct bg_error *err);

/* GET /: whether this Firecracker can make templates and clones
 * (vmm_version >= FC_SNAPSHOT_MIN, fc_version.h). -ENOTSUP with an error
 * that names the version, what it cannot do (what: "make a template"), and
 * the way out, otherwise. */
int fc_check_snapshot_support(struct fc_api *api, const char *what, struct bg_error *err);

/* Configures a fresh Firecracker over api_sock and starts the guest:
 * PUT /logger, /metrics, /machine-config, /boot-source, /drives/{id} per disk,
 * /network-interfaces/eth0 (when a tap is set), /vsock, then /actions
 * InstanceStart. Paths in fc_view are as Firecracker sees them (the VM dir
 * itself, or "/" inside a jail); fc_view->dir holds fc.log, metrics.json and
 * agent.sock. The first refused call stops the sequence; its error names the
 * call and quotes Firecracker's fault message. */
int fc_configure_and_start(const char *api_sock, const struct vmm_spec *fc_view,
                           struct bg_error *err);

/* Loads the snapshot spec->restore into a fresh Firecracker over api_sock
 * and leaves the guest paused (resume() runs it):
 *   GET /                (fc_check_snapshot_support)
 *   PUT /logger, PUT /metrics              (as for a cold boot; the only
 *                                           calls Firecracker takes before a
 *                                           load)
 *   PUT /snapshot/load   snapshot_path = spec->restore,
 *                        mem_backend {File, spec->mem.path} (mapped
 *                        MAP_PRIVATE: copy-on-write, the file never changes),
 *                        resume_vm false,
 *                        network_overrides [{eth0, spec->tap}],
 *                        vsock_override {DIR/agent.sock}
 *   PATCH /drives/{id}   path_on_host = spec->disks[i], per disk
 * The snapshot names the template's disks; Firecracker opens them during
 * the load, and the PATCHes put the clone's own in their place before the
 * guest runs again. Paths are as Firecracker sees them (no jail). The first
 * refused call stops the sequence with an error naming it. */
int fc_restore(const char *api_sock, const struct vmm_spec *spec, struct bg_error *err);
