#include "imagesvc.h"

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "image_bundle.h"
#include "image_pull.h"
#include "image_service.h"
#include "kernel_service.h"
#include "kernel_store.h"

/* Schema v1: the VM registry. Later versions append migrations; never edit one
 * that has shipped. */
const struct store_migration imagesvc_migrations[] = {
    {1, "CREATE TABLE images ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  ref TEXT NOT NULL,"
        "  digest TEXT NOT NULL,"
        "  created_unix_ms INTEGER NOT NULL"
        ");"
        "CREATE TABLE kernels ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  version TEXT NOT NULL,"
        "  sha256 TEXT NOT NULL,"
        "  created_unix_ms INTEGER NOT NULL"
        ");"},
    {2, kernel_store_migration_2},
    {3, image_store_migration_3},
    {4, image_store_migration_4},
};
const size_t imagesvc_n_migrations = ELEMENTSOF(imagesvc_migrations);

static int image_health(struct imagesvc *v, const Banger__V1__HealthRequest *in,
                        Banger__V1__HealthResponse *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

/* The image-moving handlers (image_bundle.h) work on the image store. */
#define STORE_HANDLER(fn, Req, Resp)                                                               \
        static int h_##fn(struct imagesvc *v, const Req *in, Resp *out,                            \
                          const struct rpc_call *call, struct bg_error *err)                       \
        {                                                                                          \
                return image_##fn(v->images, in, out, err);                                        \
        }
STORE_HANDLER(promote, Banger__V1__PromoteImageRequest, Banger__V1__Operation)
STORE_HANDLER(upload, Banger__V1__UploadRequest, Banger__V1__UploadResponse)
STORE_HANDLER(register, Banger__V1__RegisterImageRequest, Banger__V1__Operation)
STORE_HANDLER(import, Banger__V1__ImportImageRequest, Banger__V1__Operation)
STORE_HANDLER(export, Banger__V1__ExportImageRequest, Banger__V1__Operation)
STORE_HANDLER(download, Banger__V1__DownloadRequest, Banger__V1__DownloadResponse)
STORE_HANDLER(catalog, Banger__V1__ImageCatalogRequest, Banger__V1__ImageCatalogResponse)

const struct rpc_method_impl imagesvc_image_methods[] = {
    RPC_METHOD("Health", image_health),
    RPC_METHOD("Build", imagesvc_image_build),
    RPC_METHOD("Pull", imagesvc_image_pull),
    RPC_METHOD("PruneCache", imagesvc_image_prune_cache),
    RPC_METHOD("Show", imagesvc_image_show),
    RPC_METHOD("List", imagesvc_image_list),
    RPC_METHOD("Delete", imagesvc_image_delete),
    RPC_METHOD("Promote", h_promote),
    RPC_METHOD("Upload", h_upload),
    RPC_METHOD("RegisterRootfs", h_register),
    RPC_METHOD("Import", h_import),
    RPC_METHOD("Export", h_export),
    RPC_METHOD("Download", h_download),
    RPC_METHOD_SLOW("Catalog", h_catalog),
    RPC_METHOD("GetOperation", imagesvc_image_get_op),
    RPC_METHOD("CancelOperation", imagesvc_image_cancel_op),
    RPC_METHOD("ListOperations", imagesvc_image_list_ops),
};
const size_t imagesvc_n_image_methods = ELEMENTSOF(imagesvc_image_methods);

static int kernel_health(struct imagesvc *v, const Banger__V1__HealthRequest *in,
                         Banger__V1__HealthResponse *out, const struct rpc_call *call,
                         struct bg_error *err)
{
        return daemon_health(v->d, in, out, call, err);
}

const struct rpc_method_impl imagesvc_kernel_methods[] = {
    RPC_METHOD("Health", kernel_health),
    RPC_METHOD("Import", kernelsvc_import),
    RPC_METHOD("Pull", kernelsvc_pull),
    RPC_METHOD_SLOW("Catalog", kernelsvc_catalog),
    RPC_METHOD("GetOperation", kernelsvc_get_operation),
    RPC_METHOD("CancelOperation", kernelsvc_cancel_operation),
    RPC_METHOD("ListOperations", kernelsvc_list_operations),
    RPC_METHOD("List", kernelsvc_list),
    RPC_METHOD("Show", kernelsvc_show),
    RPC_METHOD("Delete", kernelsvc_delete),
};
const size_t imagesvc_n_kernel_methods = ELEMENTSOF(imagesvc_kernel_methods);

int imagesvc_register(struct imagesvc *v, struct bg_error *err)
{
        int r = kernelsvc_new(v->d, &v->kernels, err);
        if (r < 0)
                return r;
        r = imagestore_new(v->d, &v->images, err);
        if (r < 0)
                return r;
        /* Catalog reads wait on a server the caller (or the config) names,
         * bounded only by curl's slow-transfer cut-off: they run on a pool
         * of their own with a limit, never on the shared workers. */
        r = rpc_server_set_pool_limit(v->d->srv, false, v->d->cfg.image.max_catalog_calls,
                                      v->d->cfg.image.max_catalog_calls, "catalog reads",
                                      "image.max_catalog_calls", err);
        if (r < 0)
                return r;
        r = rpc_server_add_service(v->d->srv, &banger__v1__image_service__descriptor,
                                   imagesvc_image_methods, imagesvc_n_image_methods, v, err);
        if (r < 0)
                return r;
        return rpc_server_add_service(v->d->srv, &banger__v1__kernel_service__descriptor,
                                      imagesvc_kernel_methods, imagesvc_n_kernel_methods, v, err);
}

void imagesvc_done(struct imagesvc *v)
{
        v->images = imagestore_free(v->images);
        v->kernels = kernelsvc_free(v->kernels);
}
