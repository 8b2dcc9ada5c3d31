/* banger-imagesvc: OCI images, golden images, kernels. Owns images.db. */
#pragma once

#include "daemon/daemon.h"

struct kernelsvc;
struct imagestore;

struct imagesvc {
        struct daemon *d;
        struct kernelsvc *kernels; /* KernelService state (kernel_service.h) */
        struct imagestore *images; /* ImageService state (image_service.h) */
};

extern const struct store_migration imagesvc_migrations[];
extern const size_t imagesvc_n_migrations;
extern const struct rpc_method_impl imagesvc_image_methods[];
extern const size_t imagesvc_n_image_methods;

extern const struct rpc_method_impl imagesvc_kernel_methods[];
extern const size_t imagesvc_n_kernel_methods;

/* Sets up the kernel service (v->kernels) and registers both services. */
int imagesvc_register(struct imagesvc *v, struct bg_error *err);
/* Stops running operations and frees what imagesvc_register set up. */
void imagesvc_done(struct imagesvc *v);
