/* lib/hostnet primitives against the real kernel, each test in a fresh
 * network namespace (and a private mount namespace with its own /sys), so
 * the host's network is never touched. Needs root; exits 77 otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "hostnet/netlink.h"
#include "hostnet/nft.h"
#include "../unit/skip.h"

static struct in_addr A(const char *s) {
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, s, &a), 1);
        return a;
}

/* A fresh, empty network namespace with /sys showing it. */
static int
fresh_netns(void **state)
{
        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "unshare(CLONE_NEWNET): %m\n");
                return -1;
        }
        (void)umount2("/sys", MNT_DETACH);
        if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                fprintf(stderr, "mount sysfs: %m\n");
                return -1;
        }
        return 0;
}

static void sh(const char *fmt, ...)
{
        char cmd[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int r = system(cmd);
        if (r != 0)
                fail_msg("command failed (%d): %s", r, cmd);
}

static char *sysfs(const char *ifname, const char *attr, char *buf, size_t len)
{
        char path[256];
        snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        if (!fgets(buf, (int)len, f))
                buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        return buf;
}

static const struct netlink_link *find_link(const struct netlink_link *v, size_t n,
                                            const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0)
                        return &v[i];
        return NULL;
}

/* IPv4 addresses of ifname, as "a.b.c.d/len" joined by spaces. */
static void ipv4_of(const char *ifname, char *out, size_t len)
{
        struct ifaddrs *ifa = NULL;
        assert_int_equal(getifaddrs(&ifa), 0);
        out[0] = '\0';
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
                    strcmp(i->ifa_name, ifname) != 0)
                        continue;
                char a[INET_ADDRSTRLEN];
                struct in_addr m = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
                inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
                size_t used = strlen(out);
                snprintf(out + used, len - used, "%s%s/%d", used ? " " : "", a,
                         __builtin_popcount(m.s_addr));
        }
        freeifaddrs(ifa);
}

static void test_bridge(void **state)
{
        struct bg_error err = {0};
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.1"), 24, &err), 0);
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.1"), 24, &err), 0);

        struct netlink_link *v = NULL;
        size_t n = 0;
        assert_int_equal(netlink_link_dump(&v, &n, &err), 0);
        const struct netlink_link *br = find_link(v, n, "banger0");
        assert_non_null(br);
        assert_string_equal(br->kind, "bridge");
        assert_true(br->up);
        assert_string_equal(br->master, "");
        assert_non_null(find_link(v, n, "lo"));
        free(v);

        char buf[128];
        assert_string_equal(sysfs("banger0", "address", buf, sizeof(buf)), "52:54:00:1e:00:01");
        ipv4_of("banger0", buf, sizeof(buf));
        assert_string_equal(buf, "172.30.0.1/24");

        /* A new config replaces the address rather than adding a second one. */
        assert_int_equal(netlink_bridge_ensure("banger0", A("10.55.0.1"), 16, &err), 0);
        ipv4_of("banger0", buf, sizeof(buf));
        assert_string_equal(buf, "10.55.0.1/16");

        /* Refusals. */
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.0"), 24, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "172.30.0.0"));
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.1"), 31, &err), -EINVAL);
        assert_int_equal(netlink_bridge_ensure("bad name", A("172.30.0.1"), 24, &err), -EINVAL);
        assert_int_equal(netlink_bridge_ensure("lo", A("172.30.0.1"), 24, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "not a bridge"));
        assert_int_equal(netlink_bridge_delete("lo", &err), -EPERM);
        assert_true(if_nametoindex("lo") > 0);

        assert_int_equal(netlink_bridge_delete("banger0", &err), 0);
        assert_int_equal(if_nametoindex("banger0"), 0);
        assert_int_equal(netlink_bridge_delete("banger0", &err), 0); /* idempotent */
}

