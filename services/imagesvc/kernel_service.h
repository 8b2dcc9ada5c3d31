/* KernelService (proto/banger/v1/kernel.proto) inside banger-imagesvc:
 * kernels under STATE/kernels/<name>/, recorded in images.db, built by long
 * operations (lib/ops) that publish atomically (STATE/kernels/.tmp-* then
 * rename) under a per-name lock. */
#pragma once

#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "daemon/daemon.h"
#include "rpc/rpc.h"
#include "util/error.h"

struct kernelsvc;
struct imagesvc;

/* Opens its own connection to images.db (the migrations must have run),
 * creates STATE/kernels and CACHE/kernels, and removes what a crash left
 * behind: .tmp-* build directories, kernel directories with no database row,
 * partial downloads. */
int kernelsvc_new(struct daemon *d, struct kernelsvc **ret, struct bg_error *err);
/* Cancels running operations, waits for them, closes. NULL is fine. */
struct kernelsvc *kernelsvc_free(struct kernelsvc *ks);

/* Handlers (svc is the struct imagesvc whose kernels field is set). */
int kernelsvc_import(struct imagesvc *v, const Banger__V1__ImportKernelRequest *in,
                     Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err);
int kernelsvc_pull(struct imagesvc *v, const Banger__V1__PullKernelRequest *in,
                   Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err);
int kernelsvc_get_operation(struct imagesvc *v, const Banger__V1__GetOperationRequest *in,
                            Banger__V1__Operation *out, const struct rpc_call *call,
                            struct bg_error *err);
int kernelsvc_cancel_operation(struct imagesvc *v, const Banger__V1__CancelOperationRequest *in,
                               Banger__V1__Operation *out, const struct rpc_call *call,
                               struct bg_error *err);
int kernelsvc_list_operations(struct imagesvc *v, const Banger__V1__ListOperationsRequest *in,
                              Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                              struct bg_error *err);
/* The Debian catalog (kernel_pull.h), read from the mirror at most once per
 * 10 minutes unless in->refresh. */
int kernelsvc_catalog(struct imagesvc *v, const Banger__V1__KernelCatalogRequest *in,
                      Banger__V1__KernelCatalogResponse *out, const struct rpc_call *call,
                      struct bg_error *err);
int kernelsvc_list(struct imagesvc *v, const Banger__V1__ListKernelsRequest *in,
                   Banger__V1__ListKernelsResponse *out, const struct rpc_call *call,
                   struct bg_error *err);
int kernelsvc_show(struct imagesvc *v, const Banger__V1__ShowKernelRequest *in,
                   Banger__V1__Kernel *out, const struct rpc_call *call, struct bg_error *err);
int kernelsvc_delete(struct imagesvc *v, const Banger__V1__DeleteKernelRequest *in,
                     Banger__V1__DeleteKernelResponse *out, const struct rpc_call *call,
                     struct bg_error *err);
