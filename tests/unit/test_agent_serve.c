#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_frame.h"
#include "agent_serve.h"
#include "banger/v1/agent.pb-c.h"
#include "test_agent_fixture.h"

static int syncs;
static void count_sync(void)
{
        syncs++;
}

struct server {
        struct agent_serve_ctx ctx;
        int fd;
        int result;
        pthread_t thread;
        int client;
        char *root;
};

static void *serve_thread(void *arg)
{
        struct server *s = arg;
        s->result = agent_serve_stream(&s->ctx, s->fd);
        return NULL;
}

static const char *const disks[] = {"/", "/nonexistent-banger-path"};

static int setup(void **state)
{
        struct server *s = calloc(1, sizeof(*s));
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        s->root = fixture_proc_new();
        s->ctx = (struct agent_serve_ctx){
            .proc_root = s->root,
            .version = "9.9.9 (test)",
            .disk_paths = disks,
            .n_disk_paths = 2,
            .sync_fn = count_sync,
            .stall_ms = 500,
            .write_timeout_ms = 1000,
        };
        s->fd = sv[1];
        s->client = sv[0];
        syncs = 0;
        pthread_create(&s->thread, NULL, serve_thread, s);
        *state = s;
        return 0;
}

/* Joins the server (after the client side closed or the server returned). */
static int finish(struct server *s)
{
        if (s->client >= 0)
                close(s->client);
        s->client = -1;
        pthread_join(s->thread, NULL);
        close(s->fd);
        return s->result;
}

static int teardown(void **state)
{
        struct server *s = *state;
        if (s->client >= 0)
                finish(s);
        fixture_proc_free(s->root);
        free(s);
        return 0;
}

static Banger__V1__AgentResponse *roundtrip_raw(struct server *s, const void *buf, size_t len)
{
        assert_int_equal(agent_frame_write(s->client, buf, len, agent_deadline_after_ms(2000)), 0);
        uint8_t *in = NULL;
        size_t inlen = 0;
        assert_int_equal(agent_frame_read(s->client, AGENT_FRAME_MAX, agent_deadline_after_ms(5000),
                                          0, &in, &inlen),
                         1);
        Banger__V1__AgentResponse *r = banger__v1__agent_response__unpack(NULL, inlen, in);
        free(in);
        assert_non_null(r);
        return r;
}

static Banger__V1__AgentResponse *roundtrip(struct server *s, Banger__V1__AgentRequest *req)
{
        size_t len = banger__v1__agent_request__get_packed_size(req);
        uint8_t *out = malloc(len + 1);
        banger__v1__agent_request__pack(req, out);
        Banger__V1__AgentResponse *r = roundtrip_raw(s, out, len);
        free(out);
        return r;
}

static void test_health_ports_stats(void **state)
{
        struct server *s = *state;
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;

        Banger__V1__AgentHealthRequest h = BANGER__V1__AGENT_HEALTH_REQUEST__INIT;
        req.id = 7;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_HEALTH;
        req.health = &h;
        Banger__V1__AgentResponse *r = roundtrip(s, &req);
        assert_int_equal(r->id, 7);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_HEALTH);
        assert_int_equal(r->health->uptime_ms, 1234560);
        assert_string_equal(r->health->boot_id, "0b2f2c1e-6a53-4bde-9a0e-2f0c4b1a8d11");
        assert_string_equal(r->health->agent_version, "9.9.9 (test)");
        assert_true(strlen(r->health->kernel_release) > 0);
        banger__v1__agent_response__free_unpacked(r, NULL);

        Banger__V1__AgentPortsRequest p = BANGER__V1__AGENT_PORTS_REQUEST__INIT;
        req.id = 8;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_PORTS;
        req.ports = &p;
        r = roundtrip(s, &req);
        assert_int_equal(r->id, 8);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_PORTS);
        assert_int_equal(r->ports->n_ports, 5);
        assert_int_equal(r->ports->ports[0]->port, 22);
        assert_string_equal(r->ports->ports[0]->processes[0]->name, "sshd");
        banger__v1__agent_response__free_unpacked(r, NULL);

        Banger__V1__AgentStatsRequest st = BANGER__V1__AGENT_STATS_REQUEST__INIT;
        req.id = 9;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_STATS;
        req.stats = &st;
        r = roundtrip(s, &req);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_STATS);
        long tck = sysconf(_SC_CLK_TCK);
        assert_int_equal(r->stats->cpu->count, 2);
        assert_int_equal(r->stats->cpu->user_ms, 100 * 1000 / tck);
        assert_int_equal(r->stats->cpu->idle_ms, 4000 * 1000 / tck);
        assert_int_equal(r->stats->cpu->steal_ms, 8 * 1000 / tck);
        assert_int_equal(r->stats->memory->total_bytes, 512000ull * 1024);
        assert_int_equal(r->stats->memory->available_bytes, 400000ull * 1024);
        assert_int_equal(r->stats->memory->oom_kills, 7); /* /proc/vmstat oom_kill */
        assert_true(r->stats->load->load1 > 0.49 && r->stats->load->load1 < 0.51);
        assert_int_equal(r->stats->load->running, 2);
        assert_int_equal(r->stats->load->total, 87);
        /* The unreadable path is left out. */
        assert_int_equal(r->stats->n_disks, 1);
        assert_string_equal(r->stats->disks[0]->path, "/");
        assert_true(r->stats->disks[0]->total_bytes > 0);
        banger__v1__agent_response__free_unpacked(r, NULL);

        assert_int_equal(finish(s), 0); /* client closed: clean end */
}

