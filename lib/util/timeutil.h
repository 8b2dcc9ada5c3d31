/* Clock helpers. Monotonic for deadlines, realtime for timestamps. */
#pragma once

#include <stddef.h>
#include <stdint.h>

uint64_t now_mono_usec(void);
uint64_t now_mono_msec(void);
uint64_t now_real_msec(void);
/* ISO 8601 UTC with milliseconds into buf (>= 32 bytes). */
void format_iso8601_ms(uint64_t real_msec, char *buf, size_t len);
