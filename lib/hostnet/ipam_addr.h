/* IPv4 address arithmetic for banger's guest network: CIDR parsing, subnet
 * containment and overlap, picking the next free guest address, and the guest
 * MAC derived from its IP (52:54:00 + the low three bytes of the address).
 *
 * Pure functions; no system calls. Addresses are in network byte order inside
 * struct in_addr, as everywhere in the socket API. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Smallest and largest prefix banger accepts for its guest subnet: /8 keeps
 * the 3-byte MAC derivation injective, /30 leaves room for gateway + 1 guest. */
#define IPAM_PREFIX_MIN 8
#define IPAM_PREFIX_MAX 30

#define IPAM_CIDR_STRLEN sizeof("255.255.255.255/32")
#define IPAM_MAC_STRLEN sizeof("52:54:00:aa:bb:cc")

struct ipam_net {
        struct in_addr network; /* host bits zero */
        uint8_t prefix;         /* 0..32 */
};

/* Parses "a.b.c.d/len". ret_addr gets the address as written (e.g. the
 * gateway 172.30.0.1), ret_net the masked network (172.30.0.0/24). Either may
 * be NULL. Strict: four decimal octets, no leading '+', prefix 0..32. */
int ipam_cidr_parse(const char *s, struct in_addr *ret_addr, struct ipam_net *ret_net,
                    struct bg_error *err);

/* Parses a dotted-quad IPv4 address (inet_pton rules). */
int ipam_addr_parse(const char *s, struct in_addr *ret, struct bg_error *err);

/* Checks a subnet usable as banger's guest network: prefix within
 * IPAM_PREFIX_MIN..MAX and no host bits set. */
int ipam_net_validate(const struct ipam_net *net, struct bg_error *err);

uint32_t ipam_net_mask(uint8_t prefix); /* host byte order, e.g. 0xffffff00 */
bool ipam_net_contains(const struct ipam_net *net, struct in_addr a);
bool ipam_net_overlaps(const struct ipam_net *a, const struct ipam_net *b);

/* True when a is a usable host address of net: inside it, and neither the
 * network nor the broadcast address. */
bool ipam_net_is_host(const struct ipam_net *net, struct in_addr a);

/* Refuses (EINVAL, message naming both) an address outside net's hosts. */
int ipam_check_host(const struct ipam_net *net, struct in_addr a, struct bg_error *err);

/* Lowest usable host address of net that is not the gateway and not in
 * used[0..n_used). -ENOSPC when the subnet is full. used may be unsorted and
 * may contain addresses outside net (they are ignored). */
int ipam_next_free(const struct ipam_net *net, struct in_addr gateway, const struct in_addr *used,
                   size_t n_used, struct in_addr *ret, struct bg_error *err);

/* The guest MAC for an address: 52:54:00:xx:yy:zz from its low three bytes
 * (locally administered, unicast). */
void ipam_mac_from_ip(struct in_addr a, uint8_t ret[6]);
/* Same, formatted lowercase "52:54:00:1e:00:02" into buf (IPAM_MAC_STRLEN). */
char *ipam_mac_format(const uint8_t mac[6], char buf[static IPAM_MAC_STRLEN]);

/* "172.30.0.0/24" into buf (IPAM_CIDR_STRLEN). Returns buf. */
char *ipam_net_format(const struct ipam_net *net, char buf[static IPAM_CIDR_STRLEN]);
