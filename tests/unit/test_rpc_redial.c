/* lib/rpc's client after its peer went away in the middle of a connection:
 * a listener that accepts and hangs up before nng's SP handshake (a
 * service killed just after it accepted, as in a restart under load) must
 * not leave the client's dialer dead. nng (1.5) stops redialing when a
 * connection attempt ends in "object closed"; the client redials itself
 * when it has had no connection for a while, so once a real server listens
 * again the same client reaches it, both through rpc_call's wait for a
 * connection and through rpc_client_connections (the gateway's fail-fast
 * check). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "banger/v1/common.pb-c.h"
#include "log/log.h"
#include "rpc/rpc.h"
#include "util/timeutil.h"
#include "test_tmpdir.h"

static char tmpdir[64];

static const ProtobufCMethodDescriptor health_only[] = {
    {"Health", &banger__v1__health_request__descriptor, &banger__v1__health_response__descriptor},
};
static const unsigned health_only_index[] = {0};
static const ProtobufCServiceDescriptor test_desc = {
    PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
    "banger.test.Vm",
    "Vm",
    "Vm",
    "banger.test",
    1,
    health_only,
    health_only_index,
};

static int t_health(void *svc, const Banger__V1__HealthRequest *in, Banger__V1__HealthResponse *out,
                    const struct rpc_call *call, struct bg_error *err)
{
        (void)svc;
        (void)in;
        (void)call;
        out->service = strdup("test");
        out->state = strdup("ok");
        if (!out->service || !out->state)
                return bg_error_set(err, ENOMEM, "oom");
        return 0;
}
static const struct rpc_method_impl methods[] = {RPC_METHOD("Health", t_health)};

/* A plain unix listener at path that, for ms milliseconds, accepts every
 * connection and closes it at once (no SP header); then it goes. Returns
 * how many it hung up on. */
static int hang_up_on_all(const char *path, int ms)
{
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(l >= 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        unlink(path);
        assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(l, 16), 0);
        int n = 0;
        uint64_t until = now_mono_msec() + (uint64_t)ms;
        while (now_mono_msec() < until) {
                struct pollfd p = {.fd = l, .events = POLLIN};
                if (poll(&p, 1, 20) <= 0)
                        continue;
                int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
                if (c >= 0) {
                        close(c);
                        n++;
                }
        }
        close(l);
        unlink(path);
        return n;
}

static struct rpc_server *serve(const char *url)
{
        struct rpc_server_config cfg = {.url = url, .name = "redial", .socket_uid = -1};
        struct rpc_server *s;
        struct bg_error err = {0};
        assert_int_equal(rpc_server_new(&cfg, &s, &err), 0);
        assert_int_equal(rpc_server_add_service(s, &test_desc, methods, 1, NULL, &err), 0);
        assert_int_equal(rpc_server_start(s, &err), 0);
        return s;
}

static int health(struct rpc_client *c, uint32_t connect_wait_ms, struct rpc_status *st)
{
        Banger__V1__HealthRequest req = BANGER__V1__HEALTH_REQUEST__INIT;
        Banger__V1__HealthResponse *h = NULL;
        struct rpc_call_opts o = {.deadline_ms = 10000, .connect_wait_ms = connect_wait_ms};
        int r = rpc_call(c, "/banger.test.Vm/Health", &req.base,
                         &banger__v1__health_response__descriptor, (ProtobufCMessage **)&h, &o, st);
        if (h)
                protobuf_c_message_free_unpacked(&h->base, NULL);
        return r;
}

/* A client of NAME.sock whose peer hung up on it before the handshake
 * (at least once), and the real server now listening there. */
struct after_hangups {
        struct rpc_client *c;
        struct rpc_server *s;
        int hangups;
};

static struct after_hangups hung_up_then_served(const char *name)
{
        char path[128], url[160];
        snprintf(path, sizeof(path), "%s/%s.sock", tmpdir, name);
        snprintf(url, sizeof(url), "ipc://%s", path);
        struct after_hangups h = {0};
        struct bg_error err = {0};
        assert_int_equal(rpc_client_open(url, NULL, &h.c, &err), 0);
        h.hangups = hang_up_on_all(path, 1500);
        assert_true(h.hangups >= 1);
        h.s = serve(url);
        return h;
}

static void test_redial_after_hangups_call(void **state)
{
        (void)state;
        struct after_hangups h = hung_up_then_served("a");
        struct rpc_status st;
        /* a call waiting for its connection gets one */
        if (health(h.c, 5000, &st) < 0)
                fail_msg("after %d hang-ups, no connection to a live server within 5 s: %s",
                         h.hangups, st.message);
        rpc_client_close(h.c);
        rpc_server_stop(h.s);
}

static void test_redial_after_hangups_connections(void **state)
{
        (void)state;
        struct after_hangups h = hung_up_then_served("b");
        /* the gateway's check: asking, now and then, is enough */
        uint64_t until = now_mono_msec() + 5000;
        while (rpc_client_connections(h.c) == 0 && now_mono_msec() < until)
                sleep_msec(100);
        if (rpc_client_connections(h.c) == 0)
                fail_msg("after %d hang-ups, no connection to a live server within 5 s", h.hangups);
        struct rpc_status st;
        assert_int_equal(health(h.c, 50, &st), 0);
        rpc_client_close(h.c);
        rpc_server_stop(h.s);
}

int main(void)
{
        if (test_tmpdir_make(tmpdir, sizeof(tmpdir), "redial") < 0) {
                perror("test_tmpdir_make");
                return 1;
        }
        log_setup("test", LOG_LEVEL_ERROR, 2);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_redial_after_hangups_call),
            cmocka_unit_test(test_redial_after_hangups_connections),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        if (test_tmpdir_remove(tmpdir) < 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return r;
}
