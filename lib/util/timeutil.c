#include "timeutil.h"

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

void format_iso8601_ms(uint64_t real_msec, char *buf, size_t len)
{
        time_t secs = (time_t)(real_msec / 1000u);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char base[24];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, len, "%s.%03uZ", base, (unsigned)(real_msec % 1000u));
}
