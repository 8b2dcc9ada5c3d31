/* The container's rootfs directory as a banger image, through the gateway
 * only (rootfs.h), and the rule that removes the images nobody uses. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "rootfs.h"
#include "shim.h"
#include "util/fileio.h"

#define IMAGE_SERVICE "/banger.v1.ImageService/"
#define UPLOAD_CHUNK (2u << 20)
#define CALL_MS 60000

static int image_call(struct shim_ctx *c, const char *m, const ProtobufCMessage *in,
                      const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                      struct bg_error *err)
{
        char method[128];
        snprintf(method, sizeof(method), IMAGE_SERVICE "%s", m);
        return shim_gw_call(c, method, in, d, out, CALL_MS, err);
}

static void upload_abort(struct shim_ctx *c, const char *id)
{
        Banger__V1__UploadRequest q = BANGER__V1__UPLOAD_REQUEST__INIT;
        Banger__V1__UploadResponse *o = NULL;
        struct bg_error ign = {0};
        q.upload_id = (char *)id;
        q.abort = true;
        if (image_call(c, "Upload", &q.base, &banger__v1__upload_response__descriptor,
                       (ProtobufCMessage **)&o, &ign) >= 0)
                banger__v1__upload_response__free_unpacked(o, NULL);
}

struct upload_ctx {
        struct shim_ctx *c;
        const char *id;
        struct bg_error *err;
        bool call_failed; /* err says why */
};

static int send_chunk(void *ud, uint64_t off, const uint8_t *data, size_t n)
{
        struct upload_ctx *u = ud;
        if (!data)
                return 0; /* zeros: a hole at the other end */
        Banger__V1__UploadRequest k = BANGER__V1__UPLOAD_REQUEST__INIT;
        Banger__V1__UploadResponse *o = NULL;
        k.upload_id = (char *)u->id;
        k.offset = off;
        k.data.data = (uint8_t *)data;
        k.data.len = n;
        int r = image_call(u->c, "Upload", &k.base, &banger__v1__upload_response__descriptor,
                           (ProtobufCMessage **)&o, u->err);
        if (r >= 0)
                banger__v1__upload_response__free_unpacked(o, NULL);
        u->call_failed = r < 0;
        return r;
}

/* Sends fd's data ranges (holes and zero chunks stay holes) as an upload of
 * kind rootfs; ret_id gets its id. */
