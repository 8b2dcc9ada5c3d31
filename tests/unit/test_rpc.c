/* lib/rpc: envelope, status mapping, dispatch tables, and a real nng server
 * and client in one process over ipc sockets in a temp dir. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "banger/v1/common.pb-c.h"
#include "banger/v1/gateway.pb-c.h"
#include "banger/v1/image.pb-c.h"
#include "banger/v1/kernel.pb-c.h"
#include "banger/v1/net.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "gateway.h"
#include "imagesvc.h"
#include "log/log.h"
#include "netsvc.h"
#include "rpc/rpc.h"
#include "rpc/rpc_internal.h"
#include "util/timeutil.h"
#include "vmsvc.h"
#include "workspacesvc.h"
#include "test_tmpdir.h"

static char tmpdir[64];

static void url_for(const char *name, char *buf, size_t len)
{
        snprintf(buf, len, "ipc://%s/%s.sock", tmpdir, name);
}

/* ---- envelope and status ---- */

static void test_envelope_roundtrip(void **state)
{
        uint8_t body[] = {1, 2, 3, 0, 255};
        Banger__V1__Request req = BANGER__V1__REQUEST__INIT;
        req.method = "/banger.v1.VmService/Health";
        req.body.data = body;
        req.body.len = sizeof(body);
        req.op_id = "abc-123";
        req.deadline_ms = 1234;
        req.caller_uid = 1000;
        nng_msg *m;
        assert_int_equal(rpc_pack_msg(&req.base, &m), 0);
        Banger__V1__Request *back =
            banger__v1__request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        assert_non_null(back);
        assert_string_equal(back->method, req.method);
        assert_int_equal(back->body.len, sizeof(body));
        assert_memory_equal(back->body.data, body, sizeof(body));
        assert_string_equal(back->op_id, "abc-123");
        assert_int_equal(back->deadline_ms, 1234);
        assert_int_equal(back->caller_uid, 1000);
        banger__v1__request__free_unpacked(back, NULL);
        nng_msg_free(m);

        assert_int_equal(rpc_reply_status(RPC_NOT_FOUND, "no such vm 'x'", "op1", &m), 0);
        Banger__V1__Response *resp =
            banger__v1__response__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        assert_non_null(resp);
        assert_int_equal(resp->status->code, RPC_NOT_FOUND);
        assert_string_equal(resp->status->message, "no such vm 'x'");
        assert_string_equal(resp->status->op_id, "op1");
        assert_int_equal(resp->body.len, 0);
        banger__v1__response__free_unpacked(resp, NULL);
        nng_msg_free(m);
}

static void test_status_mappings(void **state)
{
        /* Our enum is the proto enum. */
        assert_int_equal(RPC_UNAUTHENTICATED, BANGER__V1__STATUS_CODE__STATUS_UNAUTHENTICATED);
        assert_int_equal(_RPC_CODE_MAX, banger__v1__status_code__descriptor.n_values);
        for (int c = 0; c < _RPC_CODE_MAX; c++) {
                const char *name = rpc_code_to_string(c);
                assert_non_null(name);
                assert_int_equal(rpc_code_from_string(name), c);
                /* proto value names are STATUS_<name> */
                char pname[64];
                snprintf(pname, sizeof(pname), "STATUS_%s", name);
                const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
                    &banger__v1__status_code__descriptor, pname);
                assert_non_null(v);
                assert_int_equal(v->value, c);
                /* errno round trip */
                int e = rpc_code_to_errno(c);
                assert_int_equal(rpc_code_from_errno(e), c);
                assert_int_equal(rpc_code_from_errno(-e), c);
                /* exit codes: 0 only for OK, always in 0..255 */
                int x = rpc_code_to_exit(c);
                if (c == RPC_OK)
                        assert_int_equal(x, 0);
                else
                        assert_true(x > 0 && x < 256);
        }
        assert_null(rpc_code_to_string(-1));
        assert_null(rpc_code_to_string(_RPC_CODE_MAX));
        assert_int_equal(rpc_code_from_string("NOPE"), -EINVAL);
        assert_int_equal(rpc_code_from_errno(EACCES), RPC_PERMISSION_DENIED);
        assert_int_equal(rpc_code_from_errno(ENOMEM), RPC_RESOURCE_EXHAUSTED);
        assert_int_equal(rpc_code_from_errno(EFBIG), RPC_RESOURCE_EXHAUSTED);
        assert_int_equal(rpc_code_from_errno(ECONNRESET), RPC_UNAVAILABLE);
        assert_int_equal(rpc_code_from_errno(ELOOP), RPC_INVALID_ARGUMENT);
        assert_int_equal(rpc_code_from_errno(EXDEV), RPC_INTERNAL);
        /* The families users script against. */
        assert_int_equal(rpc_code_to_exit(RPC_INVALID_ARGUMENT), 2);
        assert_int_equal(rpc_code_to_exit(RPC_NOT_FOUND), 3);
        assert_int_equal(rpc_code_to_exit(RPC_UNAVAILABLE), 7);
        assert_int_equal(rpc_code_to_exit(RPC_CANCELLED), 130);

        struct rpc_status st = {.code = RPC_NOT_FOUND};
        snprintf(st.message, sizeof(st.message), "no VM named x");
        snprintf(st.op_id, sizeof(st.op_id), "0123abcd");
        char buf[256];
        rpc_status_format(&st, buf, sizeof(buf));
        assert_string_equal(buf, "no VM named x (NOT_FOUND, op_id 0123abcd)");
}

