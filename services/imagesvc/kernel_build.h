/* Turn a kernel image (ELF vmlinux or bzImage), an optional initrd and an
 * optional module tree into the artifacts banger keeps for a kernel, inside
 * one (temporary) directory: bzImage, vmlinux, initramfs.cpio.gz,
 * modules.ext4, initrd.img, kernel.json. Publishing the directory is the
 * caller's business. */
#pragma once

#include <stdbool.h>

#include "banger/v1/kernel.pb-c.h"
#include "util/error.h"

struct ops_ctx;

struct kernel_build_req {
        const char *name;
        const char *image;        /* vmlinux or bzImage */
        const char *initrd;       /* NULL = none */
        const char *modules_dir;  /* a lib/modules/<release> tree, NULL = none */
        const char *release_hint; /* used when the image carries no version */
        const char *source;       /* for Kernel.source */
        const char *agent_path;   /* banger-agent, becomes the initramfs's /init */
};

/* Build into out_dir (which exists and is empty; scratch files it makes are
 * removed). Stages "inspect", "vmlinux", "initramfs", "modules". On success
 * *ret (initialised) gets heap copies of the kernel's fields; its *_path
 * fields hold just the file names of what exists (e.g. "bzImage", "" when
 * absent) and dir is "". */
int kernel_build(const struct kernel_build_req *req, const char *out_dir, struct ops_ctx *ctx,
                 Banger__V1__Kernel *ret, struct bg_error *err);
