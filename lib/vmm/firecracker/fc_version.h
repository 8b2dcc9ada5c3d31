/* The installed Firecracker: its version, whether banger can run it on this
 * host, and `vmm = "auto"`'s choice. Used by vmsvc at start-up and by
 * `banger doctor`. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Oldest Firecracker banger runs (`vmm = auto` ignores older ones). */
#define FC_VERSION_MIN_MAJOR 1
#define FC_VERSION_MIN_MINOR 5
#define FC_VERSION_MIN_PATCH 0
/* Range banger is tested against (the API spec in shared/ref is 1.16.1):
 * 1.5.0 .. 1.16.x. Newer versions run, `doctor` says they are untested. */
#define FC_TESTED_MAX_MAJOR 1
#define FC_TESTED_MAX_MINOR 16
#define FC_TESTED_RANGE "1.5.0 .. 1.16.x"
/* Oldest Firecracker whose snapshots banger can clone (templates): the
 * clone's PUT /snapshot/load re-points the snapshot's tap to the clone's own
 * (network_overrides, since 1.12.0) and its hybrid-vsock socket to the
 * clone's own (vsock_override, since 1.16.0). */
#define FC_SNAPSHOT_MIN_MAJOR 1
#define FC_SNAPSHOT_MIN_MINOR 16
#define FC_SNAPSHOT_MIN_PATCH 0
#define FC_SNAPSHOT_MIN "1.16.0"

/* Parses `firecracker --version` output: the first "v<MAJOR>.<MINOR>.<PATCH>"
 * after "Firecracker" ("Firecracker v1.16.1", suffixes like "-dev" allowed).
 * -EINVAL when there is none. */
int fc_version_parse(const char *text, unsigned *ret_major, unsigned *ret_minor,
                     unsigned *ret_patch);

/* Parses the API's form of the version, GET / "vmm_version" ("1.16.1",
 * also "v1.16.1" and suffixes like "-dev"). -EINVAL otherwise. */
int fc_version_parse_api(const char *text, unsigned *ret_major, unsigned *ret_minor,
                         unsigned *ret_patch);

/* Runs `binary --version` (PATH lookup if it has no '/'), bounded to 5 s. */
int fc_version(const char *binary, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_patch,
               struct bg_error *err);

/* >= FC_VERSION_MIN. */
bool fc_version_supported(unsigned major, unsigned minor, unsigned patch);
/* >= FC_SNAPSHOT_MIN: can snapshot a template and restore its clones. */
bool fc_version_snapshots(unsigned major, unsigned minor, unsigned patch);
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
