/* The banger initramfs: a cpio "newc" archive (gzip or zstd) with the guest
 * agent as /init and the kernel modules a stock distro kernel needs to reach
 * its root disk, network, console and vsock, loaded by the agent in the order
 * written to /lib/banger/modules.order (guest/agent/agent_initramfs.h).
 *
 * Layout:
 *   /dev /dev/console /proc /sys /newroot /lib /lib/banger
 *   /init                          the agent, 0755
 *   /lib/banger/modules.order      module paths relative to
 *                                  /lib/modules/<release>, dependencies first
 *   /lib/modules/<release>/...ko   the modules, decompressed (.ko), 0644
 *
 * Entries are owned by root with mtime 0, so the same inputs give the same
 * archive. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum initramfs_compression {
        INITRAMFS_GZIP,
        INITRAMFS_ZSTD,
};

/* virtio_mmio, virtio_blk, virtio_net, virtio_console, vsock,
 * vmw_vsock_virtio_transport, ext4. */
extern const char *const initramfs_default_modules[];
extern const size_t initramfs_n_default_modules;

struct initramfs_spec {
        const char *agent_path;    /* the static banger-agent binary, becomes /init */
        const char *release;       /* kernel release: /lib/modules/<release> */
        const char *modules_dir;   /* host tree of that release, or NULL: no modules */
        const char *dep_path;      /* modules.dep; NULL = modules_dir/modules.dep */
        const char *builtin_path;  /* modules.builtin; NULL = modules_dir/modules.builtin */
        const char *const *wanted; /* NULL = initramfs_default_modules */
        size_t n_wanted;
        enum initramfs_compression compression;
};

struct initramfs_result {
        char **modules; /* module paths as in modules.order, load order */
        size_t n_modules;
        char **builtin; /* wanted modules built into the kernel */
        size_t n_builtin;
        char **missing; /* wanted modules neither built in nor in modules.dep */
        size_t n_missing;
        uint64_t size; /* bytes of the archive written */
};
void initramfs_result_done(struct initramfs_result *r);

/* Write the archive to out_path (temporary file beside it, renamed into
 * place, mode 0644). Wanted modules that are missing or built in are
 * reported in *ret (which may be NULL), not as errors. Errors: -ENOENT (agent
 * or a module file missing), -EINVAL (a module path that is absolute or
 * climbs with ".."), -ELOOP (dependency cycle), -EIO (libarchive). */
int initramfs_build(const struct initramfs_spec *spec, const char *out_path,
                    struct initramfs_result *ret, struct bg_error *err);
