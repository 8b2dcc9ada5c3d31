/* Fuzz target "ttrpc": bytes as containerd (or anyone who can reach a shim
 * socket) sends them to containerd-shim-banger-v2: a stream of ttrpc frames
 * split with ttrpc_frame_split (header decode, length cap), each request
 * frame's payload through the server's real dispatch (ttrpc_request_parse,
 * method lookup, body unpack with the method's protobuf-c descriptor,
 * handler, status mapping, response packing).
 *
 * Every method of containerd.task.v2.Task is registered with one checking
 * handler (the shim's real handlers need a running banger): it asserts the
 * unpacked request is sound (protobuf_c_message_check) and answers with the
 * method's empty output message, or fails with EINVAL for an empty id so the
 * error path runs too. Every response must decode as a ttrpc.Response with a
 * status; a split that reports a frame must fit in the input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "fuzz.h"
#include "ttrpc/frame.h"
#include "ttrpc/server.h"

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "fuzz_ttrpc: check failed: %s (%s:%d)\n", #cond, __FILE__, \
                                __LINE__);                                                         \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

#define MAX_FRAMES 64

static struct ttrpc_server *srv;
static struct ttrpc_method *methods;

static int check_handler(void *ud, const ProtobufCMessage *in, uint8_t **ret, size_t *ret_len,
                         struct bg_error *err)
{
        CHECK(protobuf_c_message_check(in));
        /* Every Task request has `string id = 1` first. */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(in->descriptor, 1);
        CHECK(f && f->type == PROTOBUF_C_TYPE_STRING);
        const char *id = *(char *const *)((const char *)in + f->offset);
        if (!id || !*id)
                return bg_error_set(err, EINVAL, "empty id");
        /* Which method? The descriptor names it; find its output type. */
        for (size_t i = 0; i < containerd__task__v2__task__descriptor.n_methods; i++) {
                const ProtobufCMethodDescriptor *m =
                    &containerd__task__v2__task__descriptor.methods[i];
                if (m->input == in->descriptor) {
                        /* Answers with an empty message of the output type. */
                        ProtobufCMessage *o = calloc(1, m->output->sizeof_message);
                        CHECK(o);
                        protobuf_c_message_init(m->output, o);
                        int r = ttrpc_pack(o, ret, ret_len);
                        free(o);
                        return r;
                }
        }
        CHECK(!"request type of no Task method");
        return -EINVAL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const ProtobufCServiceDescriptor *d = &containerd__task__v2__task__descriptor;
        methods = calloc(d->n_methods, sizeof(*methods));
        CHECK(methods);
        for (size_t i = 0; i < d->n_methods; i++)
                methods[i] = (struct ttrpc_method){.service = d->name,
                                                   .method = d->methods[i].name,
                                                   .in_desc = d->methods[i].input,
                                                   .fn = check_handler};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* never listens */
        CHECK(fd >= 0);
        struct ttrpc_server_config cfg = {
            .listen_fd = fd, .methods = methods, .n_methods = d->n_methods};
        struct bg_error err = {0};
        CHECK(ttrpc_server_new(&cfg, &srv, &err) == 0);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!srv)
                LLVMFuzzerInitialize(NULL, NULL);
        size_t off = 0;
        for (int n = 0; n < MAX_FRAMES && off < size; n++) {
                struct ttrpc_header h;
                const uint8_t *p = NULL;
                size_t used = 0;
                struct bg_error err = {0};
                /* A small cap so the fuzzer reaches the oversize path. */
                int r = ttrpc_frame_split(data + off, size - off, 4096, &h, &p, &used, &err);
                if (r <= 0) {
                        CHECK(r == 0 || r == -EMSGSIZE || r == -EPROTO);
                        CHECK(r == 0 || err.msg[0]);
                        break;
                }
                CHECK(used >= TTRPC_HEADER_LEN && used <= size - off);
                CHECK(p == data + off + TTRPC_HEADER_LEN && used == TTRPC_HEADER_LEN + h.length);
                off += used;
                if (h.type != TTRPC_TYPE_REQUEST)
                        continue;
                uint8_t *resp = NULL;
                size_t rlen = 0;
                CHECK(ttrpc_server_dispatch(srv, p, h.length, &resp, &rlen) == 0);
                Ttrpc__Response *rr = ttrpc__response__unpack(NULL, rlen, resp);
                CHECK(rr && rr->status);
                CHECK(rr->status->code >= 0 && rr->status->code <= 16);
                CHECK(rr->status->code == 0 || rr->status->message[0]);
                ttrpc__response__free_unpacked(rr, NULL);
                free(resp);
        }
        return 0;
}
