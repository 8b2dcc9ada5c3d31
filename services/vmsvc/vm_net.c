#include "vm_net.h"

#include <errno.h>

#include "fault/fault.h"

int vm_net_take(const struct vm_deps *d, const char *name, struct vm_net_info *net, char tap[16],
                bool *leased, const char *fault, struct bg_error *err)
{
        int r = d->lease(d->ud, name, net, err);
        if (r < 0)
                return r;
        *leased = true;
        if (fault)
                fault_point(fault);
        return d->acquire_tap(d->ud, name, tap, err);
}

int vm_net_give_back(const struct vm_deps *d, const char *name, char tap[16], bool lease,
                     bool gone_ok, struct bg_error *err)
{
        int r = 0;
        if (tap[0]) {
                r = d->release_tap(d->ud, tap, err);
                if (r == 0)
                        tap[0] = '\0';
        }
        if (lease) {
                struct bg_error e = {0};
                int rr = d->release_lease(d->ud, name, &e);
                if (rr < 0 && !(gone_ok && rr == -ENOENT) && r == 0) {
                        *err = e;
                        r = rr;
                }
        }
        return r;
}
