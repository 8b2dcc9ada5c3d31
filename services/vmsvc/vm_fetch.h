/* What a cold VM create needs before its first step: its image and kernel.
 * A missing one is pulled (an OCI reference such as debian:bookworm, the
 * default kernel, any kernel of the catalog) or built (the default image) by
 * imagesvc as its own operation; the create's operation waits for it in the
 * stages "image" and "kernel" and shows its byte progress. An image name that
 * is neither here, nor a reference, nor the default fails at once with the
 * list of images and a hint, before a VM row exists. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ops/ops.h"
#include "util/error.h"
#include "vm_deps.h"

struct vm_fetch {
        char image[65];                 /* the local image name to use */
        char kernel[65];                /* the kernel to use */
        char image_op[OPS_ID_LEN + 1];  /* imagesvc operation to wait for, "" = none */
        char image_what[16];            /* "pull" or "build" */
        char kernel_op[OPS_ID_LEN + 1]; /* kernel pull to wait for, "" = none */
};

/* The stages of a create that waits for a fetch ("image", "kernel", then
 * vm_create_stages). */
extern const char *const vm_fetch_create_stages[];
extern const size_t vm_n_fetch_create_stages;

/* Decides, and starts imagesvc's operations for what is missing. image is
 * what the request asked for after defaults, kernel what it asked for ("" =
 * none: the kernel the image records, else default_kernel); default_image and
 * default_kernel the config's. A recorded kernel that is not here is pulled
 * like any other (a catalog name), or fails naming the image and the kernel.
 * An unreachable imagesvc plans nothing (the create's steps then report it). */
int vm_fetch_plan(struct vm_peers *p, const char *image, const char *default_image,
                  const char *kernel, const char *default_kernel, struct vm_fetch *ret,
                  struct bg_error *err);

/* Waits for the operations of f, reporting stages and bytes on ctx; stops
 * waiting (-ECANCELED) when ctx is cancelled. */
int vm_fetch_wait(struct vm_peers *p, const struct vm_fetch *f, struct ops_ctx *ctx,
                  struct bg_error *err);
