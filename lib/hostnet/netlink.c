#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "ifname.h"
#include "syserr.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free);

/* libnl reports NLE_* codes; map the ones we meet to errno values. */
static int nle_to_errno(int nle)
{
        switch (nle < 0 ? -nle : nle) {
        case NLE_INTR:
                return EINTR;
        case NLE_AGAIN:
                return EAGAIN;
        case NLE_NOMEM:
                return ENOMEM;
        case NLE_EXIST:
                return EEXIST;
        case NLE_INVAL:
                return EINVAL;
        case NLE_RANGE:
                return ERANGE;
        case NLE_MSGSIZE:
                return EMSGSIZE;
        case NLE_OPNOTSUPP:
                return EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
                return EAFNOSUPPORT;
        case NLE_OBJ_NOTFOUND:
                return ENOENT;
        case NLE_NOADDR:
                return EADDRNOTAVAIL;
        case NLE_BUSY:
                return EBUSY;
        case NLE_NOACCESS:
                return EACCES;
        case NLE_PERM:
                return EPERM;
        case NLE_NODEV:
                return ENODEV;
        default:
                return EIO;
        }
}

static int nl_fail(struct bg_error *err, int nle, const char *fmt, ...) _printf_(3, 4);
static int nl_fail(struct bg_error *err, int nle, const char *fmt, ...)
{
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return bg_error_set(err, nle_to_errno(nle), "%s: %s", what, nl_geterror(nle));
}

static int nl_open(struct nl_sock **ret, struct bg_error *err)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        if (!sk)
                return bg_error_set(err, ENOMEM, "allocate netlink socket: out of memory");
        int r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_fail(err, r, "connect rtnetlink socket");
        *ret = TAKE_PTR(sk);
        return 0;
}

static bool nle_is_notfound(int r)
{
        return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV;
}

/* Looks up a link by name: 1 and *ret when found, 0 when absent. */
static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret,
                    struct bg_error *err)
{
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &link);
        if (nle_is_notfound(r))
                return 0;
        if (r < 0)
                return nl_fail(err, r, "look up link '%s'", name);
        *ret = link;
        return 1;
}

/* Opens a route socket into *ret_sk (the caller frees it, also on failure)
 * and looks up the link name: link_get's answer. */
static int nl_open_link(struct nl_sock **ret_sk, const char *name, struct rtnl_link **ret,
                        struct bg_error *err)
{
        int r = nl_open(ret_sk, err);
        return r < 0 ? r : link_get(*ret_sk, name, ret, err);
}

static const char *link_kind(struct rtnl_link *link)
{
        const char *k = rtnl_link_get_type(link);
        return k ? k : "";
}

/* Sets the link up and, when master_ifindex > 0, enslaves it. */
static int link_set_up(struct nl_sock *sk, struct rtnl_link *link, int master_ifindex,
                       struct bg_error *err)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
        if (!change)
                return bg_error_set(err, ENOMEM, "out of memory");
        rtnl_link_set_flags(change, IFF_UP);
        if (master_ifindex > 0)
                rtnl_link_set_master(change, master_ifindex);
        int r = rtnl_link_change(sk, link, change, 0);
        if (r < 0)
                return nl_fail(err, r, "set link '%s' up", rtnl_link_get_name(link));
        return 0;
}

/* Safe as root: validates the bridge name (config, Linux name rules) and the
 * gateway/prefix (usable banger subnet, host address inside it), then only
 * creates a link of kind "bridge" under that name (never converts or touches
 * an existing non-bridge link), edits IPv4 addresses on that bridge only and
 * sets it up. */
