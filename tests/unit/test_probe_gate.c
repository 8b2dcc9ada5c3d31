/* vmsvc's probe gate (services/vmsvc/probe_gate.h): one agent probe per VM
 * in flight, another refused at once, naming the VM and the probe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "probe_gate.h"
#include "util/timeutil.h"

static void test_one_per_vm(void **state)
{
        struct probe_gate *g = NULL;
        assert_int_equal(probe_gate_new(&g), 0);
        struct bg_error err = {0};
        assert_int_equal(probe_gate_enter(g, "aaaa", "atk", "ports", &err), 0);
        /* The same VM again: refused at once, not queued. */
        uint64_t t0 = now_mono_msec();
        assert_int_equal(probe_gate_enter(g, "aaaa", "atk", "health", &err), -ECONNABORTED);
        assert_true(now_mono_msec() - t0 < 50);
        assert_int_equal(err.code, ECONNABORTED);
        assert_non_null(strstr(err.msg, "VM atk is busy"));
        assert_non_null(strstr(err.msg, "ports probe"));
        /* Other VMs are not held up. */
        for (int i = 0; i < 20; i++) {
                char id[8];
                snprintf(id, sizeof(id), "b%d", i);
                assert_int_equal(probe_gate_enter(g, id, id, "health", &err), 0);
        }
        for (int i = 0; i < 20; i++) {
                char id[8];
                snprintf(id, sizeof(id), "b%d", i);
                probe_gate_leave(g, id);
        }
        /* Once the first is done, the VM can be probed again. */
        probe_gate_leave(g, "aaaa");
        assert_int_equal(probe_gate_enter(g, "aaaa", "atk", "stats", &err), 0);
        probe_gate_leave(g, "aaaa");
        g = probe_gate_free(g);
        assert_null(g);
        /* No gate (tests of other parts): everything is admitted. */
        assert_int_equal(probe_gate_enter(NULL, "aaaa", "atk", "ports", &err), 0);
        assert_int_equal(probe_gate_enter(NULL, "aaaa", "atk", "ports", &err), 0);
        probe_gate_leave(NULL, "aaaa");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_one_per_vm),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
