/* `banger image …`: build, list, show and delete root images (ImageService). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banger/v1/image.pb-c.h"
#include "cli.h"
#include "cmd_ops.h"
#include "format.h"
#include "util/macro.h"

#define IMAGE_SERVICE "banger.v1.ImageService"

static json_t *image_json(const Banger__V1__Image *i)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:s,s:s,s:s,s:I}", "name", i->name, "ref",
                         i->ref, "digest", i->digest, "size", (json_int_t)i->size, "used",
                         (json_int_t)i->used, "has_init", i->has_init, "has_sshd", i->has_sshd,
                         "kernel", i->kernel, "rootfs", i->rootfs_path, "work_seed", i->work_seed_path,
                         "created_unix_ms", (json_int_t)i->created_unix_ms);
}

static void image_print(const Banger__V1__Image *i)
{
        char size[32], used[32];
        cli_format_bytes(size, sizeof(size), i->size);
        cli_format_bytes(used, sizeof(used), i->used);
        printf("name:     %s\nref:      %s\n", cli_safe(i->name), cli_safe(i->ref));
        if (i->digest[0])
                printf("digest:   %s\n", cli_safe(i->digest));
        printf("size:     %s (%s on disk)\ninit:     %s\nsshd:     %s%s\nrootfs:   %s\n", size,
               used, i->has_init ? "yes" : "no", i->has_sshd ? "yes" : "no",
               i->has_sshd ? "" : " (vm run needs sshd: install openssh-server in the image)",
               cli_safe(i->rootfs_path));
        if (i->kernel[0])
                printf("kernel:   %s\n", cli_safe(i->kernel));
        printf("seed:     %s\n", i->work_seed_path[0] ? cli_safe(i->work_seed_path)
                                                      : "none (VMs start with an empty /root)");
}

static int image_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
                      const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                      struct rpc_status *st)
{
        char m[128];
        snprintf(m, sizeof(m), "/" IMAGE_SERVICE "/%s", method);
        return cli_call(cli, m, in, od, out, 30000, 0, st);
}

/* Prints img as --json asks, frees it, and returns 0. */
static int show_image(struct cli *cli, Banger__V1__Image *img)
{
        if (cli_flag(cli, "json"))
                cli_print_json(image_json(img));
        else
                image_print(img);
        banger__v1__image__free_unpacked(img, NULL);
        return 0;
}

/* Runs an image operation (Build, Pull) to its end and prints the image. */
static int image_op(struct cli *cli, const char *method, const ProtobufCMessage *in)
{
        struct rpc_status st = {0};
        Banger__V1__Image *img = NULL;
        int r = cli_op_call(cli, IMAGE_SERVICE, method, in, false, &banger__v1__image__descriptor,
                            (ProtobufCMessage **)&img, &st);
        if (r < 0)
                return cli_fail_status(&st);
        return show_image(cli, img);
}

int cmd_image_build(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__BuildImageRequest req = BANGER__V1__BUILD_IMAGE_REQUEST__INIT;
        char *pkgs[64];
        size_t n = 0;
        char *copy = NULL;
        if (argc > 0)
                req.name = argv[0];
        if (cli_flag_value(cli, "suite"))
                req.suite = (char *)cli_flag_value(cli, "suite");
        if (cli_flag_value(cli, "mirror"))
                req.mirror = (char *)cli_flag_value(cli, "mirror");
        if (cli_flag_value(cli, "packages")) {
                copy = strdup(cli_flag_value(cli, "packages"));
                if (!copy)
                        return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
                for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t && n < 64;
                     t = strtok_r(NULL, ", ", &save))
                        pkgs[n++] = t;
                req.packages = pkgs;
                req.n_packages = n;
        }
        int r = image_op(cli, "Build", &req.base);
        free(copy);
        return r;
}

static const struct cli_field image_fields[] = {
    {"name", "NAME", false},     {"size", "SIZE", true},        {"capacity", "CAPACITY", true},
    {"init", "INIT", false},     {"sshd", "SSHD", false},       {"ref", "REF", false},
    {"digest", "DIGEST", false}, {"created", "CREATED", false}, {"rootfs", "ROOTFS", false},
};