int netlink_bridge_ensure(const char *name, struct in_addr gateway, uint8_t prefix,
                          struct bg_error *err)
{
        int r = ifname_validate(name, "bridge", err);
        if (r < 0)
                return r;
        struct ipam_net net = {.prefix = prefix};
        net.network.s_addr = htonl(ntohl(gateway.s_addr) & ipam_net_mask(prefix));
        r = ipam_net_validate(&net, err);
        if (r < 0)
                return r;
        r = ipam_check_host(&net, gateway, err);
        if (r < 0)
                return r;

        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        r = nl_open_link(&sk, name, &link, err);
        if (r < 0)
                return r;
        if (r == 0) {
                _cleanup_(rtnl_link_putp) struct rtnl_link *nl = rtnl_link_alloc();
                uint8_t mac[6];
                ipam_mac_from_ip(gateway, mac);
                _cleanup_(nl_addr_putp) struct nl_addr *lladdr = nl_addr_build(AF_LLC, mac, 6);
                if (!nl || !lladdr)
                        return bg_error_set(err, ENOMEM, "out of memory");
                rtnl_link_set_name(nl, name);
                r = rtnl_link_set_type(nl, "bridge");
                if (r < 0)
                        return nl_fail(err, r, "bridge '%s'", name);
                rtnl_link_set_addr(nl, lladdr);
                r = rtnl_link_add(sk, nl, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0 && r != -NLE_EXIST)
                        return nl_fail(err, r, "create bridge '%s'", name);
                r = link_get(sk, name, &link, err);
                if (r < 0)
                        return r;
                if (r == 0)
                        return bg_error_set(err, ENODEV, "bridge '%s' vanished after creation",
                                            name);
        }
        if (!streq(link_kind(link), "bridge"))
                return bg_error_set(err, EEXIST, "link '%s' exists and is not a bridge (kind '%s')",
                                    name, link_kind(link));
        int ifindex = rtnl_link_get_ifindex(link);

        /* Make gateway/prefix the only IPv4 address of the bridge. */
        _cleanup_(nl_cache_freep) struct nl_cache *addrs = NULL;
        r = rtnl_addr_alloc_cache(sk, &addrs);
        if (r < 0)
                return nl_fail(err, r, "dump addresses");
        bool have = false;
        for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *)o;
                if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET)
                        continue;
                struct nl_addr *local = rtnl_addr_get_local(a);
                if (local && nl_addr_get_len(local) == 4 &&
                    memcmp(nl_addr_get_binary_addr(local), &gateway, 4) == 0 &&
                    rtnl_addr_get_prefixlen(a) == prefix) {
                        have = true;
                        continue;
                }
                r = rtnl_addr_delete(sk, a, 0);
                if (r < 0 && r != -NLE_NOADDR && !nle_is_notfound(r))
                        return nl_fail(err, r, "remove stale address from bridge '%s'", name);
        }
        if (!have) {
                _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
                _cleanup_(nl_addr_putp) struct nl_addr *local = nl_addr_build(AF_INET, &gateway, 4);
                if (!a || !local)
                        return bg_error_set(err, ENOMEM, "out of memory");
                nl_addr_set_prefixlen(local, prefix);
                rtnl_addr_set_ifindex(a, ifindex);
                rtnl_addr_set_family(a, AF_INET);
                r = rtnl_addr_set_local(a, local);
                if (r < 0)
                        return nl_fail(err, r, "bridge address");
                rtnl_addr_set_prefixlen(a, prefix);
                r = rtnl_addr_add(sk, a, 0);
                if (r < 0 && r != -NLE_EXIST) {
                        char buf[INET_ADDRSTRLEN];
                        return nl_fail(err, r, "add %s/%u to bridge '%s'",
                                       inet_ntop(AF_INET, &gateway, buf, sizeof(buf)),
                                       (unsigned)prefix, name);
                }
        }
        return link_set_up(sk, link, 0, err);
}

/* Safe as root: validated name, and only a link of kind "bridge" is deleted;
 * a missing bridge is success (idempotent teardown). */
/* Deletes the link name (already validated by the caller) only when it is
 * of kind (what names it in messages); a missing one is success. */
static int link_delete_of_kind(const char *name, const char *kind, const char *what,
                               struct bg_error *err)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        int r = nl_open_link(&sk, name, &link, err);
        if (r <= 0)
                return r;
        if (!streq(link_kind(link), kind))
                return bg_error_set(err, EPERM, "refusing to delete '%s': not a %s (kind '%s')",
                                    name, what, link_kind(link));
        r = rtnl_link_delete(sk, link);
        if (r < 0 && !nle_is_notfound(r))
                return nl_fail(err, r, "delete %s '%s'", what, name);
        return 0;
}

