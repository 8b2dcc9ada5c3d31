/* lib/util/timeutil: sleep_msec sleeps its whole time even when a signal
 * handler runs meanwhile; sleep_msec_interruptible returns at the signal. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>

#include "util/timeutil.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
        alarms++;
}

/* SIGALRM (with a handler, no SA_RESTART) after ms milliseconds. */
static void alarm_in(unsigned ms)
{
        struct sigaction sa = {.sa_handler = on_alarm};
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = (long)ms * 1000}};
        setitimer(ITIMER_REAL, &it, NULL);
}

static void test_sleep_ms_survives_signals(void **state)
{
        alarms = 0;
        alarm_in(50);
        uint64_t t0 = now_mono_msec();
        sleep_msec(300);
        uint64_t took = now_mono_msec() - t0;
        assert_int_equal(alarms, 1);
        assert_true(took >= 300);
        assert_true(took < 3000);
}

static void test_sleep_ms_interruptible(void **state)
{
        alarms = 0;
        alarm_in(50);
        uint64_t t0 = now_mono_msec();
        assert_int_equal(sleep_msec_interruptible(5000), -EINTR);
        uint64_t took = now_mono_msec() - t0;
        assert_int_equal(alarms, 1);
        assert_true(took < 2500);
        assert_int_equal(sleep_msec_interruptible(20), 0);
}

static void test_timespec_after_ms(void **state)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec t = timespec_after_ms(CLOCK_MONOTONIC, 2999);
        assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L); /* normalised */
        int64_t diff_ms =
            (int64_t)(t.tv_sec - now.tv_sec) * 1000 + (t.tv_nsec - now.tv_nsec) / 1000000;
        assert_true(diff_ms >= 2999 && diff_ms < 3100);
        t = timespec_after_ms(CLOCK_REALTIME, 0);
        assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sleep_ms_survives_signals),
            cmocka_unit_test(test_sleep_ms_interruptible),
            cmocka_unit_test(test_timespec_after_ms),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