static void test_split_method(void **state)
{
        char s[64], m[64];
        assert_int_equal(
            rpc_split_method("/banger.v1.VmService/Create", s, sizeof(s), m, sizeof(m)), 0);
        assert_string_equal(s, "banger.v1.VmService");
        assert_string_equal(m, "Create");
        assert_true(rpc_split_method("banger.v1.VmService/Create", s, 64, m, 64) < 0);
        assert_true(rpc_split_method("/banger.v1.VmService", s, 64, m, 64) < 0);
        assert_true(rpc_split_method("/a/b/c", s, 64, m, 64) < 0);
        assert_true(rpc_split_method("//b", s, 64, m, 64) < 0);
        assert_true(rpc_split_method("/a/", s, 64, m, 64) < 0);
}

/* Every service's table matches its descriptor exactly. */
static void test_dispatch_tables(void **state)
{
        struct bg_error err = {0};
        assert_int_equal(rpc_check_method_table(&banger__v1__vm_service__descriptor,
                                                vmsvc_vm_methods, vmsvc_n_vm_methods, &err),
                         0);
        assert_int_equal(rpc_check_method_table(&banger__v1__image_service__descriptor,
                                                imagesvc_image_methods, imagesvc_n_image_methods,
                                                &err),
                         0);
        assert_int_equal(rpc_check_method_table(&banger__v1__kernel_service__descriptor,
                                                imagesvc_kernel_methods, imagesvc_n_kernel_methods,
                                                &err),
                         0);
        assert_int_equal(rpc_check_method_table(&banger__v1__workspace_service__descriptor,
                                                workspacesvc_workspace_methods,
                                                workspacesvc_n_workspace_methods, &err),
                         0);
        assert_int_equal(rpc_check_method_table(&banger__v1__net_service__descriptor,
                                                netsvc_net_methods, netsvc_n_net_methods, &err),
                         0);
        assert_int_equal(rpc_check_method_table(&banger__v1__gateway__descriptor, gateway_methods,
                                                gateway_n_methods, &err),
                         0);
        /* A table with a wrong name or count is refused with a reason. */
        static const struct rpc_method_impl wrong[] = {
            RPC_METHOD("Healthz", daemon_health),
        };
        assert_true(rpc_check_method_table(&banger__v1__gateway__descriptor, wrong, 1, &err) < 0);
        assert_non_null(strstr(err.msg, "Healthz"));
        assert_true(rpc_check_method_table(&banger__v1__gateway__descriptor, wrong, 0, &err) < 0);
        assert_non_null(strstr(err.msg, "declares 1"));
}

static const struct rpc_method_impl *impl_named(const struct rpc_method_impl *t, size_t n,
                                                const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(t[i].name, name))
                        return &t[i];
        fail_msg("no method %s", name);
        return NULL;
}

/* Methods that wait on a guest (or long by design) are off the shared
 * workers: a stalled guest or a stop of one never holds vm list, health,
 * create or a workspace call of another VM. */
static void test_waiting_methods_off_main_pool(void **state)
{
        static const char *const vm_guest[] = {"Stats", "Ports", "AgentHealth"};
        for (size_t i = 0; i < ELEMENTSOF(vm_guest); i++)
                assert_true(
                    impl_named(vmsvc_vm_methods, vmsvc_n_vm_methods, vm_guest[i])->guest_wait);
        assert_true(impl_named(vmsvc_vm_methods, vmsvc_n_vm_methods, "Stop")->slow);
        assert_false(impl_named(vmsvc_vm_methods, vmsvc_n_vm_methods, "List")->guest_wait);
        static const char *const ws_guest[] = {"Exec", "Export", "ExecOutput"};
        for (size_t i = 0; i < ELEMENTSOF(ws_guest); i++)
                assert_true(impl_named(workspacesvc_workspace_methods,
                                       workspacesvc_n_workspace_methods, ws_guest[i])
                                ->guest_wait);
        assert_false(impl_named(workspacesvc_workspace_methods, workspacesvc_n_workspace_methods,
                                "WriteWorkDisk")
                         ->guest_wait);
}

/* ---- a live server ---- */

/* Test-only services with exactly one method, Health, so these tests do not
 * depend on how many methods the real services grow. */
