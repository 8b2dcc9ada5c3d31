#include "vmm/vmm.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"

int vmm_path(char *buf, size_t len, const char *dir, const char *name)
{
        size_t dl = strlen(dir);
        int n = snprintf(buf, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool vmm_id_valid(const char *id)
{
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
                        return false;
        return true;
}

bool vmm_mac_valid(const char *mac)
{
        if (!mac || strlen(mac) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
                        return false;
        return true;
}

static const char *const run_states[_VMM_RUN_MAX] = {
    [VMM_RUN_NOT_STARTED] = "not-started",
    [VMM_RUN_RUNNING] = "running",
    [VMM_RUN_PAUSED] = "paused",
    [VMM_RUN_OTHER] = "other",
};

const char *vmm_run_state_to_string(enum vmm_run_state s)
{
        return (unsigned)s < ELEMENTSOF(run_states) ? run_states[s] : NULL;
}

int vmm_run_state_from_string(const char *s)
{
        for (size_t i = 0; s && i < ELEMENTSOF(run_states); i++)
                if (streq(run_states[i], s))
                        return (int)i;
        return -EINVAL;
}
