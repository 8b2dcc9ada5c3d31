/* A pod's container in its sandbox's VM. The VM boots banger's default
 * image (the sandbox's own rootfs is the pause image); each container's
 * image is copied into it at Create and its processes run chrooted there
 * (`banger-agent enter`, process.h):
 *
 *   Create -> containerd's rootfs mounts at BUNDLE/rootfs (rootfs.h), read
 *             without following a symlink and sent as a tar stream through
 *             WorkspaceService/StartExec + ExecInput to `tar -x` in the
 *             guest at /var/lib/banger/pods/ctr-<16 hex> (the container's
 *             VM name, shim_vm_name), which then gets /proc, /sys and /dev
 *             (bind mounts of the VM's) and the VM's /etc/resolv.conf,
 *             hosts and hostname; the host mounts go again; with cgroup v2
 *             in the guest, an empty cgroup POD_GUEST_CGROUP "/ctr-<16 hex>"
 *             is made for it, which every process of the container joins
 *             (`banger-agent enter --cgroup`);
 *   Delete -> everything in that cgroup is killed (cgroup.kill: a process
 *             that left the tree by chroot too), then what still runs in
 *             the tree; the tree's mounts and files and the cgroup go (also
 *             from `shim delete` after a shim died).
 *
 * The copy is held to the limits of a rootfs image (rootfs.h): at most
 * ROOTFS_MAX_ENTRIES entries and rootfs_max_bytes() of file data
 * (BANGER_SHIM_MAX_ROOTFS), checked as it goes; past them, or when the guest
 * fails (its disk is full), the copy stops and the partial tree is removed. */
#pragma once

#include <stddef.h>

#include "shim.h"

#define POD_GUEST_BASE "/var/lib/banger/pods"
#define POD_GUEST_CGROUP "/sys/fs/cgroup/banger-pods"
/* How long one copy may take in the guest. */
#define POD_COPY_TIMEOUT_MS (20u * 60 * 1000)

/* POD_GUEST_BASE "/ctr-<16 hex>" for the container ns/id. */
int shim_pod_root(const char *ns, const char *id, char *buf, size_t len);

/* Copies host_dir's tree into VM c->vm at guest_root (replacing whatever was
 * there) and sets up its mounts. On failure nothing is left at guest_root. */
int shim_pod_copy(struct shim_ctx *c, const char *host_dir, const char *guest_root,
                  struct bg_error *err);

/* Removes guest_root (its mounts first) from VM vm. -ENOENT when the VM is
 * gone (then so is the tree). */
int shim_pod_remove(struct shim_ctx *c, const char *vm, const char *guest_root,
                    struct bg_error *err);
