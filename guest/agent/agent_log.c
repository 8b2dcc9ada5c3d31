#include "agent_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void agent_log(const char *fmt, ...)
{
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        /* One write per line so concurrent threads do not interleave. */
        fprintf(stderr, "banger-agent: %s\n", line);
        fflush(stderr);
}
