/* NetService/JailStart and JailClean: Firecracker's jailer for vmsvc. netsvc
 * is the only process with the privileges the jailer needs (mknod of
 * /dev/kvm and /dev/net/tun in the chroot, chown, cgroups, dropping to the
 * owner). It plans with fc_jailer_plan (every path under banger's state
 * directory, ids hex, exec file named firecracker, owner not root), stages
 * the chroot under STATE/jail, and starts the jailer detached (double fork,
 * own session) so it outlives netsvc; the jailer execs Firecracker. */
#pragma once

#include <sys/types.h>

#include "banger/v1/net.pb-c.h"
#include "daemon/daemon.h"
#include "util/error.h"

/* d: netsvc's daemon (its state directory holds the jails; its config names
 * the trusted jailer and firecracker binaries); owner_uid: who Firecracker
 * runs as. */
int netsvc_jail_start(const struct daemon *d, uid_t owner_uid, const Banger__V1__NetJailSpec *in,
                      Banger__V1__NetJailStartResponse *out, struct bg_error *err);
/* Whether netsvc_jail_start could run the jailer at all (not for a given
 * VM): its capabilities, netsvc's jailer and Firecracker trusted, an owner
 * that is not root. false with why filled otherwise. Read-only. */
bool netsvc_jail_usable(const struct daemon *d, uid_t owner_uid, char *why, size_t len);
int netsvc_jail_clean(const struct daemon *d, uid_t owner_uid,
                      const Banger__V1__NetJailCleanRequest *in, struct bg_error *err);
