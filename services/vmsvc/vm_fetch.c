#include "vm_fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "log/log.h"
#include "oci_ref.h"
#include "util/macro.h"
#include "util/timeutil.h"

#define FETCH_POLL_MS 250
#define FETCH_IMAGE_NAME_MAX 64 /* imagesvc's limit on image names */

const char *const vm_fetch_create_stages[] = {"image", "kernel", "reserve", "network",
                                              "disks", "boot",   "agent"};
const size_t vm_n_fetch_create_stages = ELEMENTSOF(vm_fetch_create_stages);

static int call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, struct rpc_status *st)
{
        struct rpc_call_opts o = {.deadline_ms = 20000, .connect_wait_ms = 2000};
        return rpc_call(c, method, in, od, out, &o, st);
}

/* Starts an operation; its id into op_id. */
static int start(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                 char op_id[OPS_ID_LEN + 1], struct rpc_status *st)
{
        Banger__V1__Operation *op = NULL;
        int r =
            call(c, method, in, &banger__v1__operation__descriptor, (ProtobufCMessage **)&op, st);
        if (r < 0)
                return r;
        snprintf(op_id, OPS_ID_LEN + 1, "%s", op->id);
        banger__v1__operation__free_unpacked(op, NULL);
        return 0;
}

/* "a, b, c" of the images imagesvc has (or "none yet"). */
static void image_names(struct rpc_client *c, char *buf, size_t len)
{
        Banger__V1__ListImagesRequest req = BANGER__V1__LIST_IMAGES_REQUEST__INIT;
        Banger__V1__ListImagesResponse *resp = NULL;
        struct rpc_status st;
        snprintf(buf, len, "none yet");
        if (call(c, "/banger.v1.ImageService/List", &req.base,
                 &banger__v1__list_images_response__descriptor, (ProtobufCMessage **)&resp,
                 &st) < 0)
                return;
        size_t pos = 0;
        for (size_t i = 0; i < resp->n_images && pos < len; i++) {
                int n =
                    snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", resp->images[i]->name);
                if (n < 0)
                        break;
                pos += (size_t)n;
        }
        banger__v1__list_images_response__free_unpacked(resp, NULL);
}

/* Asks a Show method about in: 1 there (its answer into *ret, caller frees,
 * when ret is not NULL), 0 not found, < 0 another failure with st filled. */
static int show(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *od, ProtobufCMessage **ret, struct rpc_status *st)
{
        ProtobufCMessage *m = NULL;
        int r = call(c, method, in, od, &m, st);
        if (r < 0)
                return st->code == RPC_NOT_FOUND ? 0 : r;
        if (ret)
                *ret = m;
        else
                protobuf_c_message_free_unpacked(m, NULL);
        return 1;
}

/* show() for a name the create names: 1 there, or nothing to plan because
 * imagesvc does not answer (the create's steps say so); 0 not found; < 0
 * with err saying "WHAT: why". */
static int present(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                   const ProtobufCMessageDescriptor *od, const char *what, struct bg_error *err)
{
        struct rpc_status st;
        int r = show(c, method, in, od, NULL, &st);
        if (r >= 0)
                return r;
        if (st.code == RPC_UNAVAILABLE)
                return 1;
        return bg_error_set(err, rpc_code_to_errno(st.code), "%s: %s", what, st.message);
}

/* Starts the operation (a Pull or a Build) that fetches what is missing;
 * a refusal fails with "WHAT is not here and cannot be VERBED: why HINT". */
static int start_fetch(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                       char op_id[OPS_ID_LEN + 1], const char *what, const char *verbed,
                       const char *hint, struct bg_error *err)
{
        struct rpc_status st;
        int r = start(c, method, in, op_id, &st);
        if (r < 0)
                return bg_error_set(err, rpc_code_to_errno(st.code),
                                    "%s is not here and cannot be %s: %s%s", what, verbed,
                                    st.message, hint);
        return 0;
}

static int plan_image(struct rpc_client *c, const char *image, const char *default_image,
                      struct vm_fetch *f, struct bg_error *err)
{
        struct rpc_status st;
        char have_ref[1024];
        int r;

