/* Interface setup over raw rtnetlink (NETLINK_ROUTE) sockets: bring a link
 * up, add an IPv4 address, add a default route. No libnl, so the agent stays
 * one static binary. Each call opens its own socket and waits for the
 * kernel's ACK; failures are -errno from the kernel's reply. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int agent_link_set_up(int ifindex);
int agent_link_set_updown(int ifindex, bool up);
/* Adds (or replaces) addr/prefix with its broadcast address on ifindex. */
int agent_addr_add(int ifindex, struct in_addr addr, unsigned prefix);
/* Adds (or replaces) the IPv4 default route via gw out of ifindex. */
int agent_route_add_default(int ifindex, struct in_addr gw);

/* Sets the link-layer address of ifindex (virtio-net changes it live). */
int agent_link_set_mac(int ifindex, const uint8_t mac[6]);
/* Removes every IPv4 address of ifindex (and with them their routes). */
int agent_addr_flush_v4(int ifindex);
/* Broadcasts a gratuitous ARP (request, sender = target = addr) from ifindex
 * with source MAC mac, so neighbours forget an older owner of addr. */
int agent_arp_announce(int ifindex, const uint8_t mac[6], struct in_addr addr);

/* Pick the interface to configure from <sys_root>/class/net: the one whose
 * address matches mac (when mac is non-NULL), else the first (by name)
 * non-loopback Ethernet interface. Returns 0 with the name in buf (>= IFNAMSIZ
 * bytes), -ENOENT if none. */
int agent_iface_find(const char *sys_root, const uint8_t *mac, char *buf, size_t size);
