/* Fuzz target "rpc": a request as any RPC client may send it, through the
 * server's real dispatch (rpc_server_handle: envelope decode, op_id check,
 * peer check, method routing, body unpack with the method's protobuf-c
 * descriptor, handler call, error-to-status mapping, reply packing).
 *
 * Every method of every banger service is registered (from the generated
 * service descriptors) with one checking handler instead of the real one
 * (those need running services): it asserts the unpacked request is sound
 * (protobuf_c_message_check) and runs the pure validators the services apply
 * to these fields before anything else: VM names (bg_name_check_dns_label
 * and netsvc's own check, which must agree), tap names, guest IPs for
 * NetService/Lease. A refused field makes the handler fail with the
 * validator's error, so the error path and its status reply run too.
 *
 * Input: first byte's low bit 0: the rest is a whole Request envelope; 1:
 * the second byte picks the method (all services' methods in order) and the
 * rest is its request body, wrapped in a well-formed envelope. Bit 1 of the
 * first byte makes the peer a stranger (uid 4242), refused by the peer check.
 *
 * Every log line the server writes while handling the input must be one JSON
 * object (caller bytes must not break the log format). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "banger/v1/gateway.pb-c.h"
#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/template.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "fuzz.h"
#include "hostnet/ifname.h"
#include "hostnet/ipam_addr.h"
#include "log/log.h"
#include "rpc/rpc.h"
#include "util/names.h"
#include "validate.h"

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz_rpc: check failed: %s (%s:%d)\n", #cond,     \
                                __FILE__, __LINE__);                                       \
                        abort();                                                           \
                }                                                                          \
        } while (0)

#define OWNER_UID 1000u

static const ProtobufCServiceDescriptor *const services[] = {
    &banger__v1__gateway__descriptor,        &banger__v1__vm_service__descriptor,
    &banger__v1__image_service__descriptor,  &banger__v1__kernel_service__descriptor,
    &banger__v1__net_service__descriptor,    &banger__v1__workspace_service__descriptor,
    &banger__v1__template_service__descriptor,
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

static struct rpc_server *server;
static struct rpc_method_impl *tables[N_SERVICES];
static uint32_t owner_uid = OWNER_UID;
static int log_fd = -1;
static struct ipam_net guest_net;
static struct in_addr guest_gw;

/* Checks one string field the services validate; returns the validator's
 * result (< 0 with err filled when refused). */
static int check_string(const ProtobufCServiceDescriptor *svc, const char *field, const char *s,
                        struct bg_error *err)
{
        if (strcmp(field, "vm_name") == 0 || (strcmp(field, "name") == 0 && svc != NULL)) {
                struct bg_error e2 = {0};
                int a = bg_name_check_dns_label("VM name", s, err);
                int b = netsvc_validate_vm_name(s, &e2);
                CHECK((a < 0) == (b < 0)); /* the CLI/vmsvc and netsvc agree */
                CHECK(bg_name_is_dns_label(s) == (a >= 0));
                CHECK(netsvc_vm_name_is_valid(s) == (b >= 0));
                if (a < 0)
                        CHECK(err->msg[0] != '\0');
                return a;
        }
        if (strcmp(field, "tap") == 0) {
                int r = ifname_validate_tap(s, err);
                CHECK(ifname_is_tap(s) == (r >= 0));
                if (r >= 0)
                        CHECK(ifname_is_valid(s) && strlen(s) < 16);
                return r;
        }
        if (strcmp(field, "ip") == 0 && s[0]) {
                struct in_addr a;
                int r = netsvc_validate_guest_ip(&guest_net, guest_gw, s, &a, err);
                if (r >= 0) {
                        CHECK(ipam_net_is_host(&guest_net, a));
                        CHECK(a.s_addr != guest_gw.s_addr);
                }
                return r;
        }
        return 0;
}

/* Walks every field of m (and its sub-messages); returns the first refusal. */
static int check_message(const ProtobufCServiceDescriptor *svc, const ProtobufCMessage *m,
                         struct bg_error *err, int depth)
{
        CHECK(depth < 64);
        const ProtobufCMessageDescriptor *d = m->descriptor;
        int first = 0;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *base = (const char *)m;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)(base + f->quantifier_offset);
                        void *const *items = *(void *const *const *)(base + f->offset);
                        CHECK(n == 0 || items);
                        for (size_t k = 0; k < n; k++) {
                                int r = 0;
                                if (f->type == PROTOBUF_C_TYPE_STRING)
                                        r = check_string(svc, f->name, items[k], err);
                                else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                                        r = check_message(svc, items[k], err, depth + 1);
                                if (r < 0 && first == 0)
                                        first = r;
                        }
                        continue;
                }
                int r = 0;
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                        const char *s = *(const char *const *)(base + f->offset);
                        CHECK(s);
                        r = check_string(svc, f->name, s, err);
                } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                        const ProtobufCMessage *sub =
                            *(const ProtobufCMessage *const *)(base + f->offset);
                        if (sub)
                                r = check_message(svc, sub, err, depth + 1);
                }
                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}

