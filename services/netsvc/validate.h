/* Argument checks shared by every NetService method. netsvc runs as root, so
 * nothing a caller sends reaches the kernel, nftables, the database or a log
 * line before it passed one of these. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>

#include "hostnet/ipam_addr.h"
#include "util/error.h"

#define NETSVC_VM_NAME_MAX 63

/* A VM name is one DNS label: 1..63 of [a-z0-9-], not starting or ending with
 * '-' (it becomes `<name>.vm`). */
bool netsvc_vm_name_is_valid(const char *name);
/* EINVAL with a message naming the refused value (truncated, non-printable
 * bytes escaped) when name is not a valid VM name. */
int netsvc_validate_vm_name(const char *name, struct bg_error *err);

/* Parses s and checks it is an address a guest may hold: a host address of
 * net (not network/broadcast) other than the gateway. */
int netsvc_validate_guest_ip(const struct ipam_net *net, struct in_addr gateway, const char *s,
                             struct in_addr *ret, struct bg_error *err);