static const ProtobufCMethodDescriptor health_only[] = {
    {"Health", &banger__v1__health_request__descriptor, &banger__v1__health_response__descriptor},
};
static const unsigned health_only_index[] = {0};
#define TEST_SERVICE(var, full, short)                                                             \
        static const ProtobufCServiceDescriptor var = {                                            \
            PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,                                                  \
            full,                                                                                  \
            short,                                                                                 \
            short,                                                                                 \
            "banger.test",                                                                         \
            1,                                                                                     \
            health_only,                                                                           \
            health_only_index,                                                                     \
        }
TEST_SERVICE(test_vm_desc, "banger.test.Vm", "Vm");
TEST_SERVICE(test_image_desc, "banger.test.Image", "Image");
TEST_SERVICE(test_net_desc, "banger.test.Net", "Net");

struct test_svc {
        struct rpc_client *nested; /* when set, Health calls it and reports its op_id */
        int sleep_ms;
        char seen_op_id[64];
        uint32_t seen_deadline_left;
        int seen_caller_pid;
};

static int t_health(struct test_svc *t, const Banger__V1__HealthRequest *in,
                    Banger__V1__HealthResponse *out, const struct rpc_call *call,
                    struct bg_error *err)
{
        snprintf(t->seen_op_id, sizeof(t->seen_op_id), "%s", call->op_id);
        t->seen_deadline_left = rpc_call_remaining_ms(call);
        t->seen_caller_pid = call->caller_pid;
        if (t->sleep_ms)
                sleep_msec(t->sleep_ms);
        if (t->nested) {
                Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
                ProtobufCMessage *resp = NULL;
                struct rpc_status st;
                int r = rpc_call(t->nested, "/banger.test.Image/Health", &req.base,
                                 &banger__v1__health_response__descriptor, &resp, NULL, &st);
                if (r < 0)
                        return bg_error_set(err, rpc_code_to_errno(st.code), "nested: %s",
                                            st.message);
                /* The nested service echoes the op_id it saw in .state */
                out->state = strdup(((Banger__V1__HealthResponse *)resp)->state);
                protobuf_c_message_free_unpacked(resp, NULL);
        } else {
                out->state = strdup(call->op_id);
        }
        out->service = strdup("test");
        if (!out->state || !out->service)
                return bg_error_set(err, ENOMEM, "oom");
        return 0;
}

static int t_fail(struct test_svc *t, const Banger__V1__HealthRequest *in,
                  Banger__V1__HealthResponse *out, const struct rpc_call *call,
                  struct bg_error *err)
{
        return bg_error_set(err, ENOENT, "no VM named '%s'", "ghost");
}

static const struct rpc_method_impl t_vm_methods[] = {RPC_METHOD("Health", t_health)};
static const struct rpc_method_impl t_image_methods[] = {RPC_METHOD("Health", t_health)};
static const struct rpc_method_impl t_net_methods[] = {RPC_METHOD("Health", t_fail)};

static int deny_all(void *ud, uint32_t uid, int pid, struct bg_error *err)
{
        return bg_error_set(err, EPERM, "uid %u is not welcome", uid);
}

static struct rpc_server *start_server(const char *name, const ProtobufCServiceDescriptor *d,
                                       const struct rpc_method_impl *m, void *svc, size_t recv_max,
                                       rpc_peer_check_fn check)
{
        char url[128];
        url_for(name, url, sizeof(url));
        struct rpc_server_config cfg = {
            .url = url,
            .name = name,
            .recv_max = recv_max,
            .socket_uid = -1,
            .peer_check = check,
        };
        struct rpc_server *s;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s, &err), 0);
        assert_int_equal(rpc_server_add_service(s, d, m, 1, svc, &err), 0);
        assert_int_equal(rpc_server_start(s, &err), 0);
        return s;
}

static struct rpc_client *connect_to(const char *name)
{
        char url[128];
        url_for(name, url, sizeof(url));
        struct rpc_client *c;
        struct bg_error err = {0};
        struct rpc_client_opts o = {.block_connect = true};
        assert_int_equal(rpc_client_open(url, &o, &c, &err), 0);
        return c;
}

static int call_health(struct rpc_client *c, const char *method, Banger__V1__HealthResponse **out,
                       uint32_t deadline_ms, struct rpc_status *st)
{
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        struct rpc_call_opts o = {.deadline_ms = deadline_ms};
        return rpc_call(c, method, &req.base, &banger__v1__health_response__descriptor,
                        (ProtobufCMessage **)out, &o, st);
}

/* Sends raw bytes as a request and returns the decoded status code, or -1
 * when no reply came. */
static int raw_status(struct rpc_client *c, const void *bytes, size_t len)
{
        nng_msg *m, *reply = NULL;
        struct rpc_status st;
        assert_int_equal(nng_msg_alloc(&m, len), 0);
        memcpy(nng_msg_body(m), bytes, len);
        if (rpc_call_raw(c, m, 2000, &reply, &st) < 0)
                return -1;
        Banger__V1__Response *r =
            banger__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
        nng_msg_free(reply);
        assert_non_null(r);
        int code = r->status->code;
        banger__v1__response__free_unpacked(r, NULL);
        return code;
}