static int upload(struct shim_ctx *c, int fd, char ret_id[64], struct bg_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat the rootfs image");
        uint64_t size = (uint64_t)st.st_size;
        Banger__V1__UploadRequest q = BANGER__V1__UPLOAD_REQUEST__INIT;
        Banger__V1__UploadResponse *o = NULL;
        q.kind = "rootfs";
        q.size = size;
        int r = image_call(c, "Upload", &q.base, &banger__v1__upload_response__descriptor,
                           (ProtobufCMessage **)&o, err);
        if (r < 0)
                return r;
        snprintf(ret_id, 64, "%s", o->upload_id);
        banger__v1__upload_response__free_unpacked(o, NULL);
        uint8_t *buf = malloc(UPLOAD_CHUNK);
        if (!buf) {
                upload_abort(c, ret_id);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        struct upload_ctx u = {.c = c, .id = ret_id, .err = err};
        r = for_each_data_chunk(fd, size, buf, UPLOAD_CHUNK, send_chunk, &u);
        if (r < 0 && !u.call_failed)
                r = bg_error_errno(err, r, "read the rootfs image");
        free(buf);
        if (r < 0)
                upload_abort(c, ret_id);
        return r;
}

/* Polls ImageService/GetOperation until op_id is done; its status as an
 * error. */
static int image_op_wait(struct shim_ctx *c, const char *op_id, struct bg_error *err)
{
        for (;;) {
                Banger__V1__GetOperationRequest q = BANGER__V1__GET_OPERATION_REQUEST__INIT;
                q.id = (char *)op_id;
                Banger__V1__Operation *op = NULL;
                int r = image_call(c, "GetOperation", &q.base, &banger__v1__operation__descriptor,
                                   (ProtobufCMessage **)&op, err);
                if (r < 0)
                        return r;
                if (op->done) {
                        r = 0;
                        if (op->status && op->status->code != 0)
                                r = bg_error_set(
                                    err, rpc_code_to_errno((enum rpc_code)op->status->code), "%s",
                                    op->status->message ? op->status->message : "failed");
                        banger__v1__operation__free_unpacked(op, NULL);
                        return r;
                }
                banger__v1__operation__free_unpacked(op, NULL);
                usleep(300 * 1000);
        }
}

static bool image_exists(struct shim_ctx *c, const char *name)
{
        Banger__V1__ShowImageRequest q = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *o = NULL;
        struct bg_error ign = {0};
        q.name = (char *)name;
        if (image_call(c, "Show", &q.base, &banger__v1__image__descriptor, (ProtobufCMessage **)&o,
                       &ign) < 0)
                return false;
        banger__v1__image__free_unpacked(o, NULL);
        return true;
}

static bool is_rootfs_image(const char *name)
{
        size_t pl = strlen(ROOTFS_IMAGE_PREFIX);
        if (strncmp(name, ROOTFS_IMAGE_PREFIX, pl) != 0 || strlen(name) != pl + 24)
                return false;
        return strspn(name + pl, "0123456789abcdef") == 24;
}

static int by_created_desc(const void *a, const void *b)
{
        const Banger__V1__Image *x = *(Banger__V1__Image *const *)a;
        const Banger__V1__Image *y = *(Banger__V1__Image *const *)b;
        return (x->created_unix_ms < y->created_unix_ms) -
               (x->created_unix_ms > y->created_unix_ms);
}

void shim_rootfs_prune(struct shim_ctx *c, const char *keep_name)
{
        long keep = ROOTFS_KEEP_DEFAULT;
        const char *env = getenv("BANGER_SHIM_IMAGE_KEEP");
        if (env && env[0]) {
                char *end;
                long v = strtol(env, &end, 10);
                if (!*end && v >= 0 && v <= 1000)
                        keep = v;
        }
        Banger__V1__ListImagesRequest q = BANGER__V1__LIST_IMAGES_REQUEST__INIT;
        Banger__V1__ListImagesResponse *o = NULL;
        struct bg_error err = {0};
        if (image_call(c, "List", &q.base, &banger__v1__list_images_response__descriptor,
                       (ProtobufCMessage **)&o, &err) < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: prune rootfs images: %s\n", err.msg);
                return;
        }
        Banger__V1__Image **v = calloc(o->n_images + 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; v && i < o->n_images; i++)
                if (is_rootfs_image(o->images[i]->name) &&
                    (!keep_name || strcmp(o->images[i]->name, keep_name) != 0))
                        v[n++] = o->images[i];
        if (v)
                qsort(v, n, sizeof(*v), by_created_desc);
        long kept = 0;
        for (size_t i = 0; v && i < n; i++) {
                Banger__V1__DeleteImageRequest d = BANGER__V1__DELETE_IMAGE_REQUEST__INIT;
                Banger__V1__DeleteImageResponse *dr = NULL;
                if (kept < keep) {
                        kept++;
                        continue;
                }
                d.name = v[i]->name;
                bg_error_clear(&err);
                /* imagesvc refuses an image a VM uses (FAILED_PRECONDITION):
                 * that one stays, and counts as kept. */
                if (image_call(c, "Delete", &d.base, &banger__v1__delete_image_response__descriptor,
                               (ProtobufCMessage **)&dr, &err) >= 0) {
                        fprintf(stderr,
                                "containerd-shim-banger-v2: removed unused rootfs image %s\n",
                                v[i]->name);
                        banger__v1__delete_image_response__free_unpacked(dr, NULL);
                } else {
                        kept++;
                }
        }
        free(v);
        banger__v1__list_images_response__free_unpacked(o, NULL);
}

int shim_rootfs_image(struct shim_ctx *c, const char *dir, char *ret_name, size_t len,
                      bool *ret_agent_init, struct bg_error *err)
{
        struct rootfs_summary s;
        int r = rootfs_summarize(dir, &s, err);
        if (r < 0)
                return r;
        if (s.entries == 0)
                return bg_error_set(err, EINVAL,
                                    "the container's rootfs (%s) is empty: nothing to boot or run",
                                    dir);
        /* Without the image's own init and sshd, banger's agent is the VM's
         * init and runs the task's processes (vm create --init agent). */
        bool agent_init = !s.has_init || !s.has_sshd;
        if (agent_init)
                fprintf(stderr,
                        "containerd-shim-banger-v2: the rootfs has no %s: its VM runs banger's "
                        "agent as init\n",
                        !s.has_init ? "init" : "sshd");
        char name[64];
        snprintf(name, sizeof(name), ROOTFS_IMAGE_PREFIX "%.24s", s.digest);
        if (image_exists(c, name)) {
                fprintf(stderr, "containerd-shim-banger-v2: rootfs sha256:%s is image %s already\n",
                        s.digest, name);
                snprintf(ret_name, len, "%s", name);
                *ret_agent_init = agent_init;
                return 0;
        }
        const char *tmp = getenv("TMPDIR");
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/banger-shim-rootfs-XXXXXX",
                 tmp && tmp[0] ? tmp : "/var/tmp");
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s", path);
        close(fd);
        r = rootfs_build_ext4(dir, &s, path, err);
        if (r < 0) {
                unlink(path);
                return bg_error_prefix(err, "build the rootfs image");
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        unlink(path);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", path);
        char id[64];
        r = upload(c, fd, id, err);
        close(fd);
        if (r < 0)
                return bg_error_prefix(err, "upload the rootfs image");
        Banger__V1__RegisterImageRequest q = BANGER__V1__REGISTER_IMAGE_REQUEST__INIT;
        char source[128];
        snprintf(source, sizeof(source), "containerd rootfs sha256:%s", s.digest);
        q.name = name;
        q.upload_id = id;
        q.source = source;
        Banger__V1__Operation *op = NULL;
        r = image_call(c, "RegisterRootfs", &q.base, &banger__v1__operation__descriptor,
                       (ProtobufCMessage **)&op, err);
        if (r < 0) {
                upload_abort(c, id);
                return bg_error_prefix(err, "register the rootfs image");
        }
        char op_id[64];
        snprintf(op_id, sizeof(op_id), "%s", op->id);
        banger__v1__operation__free_unpacked(op, NULL);
        r = image_op_wait(c, op_id, err);
        if (r == -EEXIST && image_exists(c, name))
                r = 0; /* another shim registered the same rootfs meanwhile */
        if (r < 0)
                return bg_error_prefix(err, "register the rootfs image");
        fprintf(stderr, "containerd-shim-banger-v2: rootfs sha256:%s registered as image %s\n",
                s.digest, name);
        snprintf(ret_name, len, "%s", name);
        *ret_agent_init = agent_init;
        return 0;
}
