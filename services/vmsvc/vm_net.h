/* A VM's address and tap, taken from and given back to netsvc through
 * struct vm_deps: the network step (and its undo) of a boot (vm_lifecycle.c),
 * a clone (vm_clone.c) and a template build (template.c). */
#pragma once

#include <stdbool.h>

#include "util/error.h"
#include "vm_env.h"

/* Leases an address for name (into *net), then takes a tap for it (into
 * tap). *leased is set as soon as the lease is held, so the undo knows to
 * give it back. fault (NULL: none) is a fault point between the two. */
int vm_net_take(const struct vm_deps *d, const char *name, struct vm_net_info *net, char tap[16],
                bool *leased, const char *fault, struct bg_error *err);

/* Gives back the tap (tap is emptied once it is back) and, when lease is
 * true, name's lease; a lease netsvc no longer has counts as given back
 * when gone_ok. Both are tried; the first failure is returned in err. */
int vm_net_give_back(const struct vm_deps *d, const char *name, char tap[16], bool lease,
                     bool gone_ok, struct bg_error *err);