static void test_server_dispatch(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("vm1", &test_vm_desc, t_vm_methods, &t, 0, NULL);
        struct rpc_client *c = connect_to("vm1");
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;

        assert_int_equal(call_health(c, "/banger.test.Vm/Health", &h, 2000, &st), 0);
        assert_int_equal(st.code, RPC_OK);
        assert_string_equal(h->service, "test");
        assert_string_equal(h->state, st.op_id); /* the server saw the op_id we got back */
        assert_true(strlen(st.op_id) > 0);
        assert_true(t.seen_deadline_left > 1000 && t.seen_deadline_left <= 2000);
        protobuf_c_message_free_unpacked(&h->base, NULL);

        /* unknown method / service */
        assert_true(call_health(c, "/banger.test.Vm/Explode", &h, 2000, &st) < 0);
        assert_int_equal(st.code, RPC_UNIMPLEMENTED);
        assert_non_null(strstr(st.message, "Explode"));
        assert_true(call_health(c, "/banger.v1.Nope/Health", &h, 2000, &st) < 0);
        assert_int_equal(st.code, RPC_UNIMPLEMENTED);
        assert_true(call_health(c, "not-a-method", &h, 2000, &st) < 0);
        assert_int_equal(st.code, RPC_INVALID_ARGUMENT);

        /* malformed envelope and malformed body */
        uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
        assert_int_equal(raw_status(c, junk, sizeof(junk)), RPC_INVALID_ARGUMENT);
        Banger__V1__Request req = BANGER__V1__REQUEST__INIT;
        req.method = "/banger.test.Vm/Health";
        req.body.data = junk;
        req.body.len = sizeof(junk);
        size_t len = banger__v1__request__get_packed_size(&req);
        uint8_t *buf = malloc(len);
        banger__v1__request__pack(&req, buf);
        assert_int_equal(raw_status(c, buf, len), RPC_INVALID_ARGUMENT);
        /* a client-chosen op_id that is not a plain token is refused */
        req.body.len = 0;
        req.op_id = "bad op id\n";
        len = banger__v1__request__get_packed_size(&req);
        buf = realloc(buf, len);
        banger__v1__request__pack(&req, buf);
        assert_int_equal(raw_status(c, buf, len), RPC_INVALID_ARGUMENT);
        free(buf);
        /* an empty message is an empty Request: no method */
        assert_int_equal(raw_status(c, "", 0), RPC_INVALID_ARGUMENT);

        /* still serving after all that */
        assert_int_equal(call_health(c, "/banger.test.Vm/Health", &h, 2000, &st), 0);
        protobuf_c_message_free_unpacked(&h->base, NULL);
        rpc_client_close(c);
        rpc_server_stop(s);
}

static void test_handler_error_maps_to_status(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("net7", &test_net_desc, t_net_methods, &t, 0, NULL);
        struct rpc_client *c = connect_to("net7");
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        assert_int_equal(call_health(c, "/banger.test.Net/Health", &h, 2000, &st), -ENOENT);
        assert_int_equal(st.code, RPC_NOT_FOUND);
        assert_string_equal(st.message, "no VM named 'ghost'");
        assert_true(st.op_id[0] != '\0');
        rpc_client_close(c);
        rpc_server_stop(s);
}

static void test_op_id_propagates(void **state)
{
        struct test_svc inner = {0}, outer = {0};
        struct rpc_server *si =
            start_server("image6", &test_image_desc, t_image_methods, &inner, 0, NULL);
        outer.nested = connect_to("image6");
        struct rpc_server *so = start_server("vm6", &test_vm_desc, t_vm_methods, &outer, 0, NULL);
        struct rpc_client *c = connect_to("vm6");
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        Banger__V1__HealthResponse *h = NULL;
        struct rpc_status st;
        struct rpc_call_opts o = {.op_id = "trace-42", .deadline_ms = 3000};
        assert_int_equal(rpc_call(c, "/banger.test.Vm/Health", &req.base,
                                  &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h,
                                  &o, &st),
                         0);
        assert_string_equal(st.op_id, "trace-42");
        assert_string_equal(outer.seen_op_id, "trace-42");
        assert_string_equal(inner.seen_op_id, "trace-42"); /* nested call carried it */
        assert_string_equal(h->state, "trace-42");
        /* the nested call's budget was capped by the outer one */
        assert_true(inner.seen_deadline_left <= outer.seen_deadline_left);
        protobuf_c_message_free_unpacked(&h->base, NULL);
        rpc_client_close(c);
        rpc_server_stop(so);
        rpc_client_close(outer.nested);
        rpc_server_stop(si);
}

