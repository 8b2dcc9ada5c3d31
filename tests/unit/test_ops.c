/* lib/ops: operation lifecycle, progress, cancel, result, dedup, expiry. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "banger/v1/common.pb-c.h"
#include "ops.h"
#include "rpc/status.h"
#include "util/timeutil.h"

/* A gate the test opens to let a work function proceed. */
struct gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool open;
        bool entered;
        atomic_int runs;
        atomic_int freed;
};

static void gate_init(struct gate *g)
{
        memset(g, 0, sizeof(*g));
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->cond, NULL);
}

static void gate_open(struct gate *g)
{
        pthread_mutex_lock(&g->lock);
        g->open = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

static void gate_wait_entered(struct gate *g)
{
        pthread_mutex_lock(&g->lock);
        while (!g->entered)
                pthread_cond_wait(&g->cond, &g->lock);
        pthread_mutex_unlock(&g->lock);
}

static void gate_free(void *ud)
{
        struct gate *g = ud;
        atomic_fetch_add(&g->freed, 1);
}

/* Reports stage "fetch" with progress, waits for the gate, then finishes
 * with a HealthResponse result. */
static int gated_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct gate *g = ud;
        atomic_fetch_add(&g->runs, 1);
        ops_ctx_stage(ctx, "fetch");
        ops_ctx_progress(ctx, 10, 100);
        ops_ctx_part(ctx, 1, "sha256:bbbb", 5, 50);
        ops_ctx_part(ctx, 0, "sha256:aaaa", 7, 7);
        ops_ctx_part(ctx, OPS_MAX_PARTS, "ignored", 1, 1);
        pthread_mutex_lock(&g->lock);
        g->entered = true;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
                pthread_cond_wait(&g->cond, &g->lock);
        pthread_mutex_unlock(&g->lock);
        ops_ctx_stage(ctx, "finish");
        Banger__V1__HealthResponse h = BANGER__V1__HEALTH_RESPONSE__INIT;
        h.service = "done";
        h.pid = 42;
        return ops_ctx_set_result(ctx, &h.base);
}

static const char *const stages[] = {"resolve", "fetch", "finish"};

