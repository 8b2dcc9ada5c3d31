/* NetService/JailStart and JailClean: Firecracker's jailer for vmsvc. netsvc
 * is the only process with the privileges the jailer needs (mknod of
 * /dev/kvm and /dev/net/tun in the chroot, chown, cgroups, dropping to the
 * owner). It plans with fc_jailer_plan (every path under banger's state
 * directory, ids hex, exec file named firecracker, owner not root), stages
 * the chroot under STATE/jail, and starts the jailer detached (double fork,
 * own session) so it outlives netsvc; the jailer execs Firecracker. */
#pragma once

#include "banger/v1/net.pb-c.h"
#include "netsvc.h"

int netsvc_jail_start(struct netsvc *v, const Banger__V1__NetJailSpec *in,
                      Banger__V1__NetJailStartResponse *out, struct bg_error *err);
int netsvc_jail_clean(struct netsvc *v, const Banger__V1__NetJailCleanRequest *in,
                      struct bg_error *err);
