/* Where `banger-agent serve` listens: a virtio-serial port found by name, or
 * an AF_VSOCK stream socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Find the character device of the virtio-serial port called `name`:
 * <dev_root>/virtio-ports/<name> when udev made the link, else the vportNpM
 * whose <sys_root>/class/virtio-ports/vportNpM/name matches (no udev in an
 * initramfs or a bare PID 1). Writes "<dev_root>/vportNpM" or the link path
 * into buf. Returns 0, -ENOENT if no such port, -ENAMETOOLONG. */
int agent_vport_find(const char *dev_root, const char *sys_root, const char *name, char *buf,
                     size_t size);

/* A listening AF_VSOCK stream socket on `port` for any CID. Returns the fd or
 * -errno. */
int agent_vsock_listen(uint32_t port);
