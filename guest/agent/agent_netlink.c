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

int agent_link_set_up(int ifindex)
{
        struct nl_req req = {0};
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req.nh.nlmsg_type = RTM_NEWLINK;
        req.ifi.ifi_family = AF_UNSPEC;
        req.ifi.ifi_index = ifindex;
        req.ifi.ifi_flags = IFF_UP;
        req.ifi.ifi_change = IFF_UP;
        return nl_transact(&req);
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