static void test_tap(void **state)
{
        struct bg_error err = {0};
        char buf[64];
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.1"), 24, &err), 0);
        assert_int_equal(netlink_tap_create("bgt1", "banger0", 4242, 4343, false, &err), 0);
        assert_string_equal(sysfs("bgt1", "owner", buf, sizeof(buf)), "4242");
        assert_string_equal(sysfs("bgt1", "group", buf, sizeof(buf)), "4343");
        unsigned long flags = strtoul(sysfs("bgt1", "tun_flags", buf, sizeof(buf)), NULL, 16);
        assert_true(flags & 0x0002); /* IFF_TAP */
        assert_true(flags & 0x1000); /* IFF_NO_PI */
        assert_true(flags & 0x4000); /* IFF_VNET_HDR */
        assert_true(flags & 0x0800); /* IFF_PERSIST: survives our fd being closed */
        assert_string_equal(sysfs("bgt1", "brport/isolated", buf, sizeof(buf)), "0");

        struct netlink_link *v = NULL;
        size_t n = 0;
        assert_int_equal(netlink_link_dump(&v, &n, &err), 0);
        const struct netlink_link *t = find_link(v, n, "bgt1");
        assert_non_null(t);
        assert_string_equal(t->kind, "tun");
        assert_string_equal(t->master, "banger0");
        assert_true(t->up);
        free(v);

        /* Again, isolated, new owner and no group: takes the existing tap over. */
        assert_int_equal(netlink_tap_create("bgt1", "banger0", 4244, (gid_t)-1, true, &err), 0);
        assert_string_equal(sysfs("bgt1", "owner", buf, sizeof(buf)), "4244");
        assert_string_equal(sysfs("bgt1", "brport/isolated", buf, sizeof(buf)), "1");
        assert_int_equal(netlink_port_set_isolated("bgt1", false, &err), 0);
        assert_string_equal(sysfs("bgt1", "brport/isolated", buf, sizeof(buf)), "0");

        /* Refusals, and nothing left behind by a failed create. */
        assert_int_equal(netlink_tap_create("eth0", "banger0", 4242, (gid_t)-1, false, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "not a banger tap name"));
        assert_int_equal(netlink_tap_create("bgt9", "nobr", 4242, (gid_t)-1, false, &err), -ENODEV);
        assert_non_null(strstr(err.msg, "nobr"));
        assert_int_equal(if_nametoindex("bgt9"), 0);
        assert_int_equal(netlink_tap_create("bgt9", "banger0", (uid_t)-1, (gid_t)-1, false, &err),
                         -EINVAL);
        assert_int_equal(netlink_tap_create("bgt9", "bgt1", 4242, (gid_t)-1, false, &err), -ENODEV);
        assert_int_equal(if_nametoindex("bgt9"), 0);
        /* A bg-named bridge is neither deletable as a tap nor taken over as one. */
        assert_int_equal(netlink_bridge_ensure("bgbr", A("10.9.0.1"), 24, &err), 0);
        assert_int_equal(netlink_tap_delete("bgbr", &err), -EPERM);
        assert_int_equal(netlink_tap_create("bgbr", "banger0", 4242, (gid_t)-1, false, &err),
                         -EEXIST);
        assert_string_equal(sysfs("bgbr", "bridge/forward_delay", buf, sizeof(buf)) ? "ok" : "",
                            "ok");
        assert_int_equal(netlink_bridge_ensure("bgt1", A("10.9.1.1"), 24, &err), -EEXIST);
        assert_int_equal(netlink_bridge_delete("bgt1", &err), -EPERM);
        assert_int_equal(netlink_port_set_isolated("bgbr", true, &err), -EINVAL); /* no master */

        assert_int_equal(netlink_tap_delete("bgt1", &err), 0);
        assert_int_equal(if_nametoindex("bgt1"), 0);
        assert_int_equal(netlink_tap_delete("bgt1", &err), 0);
        assert_int_equal(netlink_tap_delete("lo", &err), -EINVAL);
}