        if (oci_ref_is_reference(image)) {
                struct oci_ref ref = {0};
                r = oci_ref_parse(image, &ref, err);
                if (r < 0)
                        return r;
                char *canon = oci_ref_to_string(&ref);
                r = oci_ref_default_name(&ref, f->image, sizeof(f->image), FETCH_IMAGE_NAME_MAX);
                oci_ref_done(&ref);
                if (!canon)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (r < 0) {
                        free(canon);
                        return bg_error_set(err, EINVAL,
                                            "cannot make an image name from '%.200s'; pull it "
                                            "with banger image pull REF --name NAME",
                                            image);
                }
                Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
                Banger__V1__Image *img = NULL;
                req.name = f->image;
                r = show(c, "/banger.v1.ImageService/Show", &req.base,
                         &banger__v1__image__descriptor, (ProtobufCMessage **)&img, &st);
                if (r == 1) {
                        snprintf(have_ref, sizeof(have_ref), "%s", img->ref);
                        banger__v1__image__free_unpacked(img, NULL);
                }
                if (r == 1 && !streq(have_ref, canon)) {
                        r = bg_error_set(err, EEXIST,
                                         "image %s is already here from %.300s, not %.300s; use "
                                         "--image %s, or pull %.300s under another name (banger "
                                         "image pull REF --name NAME)",
                                         f->image, have_ref, canon, f->image, image);
                } else if (r == 0) {
                        Banger__V1__PullImageRequest pr = BANGER__V1__PULL_IMAGE_REQUEST__INIT;
                        pr.reference = (char *)image;
                        r = start(c, "/banger.v1.ImageService/Pull", &pr.base, f->image_op, &st);
                        if (r >= 0)
                                snprintf(f->image_what, sizeof(f->image_what), "pull");
                }
                free(canon);
                if (r < 0 && !err->msg[0])
                        return bg_error_set(err, rpc_code_to_errno(st.code), "image %.200s: %s",
                                            image, st.message);
                return r < 0 ? r : 0;
        }

        snprintf(f->image, sizeof(f->image), "%.64s", image);
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        req.name = (char *)image;
        char what[256];
        snprintf(what, sizeof(what), "image %.200s", image);
        r = present(c, "/banger.v1.ImageService/Show", &req.base, &banger__v1__image__descriptor,
                    what, err);
        if (r != 0)
                return r < 0 ? r : 0;
        if (streq(image, default_image)) {
                Banger__V1__BuildImageRequest br = BANGER__V1__BUILD_IMAGE_REQUEST__INIT;
                br.name = (char *)image;
                snprintf(what, sizeof(what), "the default image %.200s", image);
                r = start_fetch(c, "/banger.v1.ImageService/Build", &br.base, f->image_op, what,
                                "built", "", err);
                if (r >= 0)
                        snprintf(f->image_what, sizeof(f->image_what), "build");
                return r;
        }
        char names[1024];
        image_names(c, names, sizeof(names));
        return bg_error_set(err, ENOENT,
                            "no image named '%.64s' (images here: %.600s); give one of those, "
                            "or a registry reference to pull such as --image debian:bookworm",
                            image, names);
}

/* The kernel an image recorded (image register --kernel, a bundle's), into
 * buf ("" = none, or the image is not here yet, or imagesvc does not answer:
 * the default then applies). A reference names the local image a pull keeps
 * it under. */
static void recorded_kernel(struct rpc_client *c, const char *image, char *buf, size_t len)
{
        char local[FETCH_IMAGE_NAME_MAX + 1];
        buf[0] = '\0';
        if (oci_ref_is_reference(image)) {
                struct oci_ref ref = {0};
                struct bg_error e = {0};
                int r = oci_ref_parse(image, &ref, &e);
                if (r >= 0)
                        r = oci_ref_default_name(&ref, local, sizeof(local), FETCH_IMAGE_NAME_MAX);
                oci_ref_done(&ref);
                if (r < 0)
                        return;
        } else {
                snprintf(local, sizeof(local), "%.64s", image);
        }
        Banger__V1__ShowImageRequest req = BANGER__V1__SHOW_IMAGE_REQUEST__INIT;
        Banger__V1__Image *img = NULL;
        struct rpc_status st;
        req.name = local;
        if (show(c, "/banger.v1.ImageService/Show", &req.base, &banger__v1__image__descriptor,
                 (ProtobufCMessage **)&img, &st) != 1)
                return;
        snprintf(buf, len, "%s", img->kernel ? img->kernel : "");
        banger__v1__image__free_unpacked(img, NULL);
}