static void test_garbage_survives(void **state)
{
        struct server *s = *state;
        const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
        Banger__V1__AgentResponse *r = roundtrip_raw(s, garbage, sizeof(garbage));
        assert_int_equal(r->id, 0);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_ERROR);
        assert_int_equal(r->error->code, EBADMSG);
        banger__v1__agent_response__free_unpacked(r, NULL);

        /* A well-formed request that asks for nothing. */
        r = roundtrip_raw(s, "\x08\x05", 2); /* id = 5 */
        assert_int_equal(r->id, 5);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_ERROR);
        assert_int_equal(r->error->code, EINVAL);
        banger__v1__agent_response__free_unpacked(r, NULL);

        /* Still serving. */
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentHealthRequest h = BANGER__V1__AGENT_HEALTH_REQUEST__INIT;
        req.id = 11;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_HEALTH;
        req.health = &h;
        r = roundtrip(s, &req);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_HEALTH);
        banger__v1__agent_response__free_unpacked(r, NULL);
        assert_int_equal(finish(s), 0);
}

static void test_oversize_desyncs(void **state)
{
        struct server *s = *state;
        uint8_t hdr[4] = {0x7f, 0xff, 0xff, 0xff};
        assert_int_equal(write(s->client, hdr, 4), 4);
        uint8_t *in = NULL;
        size_t inlen = 0;
        assert_int_equal(agent_frame_read(s->client, AGENT_FRAME_MAX, agent_deadline_after_ms(5000),
                                          0, &in, &inlen),
                         1);
        Banger__V1__AgentResponse *r = banger__v1__agent_response__unpack(NULL, inlen, in);
        free(in);
        assert_non_null(r);
        assert_int_equal(r->error->code, EMSGSIZE);
        banger__v1__agent_response__free_unpacked(r, NULL);
        pthread_join(s->thread, NULL);
        assert_int_equal(s->result, -EMSGSIZE);
        close(s->client);
        close(s->fd);
        s->client = -1;
}

static void test_truncated_frame(void **state)
{
        struct server *s = *state;
        assert_int_equal(write(s->client,
                               "\0\0\0\x10"
                               "ab",
                               6),
                         6);
        shutdown(s->client, SHUT_WR);
        assert_int_equal(finish(s), -EPROTO);
}

static void test_stalled_frame(void **state)
{
        struct server *s = *state;
        assert_int_equal(write(s->client,
                               "\0\0\0\x10"
                               "ab",
                               6),
                         6);
        /* Stays open but sends nothing more: the server gives up after stall_ms. */
        pthread_join(s->thread, NULL);
        assert_int_equal(s->result, -ETIMEDOUT);
        close(s->client);
        close(s->fd);
        s->client = -1;
}

static void test_shutdown(void **state)
{
        struct server *s = *state;
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentShutdownRequest sd = BANGER__V1__AGENT_SHUTDOWN_REQUEST__INIT;
        req.id = 99;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_SHUTDOWN;
        req.shutdown = &sd;
        Banger__V1__AgentResponse *r = roundtrip(s, &req);
        assert_int_equal(r->id, 99);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_SHUTDOWN);
        banger__v1__agent_response__free_unpacked(r, NULL);
        pthread_join(s->thread, NULL);
        assert_int_equal(s->result, AGENT_SERVE_SHUTDOWN);
        assert_int_equal(syncs, 1);
        close(s->client);
        close(s->fd);
        s->client = -1;
}

static void test_handle_missing_proc(void **state)
{
        struct agent_serve_ctx ctx = {.proc_root = "/nonexistent-proc", .version = "x"};
        Banger__V1__AgentRequest req = BANGER__V1__AGENT_REQUEST__INIT;
        Banger__V1__AgentStatsRequest st = BANGER__V1__AGENT_STATS_REQUEST__INIT;
        req.id = 3;
        req.kind_case = BANGER__V1__AGENT_REQUEST__KIND_STATS;
        req.stats = &st;
        uint8_t in[64];
        size_t len = banger__v1__agent_request__pack(&req, in);
        uint8_t *out = NULL;
        size_t outlen = 0;
        bool shutdown_flag = true;
        assert_int_equal(agent_serve_handle(&ctx, in, len, &out, &outlen, &shutdown_flag), 0);
        assert_false(shutdown_flag);
        Banger__V1__AgentResponse *r = banger__v1__agent_response__unpack(NULL, outlen, out);
        free(out);
        assert_int_equal(r->id, 3);
        assert_int_equal(r->kind_case, BANGER__V1__AGENT_RESPONSE__KIND_ERROR);
        assert_int_equal(r->error->code, ENOENT);
        assert_non_null(strstr(r->error->message, "statistics"));
        banger__v1__agent_response__free_unpacked(r, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_health_ports_stats, setup, teardown),
            cmocka_unit_test_setup_teardown(test_garbage_survives, setup, teardown),
            cmocka_unit_test_setup_teardown(test_oversize_desyncs, setup, teardown),
            cmocka_unit_test_setup_teardown(test_truncated_frame, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stalled_frame, setup, teardown),
            cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
            cmocka_unit_test(test_handle_missing_proc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
