/* banger-imagesvc: OCI images, golden images, kernels. Owns images.db. */
#pragma once

#include "daemon/daemon.h"

struct imagesvc {
        struct daemon *d;
};

extern const struct store_migration imagesvc_migrations[];
extern const size_t imagesvc_n_migrations;
extern const struct rpc_method_impl imagesvc_image_methods[];
extern const size_t imagesvc_n_image_methods;

extern const struct rpc_method_impl imagesvc_kernel_methods[];
extern const size_t imagesvc_n_kernel_methods;

int imagesvc_register(struct imagesvc *v, struct bg_error *err);
