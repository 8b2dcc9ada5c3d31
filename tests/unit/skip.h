/* How a C test says it cannot run here (the C side of tests/skiplib.sh).
 *
 * A skip is only for something this machine lacks, found by a machine check,
 * with a reason-id from tests/skip-allowed.txt; scripts/test.sh fails the run
 * on any other. A tool that scripts/install-deps.sh installs, a fixture, the
 * shared/ data or anything banger does itself is a failure, never a skip.
 * Every skip prints one line
 *
 *     BANGER-SKIP: <reason-id>: <text>
 *
 * and the program exits 77 (ctest's SKIP_RETURN_CODE):
 *   - the whole program, from main before any test ran:
 *         return test_skip_main("not-root", "needs root (%s)", why);
 *   - one cmocka test (the others still run):
 *         test_skip("no-kvm", "/dev/kvm: %m");
 *     and main ends with
 *         return test_status(cmocka_run_group_tests(tests, NULL, NULL));
 *     which is 77 when a test skipped and none failed, so ctest reports the
 *     program as skipped and not as passed. */
#pragma once

#include <stdarg.h>
#include <stdio.h>

#define TEST_SKIP_EXIT 77

/* Tests of this program that called test_skip(). */
static int test_skipped __attribute__((unused));

__attribute__((format(printf, 2, 3), unused)) static void test_skip_note(const char *reason_id,
                                                                         const char *fmt, ...)
{
        va_list ap;
        printf("BANGER-SKIP: %s: ", reason_id);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
}

/* Skips the current cmocka test (cmocka's skip() leaves it through longjmp). */
#define test_skip(reason_id, ...)                                                                  \
        do {                                                                                       \
                test_skip_note(reason_id, __VA_ARGS__);                                            \
                test_skipped++;                                                                    \
                skip();                                                                            \
        } while (0)

/* For main, before any test ran: prints the line; returns the exit code. */
#define test_skip_main(reason_id, ...) (test_skip_note(reason_id, __VA_ARGS__), TEST_SKIP_EXIT)

/* main's exit code from cmocka_run_group_tests()'s count of failed tests. */
__attribute__((unused)) static int test_status(int failed)
{
        if (failed)
                return failed;
        return test_skipped ? TEST_SKIP_EXIT : 0;
}