static void test_overlap_and_uplink(void **state)
{
        struct bg_error err = {0};
        char up[IFNAMSIZ], route[128];
        assert_int_equal(netlink_default_uplink(up, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "no IPv4 default route"));

        sh("ip link add up0 type veth peer name up0p && ip link set up0p up && ip link set up0 up");
        sh("ip addr add 10.0.0.1/8 dev up0 && ip route add default via 10.0.0.254 dev up0");
        sh("ip link add up1 type veth peer name up1p && ip link set up1p up && ip link set up1 up");
        sh("ip addr add 192.0.2.1/24 dev up1");
        sh("ip route add default via 192.0.2.254 dev up1 metric 5");
        sh("ip route add blackhole 192.168.50.0/24");
        sh("ip route add 198.51.100.0/24 via 10.0.0.9 dev up0 table 100");
        assert_int_equal(netlink_bridge_ensure("banger0", A("172.30.0.1"), 24, &err), 0);

        assert_int_equal(netlink_default_uplink(up, &err), 0);
        assert_string_equal(up, "up0"); /* lowest metric wins */

        struct ipam_net net;
        assert_int_equal(ipam_cidr_parse("10.20.0.0/16", NULL, &net, NULL), 0);
        assert_int_equal(netlink_route_find_overlap(&net, "banger0", route, sizeof(route), &err),
                         1);
        assert_string_equal(route, "10.0.0.0/8 dev up0");
        assert_int_equal(ipam_cidr_parse("192.168.50.128/25", NULL, &net, NULL), 0);
        assert_int_equal(netlink_route_find_overlap(&net, "banger0", route, sizeof(route), &err),
                         1);
        assert_string_equal(route, "blackhole 192.168.50.0/24");
        assert_int_equal(ipam_cidr_parse("198.51.100.0/24", NULL, &net, NULL), 0);
        assert_int_equal(netlink_route_find_overlap(&net, "banger0", route, sizeof(route), &err),
                         1);
        assert_string_equal(route, "198.51.100.0/24 via 10.0.0.9 dev up0 table 100");

        /* Default routes and the banger bridge's own route do not count. */
        assert_int_equal(ipam_cidr_parse("172.30.0.0/24", NULL, &net, NULL), 0);
        strcpy(route, "untouched");
        assert_int_equal(netlink_route_find_overlap(&net, "banger0", route, sizeof(route), &err),
                         0);
        assert_string_equal(route, "untouched");
        assert_int_equal(netlink_route_find_overlap(&net, NULL, route, sizeof(route), &err), 1);
        assert_string_equal(route, "172.30.0.0/24 dev banger0");
        assert_int_equal(ipam_cidr_parse("172.31.0.0/16", NULL, &net, NULL), 0);
        assert_int_equal(netlink_route_find_overlap(&net, "banger0", route, sizeof(route), &err),
                         0);
        assert_int_equal(netlink_route_find_overlap(&net, "x y", route, sizeof(route), &err),
                         -EINVAL);

        sh("ip route del default via 10.0.0.254 dev up0");
        assert_int_equal(netlink_default_uplink(up, &err), 0);
        assert_string_equal(up, "up1");
}

static void test_ip_forward(void **state)
{
        struct bg_error err = {0};
        char buf[8] = "";
        assert_int_equal(netlink_ip_forward_enable(&err), 0);
        FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_string_equal(buf, "1\n");
}

/* Runs nft commands directly (the test's own view of the ruleset). */
static int nft_raw(const char *cmd, char *out, size_t outlen)
{
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        assert_non_null(ctx);
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
        int r = nft_run_cmd_from_buffer(ctx, cmd);
        if (out)
                snprintf(out, outlen, "%s", nft_ctx_get_output_buffer(ctx));
        nft_ctx_free(ctx);
        return r;
}

