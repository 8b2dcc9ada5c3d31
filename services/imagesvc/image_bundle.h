/* ImageService methods that move whole images in and out of banger
 * (image_bundle.c, image_catalog.c, image_transfer.c): promote a stopped
 * VM's root disk, register an ext4 file, export and import bundles
 * (bundle.h), the image catalog, and the chunked Upload/Download that
 * carries files between the CLI and imagesvc (so that imagesvc never opens
 * a path a caller names). */
#pragma once

#include "banger/v1/image.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "rpc/rpc.h"
#include "util/error.h"

struct imagestore;
struct image_transfers;

/* Most bytes of a chunk in Upload and Download. */
#define IMAGE_CHUNK_MAX (2u << 20)
/* Uploads and spooled exports at once, and how long one may sit unused. */
#define IMAGE_TRANSFERS_MAX 8
#define IMAGE_TRANSFER_IDLE_MS (10u * 60 * 1000)
/* Largest catalog document. */
#define IMAGE_CATALOG_MAX (4u << 20)

int image_transfers_new(struct image_transfers **ret);
/* Closes and removes every upload and spooled export. */
struct image_transfers *image_transfers_free(struct image_transfers *t);

/* Takes the finished upload id of kind `kind` out of the table and renames
 * its file to dest (in the same file system): the caller owns it then. */
int image_upload_take(struct imagestore *s, const char *id, const char *kind, const char *dest,
                      struct bg_error *err);
/* Drops upload id if it is there (a Register or Import refused before it
 * took the upload). */
void image_upload_drop(struct imagestore *s, const char *id);
/* Adds the file at path (a bundle in the images dir) as a spooled export
 * under id (it is removed by Download{done}, idleness or shutdown). */
int image_export_add(struct imagestore *s, const char *id, const char *path, struct bg_error *err);

struct image_catalog_entry {
        char name[65];
        char url[1024];
        char sha256[65];
        uint64_t size;
        char description[256];
};
/* Parses a catalog: a JSON array of entries, or {"images": [...]}; every
 * entry checked (name, http(s)/file URL, file URLs only when allow_file,
 * 64-hex sha256), at most 1024 entries. *ret (caller frees) and *ret_n. */
int image_catalog_parse(const char *text, size_t len, bool allow_file,
                        struct image_catalog_entry **ret, size_t *ret_n, struct bg_error *err);
/* The catalog URL a request may use: its own (http(s) only) or config's
 * image.catalog_url, into buf. */
int image_catalog_url(struct imagestore *s, const char *req, char *buf, size_t len,
                      struct bg_error *err);
/* Fetches the catalog at url (at most IMAGE_CATALOG_MAX bytes, through a
 * scratch file in the images dir) and parses it (image_catalog.c). */
int image_catalog_load(struct imagestore *s, const char *url, struct image_catalog_entry **ret,
                       size_t *ret_n, struct bg_error *err);

/* The ImageService handlers (imagesvc.c wraps them into its method table
 * with the service's image store). */
int image_promote(struct imagestore *s, const Banger__V1__PromoteImageRequest *in,
                  Banger__V1__Operation *out, struct bg_error *err);
int image_upload(struct imagestore *s, const Banger__V1__UploadRequest *in,
                 Banger__V1__UploadResponse *out, struct bg_error *err);
int image_register(struct imagestore *s, const Banger__V1__RegisterImageRequest *in,
                   Banger__V1__Operation *out, struct bg_error *err);
int image_import(struct imagestore *s, const Banger__V1__ImportImageRequest *in,
                 Banger__V1__Operation *out, struct bg_error *err);
int image_export(struct imagestore *s, const Banger__V1__ExportImageRequest *in,
                 Banger__V1__Operation *out, struct bg_error *err);
int image_download(struct imagestore *s, const Banger__V1__DownloadRequest *in,
                   Banger__V1__DownloadResponse *out, struct bg_error *err);
int image_catalog(struct imagestore *s, const Banger__V1__ImageCatalogRequest *in,
                  Banger__V1__ImageCatalogResponse *out, struct bg_error *err);
/* ImageService.Pull with catalog set (image_pull.c hands it over). */
int image_pull_catalog(struct imagestore *s, const Banger__V1__PullImageRequest *in,
                       Banger__V1__Operation *out, struct bg_error *err);
