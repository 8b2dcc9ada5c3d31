#include "agent_netlink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "util/macro.h"

struct nl_req {
        struct nlmsghdr nh;
        union {
                struct ifinfomsg ifi;
                struct ifaddrmsg ifa;
                struct rtmsg rt;
        };
        char attrs[256];
};

static int add_attr(struct nl_req *req, unsigned short type, const void *data, size_t len)
{
        size_t off = NLMSG_ALIGN(req->nh.nlmsg_len);
        size_t rtalen = RTA_LENGTH(len);
        if (off + RTA_ALIGN(rtalen) > sizeof(*req))
                return -ENOBUFS;
        struct rtattr *rta = (struct rtattr *)((char *)req + off);
        rta->rta_type = type;
        rta->rta_len = (unsigned short)rtalen;
        memcpy(RTA_DATA(rta), data, len);
        req->nh.nlmsg_len = (uint32_t)(off + RTA_ALIGN(rtalen));
        return 0;
}

/* Send req and wait for its ACK (or error). */
static int nl_transact(struct nl_req *req)
{
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
        req->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        req->nh.nlmsg_seq = 1;
        if (sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;

        for (;;) {
                char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
                     h = NLMSG_NEXT(h, n)) {
                        if (h->nlmsg_seq != 1)
                                continue;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);
                                return e->error; /* 0 = ACK, else -errno */
                        }
                }
        }
}

int agent_link_set_updown(int ifindex, bool up)
{
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req.nh.nlmsg_type = RTM_NEWLINK;
        req.ifi.ifi_family = AF_UNSPEC;
        req.ifi.ifi_index = ifindex;
        req.ifi.ifi_flags = up ? IFF_UP : 0;
        req.ifi.ifi_change = IFF_UP;
        return nl_transact(&req);
}

int agent_link_set_up(int ifindex)
{
        return agent_link_set_updown(ifindex, true);
}

int agent_addr_add(int ifindex, struct in_addr addr, unsigned prefix)
{
        if (prefix < 1 || prefix > 32)
                return -EINVAL;
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
        req.nh.nlmsg_type = RTM_NEWADDR;
        req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        req.ifa.ifa_family = AF_INET;
        req.ifa.ifa_prefixlen = (unsigned char)prefix;
        req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
        req.ifa.ifa_index = (unsigned)ifindex;
        int r = add_attr(&req, IFA_LOCAL, &addr, sizeof(addr));
        if (r >= 0)
                r = add_attr(&req, IFA_ADDRESS, &addr, sizeof(addr));
        if (r >= 0 && prefix < 31) {
                uint32_t mask = htonl(~0u << (32 - prefix));
                struct in_addr brd = {.s_addr = addr.s_addr | ~mask};
                r = add_attr(&req, IFA_BROADCAST, &brd, sizeof(brd));
        }
        if (r < 0)
                return r;
        return nl_transact(&req);
}

int agent_route_add_default(int ifindex, struct in_addr gw)
{
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        req.nh.nlmsg_type = RTM_NEWROUTE;
        req.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
        req.rt.rtm_family = AF_INET;
        req.rt.rtm_dst_len = 0;
        req.rt.rtm_table = RT_TABLE_MAIN;
        req.rt.rtm_protocol = RTPROT_STATIC;
        req.rt.rtm_scope = RT_SCOPE_UNIVERSE;
        req.rt.rtm_type = RTN_UNICAST;
        uint32_t oif = (uint32_t)ifindex;
        int r = add_attr(&req, RTA_GATEWAY, &gw, sizeof(gw));
        if (r >= 0)
                r = add_attr(&req, RTA_OIF, &oif, sizeof(oif));
        if (r < 0)
                return r;
        return nl_transact(&req);
}

int agent_link_set_mac(int ifindex, const uint8_t mac[6])
{
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req.nh.nlmsg_type = RTM_NEWLINK;
        req.ifi.ifi_family = AF_UNSPEC;
        req.ifi.ifi_index = ifindex;
        int r = add_attr(&req, IFLA_ADDRESS, mac, 6);
        return r < 0 ? r : nl_transact(&req);
}

/* Deletes one address; the dump below calls it for each IPv4 address. */
static int addr_del(int ifindex, unsigned prefix, const void *local)
{
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
        req.nh.nlmsg_type = RTM_DELADDR;
        req.ifa.ifa_family = AF_INET;
        req.ifa.ifa_prefixlen = (unsigned char)prefix;
        req.ifa.ifa_index = (unsigned)ifindex;
        int r = add_attr(&req, IFA_LOCAL, local, 4);
        return r < 0 ? r : nl_transact(&req);
}

