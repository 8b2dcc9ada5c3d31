/* netsvc's own capabilities: what the root service may do here (its systemd
 * unit keeps only some). */
#pragma once

#include "util/error.h"

/* 1 when this process has capability cap (CAP_NET_ADMIN, …) in its
 * effective set, 0 when not, -errno when it cannot tell. */
int netsvc_cap_effective(int cap, struct bg_error *err);
