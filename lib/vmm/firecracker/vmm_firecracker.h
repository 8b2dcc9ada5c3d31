/* Firecracker helpers shared by the driver (vmm_firecracker.c), `vmm = auto`
 * selection and `banger doctor`: version checks, boot arguments, exit codes,
 * and the API configuration sequence (also used after a jailer launch). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vmm/vmm.h"

/* Oldest Firecracker banger runs (`vmm = auto` ignores older ones). */
#define FC_VERSION_MIN_MAJOR 1
#define FC_VERSION_MIN_MINOR 5
#define FC_VERSION_MIN_PATCH 0
/* Range banger is tested against (the API spec in shared/ref is 1.16.1):
 * 1.5.0 .. 1.16.x. Newer versions run, `doctor` says they are untested. */
#define FC_TESTED_MAX_MAJOR 1
#define FC_TESTED_MAX_MINOR 16
#define FC_TESTED_RANGE "1.5.0 .. 1.16.x"

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

/* Timeouts of the driver (ms). */
#define FC_SOCKET_TIMEOUT_MS 5000
#define FC_API_TIMEOUT_MS 10000
#define FC_KILL_TIMEOUT_MS 5000

/* Parses `firecracker --version` output: the first "v<MAJOR>.<MINOR>.<PATCH>"
 * after "Firecracker" ("Firecracker v1.16.1", suffixes like "-dev" allowed).
 * -EINVAL when there is none. */
int fc_version_parse(const char *text, unsigned *ret_major, unsigned *ret_minor,
                     unsigned *ret_patch);

/* Runs `binary --version` (PATH lookup if it has no '/'), bounded to 5 s. */
int fc_version(const char *binary, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_patch,
               struct bg_error *err);

/* >= FC_VERSION_MIN. */
bool fc_version_supported(unsigned major, unsigned minor, unsigned patch);
/* Within FC_TESTED_RANGE. */
bool fc_version_tested(unsigned major, unsigned minor, unsigned patch);

/* 1 when binary is found, reports a supported version and /dev/kvm opens
 * read-write; 0 otherwise with the reason in why ("firecracker not found in
 * PATH", "firecracker v1.4.0 is older than 1.5.0", "/dev/kvm: Permission
 * denied"). fc_usable_kvm takes the KVM device path (tests). */
int fc_usable(const char *binary, char *why, size_t why_len);
int fc_usable_kvm(const char *binary, const char *kvm_path, char *why, size_t why_len);

/* vmm = "auto": "firecracker" when fc_usable_kvm(binary, kvm_path) says so,
 * else "qemu"; why says what was found ("firecracker v1.16.1", "firecracker
 * not found in PATH"). */
const char *fc_auto_pick(const char *binary, const char *kvm_path, char *why, size_t why_len);

/* Absolute path of an executable: name itself when it has a '/', else the
 * first match in $PATH. -ENOENT when none. */
int fc_find_binary(const char *name, char *buf, size_t len);

/* Firecracker's process exit codes (src/vmm/src/lib.rs FcExitCode):
 * 0 Ok, 1 GenericError, 2 UnexpectedError, 148 BadSyscall, 149 SIGBUS,
 * 150 SIGSEGV, 151 SIGXFSZ, 152 BadConfiguration, 153 ArgParsing, 154 SIGXCPU,
 * 155 SIGPIPE, 156 SIGHUP, 157 SIGILL. */
const char *fc_exit_code_to_string(int code);   /* "BadSyscall"; NULL if unknown */
int fc_exit_code_from_string(const char *name); /* 148; -EINVAL if unknown */
const char *fc_exit_code_describe(int code);    /* readable sentence; NULL if unknown */

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