int agent_addr_flush_v4(int ifindex)
{
        /* Collect first (at most 16 addresses), delete after the dump ends:
         * deleting while dumping may skip entries. */
        struct {
                unsigned prefix;
                uint8_t local[4];
        } found[16];
        size_t n = 0;
        {
                _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
                if (fd < 0)
                        return -errno;
                struct nl_req req = {0};
                req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
                req.nh.nlmsg_type = RTM_GETADDR;
                req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
                req.nh.nlmsg_seq = 2;
                req.ifa.ifa_family = AF_INET;
                struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
                if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return -errno;
                for (bool done = false; !done;) {
                        char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
                        ssize_t len = recv(fd, buf, sizeof(buf), 0);
                        if (len < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (len == 0)
                                break;
                        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
                             h = NLMSG_NEXT(h, len)) {
                                if (h->nlmsg_type == NLMSG_DONE) {
                                        done = true;
                                        break;
                                }
                                if (h->nlmsg_type == NLMSG_ERROR) {
                                        const struct nlmsgerr *e = NLMSG_DATA(h);
                                        return e->error ? e->error : -EIO;
                                }
                                if (h->nlmsg_type != RTM_NEWADDR)
                                        continue;
                                const struct ifaddrmsg *ifa = NLMSG_DATA(h);
                                if ((int)ifa->ifa_index != ifindex || ifa->ifa_family != AF_INET)
                                        continue;
                                int alen = (int)IFA_PAYLOAD(h);
                                for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, alen);
                                     a = RTA_NEXT(a, alen)) {
                                        if (a->rta_type != IFA_LOCAL || RTA_PAYLOAD(a) != 4 ||
                                            n >= ELEMENTSOF(found))
                                                continue;
                                        found[n].prefix = ifa->ifa_prefixlen;
                                        memcpy(found[n].local, RTA_DATA(a), 4);
                                        n++;
                                }
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                int r = addr_del(ifindex, found[i].prefix, found[i].local);
                if (r < 0 && r != -EADDRNOTAVAIL)
                        return r;
        }
        return 0;
}

int agent_arp_announce(int ifindex, const uint8_t mac[6], struct in_addr addr)
{
        _cleanup_close_ int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
        if (fd < 0)
                return -errno;
        struct __attribute__((packed)) {
                struct arphdr h;
                uint8_t sha[6], spa[4], tha[6], tpa[4];
        } pkt = {
            .h = {.ar_hrd = htons(ARPHRD_ETHER),
                  .ar_pro = htons(ETH_P_IP),
                  .ar_hln = 6,
                  .ar_pln = 4,
                  .ar_op = htons(ARPOP_REQUEST)},
        };
        memcpy(pkt.sha, mac, 6);
        memcpy(pkt.spa, &addr, 4);
        memcpy(pkt.tpa, &addr, 4);
        struct sockaddr_ll to = {
            .sll_family = AF_PACKET,
            .sll_protocol = htons(ETH_P_ARP),
            .sll_ifindex = ifindex,
            .sll_halen = 6,
            .sll_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        };
        if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                return -errno;
        return 0;
}

static int read_small(const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

int agent_iface_find(const char *sys_root, const uint8_t *mac, char *buf, size_t size)
{
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/class/net", sys_root);
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        if (n < 0)
                return -errno;
        char want[18] = "";
        if (mac)
                snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
                         mac[2], mac[3], mac[4], mac[5]);
        int r = -ENOENT;
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                if (r == 0 || name[0] == '.')
                        continue;
                char path[800], type[32], addr[64];
                snprintf(path, sizeof(path), "%s/%s/type", dir, name);
                if (read_small(path, type, sizeof(type)) < 0 || atoi(type) != ARPHRD_ETHER)
                        continue;
                snprintf(path, sizeof(path), "%s/%s/address", dir, name);
                if (read_small(path, addr, sizeof(addr)) < 0)
                        continue;
                if (mac ? strcasecmp(addr, want) != 0 : streq(name, "lo"))
                        continue;
                if (strlen(name) >= size) {
                        r = -ENAMETOOLONG;
                        continue;
                }
                memcpy(buf, name, strlen(name) + 1);
                r = 0;
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return r;
}
