/* banger's nftables ruleset, applied through libnftables.
 *
 * netsvc manages exactly one table, `table inet banger`, and never reads or
 * writes any other. The whole table is replaced in one transaction
 * ("add table; delete table; table inet banger { ... }"), so applying is
 * atomic and idempotent, and teardown is "add table; delete table".
 *
 * The table holds three base chains:
 *   postrouting (nat)  masquerade the guest subnet out of the uplink (or out
 *                      of any non-bridge interface when the uplink is unknown)
 *   forward (filter)   drop guest traffic to 169.254.169.254; bridge->uplink
 *                      accepted, established/related back; new connections
 *                      into the bridge dropped; with isolate_vms, bridge->
 *                      bridge dropped (VM<->VM; seen here only with
 *                      br_netfilter, see netlink_port_set_isolated for L2)
 *   input (filter)     guests may reach the host only for DNS (udp/tcp 53 and
 *                      the configured DNS port) and established traffic
 * Every rule carries the comment "banger <fingerprint of the config>", which
 * nft_present() uses to tell whether the live table matches a config. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipam_addr.h"
#include "util/error.h"

#define NFT_BANGER_FAMILY "inet"
#define NFT_BANGER_TABLE "banger"

struct nft_config {
        char bridge[IFNAMSIZ];  /* the banger bridge */
        struct ipam_net subnet; /* the guest subnet */
        char uplink[IFNAMSIZ];  /* "" when unknown */
        uint16_t dns_port;      /* port of the .vm DNS server; 53 is always allowed */
        bool isolate_vms;
};

/* Checks every field (names per ifname.h, usable subnet, port != 0). */
int nft_config_validate(const struct nft_config *cfg, struct bg_error *err);

/* The complete transaction text nft_apply() submits. *ret is malloc'd. */
int nft_ruleset_build(const struct nft_config *cfg, char **ret, struct bg_error *err);

/* Replaces `table inet banger` with the ruleset for cfg, atomically. */
int nft_apply(const struct nft_config *cfg, struct bg_error *err);

/* Removes `table inet banger`; success when it is already absent. */
int nft_teardown(struct bg_error *err);

/* *ret = true when `table inet banger` exists and holds exactly the ruleset
 * for cfg (same chains and hooks, same rule count per chain, every rule
 * stamped with cfg's fingerprint); false when absent or different. */
int nft_present(const struct nft_config *cfg, bool *ret, struct bg_error *err);
