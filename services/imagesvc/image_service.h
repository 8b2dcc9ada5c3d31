/* ImageService (proto/banger/v1/image.proto) inside banger-imagesvc: the
 * image store (images.db + STATE/images/NAME/rootfs.ext4) and the golden
 * image build (mmdebstrap streamed as a tar straight into ext4 with
 * lib/oci's tar applier, then banger's guest files). */
#pragma once

#include "banger/v1/image.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "daemon/daemon.h"
#include "rpc/rpc.h"

struct imagestore;
struct imagesvc;

extern const char image_store_migration_3[];
extern const char image_store_migration_4[];

int imagestore_new(struct daemon *d, struct imagestore **ret, struct bg_error *err);
struct imagestore *imagestore_free(struct imagestore *s);

/* The default package set of a golden image. */
extern const char *const image_default_packages[];

int imagesvc_image_build(struct imagesvc *v, const Banger__V1__BuildImageRequest *in,
                         Banger__V1__Operation *out, const struct rpc_call *call,
                         struct bg_error *err);
int imagesvc_image_show(struct imagesvc *v, const Banger__V1__ShowImageRequest *in,
                        Banger__V1__Image *out, const struct rpc_call *call, struct bg_error *err);
int imagesvc_image_list(struct imagesvc *v, const Banger__V1__ListImagesRequest *in,
                        Banger__V1__ListImagesResponse *out, const struct rpc_call *call,
                        struct bg_error *err);
int imagesvc_image_delete(struct imagesvc *v, const Banger__V1__DeleteImageRequest *in,
                          Banger__V1__DeleteImageResponse *out, const struct rpc_call *call,
                          struct bg_error *err);
int imagesvc_image_get_op(struct imagesvc *v, const Banger__V1__GetOperationRequest *in,
                          Banger__V1__Operation *out, const struct rpc_call *call,
                          struct bg_error *err);
int imagesvc_image_cancel_op(struct imagesvc *v, const Banger__V1__CancelOperationRequest *in,
                             Banger__V1__Operation *out, const struct rpc_call *call,
                             struct bg_error *err);
int imagesvc_image_list_ops(struct imagesvc *v, const Banger__V1__ListOperationsRequest *in,
                            Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                            struct bg_error *err);