int netlink_bridge_delete(const char *name, struct bg_error *err)
{
        int r = ifname_validate(name, "bridge", err);
        return r < 0 ? r : link_delete_of_kind(name, "bridge", "bridge", err);
}

/* Safe as root: port must carry a banger tap name (bg...) and the only change
 * is one bridge-port flag of that port. */
int netlink_port_set_isolated(const char *port, bool isolated, struct bg_error *err)
{
        int r = ifname_validate_tap(port, err);
        if (r < 0)
                return r;
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        r = nl_open_link(&sk, port, &link, err);
        if (r < 0)
                return r;
        if (r == 0)
                return bg_error_set(err, ENODEV, "bridge port '%s' does not exist", port);
        if (rtnl_link_get_master(link) <= 0)
                return bg_error_set(err, EINVAL, "'%s' is not attached to a bridge", port);

        _cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_ACK);
        if (!msg)
                return bg_error_set(err, ENOMEM, "out of memory");
        struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = rtnl_link_get_ifindex(link)};
        if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
                return bg_error_set(err, EMSGSIZE, "build netlink message");
        struct nlattr *nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
        if (!nest || nla_put_u8(msg, IFLA_BRPORT_ISOLATED, isolated ? 1 : 0) < 0)
                return bg_error_set(err, EMSGSIZE, "build netlink message");
        nla_nest_end(msg, nest);
        r = nl_send_auto(sk, msg);
        if (r >= 0)
                r = nl_wait_for_ack(sk);
        if (r < 0)
                return nl_fail(err, r, "set isolation of bridge port '%s'", port);
        return 0;
}

static int tun_ioctl(int fd, unsigned long req, unsigned long arg, const char *what,
                     const char *name, struct bg_error *err)
{
        if (ioctl(fd, req, arg) < 0)
                return syserr(err, -errno, "tap '%s': %s", name, what);
        return 0;
}

/* Safe as root: the tap name must match ^bg[a-z0-9-]{1,13}$ and the bridge a
 * valid name of an existing link of kind "bridge"; the operations are
 * TUNSETIFF (which refuses to take over any non-tap link), TUNSETOWNER/GROUP
 * to the given ids, TUNSETPERSIST, enslaving the tap to that bridge and
 * setting it up. No fd to the tap is kept or handed out here. */
int netlink_tap_create(const char *name, const char *bridge, uid_t owner, gid_t group,
                       bool isolated, struct bg_error *err)
{
        int r = ifname_validate_tap(name, err);
        if (r < 0)
                return r;
        r = ifname_validate(bridge, "bridge", err);
        if (r < 0)
                return r;
        if (owner == (uid_t)-1)
                return bg_error_set(err, EINVAL, "tap '%s': invalid owner uid", name);

        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *br = NULL;
        r = nl_open_link(&sk, bridge, &br, err);
        if (r < 0)
                return r;
        if (r == 0 || !streq(link_kind(br), "bridge"))
                return bg_error_set(err, ENODEV, "bridge '%s' does not exist", bridge);

        bool existed = if_nametoindex(name) > 0;
        {
                _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return syserr(err, -errno, "open /dev/net/tun");
                struct ifreq ifr = {0};
                ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
                memcpy(ifr.ifr_name, name, strlen(name) + 1);
                if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                        r = -errno;
                        if (r == -EINVAL && existed)
                                return bg_error_set(err, EEXIST,
                                                    "link '%s' exists and is not a tap", name);
                        return syserr(err, r, "tap '%s': TUNSETIFF", name);
                }
                r = tun_ioctl(fd, TUNSETOWNER, (unsigned long)owner, "set owner", name, err);
                if (r >= 0 && group != (gid_t)-1)
                        r = tun_ioctl(fd, TUNSETGROUP, (unsigned long)group, "set group", name,
                                      err);
                if (r >= 0)
                        r = tun_ioctl(fd, TUNSETPERSIST, 1, "make persistent", name, err);
                if (r < 0)
                        return r; /* not persistent yet: closing fd removes a new tap */
        }

        _cleanup_(rtnl_link_putp) struct rtnl_link *tap = NULL;
        r = link_get(sk, name, &tap, err);
        if (r == 0)
                r = bg_error_set(err, ENODEV, "tap '%s' vanished after creation", name);
        if (r > 0)
                r = link_set_up(sk, tap, rtnl_link_get_ifindex(br), err);
        if (r >= 0)
                r = netlink_port_set_isolated(name, isolated, err);
        if (r < 0 && !existed && tap)
                (void)rtnl_link_delete(sk, tap);
        return r < 0 ? r : 0;
}

