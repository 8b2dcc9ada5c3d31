/* vmsvc step runner: order, rollback order, error joining. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "steps.h"

struct trace {
        char log[256];
        int fail_at;      /* step index whose run fails, -1 none */
        int undo_fail_at; /* step index whose undo fails, -1 none */
        char stages[128];
};

static void add(struct trace *t, const char *what)
{
        size_t n = strlen(t->log);
        snprintf(t->log + n, sizeof(t->log) - n, "%s%s", n ? " " : "", what);
}

#define STEP_FNS(k)                                                                                \
        static int run##k(void *ctx, struct bg_error *err)                                         \
        {                                                                                          \
                struct trace *t = ctx;                                                             \
                add(t, "run" #k);                                                                  \
                if (t->fail_at == k)                                                               \
                        return bg_error_set(err, EIO, "step %d broke", k);                         \
                return 0;                                                                          \
        }                                                                                          \
        static int undo##k(void *ctx, struct bg_error *err)                                        \
        {                                                                                          \
                struct trace *t = ctx;                                                             \
                add(t, "undo" #k);                                                                 \
                if (t->undo_fail_at == k)                                                          \
                        return bg_error_set(err, EBUSY, "undo %d stuck", k);                       \
                return 0;                                                                          \
        }

STEP_FNS(0)
STEP_FNS(1)
STEP_FNS(2)
static int (*const unused_undo2)(void *, struct bg_error *) __attribute__((unused)) = undo2;
STEP_FNS(3)

static const struct step steps[] = {
    {"reserve", run0, undo0},
    {"network", run1, undo1},
    {"disks", run2, NULL}, /* nothing to undo (undo2 unused on purpose) */

    {"boot", run3, undo3},
};

static atomic_bool cancel_at_disks; /* set when the disks stage begins */

static void progress(void *ctx, const char *stage)
{
        struct trace *t = ctx;
        if (strcmp(stage, "disks") == 0 && t->fail_at == -2)
                atomic_store(&cancel_at_disks, true);
        size_t n = strlen(t->stages);
        snprintf(t->stages + n, sizeof(t->stages) - n, "%s%s", n ? "," : "", stage);
}

static void test_all_succeed(void **state)
{
        struct trace t = {.fail_at = -1, .undo_fail_at = -1};
        struct bg_error err = {0};
        size_t failed;
        assert_int_equal(steps_run(steps, 4, &t, progress, NULL, &failed, &err), 0);
        assert_int_equal(failed, 4);
        assert_string_equal(t.log, "run0 run1 run2 run3");
        assert_string_equal(t.stages, "reserve,network,disks,boot");
}

static void test_rollback_in_reverse(void **state)
{
        struct trace t = {.fail_at = 3, .undo_fail_at = -1};
        struct bg_error err = {0};
        size_t failed;
        assert_int_equal(steps_run(steps, 4, &t, progress, NULL, &failed, &err), -EIO);
        assert_int_equal(failed, 3);
        /* the failed step is not undone; step 2 has no undo */
        assert_string_equal(t.log, "run0 run1 run2 run3 undo1 undo0");
        assert_string_equal(err.msg, "boot: step 3 broke");
        assert_int_equal(err.code, EIO);
}

static void test_first_step_fails(void **state)
{
        struct trace t = {.fail_at = 0, .undo_fail_at = -1};
        struct bg_error err = {0};
        assert_int_equal(steps_run(steps, 4, &t, NULL, NULL, NULL, &err), -EIO);
        assert_string_equal(t.log, "run0");
        assert_string_equal(err.msg, "reserve: step 0 broke");
}

static void test_undo_failures_joined(void **state)
{
        struct trace t = {.fail_at = 3, .undo_fail_at = 1};
        struct bg_error err = {0};
        assert_int_equal(steps_run(steps, 4, &t, NULL, NULL, NULL, &err), -EIO);
        /* rollback continues past a failing undo */
        assert_string_equal(t.log, "run0 run1 run2 run3 undo1 undo0");
        assert_string_equal(err.msg, "boot: step 3 broke; rollback: network: undo 1 stuck");
        assert_int_equal(err.code, EIO); /* the original failure decides the code */
}

/* A cancel seen before a step: that step does not run, the earlier ones are
 * undone, the error says "cancelled". */
static void test_cancel_between_steps(void **state)
{
        struct trace t = {.fail_at = -2, .undo_fail_at = -1};
        struct bg_error err = {0};
        size_t failed;
        atomic_store(&cancel_at_disks, false);
        assert_int_equal(steps_run(steps, 4, &t, progress, &cancel_at_disks, &failed, &err),
                         -ECANCELED);
        assert_int_equal(failed, 2);
        assert_string_equal(t.log, "run0 run1 undo1 undo0");
        assert_string_equal(err.msg, "disks: cancelled");
        assert_int_equal(err.code, ECANCELED);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_all_succeed),
            cmocka_unit_test(test_rollback_in_reverse),
            cmocka_unit_test(test_first_step_fails),
            cmocka_unit_test(test_undo_failures_joined),
            cmocka_unit_test(test_cancel_between_steps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