static int plan_kernel(struct rpc_client *c, const char *kernel, const char *for_image,
                       struct vm_fetch *f, struct bg_error *err)
{
        Banger__V1__ShowKernelRequest req = BANGER__V1__SHOW_KERNEL_REQUEST__INIT;
        req.name = (char *)kernel;
        char what[200];
        if (for_image)
                snprintf(what, sizeof(what), "kernel %.64s (recorded for image %.64s)", kernel,
                         for_image);
        else
                snprintf(what, sizeof(what), "kernel %.64s", kernel);
        int r = present(c, "/banger.v1.KernelService/Show", &req.base,
                        &banger__v1__kernel__descriptor, what, err);
        if (r != 0)
                return r < 0 ? r : 0;
        Banger__V1__PullKernelRequest pr = BANGER__V1__PULL_KERNEL_REQUEST__INIT;
        pr.name = (char *)kernel;
        return start_fetch(c, "/banger.v1.KernelService/Pull", &pr.base, f->kernel_op, what,
                           "pulled",
                           for_image ? " (banger kernel list shows the kernels here; give "
                                       "--kernel, or re-register the image with a kernel here)"
                                     : " (banger kernel list shows the kernels here)",
                           err);
}

int vm_fetch_plan(struct vm_peers *p, const char *image, const char *default_image,
                  const char *kernel, const char *default_kernel, struct vm_fetch *ret,
                  struct bg_error *err)
{
        struct vm_fetch f = {0};
        /* No kernel asked for: the one the image recorded, else the default. */
        const char *for_image = NULL;
        if (kernel && kernel[0]) {
                snprintf(f.kernel, sizeof(f.kernel), "%s", kernel);
        } else {
                recorded_kernel(p->imagesvc, image, f.kernel, sizeof(f.kernel));
                if (f.kernel[0])
                        for_image = image;
                else
                        snprintf(f.kernel, sizeof(f.kernel), "%s", default_kernel);
        }
        /* The kernel first: one that cannot be had fails before an image
         * pull starts. */
        int r = plan_kernel(p->imagesvc, f.kernel, for_image, &f, err);
        if (r >= 0)
                r = plan_image(p->imagesvc, image, default_image, &f, err);
        if (r < 0)
                return r;
        if (f.image_op[0])
                log_info("image %s is not here: %s operation %s", image, f.image_what, f.image_op);
        if (f.kernel_op[0])
                log_info("kernel %s is not here: pull operation %s", f.kernel, f.kernel_op);
        *ret = f;
        return 0;
}

/* Polls service's GetOperation until op_id is done, mirroring its bytes. */
static int wait_op(struct rpc_client *c, const char *service, const char *op_id, const char *what,
                   struct ops_ctx *ctx, struct bg_error *err)
{
        char method[96];
        snprintf(method, sizeof(method), "/banger.v1.%s/GetOperation", service);
        for (;;) {
                if (ops_ctx_cancelled(ctx))
                        return bg_error_set(err, ECANCELED, "cancelled while the %s was fetched",
                                            what);
                Banger__V1__GetOperationRequest req = BANGER__V1__GET_OPERATION_REQUEST__INIT;
                Banger__V1__Operation *op = NULL;
                struct rpc_status st;
                req.id = (char *)op_id;
                if (call(c, method, &req.base, &banger__v1__operation__descriptor,
                         (ProtobufCMessage **)&op, &st) < 0)
                        return bg_error_set(err, rpc_code_to_errno(st.code), "%s: %s", what,
                                            st.message);
                ops_ctx_progress(ctx, op->done_bytes, op->total_bytes);
                if (op->done) {
                        int code = op->status ? op->status->code : RPC_UNKNOWN;
                        int r = 0;
                        if (code != RPC_OK)
                                r = bg_error_set(
                                    err, rpc_code_to_errno((enum rpc_code)code), "%s: %s", what,
                                    op->status && op->status->message[0] ? op->status->message
                                                                         : "failed");
                        banger__v1__operation__free_unpacked(op, NULL);
                        return r;
                }
                banger__v1__operation__free_unpacked(op, NULL);
                sleep_msec(FETCH_POLL_MS);
        }
}

int vm_fetch_wait(struct vm_peers *p, const struct vm_fetch *f, struct ops_ctx *ctx,
                  struct bg_error *err)
{
        char what[96];
        if (f->image_op[0]) {
                ops_ctx_stage(ctx, "image");
                snprintf(what, sizeof(what), "image %s %s", f->image_what, f->image);
                int r = wait_op(p->imagesvc, "ImageService", f->image_op, what, ctx, err);
                if (r < 0)
                        return r;
        }
        if (f->kernel_op[0]) {
                ops_ctx_stage(ctx, "kernel");
                int r =
                    wait_op(p->imagesvc, "KernelService", f->kernel_op, "kernel pull", ctx, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