static void test_deadline(void **state)
{
        struct test_svc t = {.sleep_ms = 400};
        struct rpc_server *s = start_server("vm2", &test_vm_desc, t_vm_methods, &t, 0, NULL);
        struct rpc_client *c = connect_to("vm2");
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        assert_true(call_health(c, "/banger.test.Vm/Health", &h, 100, &st) < 0);
        assert_int_equal(st.code, RPC_DEADLINE_EXCEEDED);
        /* Graceful stop waits for the handler that is still running. */
        rpc_client_close(c);
        rpc_server_stop(s);
}

/* A service with a method that waits on a guest (Wait, guest_wait) next to
 * one that does not (Health). */
static const ProtobufCMethodDescriptor health_wait[] = {
    {"Health", &banger__v1__health_request__descriptor, &banger__v1__health_response__descriptor},
    {"Wait", &banger__v1__health_request__descriptor, &banger__v1__health_response__descriptor},
};
static const unsigned health_wait_index[] = {0, 1};
static const ProtobufCServiceDescriptor test_guest_desc = {
    PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
    "banger.test.Guest",
    "Guest",
    "Guest",
    "banger.test",
    2,
    health_wait,
    health_wait_index,
};

static int t_wait(struct test_svc *t, const Banger__V1__HealthRequest *in,
                  Banger__V1__HealthResponse *out, const struct rpc_call *call,
                  struct bg_error *err)
{
        sleep_msec(1500); /* a guest that does not answer */
        return bg_error_set(err, ETIMEDOUT, "the guest did not answer");
}

struct waiter {
        pthread_t th;
        struct rpc_client *c;
        int code;
};

static void *call_wait(void *arg)
{
        struct waiter *w = arg;
        Banger__V1__HealthResponse *h = NULL;
        struct rpc_status st = {0};
        call_health(w->c, "/banger.test.Guest/Wait", &h, 6000, &st);
        w->code = st.code;
        return NULL;
}

/* Attack 5 of issue 19 at the RPC layer: calls that wait on a stalled guest
 * run on their own workers, so twelve of them never hold the ones Health
 * (vm list, another VM) needs. */
static void test_guest_wait_pool(void **state)
{
        static const struct rpc_method_impl methods[] = {
            RPC_METHOD("Health", t_health),
            RPC_METHOD_GUEST("Wait", t_wait),
        };
        struct test_svc t = {0};
        char url[128];
        url_for("guest1", url, sizeof(url));
        struct rpc_server_config cfg = {
            .url = url, .name = "guest1", .socket_uid = -1, .n_workers = 2, .n_guest_workers = 4,
            .n_contexts = 32};
        struct rpc_server *s;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s, &err), 0);
        assert_int_equal(rpc_server_add_service(s, &test_guest_desc, methods, 2, &t, &err), 0);
        assert_int_equal(rpc_server_start(s, &err), 0);
        struct rpc_client *c = connect_to("guest1");
        struct waiter w[12];
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                w[i].c = c;
                w[i].code = -1;
                assert_int_equal(pthread_create(&w[i].th, NULL, call_wait, &w[i]), 0);
        }
        sleep_msec(200); /* the waits are in */
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        for (int i = 0; i < 5; i++) {
                uint64_t t0 = now_mono_msec();
                assert_int_equal(call_health(c, "/banger.test.Guest/Health", &h, 3000, &st), 0);
                assert_int_equal(t.seen_caller_pid, getpid()); /* a direct caller is its peer */
                protobuf_c_message_free_unpacked(&h->base, NULL);
                assert_true(now_mono_msec() - t0 < 1000); /* one pool: >= 1.5 s */
        }
        /* A request the pool choice cannot read still gets its precise error. */
        uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
        assert_int_equal(raw_status(c, junk, sizeof(junk)), RPC_INVALID_ARGUMENT);
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                pthread_join(w[i].th, NULL);
                assert_true(w[i].code == RPC_DEADLINE_EXCEEDED || w[i].code == RPC_UNAVAILABLE);
        }
        rpc_client_close(c);
        rpc_server_stop(s);
}

struct slow_waiter {
        pthread_t th;
        struct rpc_client *c;
        int code;
        uint64_t ms;
        char msg[512];
};

static int t_slow(struct test_svc *t, const Banger__V1__HealthRequest *in,
                  Banger__V1__HealthResponse *out, const struct rpc_call *call,
                  struct bg_error *err)
{
        sleep_msec(1500); /* a vm stop waiting for its guest to power off */
        return 0;
}

static void *call_slow(void *arg)
{
        struct slow_waiter *w = arg;
        Banger__V1__HealthResponse *h = NULL;
        struct rpc_status st = {0};
        uint64_t t0 = now_mono_msec();
        call_health(w->c, "/banger.test.Guest/Wait", &h, 6000, &st);
        w->ms = now_mono_msec() - t0;
        w->code = st.code;
        snprintf(w->msg, sizeof(w->msg), "%s", st.message);
        if (h)
                protobuf_c_message_free_unpacked(&h->base, NULL);
        return NULL;
}

