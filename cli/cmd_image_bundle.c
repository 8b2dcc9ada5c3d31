/* `banger image promote|register|export|import|catalog` and `image pull
 * --catalog`: whole images in and out of banger (ImageService Promote,
 * Register, Import, Export, Catalog, Pull). Files go through Upload and
 * Download in chunks: the CLI opens them as the user who runs it, so
 * imagesvc never opens a path a caller names. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/image.pb-c.h"
#include "cli.h"
#include "cmd_image_bundle.h"
#include "cmd_ops.h"
#include "sha256.h"
#include "term.h"
#include "util/fileio.h"
#include "util/macro.h"

#define IMAGE_SERVICE "banger.v1.ImageService"
#define CHUNK (2u << 20)
#define CHUNK_DEADLINE_MS 60000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        (void)sig;
        interrupted = 1;
}

struct sig_guard {
        struct sigaction old;
};

static void sig_catch(struct sig_guard *g)
{
        struct sigaction sa = {.sa_handler = on_sigint};
        sigemptyset(&sa.sa_mask);
        interrupted = 0;
        sigaction(SIGINT, &sa, &g->old);
}

static void sig_restore(struct sig_guard *g)
{
        sigaction(SIGINT, &g->old, NULL);
}

static void show_progress(const char *what, uint64_t done, uint64_t total, bool end)
{
        if (!isatty(STDERR_FILENO))
                return;
        char d[32], t[32];
        cli_format_bytes(d, sizeof(d), done);
        cli_format_bytes(t, sizeof(t), total);
        fprintf(stderr, "\r%s: %3u%% (%s of %s)%s", what,
                total ? (unsigned)(done * 100 / total) : 100u, d, t, end ? "\n" : "");
        fflush(stderr);
}

static json_t *image_json(const Banger__V1__Image *i)
{
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:s,s:s,s:s,s:I}", "name", i->name, "ref",
                         i->ref, "digest", i->digest, "size", (json_int_t)i->size, "used",
                         (json_int_t)i->used, "has_init", i->has_init, "has_sshd", i->has_sshd,
                         "kernel", i->kernel, "rootfs", i->rootfs_path, "work_seed",
                         i->work_seed_path, "created_unix_ms", (json_int_t)i->created_unix_ms);
}

static int print_image(struct cli *cli, Banger__V1__Image *img, const char *verb)
{
        if (cli_flag(cli, "json")) {
                cli_print_json(image_json(img));
        } else {
                char size[32];
                cli_format_bytes(size, sizeof(size), img->size);
                printf("image %s %s (%s, init: %s, sshd: %s%s%s)\n", cli_safe(img->name), verb,
                       size, img->has_init ? "yes" : "no", img->has_sshd ? "yes" : "no",
                       img->kernel[0] ? ", kernel: " : "", cli_safe(img->kernel));
        }
        banger__v1__image__free_unpacked(img, NULL);
        return 0;
}

static int image_call(struct rpc_client *gw, const char *method, const ProtobufCMessage *in,
                      const ProtobufCMessageDescriptor *od, ProtobufCMessage **out,
                      struct rpc_status *st)
{
        char m[128];
        snprintf(m, sizeof(m), "/" IMAGE_SERVICE "/%s", method);
        struct rpc_call_opts o = {.deadline_ms = CHUNK_DEADLINE_MS};
        return rpc_call(gw, m, in, od, out, &o, st);
}

static void upload_abort(struct rpc_client *gw, const char *id)
{
        Banger__V1__UploadRequest req = BANGER__V1__UPLOAD_REQUEST__INIT;
        Banger__V1__UploadResponse *resp = NULL;
        struct rpc_status st = {0};
        req.upload_id = (char *)id;
        req.abort = true;
        if (image_call(gw, "Upload", &req.base, &banger__v1__upload_response__descriptor,
                       (ProtobufCMessage **)&resp, &st) == 0)
                banger__v1__upload_response__free_unpacked(resp, NULL);
}

struct upload_ctx {
        struct rpc_client *gw;
        const char *id;
        uint64_t size;
        int ret; /* an exit code once a chunk failed or ^C came */
};

