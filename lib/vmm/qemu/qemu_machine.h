/* The QEMU machine every banger guest runs on, shared by the driver
 * (vmm_qemu.c) and the KVM probe (accel_probe.c), which must boot the
 * kernel on the same machine to tell whether KVM can run it. */
#pragma once

/* microvm: virtio-mmio devices, no PCI; ACPI on (stock kernels find the
 * virtio-mmio devices through it, and the power button works); no legacy
 * PIT/PIC; the RTC gives the guest its wall clock. */
#define VMM_QEMU_MACHINE "microvm,acpi=on,pit=off,pic=off,rtc=on"
