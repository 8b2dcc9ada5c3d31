/* Clock helpers. Monotonic for deadlines, realtime for timestamps. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

uint64_t now_mono_usec(void);
uint64_t now_mono_msec(void);
uint64_t now_real_msec(void);
/* The time ms milliseconds from now on clock (normalised), for deadlines
 * such as pthread_cond_timedwait's (CLOCK_REALTIME unless the condition
 * variable was set to another clock). */
struct timespec timespec_after_ms(clockid_t clock, uint64_t ms);
/* Sleeps ms milliseconds, resuming after signal handlers. */
void sleep_msec(unsigned ms);
/* Sleeps ms milliseconds unless a signal handler runs first: then -EINTR
 * at once (a Ctrl-C handler that sets a flag is seen without delay). */
int sleep_msec_interruptible(unsigned ms);
/* ISO 8601 UTC with milliseconds into buf (>= 32 bytes). */
void format_iso8601_ms(uint64_t real_msec, char *buf, size_t len);
