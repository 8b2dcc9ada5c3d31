#include "ipam_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t ipam_net_mask(uint8_t prefix)
{
        if (prefix == 0)
                return 0;
        if (prefix >= 32)
                return 0xffffffffu;
        return ~((1u << (32 - prefix)) - 1u);
}

int ipam_addr_parse(const char *s, struct in_addr *ret, struct bg_error *err)
{
        struct in_addr a;
        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return bg_error_set(err, EINVAL, "'%s' is not an IPv4 address", s ? s : "(null)");
        if (ret)
                *ret = a;
        return 0;
}

int ipam_cidr_parse(const char *s, struct in_addr *ret_addr, struct ipam_net *ret_net,
                    struct bg_error *err)
{
        if (!s)
                return bg_error_set(err, EINVAL, "missing CIDR");
        const char *slash = strchr(s, '/');
        if (!slash || slash == s || (size_t)(slash - s) >= INET_ADDRSTRLEN)
                return bg_error_set(err, EINVAL, "'%s' is not a CIDR (want a.b.c.d/len)", s);
        char host[INET_ADDRSTRLEN];
        memcpy(host, s, (size_t)(slash - s));
        host[slash - s] = '\0';
        struct in_addr a;
        if (inet_pton(AF_INET, host, &a) != 1)
                return bg_error_set(err, EINVAL, "'%s': '%s' is not an IPv4 address", s, host);
        const char *p = slash + 1;
        /* One or two decimal digits, nothing else (strtoul would accept " +1"). */
        size_t nd = strspn(p, "0123456789");
        if (nd == 0 || nd > 2 || p[nd] != '\0')
                return bg_error_set(err, EINVAL, "'%s': bad prefix length", s);
        unsigned long len = strtoul(p, NULL, 10);
        if (len > 32)
                return bg_error_set(err, EINVAL, "'%s': prefix length %lu is over 32", s, len);
        if (ret_addr)
                *ret_addr = a;
        if (ret_net) {
                ret_net->prefix = (uint8_t)len;
                ret_net->network.s_addr = htonl(ntohl(a.s_addr) & ipam_net_mask((uint8_t)len));
        }
        return 0;
}

int ipam_net_validate(const struct ipam_net *net, struct bg_error *err)
{
        char buf[IPAM_CIDR_STRLEN];
        if (net->prefix < IPAM_PREFIX_MIN || net->prefix > IPAM_PREFIX_MAX)
                return bg_error_set(err, EINVAL, "subnet %s: prefix must be /%d to /%d",
                                    ipam_net_format(net, buf), IPAM_PREFIX_MIN, IPAM_PREFIX_MAX);
        if (ntohl(net->network.s_addr) & ~ipam_net_mask(net->prefix))
                return bg_error_set(err, EINVAL, "subnet %s has host bits set",
                                    ipam_net_format(net, buf));
        return 0;
}

bool ipam_net_contains(const struct ipam_net *net, struct in_addr a)
{
        uint32_t m = ipam_net_mask(net->prefix);
        return (ntohl(a.s_addr) & m) == (ntohl(net->network.s_addr) & m);
}

bool ipam_net_overlaps(const struct ipam_net *a, const struct ipam_net *b)
{
        /* Two prefixes overlap iff they agree on the shorter prefix's bits. */
        uint32_t m = ipam_net_mask(a->prefix < b->prefix ? a->prefix : b->prefix);
        return (ntohl(a->network.s_addr) & m) == (ntohl(b->network.s_addr) & m);
}

bool ipam_net_is_host(const struct ipam_net *net, struct in_addr a)
{
        if (!ipam_net_contains(net, a))
                return false;
        if (net->prefix >= 31)
                return true; /* RFC 3021: no network/broadcast in /31, /32 */
        uint32_t m = ipam_net_mask(net->prefix);
        uint32_t h = ntohl(a.s_addr) & ~m;
        return h != 0 && h != ~m;
}

int ipam_check_host(const struct ipam_net *net, struct in_addr a, struct bg_error *err)
{
        if (ipam_net_is_host(net, a))
                return 0;
        char abuf[INET_ADDRSTRLEN], nbuf[IPAM_CIDR_STRLEN];
        inet_ntop(AF_INET, &a, abuf, sizeof(abuf));
        return bg_error_set(err, EINVAL, "address %s is not a host address of subnet %s", abuf,
                            ipam_net_format(net, nbuf));
}

static int cmp_u32(const void *x, const void *y)
{
        uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
        return a < b ? -1 : a > b;
}

int ipam_next_free(const struct ipam_net *net, struct in_addr gateway, const struct in_addr *used,
                   size_t n_used, struct in_addr *ret, struct bg_error *err)
{
        char nbuf[IPAM_CIDR_STRLEN];
        if (net->prefix > 30)
                return bg_error_set(err, EINVAL, "subnet %s is too small for guests",
                                    ipam_net_format(net, nbuf));
        _cleanup_free_ uint32_t *sorted = NULL;
        if (n_used > 0) {
                sorted = malloc(n_used * sizeof(uint32_t));
                if (!sorted)
                        return bg_error_set(err, ENOMEM, "out of memory");
                for (size_t i = 0; i < n_used; i++)
                        sorted[i] = ntohl(used[i].s_addr);
                qsort(sorted, n_used, sizeof(uint32_t), cmp_u32);
        }
        uint32_t m = ipam_net_mask(net->prefix);
        uint32_t first = (ntohl(net->network.s_addr) & m) + 1;
        uint32_t last = (ntohl(net->network.s_addr) | ~m) - 1;
        uint32_t gw = ntohl(gateway.s_addr);
        for (uint32_t h = first; h <= last; h++) {
                if (h == gw)
                        continue;
                if (sorted && bsearch(&h, sorted, n_used, sizeof(uint32_t), cmp_u32))
                        continue;
                if (ret)
                        ret->s_addr = htonl(h);
                return 0;
        }
        return bg_error_set(err, ENOSPC, "subnet %s has no free address left",
                            ipam_net_format(net, nbuf));
}

void ipam_mac_from_ip(struct in_addr a, uint8_t ret[6])
{
        const uint8_t *b = (const uint8_t *)&a.s_addr; /* network order: b[0] is the first octet */
        ret[0] = 0x52;
        ret[1] = 0x54;
        ret[2] = 0x00;
        ret[3] = b[1];
        ret[4] = b[2];
        ret[5] = b[3];
}

char *ipam_mac_format(const uint8_t mac[6], char buf[static IPAM_MAC_STRLEN])
{
        snprintf(buf, IPAM_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                 mac[3], mac[4], mac[5]);
        return buf;
}

char *ipam_net_format(const struct ipam_net *net, char buf[static IPAM_CIDR_STRLEN])
{
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &net->network, a, sizeof(a));
        snprintf(buf, IPAM_CIDR_STRLEN, "%s/%u", a, (unsigned)net->prefix);
        return buf;
}