/* Safe as root: the name must match ^bg[a-z0-9-]{1,13}$ and only a link of
 * kind "tun" is deleted; a missing tap is success (idempotent). */
int netlink_tap_delete(const char *name, struct bg_error *err)
{
        int r = ifname_validate_tap(name, err);
        return r < 0 ? r : link_delete_of_kind(name, "tun", "tap", err);
}

/* Safe as root: read-only dump. */
int netlink_link_dump(struct netlink_link **ret, size_t *ret_n, struct bg_error *err)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        int r = nl_open(&sk, err);
        if (r < 0)
                return r;
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
        if (r < 0)
                return nl_fail(err, r, "dump links");
        size_t n = (size_t)nl_cache_nitems(cache);
        _cleanup_free_ struct netlink_link *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return bg_error_set(err, ENOMEM, "out of memory");
        size_t i = 0;
        for (struct nl_object *o = nl_cache_get_first(cache); o && i < n;
             o = nl_cache_get_next(o), i++) {
                struct rtnl_link *l = (struct rtnl_link *)o;
                v[i].ifindex = rtnl_link_get_ifindex(l);
                snprintf(v[i].name, sizeof(v[i].name), "%s", rtnl_link_get_name(l));
                snprintf(v[i].kind, sizeof(v[i].kind), "%s", link_kind(l));
                int m = rtnl_link_get_master(l);
                if (m > 0 && !rtnl_link_i2name(cache, m, v[i].master, sizeof(v[i].master)))
                        v[i].master[0] = '\0';
                v[i].up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
        }
        *ret = TAKE_PTR(v);
        *ret_n = i;
        return 0;
}

static const char *route_type_prefix(uint8_t type)
{
        switch (type) {
        case RTN_BLACKHOLE:
                return "blackhole ";
        case RTN_UNREACHABLE:
                return "unreachable ";
        case RTN_PROHIBIT:
                return "prohibit ";
        default:
                return "";
        }
}

/* First nexthop's ifindex and gateway of a route (0 / NULL when none). */
static int route_nexthop(struct rtnl_route *rt, struct nl_addr **ret_gw)
{
        *ret_gw = NULL;
        if (rtnl_route_get_nnexthops(rt) < 1)
                return 0;
        struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
        if (!nh)
                return 0;
        *ret_gw = rtnl_route_nh_get_gateway(nh);
        return rtnl_route_nh_get_ifindex(nh);
}