/* Issue 19, vm stop of stalled guests: slow methods run on their own pool,
 * so eight of them in flight neither hold the workers Health needs (two
 * here) nor wait for each other: every one ends after its own wait. */
static void test_slow_pool(void **state)
{
        static const struct rpc_method_impl methods[] = {
            RPC_METHOD("Health", t_health),
            RPC_METHOD_SLOW("Wait", t_slow),
        };
        struct test_svc t = {0};
        char url[128];
        url_for("slow1", url, sizeof(url));
        struct rpc_server_config cfg = {
            .url = url, .name = "slow1", .socket_uid = -1, .n_workers = 2, .n_contexts = 32};
        struct rpc_server *s;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s, &err), 0);
        assert_int_equal(rpc_server_add_service(s, &test_guest_desc, methods, 2, &t, &err), 0);
        assert_int_equal(rpc_server_start(s, &err), 0);
        struct rpc_client *c = connect_to("slow1");
        struct slow_waiter w[8];
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                w[i].c = c;
                w[i].code = -1;
                assert_int_equal(pthread_create(&w[i].th, NULL, call_slow, &w[i]), 0);
        }
        sleep_msec(200); /* the waits are in */
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        for (int i = 0; i < 5; i++) {
                uint64_t t0 = now_mono_msec();
                assert_int_equal(call_health(c, "/banger.test.Guest/Health", &h, 3000, &st), 0);
                protobuf_c_message_free_unpacked(&h->base, NULL);
                assert_true(now_mono_msec() - t0 < 1000); /* on the main pool: >= 1.5 s */
        }
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                pthread_join(w[i].th, NULL);
                assert_int_equal(w[i].code, RPC_OK);
                assert_true(w[i].ms < 3000); /* eight workers: no queue behind another */
        }
        rpc_client_close(c);
        rpc_server_stop(s);
}

/* Issue 19, more vm stops than call slots: with only 4 contexts for other
 * calls, twenty 1.5 s slow calls against a limit of 12 (8 running, 4
 * waiting) neither hold Health up (each < 1 s, where the slow calls once
 * held every context) nor queue without end: the 8 past the limit are
 * refused at once as busy, naming the setting. */
static void test_slow_pool_limit(void **state)
{
        static const struct rpc_method_impl methods[] = {
            RPC_METHOD("Health", t_health),
            RPC_METHOD_SLOW("Wait", t_slow),
        };
        struct test_svc t = {0};
        char url[128];
        url_for("slow2", url, sizeof(url));
        struct rpc_server_config cfg = {
            .url = url, .name = "slow2", .socket_uid = -1, .n_workers = 2, .n_contexts = 4};
        struct rpc_server *s;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s, &err), 0);
        assert_int_equal(rpc_server_set_pool_limit(s, false, 0, 0, "x", "k", &err), -EINVAL);
        assert_int_equal(
            rpc_server_set_pool_limit(s, false, 0, 12, "vm stops", "vm.max_stops_in_flight", &err),
            0);
        assert_int_equal(rpc_server_add_service(s, &test_guest_desc, methods, 2, &t, &err), 0);
        assert_int_equal(rpc_server_start(s, &err), 0);
        assert_int_equal(rpc_server_set_pool_limit(s, false, 0, 8, NULL, NULL, &err), -EBUSY);
        struct rpc_client *c = connect_to("slow2");
        struct slow_waiter w[20];
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                w[i].c = c;
                w[i].code = -1;
                assert_int_equal(pthread_create(&w[i].th, NULL, call_slow, &w[i]), 0);
        }
        sleep_msec(300); /* the stops are in */
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        for (int i = 0; i < 5; i++) {
                uint64_t t0 = now_mono_msec();
                assert_int_equal(call_health(c, "/banger.test.Guest/Health", &h, 3000, &st), 0);
                protobuf_c_message_free_unpacked(&h->base, NULL);
                assert_true(now_mono_msec() - t0 < 1000);
        }
        unsigned ok = 0, busy = 0;
        for (size_t i = 0; i < ELEMENTSOF(w); i++) {
                pthread_join(w[i].th, NULL);
                if (w[i].code == RPC_OK) {
                        ok++;
                } else {
                        assert_int_equal(w[i].code, RPC_RESOURCE_EXHAUSTED);
                        assert_true(w[i].ms < 1000); /* refused at once, not queued */
                        assert_non_null(strstr(w[i].msg, "slow2 is busy: 12 vm stops in flight"));
                        assert_non_null(strstr(w[i].msg, "vm.max_stops_in_flight"));
                        busy++;
                }
        }
        assert_int_equal(ok, 12);
        assert_int_equal(busy, 8);
        /* Slots are given back: a stop is taken again. */
        struct slow_waiter again = {.c = c, .code = -1};
        call_slow(&again);
        assert_int_equal(again.code, RPC_OK);
        rpc_client_close(c);
        rpc_server_stop(s);
}