/* Sends a chunk that holds data (zeros stay a hole at the other end). */
static int send_chunk(void *ud, uint64_t off, const uint8_t *data, size_t n)
{
        struct upload_ctx *u = ud;
        if (interrupted) {
                u->ret = cli_fail(RPC_CANCELLED, "interrupted; the upload was dropped");
                return -ECANCELED;
        }
        if (data) {
                Banger__V1__UploadRequest c = BANGER__V1__UPLOAD_REQUEST__INIT;
                Banger__V1__UploadResponse *resp = NULL;
                struct rpc_status rs = {0};
                c.upload_id = (char *)u->id;
                c.offset = off;
                c.data.data = (uint8_t *)data;
                c.data.len = n;
                if (image_call(u->gw, "Upload", &c.base, &banger__v1__upload_response__descriptor,
                               (ProtobufCMessage **)&resp, &rs) < 0) {
                        u->ret = cli_fail_status(&rs);
                        return -EIO;
                }
                banger__v1__upload_response__free_unpacked(resp, NULL);
        }
        show_progress("upload", off + n, u->size, false);
        return 0;
}

/* Sends the file at path (opened here, as the caller) to imagesvc: its data
 * ranges only (holes and all-zero chunks are skipped and stay holes).
 * *ret_id (33 bytes) is the upload id. Returns 0 or an exit code. */
static int upload_file(struct cli *cli, const char *path, const char *kind, char ret_id[33])
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return cli_fail(RPC_NOT_FOUND, "cannot read %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return cli_fail(RPC_INVALID_ARGUMENT, "%s is not a regular file", path);
        uint64_t size = (uint64_t)st.st_size;
        struct rpc_client *gw = NULL;
        struct rpc_status rs = {0};
        if (cli_gateway(cli, &gw, &rs) < 0)
                return cli_fail_status(&rs);
        Banger__V1__UploadRequest req = BANGER__V1__UPLOAD_REQUEST__INIT;
        Banger__V1__UploadResponse *resp = NULL;
        req.kind = (char *)kind;
        req.size = size;
        if (image_call(gw, "Upload", &req.base, &banger__v1__upload_response__descriptor,
                       (ProtobufCMessage **)&resp, &rs) < 0) {
                rpc_client_close(gw);
                return cli_fail_status(&rs);
        }
        snprintf(ret_id, 33, "%s", resp->upload_id);
        banger__v1__upload_response__free_unpacked(resp, NULL);
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        if (!buf) {
                upload_abort(gw, ret_id);
                rpc_client_close(gw);
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        struct sig_guard g;
        sig_catch(&g);
        struct upload_ctx u = {.gw = gw, .id = ret_id, .size = size};
        int r = for_each_data_chunk(fd, size, buf, CHUNK, send_chunk, &u);
        int ret = u.ret;
        if (r < 0 && !ret)
                ret = cli_fail(RPC_INTERNAL, "read %s: %s", path,
                               r == -ENODATA ? "file shrank" : strerror(-r));
        sig_restore(&g);
        if (ret)
                upload_abort(gw, ret_id);
        else
                show_progress("upload", size, size, true);
        rpc_client_close(gw);
        return ret;
}

/* The call that was to take upload id failed: drop it (when the service
 * took it already, there is nothing to drop) and report st. */
static int upload_failed(struct cli *cli, const char *id, const struct rpc_status *st)
{
        struct rpc_client *gw = NULL;
        struct rpc_status ign = {0};
        if (cli_gateway(cli, &gw, &ign) == 0) {
                upload_abort(gw, id);
                rpc_client_close(gw);
        }
        return cli_fail_status(st);
}

int cmd_image_register(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *rootfs = cli_flag_value(cli, "rootfs");
        if (!rootfs)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "which file? give the ext4 root file system with --rootfs FILE");
        char id[33], abs[PATH_MAX];
        int r = upload_file(cli, rootfs, "rootfs", id);
        if (r)
                return r;
        Banger__V1__RegisterImageRequest req = BANGER__V1__REGISTER_IMAGE_REQUEST__INIT;
        req.name = argv[0];
        req.upload_id = id;
        req.source = realpath(rootfs, abs) ? abs : (char *)rootfs;
        if (cli_flag_value(cli, "kernel"))
                req.kernel = (char *)cli_flag_value(cli, "kernel");
        Banger__V1__Image *img = NULL;
        struct rpc_status st = {0};
        if (cli_op_call(cli, IMAGE_SERVICE, "RegisterRootfs", &req.base, false,
                        &banger__v1__image__descriptor, (ProtobufCMessage **)&img, &st) < 0)
                return upload_failed(cli, id, &st);
        return print_image(cli, img, "registered");
}