static void test_nft(void **state)
{
        struct bg_error err = {0};
        bool present = true;
        struct nft_config c = {.bridge = "banger0", .uplink = "up0", .dns_port = 42069};
        assert_int_equal(ipam_cidr_parse("172.30.0.0/24", NULL, &c.subnet, NULL), 0);

        assert_int_equal(nft_raw("add table inet other\nadd chain inet other keep\n"
                                 "add rule inet other keep counter accept\n",
                                 NULL, 0),
                         0);
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_false(present);
        assert_int_equal(nft_teardown(&err), 0); /* absent: still fine */

        assert_int_equal(nft_apply(&c, &err), 0);
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_true(present);
        assert_int_equal(nft_apply(&c, &err), 0); /* idempotent */
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_true(present);

        static char out[16384];
        assert_int_equal(nft_raw("list table inet banger", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "masquerade"));
        assert_non_null(strstr(out, "169.254.169.254"));
        /* Exactly one copy of each rule after two applies. */
        assert_ptr_equal(strstr(strstr(out, "masquerade") + 1, "masquerade"), NULL);

        /* Another config is "not present"; tampering is noticed; apply heals. */
        struct nft_config other = c;
        other.isolate_vms = true;
        assert_int_equal(nft_present(&other, &present, &err), 0);
        assert_false(present);
        assert_int_equal(nft_raw("flush chain inet banger input", NULL, 0), 0);
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_false(present);
        assert_int_equal(nft_apply(&c, &err), 0);
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_true(present);
        assert_int_equal(nft_raw("add rule inet banger forward accept", NULL, 0), 0);
        assert_int_equal(nft_present(&c, &present, &err), 0);
        assert_false(present);
        assert_int_equal(nft_raw("add chain inet banger extra", NULL, 0), 0);
        assert_int_equal(nft_apply(&other, &err), 0);
        assert_int_equal(nft_present(&other, &present, &err), 0);
        assert_true(present);
        assert_int_equal(nft_raw("list chain inet banger extra", NULL, 0) == 0, 0); /* replaced */

        /* A refused config changes nothing. */
        struct nft_config bad = c;
        strcpy(bad.uplink, "up0\"");
        assert_int_equal(nft_apply(&bad, &err), -EINVAL);
        assert_int_equal(nft_present(&other, &present, &err), 0);
        assert_true(present);

        assert_int_equal(nft_teardown(&err), 0);
        assert_int_equal(nft_present(&other, &present, &err), 0);
        assert_false(present);
        assert_int_equal(nft_teardown(&err), 0);
        /* The other table and its rule survived every apply and teardown. */
        assert_int_equal(nft_raw("list table inet other", out, sizeof(out)), 0);
        assert_non_null(strstr(out, "chain keep"));
        assert_non_null(strstr(out, "accept"));
}

int main(void)
{
        if (geteuid() != 0)
                return test_skip_main("not-root",
                                      "needs root (network namespaces, netlink, nftables)");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("FAIL: set-up: a private mount namespace: %m\n");
                return 1;
        }
        if (fresh_netns(NULL) < 0) {
                printf("FAIL: set-up: a fresh network namespace: %m\n");
                return 1;
        }
        if (access("/dev/net/tun", F_OK) < 0)
                return test_skip_main("no-tun", "this kernel has no /dev/net/tun");
        if (access("/dev/net/tun", R_OK | W_OK) < 0) {
                printf("FAIL: set-up: /dev/net/tun: %m\n");
                return 1;
        }
        if (system("ip -V >/dev/null 2>&1") != 0) {
                printf("FAIL: set-up: ip is not installed (package iproute2; "
                       "scripts/install-deps.sh installs it)\n");
                return 1;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_bridge, fresh_netns),
            cmocka_unit_test_setup(test_tap, fresh_netns),
            cmocka_unit_test_setup(test_overlap_and_uplink, fresh_netns),
            cmocka_unit_test_setup(test_ip_forward, fresh_netns),
            cmocka_unit_test_setup(test_nft, fresh_netns),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