static void test_lifecycle_and_result(void **state)
{
        struct ops_registry *r = NULL;
        struct bg_error err = {0};
        assert_int_equal(ops_registry_new(0, &r, &err), 0);
        struct gate g;
        gate_init(&g);
        struct ops_start s = {.kind = "test.pull",
                              .target = "alpha",
                              .stages = stages,
                              .n_stages = 3,
                              .fn = gated_work,
                              .userdata = &g,
                              .free_userdata = gate_free};
        char id[OPS_ID_LEN + 1];
        bool reused = true;
        assert_int_equal(ops_start(r, &s, id, &reused, &err), 0);
        assert_false(reused);
        assert_int_equal(strlen(id), OPS_ID_LEN);
        assert_int_equal(strspn(id, "0123456789abcdef"), OPS_ID_LEN);
        gate_wait_entered(&g);

        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        assert_int_equal(ops_fill(r, id, &op, &err), 0);
        assert_string_equal(op.id, id);
        assert_string_equal(op.kind, "test.pull");
        assert_string_equal(op.target, "alpha");
        assert_string_equal(op.stage, "fetch");
        assert_int_equal(op.done_bytes, 10);
        assert_int_equal(op.total_bytes, 100);
        assert_int_equal(op.n_parts, 2); /* one bar per layer; out-of-range ignored */
        assert_string_equal(op.parts[0]->name, "sha256:aaaa");
        assert_int_equal(op.parts[0]->done_bytes, 7);
        assert_string_equal(op.parts[1]->name, "sha256:bbbb");
        assert_int_equal(op.parts[1]->total_bytes, 50);
        assert_false(op.done);
        assert_null(op.status);
        assert_int_equal(op.n_stages, 3);
        assert_string_equal(op.stages[2], "finish");
        assert_true(op.started_unix_ms > 0);
        ops_operation_clear(&op);
        assert_int_equal(ops_running(r), 1);

        gate_open(&g);
        assert_int_equal(ops_wait(r, id, 5000), 1);
        assert_int_equal(ops_fill(r, id, &op, &err), 0);
        assert_true(op.done);
        assert_non_null(op.status);
        assert_int_equal(op.status->code, RPC_OK);
        assert_string_equal(op.status->op_id, id);
        assert_string_equal(op.stage, "finish");
        assert_int_equal(op.n_parts, 0); /* a new stage starts without parts */
        Banger__V1__HealthResponse *h =
            banger__v1__health_response__unpack(NULL, op.result.len, op.result.data);
        assert_non_null(h);
        assert_string_equal(h->service, "done");
        assert_int_equal(h->pid, 42);
        banger__v1__health_response__free_unpacked(h, NULL);
        ops_operation_clear(&op);
        assert_int_equal(ops_running(r), 0);
        assert_int_equal(atomic_load(&g.freed), 1);
        assert_int_equal(atomic_load(&g.runs), 1);

        /* Unknown ids. */
        assert_int_equal(ops_fill(r, "0000000000000000", &op, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "0000000000000000"));
        assert_int_equal(ops_cancel(r, "nope", &err), -ENOENT);
        assert_int_equal(ops_wait(r, "nope", 10), -ENOENT);

        /* The RPC handlers every service shares: a malformed id is refused
         * before the lookup, a well-formed unknown one is NOT_FOUND. */
        Banger__V1__GetOperationRequest gr = BANGER__V1__GET_OPERATION_REQUEST__INIT;
        Banger__V1__CancelOperationRequest cr = BANGER__V1__CANCEL_OPERATION_REQUEST__INIT;
        gr.id = cr.id = "nope";
        assert_int_equal(ops_rpc_get(r, &gr, &op, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "16 hex digits"));
        assert_int_equal(ops_rpc_cancel(r, &cr, &op, &err), -EINVAL);
        gr.id = cr.id = "00000000000000AA"; /* upper case is not an id */
        assert_int_equal(ops_rpc_get(r, &gr, &op, &err), -EINVAL);
        gr.id = cr.id = "0000000000000000";
        assert_int_equal(ops_rpc_get(r, &gr, &op, &err), -ENOENT);
        assert_int_equal(ops_rpc_cancel(r, &cr, &op, &err), -ENOENT);
        ops_registry_free(r);
}

static int failing_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        return bg_error_set(err, EBADMSG, "sha256 mismatch for thing");
}

static void test_failure_status(void **state)
{
        struct ops_registry *r = NULL;
        assert_int_equal(ops_registry_new(0, &r, NULL), 0);
        struct ops_start s = {.kind = "test.fail", .target = "x", .fn = failing_work};
        char id[OPS_ID_LEN + 1];
        assert_int_equal(ops_start(r, &s, id, NULL, NULL), 0);
        assert_int_equal(ops_wait(r, id, 5000), 1);
        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        assert_int_equal(ops_fill(r, id, &op, NULL), 0);
        assert_true(op.done);
        assert_int_equal(op.status->code, RPC_INVALID_ARGUMENT);
        assert_string_equal(op.status->message, "sha256 mismatch for thing");
        assert_int_equal(op.result.len, 0);
        ops_operation_clear(&op);
        ops_registry_free(r);
}

/* Loops until cancelled, the way a download checks its flag. */
static int cancellable_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct gate *g = ud;
        pthread_mutex_lock(&g->lock);
        g->entered = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        for (int i = 0; i < 5000; i++) {
                if (ops_ctx_cancelled(ctx))
                        return bg_error_set(err, ECANCELED, "download cancelled");
                sleep_msec(1);
        }
        return 0;
}