int cmd_image_import(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        char id[33], abs[PATH_MAX];
        int r = upload_file(cli, argv[0], "bundle", id);
        if (r)
                return r;
        Banger__V1__ImportImageRequest req = BANGER__V1__IMPORT_IMAGE_REQUEST__INIT;
        req.upload_id = id;
        req.source = realpath(argv[0], abs) ? abs : argv[0];
        if (cli_flag_value(cli, "name"))
                req.name = (char *)cli_flag_value(cli, "name");
        Banger__V1__Image *img = NULL;
        struct rpc_status st = {0};
        if (cli_op_call(cli, IMAGE_SERVICE, "Import", &req.base, false,
                        &banger__v1__image__descriptor, (ProtobufCMessage **)&img, &st) < 0)
                return upload_failed(cli, id, &st);
        return print_image(cli, img, "imported");
}

int cmd_image_promote(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__PromoteImageRequest req = BANGER__V1__PROMOTE_IMAGE_REQUEST__INIT;
        req.vm = argv[0];
        req.name = argv[1];
        Banger__V1__Image *img = NULL;
        struct rpc_status st = {0};
        if (cli_op_call(cli, IMAGE_SERVICE, "Promote", &req.base, false,
                        &banger__v1__image__descriptor, (ProtobufCMessage **)&img, &st) < 0)
                return cli_fail_status(&st);
        return print_image(cli, img, "promoted");
}

static void export_done(struct rpc_client *gw, const char *id)
{
        Banger__V1__DownloadRequest req = BANGER__V1__DOWNLOAD_REQUEST__INIT;
        Banger__V1__DownloadResponse *resp = NULL;
        struct rpc_status st = {0};
        req.export_id = (char *)id;
        req.done = true;
        if (image_call(gw, "Download", &req.base, &banger__v1__download_response__descriptor,
                       (ProtobufCMessage **)&resp, &st) == 0)
                banger__v1__download_response__free_unpacked(resp, NULL);
}

/* Fetches export x into out (a temporary file beside it, renamed when the
 * sha256 matches). Returns 0 or an exit code. */
static int download(struct cli *cli, const Banger__V1__ImageExport *x, const char *out)
{
        char tmp[PATH_MAX + 16];
        if (snprintf(tmp, sizeof(tmp), "%s.partXXXXXX", out) >= (int)sizeof(tmp))
                return cli_fail(RPC_INVALID_ARGUMENT, "output path is too long");
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return cli_fail(RPC_INVALID_ARGUMENT, "cannot create %s: %s", tmp, strerror(errno));
        struct rpc_client *gw = NULL;
        struct rpc_status st = {0};
        if (cli_gateway(cli, &gw, &st) < 0) {
                unlink(tmp);
                return cli_fail_status(&st);
        }
        struct sig_guard g;
        sig_catch(&g);
        int ret = 0;
        for (uint64_t off = 0; off < x->size && !ret;) {
                if (interrupted) {
                        ret = cli_fail(RPC_CANCELLED, "interrupted");
                        break;
                }
                Banger__V1__DownloadRequest req = BANGER__V1__DOWNLOAD_REQUEST__INIT;
                Banger__V1__DownloadResponse *resp = NULL;
                req.export_id = x->export_id;
                req.offset = off;
                if (image_call(gw, "Download", &req.base,
                               &banger__v1__download_response__descriptor,
                               (ProtobufCMessage **)&resp, &st) < 0) {
                        ret = cli_fail_status(&st);
                        break;
                }
                if (resp->data.len == 0 || resp->data.len > x->size - off)
                        ret = cli_fail(RPC_INTERNAL, "imagesvc sent a chunk of %zu bytes at %llu",
                                       resp->data.len, (unsigned long long)off);
                else if (loop_write(fd, resp->data.data, resp->data.len) < 0)
                        ret = cli_fail(RPC_INTERNAL, "write %s: %s", tmp, strerror(errno));
                off += resp->data.len;
                banger__v1__download_response__free_unpacked(resp, NULL);
                show_progress("download", off, x->size, false);
        }
        sig_restore(&g);
        export_done(gw, x->export_id);
        rpc_client_close(gw);
        char hex[SHA256_HEX_LEN + 1];
        struct bg_error e = {0};
        if (!ret && sha256_fd_hex(fd, hex, NULL, &e) < 0)
                ret = cli_fail(RPC_INTERNAL, "%s", e.msg);
        else if (!ret && !streq(hex, x->sha256))
                ret = cli_fail(RPC_DATA_LOSS, "the bundle arrived damaged (sha256 %s, expected %s)",
                               hex, x->sha256);
        if (!ret && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, out) < 0))
                ret = cli_fail(RPC_INTERNAL, "write %s: %s", out, strerror(errno));
        if (ret)
                unlink(tmp);
        else
                show_progress("download", x->size, x->size, true);
        return ret;
}