/* Safe as root: read-only dumps of links and routes. */
int netlink_route_find_overlap(const struct ipam_net *subnet, const char *ignore_ifname,
                               char *ret_route, size_t route_len, struct bg_error *err)
{
        if (ignore_ifname) {
                int r = ifname_validate(ignore_ifname, "bridge", err);
                if (r < 0)
                        return r;
        }
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        int r = nl_open(&sk, err);
        if (r < 0)
                return r;
        _cleanup_(nl_cache_freep) struct nl_cache *links = NULL;
        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
        if (r < 0)
                return nl_fail(err, r, "dump links");
        int ignore = ignore_ifname ? rtnl_link_name2i(links, ignore_ifname) : 0;
        _cleanup_(nl_cache_freep) struct nl_cache *routes = NULL;
        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes);
        if (r < 0)
                return nl_fail(err, r, "dump routes");

        for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *rt = (struct rtnl_route *)o;
                if (rtnl_route_get_family(rt) != AF_INET ||
                    rtnl_route_get_table(rt) == RT_TABLE_LOCAL)
                        continue;
                uint8_t type = rtnl_route_get_type(rt);
                if (type != RTN_UNICAST && type != RTN_BLACKHOLE && type != RTN_UNREACHABLE &&
                    type != RTN_PROHIBIT)
                        continue;
                struct nl_addr *dst = rtnl_route_get_dst(rt);
                if (!dst)
                        continue;
                unsigned plen = nl_addr_get_prefixlen(dst);
                if (plen == 0 || plen > 32)
                        continue; /* default routes overlap everything by design */
                struct ipam_net rn = {.prefix = (uint8_t)plen};
                if (nl_addr_get_len(dst) == 4)
                        memcpy(&rn.network, nl_addr_get_binary_addr(dst), 4);
                else
                        continue;
                struct nl_addr *gw;
                int oif = route_nexthop(rt, &gw);
                if (ignore > 0 && oif == ignore)
                        continue;
                if (!ipam_net_overlaps(subnet, &rn))
                        continue;
                if (ret_route && route_len > 0) {
                        char nbuf[IPAM_CIDR_STRLEN], dev[IFNAMSIZ] = "", gbuf[64] = "",
                                                     tbuf[32] = "";
                        rn.network.s_addr &= htonl(ipam_net_mask(rn.prefix));
                        if (oif > 0 && !rtnl_link_i2name(links, oif, dev, sizeof(dev)))
                                snprintf(dev, sizeof(dev), "if%d", oif);
                        if (gw && nl_addr_get_len(gw) == 4)
                                inet_ntop(AF_INET, nl_addr_get_binary_addr(gw), gbuf, sizeof(gbuf));
                        uint32_t table = rtnl_route_get_table(rt);
                        if (table != RT_TABLE_MAIN)
                                snprintf(tbuf, sizeof(tbuf), " table %u", table);
                        snprintf(ret_route, route_len, "%s%s%s%s%s%s%s", route_type_prefix(type),
                                 ipam_net_format(&rn, nbuf), gbuf[0] ? " via " : "", gbuf,
                                 dev[0] ? " dev " : "", dev, tbuf);
                }
                return 1;
        }
        return 0;
}

/* Safe as root: read-only dumps of links and routes. */
int netlink_default_uplink(char ret[static IFNAMSIZ], struct bg_error *err)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        int r = nl_open(&sk, err);
        if (r < 0)
                return r;
        _cleanup_(nl_cache_freep) struct nl_cache *links = NULL;
        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
        if (r < 0)
                return nl_fail(err, r, "dump links");
        _cleanup_(nl_cache_freep) struct nl_cache *routes = NULL;
        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes);
        if (r < 0)
                return nl_fail(err, r, "dump routes");
        int best_if = 0;
        uint32_t best_metric = 0;
        for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *rt = (struct rtnl_route *)o;
                if (rtnl_route_get_family(rt) != AF_INET ||
                    rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
                    rtnl_route_get_type(rt) != RTN_UNICAST)
                        continue;
                struct nl_addr *dst = rtnl_route_get_dst(rt);
                if (dst && nl_addr_get_prefixlen(dst) != 0)
                        continue;
                struct nl_addr *gw;
                int oif = route_nexthop(rt, &gw);
                if (oif <= 0)
                        continue;
                uint32_t metric = rtnl_route_get_priority(rt);
                if (best_if == 0 || metric < best_metric) {
                        best_if = oif;
                        best_metric = metric;
                }
        }
        if (best_if == 0)
                return bg_error_set(err, ENOENT, "no IPv4 default route: uplink unknown");
        char name[IFNAMSIZ];
        if (!rtnl_link_i2name(links, best_if, name, sizeof(name)))
                return bg_error_set(err, ENODEV, "default route via unknown ifindex %d", best_if);
        memcpy(ret, name, IFNAMSIZ);
        return 0;
}

/* Safe as root: writes the constant "1" to one fixed sysctl file. */
int netlink_ip_forward_enable(struct bg_error *err)
{
        _cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return syserr(err, -errno, "open /proc/sys/net/ipv4/ip_forward");
        if (write(fd, "1\n", 2) != 2)
                return syserr(err, errno ? -errno : -EIO, "enable net.ipv4.ip_forward");
        return 0;
}