static void test_oversize_refused(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("vm3", &test_vm_desc, t_vm_methods, &t, 1024, NULL);
        struct rpc_client *c = connect_to("vm3");
        size_t big = 64 * 1024;
        uint8_t *junk = calloc(1, big);
        Banger__V1__Request req = BANGER__V1__REQUEST__INIT;
        req.method = "/banger.test.Vm/Health";
        req.body.data = junk;
        req.body.len = big;
        nng_msg *m, *reply = NULL;
        assert_int_equal(rpc_pack_msg(&req.base, &m), 0);
        struct rpc_status st;
        assert_true(rpc_call_raw(c, m, 500, &reply, &st) < 0); /* dropped, no reply */
        free(junk);
        rpc_client_close(c);
        /* and the server still answers a normal call */
        c = connect_to("vm3");
        Banger__V1__HealthResponse *h = NULL;
        Banger__V1__HealthRequest hreq = BANGER__V1__HEALTH_REQUEST__INIT;
        struct rpc_call_opts o = {.deadline_ms = 10000, .flags = RPC_CALL_IDEMPOTENT};
        assert_int_equal(rpc_call(c, "/banger.test.Vm/Health", &hreq.base,
                                  &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h,
                                  &o, &st),
                         0);
        protobuf_c_message_free_unpacked(&h->base, NULL);
        rpc_client_close(c);
        rpc_server_stop(s);
}

/* Connects to the server's socket path and hangs up: the server's handshake
 * write on a connection it accepts after the hang-up fails with EPIPE. nng
 * 1.5.2 reports that to its listener as "closed" and the listener stops
 * attaching new connections; the server must notice and recover on its own.
 * Whether nng accepts before or after the hang-up depends on how threads are
 * scheduled, so both orders are tried: n connections each closed at once,
 * then n all connected first and closed together. */
static void hang_up_early(const char *name, int n)
{
        char url[128];
        url_for(name, url, sizeof(url));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + strlen("ipc://"));
        /* half a handshake, then gone */
        static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
        int fds[64];
        assert_true(n <= (int)(sizeof(fds) / sizeof(fds[0])));
        for (int burst = 0; burst < 2; burst++) {
                for (int i = 0; i < n; i++) {
                        fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
                        assert_true(fds[i] >= 0);
                        if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0 && (i & 1))
                                (void)!write(fds[i], hdr, 3);
                        if (!burst)
                                close(fds[i]);
                }
                for (int i = 0; burst && i < n; i++)
                        close(fds[i]);
        }
}

static void test_survives_early_hangups(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("vm8", &test_vm_desc, t_vm_methods, &t, 0, NULL);
        struct rpc_status st;
        /* Whether a hang-up breaks nng's listener depends on timing (its
         * accept must come after the peer closed), so the rounds go on until
         * the listener was broken and reopened at least once, and every
         * round's call must succeed. */
        int round;
        for (round = 0; round < 3 || (round < 20 && rpc_server_listener_restarts(s) == 0);
             round++) {
                hang_up_early("vm8", 40);
                struct rpc_client *c = connect_to("vm8");
                Banger__V1__HealthResponse *h = NULL;
                uint64_t t0 = now_mono_msec();
                /* A call that reached the stuck listener is cut when it is
                 * reopened (never left to hang); a read retries once. */
                Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
                struct rpc_call_opts o = {.deadline_ms = 20000, .flags = RPC_CALL_IDEMPOTENT};
                int r = rpc_call(c, "/banger.test.Vm/Health", &req.base,
                                 &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h,
                                 &o, &st);
                if (r != 0)
                        fprintf(stderr, "round %d: %s\n", round, st.message);
                assert_int_equal(r, 0);
                /* recovered by the guard (tick + probe + reopen), not by the deadline */
                assert_true(now_mono_msec() - t0 < 15000);
                protobuf_c_message_free_unpacked(&h->base, NULL);
                rpc_client_close(c);
        }
        /* the hang-ups did break nng's listener; the guard reopened it */
        if (rpc_server_listener_restarts(s) == 0)
                fprintf(stderr, "the listener was never reopened in %d rounds\n", round);
        assert_true(rpc_server_listener_restarts(s) >= 1);
        rpc_server_stop(s);
}

static void test_peer_check(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("vm4", &test_vm_desc, t_vm_methods, &t, 0, deny_all);
        struct rpc_client *c = connect_to("vm4");
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        assert_true(call_health(c, "/banger.test.Vm/Health", &h, 2000, &st) < 0);
        assert_int_equal(st.code, RPC_PERMISSION_DENIED);
        assert_non_null(strstr(st.message, "not welcome"));
        assert_string_equal(t.seen_op_id, ""); /* handler never ran */
        rpc_client_close(c);
        rpc_server_stop(s);

        uint32_t owner = 4242;
        struct bg_error err = {0};
        assert_int_equal(rpc_peer_allow_owner(&owner, 0, 1, &err), 0);
        assert_int_equal(rpc_peer_allow_owner(&owner, 4242, 1, &err), 0);
        assert_int_equal(rpc_peer_allow_owner(&owner, 1000, 1, &err), -EPERM);
}