int cmd_image_export(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        const char *out = cli_flag_value(cli, "output");
        if (!out)
                return cli_fail(RPC_INVALID_ARGUMENT, "where to? give -o FILE.tar.zst");
        if (access(out, F_OK) == 0 && !cli_flag(cli, "force"))
                return cli_fail(RPC_ALREADY_EXISTS, "%s exists; remove it or give --force", out);
        Banger__V1__ExportImageRequest req = BANGER__V1__EXPORT_IMAGE_REQUEST__INIT;
        req.name = argv[0];
        Banger__V1__ImageExport *x = NULL;
        struct rpc_status st = {0};
        if (cli_op_call(cli, IMAGE_SERVICE, "Export", &req.base, false,
                        &banger__v1__image_export__descriptor, (ProtobufCMessage **)&x, &st) < 0)
                return cli_fail_status(&st);
        int r = download(cli, x, out);
        if (!r) {
                if (cli_flag(cli, "json")) {
                        cli_print_json(json_pack("{s:s,s:s,s:I,s:s}", "name", x->name, "file", out,
                                                 "size", (json_int_t)x->size, "sha256", x->sha256));
                } else {
                        char size[32];
                        cli_format_bytes(size, sizeof(size), x->size);
                        printf("image %s exported to %s (%s, sha256 %s)\n", cli_safe(x->name),
                               cli_safe(out), size, x->sha256);
                }
        }
        banger__v1__image_export__free_unpacked(x, NULL);
        return r;
}

int cmd_image_catalog(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        if (argc > 0 && !streq(argv[0], "list"))
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "unknown catalog command '%s' (banger image catalog [list]; "
                                "banger image pull --catalog NAME pulls an entry)",
                                argv[0]);
        Banger__V1__ImageCatalogRequest req = BANGER__V1__IMAGE_CATALOG_REQUEST__INIT;
        Banger__V1__ImageCatalogResponse *resp = NULL;
        struct rpc_status st = {0};
        if (cli_flag_value(cli, "catalog-url"))
                req.catalog_url = (char *)cli_flag_value(cli, "catalog-url");
        if (cli_call(cli, "/" IMAGE_SERVICE "/Catalog", &req.base,
                     &banger__v1__image_catalog_response__descriptor, (ProtobufCMessage **)&resp,
                     60000, RPC_CALL_IDEMPOTENT, &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                json_t *arr = json_array();
                for (size_t i = 0; i < resp->n_entries; i++) {
                        const Banger__V1__ImageCatalogEntry *e = resp->entries[i];
                        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I,s:s}", "name",
                                                             e->name, "url", e->url, "sha256",
                                                             e->sha256, "size", (json_int_t)e->size,
                                                             "description", e->description));
                }
                cli_print_json(arr);
        } else if (resp->n_entries == 0) {
                printf("the catalog %s lists no images\n", cli_safe(resp->catalog_url));
        } else {
                printf("%-24s %-10s %s\n", "NAME", "SIZE", "DESCRIPTION");
                for (size_t i = 0; i < resp->n_entries; i++) {
                        const Banger__V1__ImageCatalogEntry *e = resp->entries[i];
                        char size[32] = "-";
                        if (e->size)
                                cli_format_bytes(size, sizeof(size), e->size);
                        printf("%-24s %-10s %s\n", cli_safe(e->name), size,
                               cli_safe(e->description));
                }
        }
        banger__v1__image_catalog_response__free_unpacked(resp, NULL);
        return 0;
}