static void test_cancel(void **state)
{
        struct ops_registry *r = NULL;
        assert_int_equal(ops_registry_new(0, &r, NULL), 0);
        struct gate g;
        gate_init(&g);
        struct ops_start s = {
            .kind = "test.pull", .target = "c", .fn = cancellable_work, .userdata = &g};
        char id[OPS_ID_LEN + 1];
        assert_int_equal(ops_start(r, &s, id, NULL, NULL), 0);
        gate_wait_entered(&g);
        assert_int_equal(ops_cancel(r, id, NULL), 0);
        assert_int_equal(ops_wait(r, id, 3000), 1);
        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        assert_int_equal(ops_fill(r, id, &op, NULL), 0);
        assert_int_equal(op.status->code, RPC_CANCELLED);
        assert_string_equal(op.status->message, "download cancelled");
        ops_operation_clear(&op);
        /* Cancelling a finished operation is harmless. */
        assert_int_equal(ops_cancel(r, id, NULL), 0);
        ops_registry_free(r);
}

struct dedup_arg {
        struct ops_registry *r;
        struct gate *g;
        char id[OPS_ID_LEN + 1];
        bool reused;
        int rc;
};

static void *start_thread(void *p)
{
        struct dedup_arg *a = p;
        struct ops_start s = {.kind = "test.pull",
                              .target = "same",
                              .dedup = true,
                              .fn = gated_work,
                              .userdata = a->g,
                              .free_userdata = gate_free};
        a->rc = ops_start(a->r, &s, a->id, &a->reused, NULL);
        return NULL;
}

static void test_dedup(void **state)
{
        struct ops_registry *r = NULL;
        assert_int_equal(ops_registry_new(0, &r, NULL), 0);
        struct gate g;
        gate_init(&g);
        enum { N = 8 };
        struct dedup_arg a[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
                a[i] = (struct dedup_arg){.r = r, .g = &g};
                pthread_create(&t[i], NULL, start_thread, &a[i]);
        }
        for (int i = 0; i < N; i++)
                pthread_join(t[i], NULL);
        int fresh = 0;
        for (int i = 0; i < N; i++) {
                assert_int_equal(a[i].rc, 0);
                assert_string_equal(a[i].id, a[0].id);
                fresh += !a[i].reused;
        }
        assert_int_equal(fresh, 1);
        /* Another kind or target is separate work. */
        struct gate g2;
        gate_init(&g2);
        gate_open(&g2);
        struct ops_start other = {.kind = "test.import",
                                  .target = "same",
                                  .dedup = true,
                                  .fn = gated_work,
                                  .userdata = &g2};
        char id2[OPS_ID_LEN + 1];
        bool reused = true;
        assert_int_equal(ops_start(r, &other, id2, &reused, NULL), 0);
        assert_false(reused);
        assert_string_not_equal(id2, a[0].id);
        assert_int_equal(ops_wait(r, id2, 5000), 1);

        gate_open(&g);
        assert_int_equal(ops_wait(r, a[0].id, 5000), 1);
        assert_int_equal(atomic_load(&g.runs), 1);
        /* Every start's userdata was released: the running one's, and the
         * reused starts' at once. */
        assert_int_equal(atomic_load(&g.freed), N);

        /* Once done, the same key starts new work. */
        char id3[OPS_ID_LEN + 1];
        struct gate g3;
        gate_init(&g3);
        gate_open(&g3);
        struct ops_start again = {.kind = "test.pull",
                                  .target = "same",
                                  .dedup = true,
                                  .fn = gated_work,
                                  .userdata = &g3};
        assert_int_equal(ops_start(r, &again, id3, &reused, NULL), 0);
        assert_false(reused);
        assert_string_not_equal(id3, a[0].id);
        assert_int_equal(ops_wait(r, id3, 5000), 1);

        Banger__V1__ListOperationsResponse lr = BANGER__V1__LIST_OPERATIONS_RESPONSE__INIT;
        assert_int_equal(ops_list(r, true, &lr, NULL), 0);
        assert_int_equal(lr.n_operations, 3);
        assert_string_equal(lr.operations[0]->id, a[0].id);
        assert_string_equal(lr.operations[2]->id, id3);
        for (size_t i = 0; i < lr.n_operations; i++) {
                ops_operation_clear(lr.operations[i]);
                free(lr.operations[i]);
        }
        free(lr.operations);
        ops_registry_free(r);
}