static void test_unavailable_fast(void **state)
{
        char url[128];
        url_for("nobody", url, sizeof(url));
        struct rpc_client *c;
        struct bg_error err = {0};
        struct rpc_client_opts blocking = {.block_connect = true};
        assert_int_equal(rpc_client_open(url, &blocking, &c, &err), -ECONNREFUSED);
        /* a background client reports no connection and fails fast */
        assert_int_equal(rpc_client_open(url, NULL, &c, &err), 0);
        assert_int_equal(rpc_client_connections(c), 0);
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        struct rpc_call_opts o = {.deadline_ms = 5000, .connect_wait_ms = 50};
        assert_true(rpc_call(c, "/banger.test.Vm/Health", &req.base,
                             &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h, &o,
                             &st) < 0);
        assert_int_equal(st.code, RPC_UNAVAILABLE);
        /* once a server appears, the same client connects by itself */
        struct test_svc t = {0};
        struct rpc_server *s = start_server("nobody", &test_vm_desc, t_vm_methods, &t, 0, NULL);
        o.connect_wait_ms = 3000;
        assert_int_equal(rpc_call(c, "/banger.test.Vm/Health", &req.base,
                                  &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h,
                                  &o, &st),
                         0);
        protobuf_c_message_free_unpacked(&h->base, NULL);
        rpc_client_close(c);
        rpc_server_stop(s);
}

static void test_stale_socket_replaced_live_refused(void **state)
{
        struct test_svc t = {0};
        struct rpc_server *s = start_server("vm5", &test_vm_desc, t_vm_methods, &t, 0, NULL);
        /* a second server on the same live socket is refused */
        char url[128];
        url_for("vm5", url, sizeof(url));
        struct rpc_server_config cfg = {.url = url, .name = "vm2", .socket_uid = -1};
        struct rpc_server *s2;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s2, &err), 0);
        assert_int_equal(rpc_server_add_service(s2, &test_vm_desc, t_vm_methods, 1, &t, &err), 0);
        assert_int_equal(rpc_server_start(s2, &err), -EADDRINUSE);
        assert_non_null(strstr(err.msg, "already exists"));
        rpc_server_stop(s2);
        /* the first server is unharmed and still answers new connections */
        struct rpc_client *c = connect_to("vm5");
        struct rpc_status st;
        Banger__V1__HealthResponse *h = NULL;
        assert_int_equal(call_health(c, "/banger.test.Vm/Health", &h, 5000, &st), 0);
        protobuf_c_message_free_unpacked(&h->base, NULL);
        rpc_client_close(c);
        rpc_server_stop(s);
        /* a stale socket file (server gone, file left) is replaced only when
         * the caller says it holds the lock */
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", url + 6);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        assert_int_equal(rpc_server_new(&cfg, &s2, &err), 0);
        assert_int_equal(rpc_server_add_service(s2, &test_vm_desc, t_vm_methods, 1, &t, &err), 0);
        assert_int_equal(rpc_server_start(s2, &err), -EADDRINUSE);
        rpc_server_stop(s2);
        cfg.replace_socket = true;
        assert_int_equal(rpc_server_new(&cfg, &s2, &err), 0);
        assert_int_equal(rpc_server_add_service(s2, &test_vm_desc, t_vm_methods, 1, &t, &err), 0);
        assert_int_equal(rpc_server_start(s2, &err), 0);
        rpc_server_stop(s2);
}

int main(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/bg-rpc-XXXXXX");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        log_setup("test", LOG_LEVEL_ERROR, 2);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_envelope_roundtrip),
            cmocka_unit_test(test_status_mappings),
            cmocka_unit_test(test_split_method),
            cmocka_unit_test(test_dispatch_tables),
            cmocka_unit_test(test_server_dispatch),
            cmocka_unit_test(test_handler_error_maps_to_status),
            cmocka_unit_test(test_op_id_propagates),
            cmocka_unit_test(test_deadline),
            cmocka_unit_test(test_oversize_refused),
            cmocka_unit_test(test_guest_wait_pool),
            cmocka_unit_test(test_waiting_methods_off_main_pool),
            cmocka_unit_test(test_slow_pool),
            cmocka_unit_test(test_slow_pool_limit),
            cmocka_unit_test(test_survives_early_hangups),
            cmocka_unit_test(test_peer_check),
            cmocka_unit_test(test_unavailable_fast),
            cmocka_unit_test(test_stale_socket_replaced_live_refused),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        if (test_tmpdir_remove(tmpdir) < 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return r;
}
