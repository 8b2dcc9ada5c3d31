#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

uint64_t now_mono_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_mono_msec(void)
{
        return now_mono_usec() / 1000u;
}

uint64_t now_real_msec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct timespec timespec_after_ms(clockid_t clock, uint64_t ms)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        ts.tv_sec += (time_t)(ms / 1000u);
        ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

void sleep_msec(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int sleep_msec_interruptible(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
        return nanosleep(&ts, NULL) < 0 ? -errno : 0;
}

void format_iso8601_ms(uint64_t real_msec, char *buf, size_t len)
{
        time_t secs = (time_t)(real_msec / 1000u);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char base[24];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%03uZ", base, (unsigned)(real_msec % 1000u));
}
