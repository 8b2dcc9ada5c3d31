/* Host networking primitives over rtnetlink (libnl-route-3) and /dev/net/tun:
 * the banger bridge, persistent guest taps, link and route dumps for
 * reconciliation, the host-route overlap check and the default uplink.
 *
 * These run as root inside banger-netsvc. Each one performs a closed set of
 * kernel operations on interfaces whose names are validated first (see
 * ifname.h), and the comment above each definition in netlink.c says why it
 * is safe. Every call opens its own netlink socket, so functions are safe to
 * call from several threads and act in the caller's network namespace. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ipam_addr.h"
#include "util/error.h"

/* Creates bridge `name` if missing (with the MAC derived from `gateway`),
 * makes gateway/prefix its only IPv4 address and sets it up. Idempotent.
 * Refuses (EEXIST) when `name` exists and is not a bridge, and (EINVAL) when
 * gateway is not a host address of its subnet or the subnet is unusable. */
int netlink_bridge_ensure(const char *name, struct in_addr gateway, uint8_t prefix,
                          struct bg_error *err);

/* Deletes bridge `name`; 0 when it does not exist. Refuses non-bridges. */
int netlink_bridge_delete(const char *name, struct bg_error *err);

/* Creates (or takes over, when it already exists as a tap) the persistent tap
 * `name` (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) owned by `owner` and, unless group
 * is (gid_t)-1, group `group`; attaches it to `bridge`, sets its bridge-port
 * isolation flag to `isolated` and sets it up. On failure a tap created by
 * this call is removed again. */
int netlink_tap_create(const char *name, const char *bridge, uid_t owner, gid_t group,
                       bool isolated, struct bg_error *err);

/* Deletes tap `name`; 0 when it does not exist. Refuses non-tun links. */
int netlink_tap_delete(const char *name, struct bg_error *err);

/* Sets the bridge-port "isolated" flag of bg-named port `port` (a port with it
 * set cannot exchange frames with other isolated ports: VM<->VM isolation at
 * layer 2, which the nftables forward hook cannot see without br_netfilter). */
int netlink_port_set_isolated(const char *port, bool isolated, struct bg_error *err);

struct netlink_link {
        int ifindex;
        char name[IFNAMSIZ];
        char kind[32];         /* IFLA_INFO_KIND: "bridge", "tun", "veth", "" for none */
        char master[IFNAMSIZ]; /* "" when not enslaved */
        bool up;               /* IFF_UP */
};

/* All links of the namespace. *ret is malloc'd (caller frees), *ret_n its
 * length. */
int netlink_link_dump(struct netlink_link **ret, size_t *ret_n, struct bg_error *err);

/* Looks for an IPv4 route (any table but `local`, unicast/blackhole/
 * unreachable/prohibit, default routes excluded) whose destination overlaps
 * `subnet`, ignoring routes out of `ignore_ifname` (the banger bridge; may be
 * NULL). Returns 1 and writes the route as text ("10.0.0.0/8 dev eth0") into
 * ret_route when one is found, 0 when none. */
int netlink_route_find_overlap(const struct ipam_net *subnet, const char *ignore_ifname,
                               char *ret_route, size_t route_len, struct bg_error *err);

/* Name of the interface of the IPv4 default route in the main table with the
 * lowest metric. -ENOENT when there is none. */
int netlink_default_uplink(char ret[static IFNAMSIZ], struct bg_error *err);

/* Writes 1 to /proc/sys/net/ipv4/ip_forward (of the caller's namespace). */
int netlink_ip_forward_enable(struct bg_error *err);
