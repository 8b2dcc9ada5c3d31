/* The kernel command line of a banger guest, built in one place.
 *
 * Two parties know a part of it. The VM manager (vmsvc) knows the guest:
 * its name, address, resolvers and disks (spec->name, spec->mac and
 * struct vmm_boot in the spec), the banger.* parameters the guest agent
 * reads at boot (guest/files/README.md). The driver knows the machine: its
 * console device, the agent channel it chose (virtio-serial or vsock, by
 * what the host offers), whether the guest runs under TCG and at which TSC
 * rate, what its firmware lacks (PCI). Only the driver knows all of that,
 * and only at launch, so the driver calls vmm_cmdline_build() with the spec
 * and its struct vmm_cmdline_machine, and this file writes every parameter,
 * each exactly once. It lives in lib/vmm, beside the drivers that call it;
 * vmsvc only fills struct vmm_boot.
 *
 * Every value is checked here, so nothing a user, an image or a caller
 * supplies can smuggle an extra parameter in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmm/vmm.h"

/* What the driver knows about the machine. */
struct vmm_cmdline_machine {
        const char *console; /* serial console device: "ttyS0" */
        const char *agent;   /* agent channel: "virtio-serial:NAME" or "vsock:PORT" */
        uint32_t tsc_khz;    /* TCG: the TSC rate the guest is told (tsc_early_khz); 0: none */
        bool no_pci;         /* the machine has no PCI bus: pci=off skips probing one */
        bool i8042_quick;    /* probe the i8042 keyboard controller without the slow parts
                              * (Firecracker: its Ctrl-Alt-Del arrives through it) */
};

/* Writes the guest's whole kernel command line for spec on machine m into
 * buf. -EINVAL with a message naming the bad value, -E2BIG when it does not
 * fit len (or VMM_CMDLINE_MAX). */
int vmm_cmdline_build(const struct vmm_spec *spec, const struct vmm_cmdline_machine *m, char *buf,
                      size_t len, struct bg_error *err);

/* The command line of a kernel booted only to see that it runs (the KVM
 * probe, accel_probe.c): its console on console ("ttyS0"), the same
 * reboot=t panic=-1 as every guest, and rdinit=/nonexistent so that it
 * skips the initramfs's /init; with no root device it panics at once and
 * the VMM ends. Into buf; -E2BIG when it does not fit len. */
int vmm_cmdline_probe(const char *console, char *buf, size_t len);