static void test_list_running_and_expiry(void **state)
{
        struct ops_registry *r = NULL;
        assert_int_equal(ops_registry_new(150, &r, NULL), 0);
        struct gate g, quick;
        gate_init(&g);
        gate_init(&quick);
        gate_open(&quick);
        char slow_id[OPS_ID_LEN + 1], quick_id[OPS_ID_LEN + 1];
        struct ops_start s1 = {.kind = "k", .target = "slow", .fn = gated_work, .userdata = &g};
        struct ops_start s2 = {
            .kind = "k", .target = "quick", .fn = gated_work, .userdata = &quick};
        assert_int_equal(ops_start(r, &s1, slow_id, NULL, NULL), 0);
        assert_int_equal(ops_start(r, &s2, quick_id, NULL, NULL), 0);
        assert_int_equal(ops_wait(r, quick_id, 5000), 1);

        Banger__V1__ListOperationsResponse lr = BANGER__V1__LIST_OPERATIONS_RESPONSE__INIT;
        assert_int_equal(ops_list(r, false, &lr, NULL), 0);
        assert_int_equal(lr.n_operations, 1);
        assert_string_equal(lr.operations[0]->id, slow_id);
        ops_operation_clear(lr.operations[0]);
        free(lr.operations[0]);
        free(lr.operations);

        /* The finished one disappears after keep_done_ms; the running one
         * never does. */
        sleep_msec(250);
        Banger__V1__Operation op = BANGER__V1__OPERATION__INIT;
        assert_int_equal(ops_fill(r, quick_id, &op, NULL), -ENOENT);
        assert_int_equal(ops_fill(r, slow_id, &op, NULL), 0);
        ops_operation_clear(&op);
        gate_open(&g);
        assert_int_equal(ops_wait(r, slow_id, 5000), 1);
        ops_registry_free(r);
}

static void test_free_cancels_running(void **state)
{
        struct ops_registry *r = NULL;
        assert_int_equal(ops_registry_new(0, &r, NULL), 0);
        struct gate g;
        gate_init(&g);
        struct ops_start s = {.kind = "k", .target = "t", .fn = cancellable_work, .userdata = &g};
        char id[OPS_ID_LEN + 1];
        assert_int_equal(ops_start(r, &s, id, NULL, NULL), 0);
        gate_wait_entered(&g);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        ops_registry_free(r); /* must cancel and wait, not hang for 5 s */
        clock_gettime(CLOCK_MONOTONIC, &b);
        assert_true(b.tv_sec - a.tv_sec < 3);
}

static void test_bad_start(void **state)
{
        struct ops_registry *r = NULL;
        struct bg_error err = {0};
        assert_int_equal(ops_registry_new(0, &r, NULL), 0);
        char id[OPS_ID_LEN + 1];
        struct gate g;
        gate_init(&g);
        struct ops_start s = {
            .kind = "", .fn = gated_work, .userdata = &g, .free_userdata = gate_free};
        assert_int_equal(ops_start(r, &s, id, NULL, &err), -EINVAL);
        assert_int_equal(atomic_load(&g.freed), 1); /* userdata released on failure */
        const char *const too_long[] = {
            "a-stage-name-that-is-far-too-long-to-be-a-stage-name-at-all-really-truly"};
        struct ops_start s2 = {.kind = "k", .stages = too_long, .n_stages = 1, .fn = gated_work};
        assert_int_equal(ops_start(r, &s2, id, NULL, &err), -EINVAL);
        struct ops_start s3 = {.kind = "k"};
        assert_int_equal(ops_start(r, &s3, id, NULL, &err), -EINVAL);
        assert_int_equal(atomic_load(&g.runs), 0);
        ops_registry_free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lifecycle_and_result),
            cmocka_unit_test(test_failure_status),
            cmocka_unit_test(test_cancel),
            cmocka_unit_test(test_dedup),
            cmocka_unit_test(test_list_running_and_expiry),
            cmocka_unit_test(test_free_cancels_running),
            cmocka_unit_test(test_bad_start),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
