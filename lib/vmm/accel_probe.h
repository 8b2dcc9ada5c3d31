/* Decides whether QEMU can run a guest kernel under KVM on this host, or must
 * fall back to TCG.
 *
 * Opening /dev/kvm is not enough: some hosts (nested PVM sandboxes, for one)
 * expose a /dev/kvm that only runs specially built guest kernels; a stock
 * kernel then hangs in its first instructions. So after the cheap checks
 * (/dev/kvm opens read-write, KVM_GET_API_VERSION is 12, KVM_CREATE_VM works)
 * the probe boots the kernel itself under `-accel kvm` with no root device:
 * a working KVM prints "Linux version" within a second and reaches the kernel's
 * "Kernel panic - not syncing" (no root) soon after; a broken one prints
 * nothing. QEMU is always killed and reaped before the probe returns, so the
 * probe never hangs and never leaves a process behind. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/* How long the boot test waits for "Linux version" and for the kernel to reach
 * its end (the panic for want of a root device). */
#define ACCEL_PROBE_BANNER_MS 5000
#define ACCEL_PROBE_FINISH_MS 8000

/* Picks VMM_ACCEL_KVM or VMM_ACCEL_TCG for booting bzimage (with initrd, may
 * be NULL or "") under qemu (a path, or a name looked up in PATH), and says why
 * in `why`. The boot test's answer is cached in cache_dir (NULL: no cache),
 * keyed by the host's kernel release and boot id, the QEMU binary and the
 * kernel file (path, size, mtime); concurrent probes of one cache_dir are
 * serialised by a lock file there. Returns 1 when the answer came from the
 * cache, 0 when it was decided now, -ENOENT when qemu or bzimage is missing,
 * other -errno when the probe itself could not run (why says what). */
int accel_probe(const char *qemu, const char *bzimage, const char *initrd, const char *cache_dir,
                enum vmm_accel *ret, char *why, size_t why_len);

/* The boot test alone, no cache and no cheap checks: boots bzimage under
 * `-accel kvm` with its console in a temporary directory under workdir.
 * 1: the kernel ran (KVM usable), 0: it did not (why says how), < 0: the
 * test could not be run. banner_ms/finish_ms as above. */
int accel_probe_kvm_boot(const char *qemu, const char *bzimage, const char *initrd,
                         const char *workdir, uint64_t banner_ms, uint64_t finish_ms, char *why,
                         size_t why_len);