static int check_handler(void *svc, const ProtobufCMessage *in, ProtobufCMessage *out,
                         const struct rpc_call *call, struct bg_error *err)
{
        const ProtobufCServiceDescriptor *sd = svc;
        CHECK(in && out && call && call->op_id && call->op_id[0] && call->method);
        CHECK(call->peer_uid == OWNER_UID);
        CHECK(protobuf_c_message_check(in));
        /* "name" is a VM name only where the service takes VM names. */
        bool names = sd == &banger__v1__vm_service__descriptor ||
                     sd == &banger__v1__net_service__descriptor;
        return check_message(names ? sd : NULL, in, err, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        log_fd = memfd_create("fuzz-rpc-log", MFD_CLOEXEC);
        CHECK(log_fd >= 0);
        log_setup("fuzz-rpc", LOG_LEVEL_DEBUG, log_fd);
        struct bg_error err = {0};
        CHECK(ipam_cidr_parse("172.30.0.1/24", &guest_gw, &guest_net, &err) >= 0);
        struct rpc_server_config cfg = {
            .url = "ipc:///nonexistent/fuzz.sock",
            .name = "fuzz",
            .peer_check = rpc_peer_allow_owner,
            .peer_check_ud = &owner_uid,
        };
        CHECK(rpc_server_new(&cfg, &server, &err) >= 0);
        for (size_t i = 0; i < N_SERVICES; i++) {
                const ProtobufCServiceDescriptor *sd = services[i];
                tables[i] = calloc(sd->n_methods, sizeof(*tables[i]));
                CHECK(tables[i]);
                for (unsigned k = 0; k < sd->n_methods; k++)
                        tables[i][k] = (struct rpc_method_impl){.name = sd->methods[k].name, .fn = check_handler};
                CHECK(rpc_server_add_service(server, sd, tables[i], sd->n_methods, (void *)sd,
                                             &err) >= 0);
        }
        return 0;
}

/* Every line logged for this input is one JSON object; then the log is
 * emptied for the next input. */
static void check_log(void)
{
        off_t len = lseek(log_fd, 0, SEEK_END);
        CHECK(len >= 0);
        if (len > 0) {
                char *buf = malloc((size_t)len + 1);
                CHECK(buf);
                CHECK(pread(log_fd, buf, (size_t)len, 0) == len);
                buf[len] = '\0';
                char *save = NULL;
                for (char *line = strtok_r(buf, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        json_error_t je;
                        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &je);
                        if (!j || !json_is_object(j))
                                fprintf(stderr, "fuzz_rpc: log line is not a JSON object: %s\n",
                                        line);
                        CHECK(j && json_is_object(j));
                        json_decref(j);
                }
                free(buf);
        }
        CHECK(ftruncate(log_fd, 0) == 0);
        CHECK(lseek(log_fd, 0, SEEK_SET) == 0);
}

static void check_reply(nng_msg *reply)
{
        CHECK(reply);
        Banger__V1__Response *resp =
            banger__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
        CHECK(resp && resp->status);
        CHECK(resp->status->op_id && resp->status->op_id[0]);
        if (resp->status->code != BANGER__V1__STATUS_CODE__STATUS_OK)
                CHECK(resp->status->message && resp->status->message[0]);
        banger__v1__response__free_unpacked(resp, NULL);
        nng_msg_free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!server)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size < 1)
                return 0;
        uint32_t uid = (data[0] & 2) ? 4242 : OWNER_UID;
        nng_msg *reply;
        if (!(data[0] & 1)) {
                reply = rpc_server_handle(server, data + 1, size - 1, uid, 1);
        } else {
                if (size < 2)
                        return 0;
                size_t pick = data[1], total = 0;
                for (size_t i = 0; i < N_SERVICES; i++)
                        total += services[i]->n_methods;
                pick %= total;
                const ProtobufCServiceDescriptor *sd = NULL;
                const ProtobufCMethodDescriptor *md = NULL;
                for (size_t i = 0; i < N_SERVICES && !md; i++) {
                        if (pick < services[i]->n_methods) {
                                sd = services[i];
                                md = &sd->methods[pick];
                        } else {
                                pick -= services[i]->n_methods;
                        }
                }
                char method[256];
                snprintf(method, sizeof(method), "/%s/%s", sd->name, md->name);
                Banger__V1__Request req = BANGER__V1__REQUEST__INIT;
                req.method = method;
                req.op_id = "fuzz-op";
                req.body.data = (uint8_t *)data + 2;
                req.body.len = size - 2;
                size_t len = protobuf_c_message_get_packed_size(&req.base);
                uint8_t *buf = malloc(len ? len : 1);
                CHECK(buf);
                protobuf_c_message_pack(&req.base, buf);
                reply = rpc_server_handle(server, buf, len, uid, 1);
                free(buf);
        }
        check_reply(reply);
        check_log();
        return 0;
}
