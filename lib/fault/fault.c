#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

/* Process-wide like the log set-up: written once by fault_setup before any
 * thread starts, only read afterwards. */
static char armed[128];

void fault_setup(const char *name, bool system_mode)
{
        const char *v = getenv("BANGER_FAULT");
        armed[0] = '\0';
        if (!v || !v[0])
                return;
        if (system_mode) {
                log_warn("BANGER_FAULT is ignored in system mode");
                return;
        }
        char buf[sizeof(armed)];
        snprintf(buf, sizeof(buf), "%s", v);
        char *colon = strchr(buf, ':');
        if (colon) {
                *colon = '\0';
                if (strcmp(colon + 1, name) != 0)
                        return;
        }
        snprintf(armed, sizeof(armed), "%s", buf);
        log_warn("fault point %s armed (BANGER_FAULT): this process kills itself there", armed);
}

void fault_point(const char *stage)
{
        if (!armed[0] || strcmp(stage, armed) != 0)
                return;
        log_warn("fault point %s: SIGKILL", stage);
        raise(SIGKILL);
}

void fault_point2(const char *prefix, const char *stage)
{
        if (!armed[0])
                return;
        char name[sizeof(armed)];
        snprintf(name, sizeof(name), "%s.%s", prefix, stage);
        fault_point(name);
}
