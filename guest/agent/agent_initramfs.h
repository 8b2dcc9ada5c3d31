/* The agent as the initramfs's /init (PID 1 in a ramfs/tmpfs root): mount
 * /proc /sys /dev, load the bundled modules listed in
 * /lib/banger/modules.order, wait for root=, mount it, move the API mounts,
 * free the initramfs and switch_root to the real init. Any failure is printed
 * on the console and the machine reboots, so a VMM run with -no-reboot (or
 * Firecracker) exits instead of hanging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent_pid1.h"

#define AGENT_MODULES_ORDER "/lib/banger/modules.order"

/* Resolve one modules.order line: a path relative to modroot
 * (/lib/modules/<release>), or absolute. If the listed file is missing, its
 * sibling with the other suffix is tried (.ko for .ko.xz/.ko.zst/.ko.gz, and
 * .ko.xz/.ko.zst/.ko.gz for .ko), so the initramfs builder may ship modules
 * decompressed. Writes the path found and whether it is compressed. Returns 0,
 * -ENOENT, -EINVAL (empty line or not a .ko), -ENAMETOOLONG. */
int agent_module_resolve(const char *modroot, const char *line, char *buf, size_t size,
                         bool *ret_compressed);

/* True when running as PID 1 on an initramfs (ramfs or tmpfs root). */
bool agent_in_initramfs(void);

/* Never returns: execs the real init or reboots. argv[1..] are passed on to
 * the real init. With banger.init=agent on the kernel command line nothing
 * on the root disk is executed: this process switches root and becomes the
 * VM's init itself (agent_pid1_run with spawn, agent_pid1.h). */
_Noreturn void agent_initramfs_run(int argc, char **argv, agent_pid1_spawn_fn spawn,
                                   void *userdata);