int cmd_image_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ListImagesRequest req = BANGER__V1__LIST_IMAGES_REQUEST__INIT;
        Banger__V1__ListImagesResponse *resp = NULL;
        struct rpc_status st = {0};
        struct cli_format f = {0};
        int r = cli_list_format(cli, image_fields, ELEMENTSOF(image_fields),
                                "name,size,init,sshd,ref", &f);
        if (r)
                return r;
        if (image_call(cli, "List", &req.base, &banger__v1__list_images_response__descriptor,
                       (ProtobufCMessage **)&resp, &st) < 0) {
                cli_format_done(&f);
                return cli_fail_status(&st);
        }
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < resp->n_images; i++)
                        json_array_append_new(arr, image_json(resp->images[i]));
                cli_print_json(arr);
        } else {
                size_t nf = ELEMENTSOF(image_fields);
                char **cells = calloc((resp->n_images ? resp->n_images : 1) * nf, sizeof(char *));
                const char **rows[resp->n_images ? resp->n_images : 1];
                for (size_t i = 0; cells && i < resp->n_images; i++) {
                        Banger__V1__Image *im = resp->images[i];
                        char **c = cells + i * nf, size[32], cap[32], when[32] = "";
                        cli_format_bytes(size, sizeof(size), im->used);
                        cli_format_bytes(cap, sizeof(cap), im->size);
                        time_t t = (time_t)(im->created_unix_ms / 1000);
                        struct tm tm;
                        if (im->created_unix_ms && localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
                        c[0] = strdup(im->name);
                        c[1] = strdup(size);
                        c[2] = strdup(cap);
                        c[3] = strdup(im->has_init ? "yes" : "no");
                        c[4] = strdup(im->has_sshd ? "yes" : "no");
                        c[5] = strdup(im->ref);
                        c[6] = strdup(im->digest);
                        c[7] = strdup(when);
                        c[8] = strdup(im->rootfs_path);
                        rows[i] = (const char **)c;
                }
                if (cells)
                        cli_format_print(&f, image_fields, nf, (const char *const *const *)rows,
                                         resp->n_images, stdout);
                for (size_t i = 0; cells && i < resp->n_images * nf; i++)
                        free(cells[i]);
                free(cells);
        }
        cli_format_done(&f);
        banger__v1__list_images_response__free_unpacked(resp, NULL);
        return 0;
}

int cmd_image_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *img = NULL;
        struct rpc_status st = {0};
        req.name = argv[0];
        if (image_call(cli, "Show", &req.base, &banger__v1__image__descriptor,
                       (ProtobufCMessage **)&img, &st) < 0)
                return cli_fail_status(&st);
        return show_image(cli, img);
}

int cmd_image_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__DeleteImageRequest req = BANGER__V1__DELETE_IMAGE_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        struct rpc_status st = {0};
        req.name = argv[0];
        if (image_call(cli, "Delete", &req.base, &banger__v1__delete_image_response__descriptor,
                       &resp, &st) < 0)
                return cli_fail_status(&st);
        protobuf_c_message_free_unpacked(resp, NULL);
        printf("image %s deleted\n", argv[0]);
        return 0;
}

int cmd_image_pull(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__PullImageRequest req = BANGER__V1__PULL_IMAGE_REQUEST__INIT;
        const char *v;
        req.reference = argv[0];
        if ((v = cli_flag_value(cli, "name")))
                req.name = (char *)v;
        if ((v = cli_flag_value(cli, "platform")))
                req.platform = (char *)v;
        req.catalog = cli_flag(cli, "catalog");
        if ((v = cli_flag_value(cli, "catalog-url"))) {
                if (!req.catalog)
                        return cli_fail(RPC_INVALID_ARGUMENT, "--catalog-url goes with --catalog");
                req.catalog_url = (char *)v;
        }
        if ((v = cli_flag_value(cli, "size"))) {
                int r = cli_parse_size("size", v, &req.size_bytes);
                if (r)
                        return r;
        }
        return image_op(cli, "Pull", &req.base);
}

int cmd_image_cache_prune(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__PruneImageCacheRequest req = BANGER__V1__PRUNE_IMAGE_CACHE_REQUEST__INIT;
        Banger__V1__PruneImageCacheResponse *resp = NULL;
        struct rpc_status st = {0};
        req.dry_run = cli_flag(cli, "dry-run");
        if (image_call(cli, "PruneCache", &req.base,
                       &banger__v1__prune_image_cache_response__descriptor,
                       (ProtobufCMessage **)&resp, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                cli_print_json(json_pack("{s:I,s:I,s:b}", "blobs", (json_int_t)resp->blobs, "bytes",
                                         (json_int_t)resp->bytes, "dry_run", req.dry_run));
        } else {
                char size[32];
                cli_format_bytes(size, sizeof(size), resp->bytes);
                printf("%s %llu blob%s, %s\n", req.dry_run ? "would remove" : "removed",
                       (unsigned long long)resp->blobs, resp->blobs == 1 ? "" : "s", size);
        }
        banger__v1__prune_image_cache_response__free_unpacked(resp, NULL);
        return 0;
}
