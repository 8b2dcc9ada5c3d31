/* Address arithmetic and interface-name validation of lib/hostnet. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "hostnet/ifname.h"
#include "hostnet/ipam_addr.h"

static struct in_addr A(const char *s) {
        struct in_addr a;
        assert_int_equal(inet_pton(AF_INET, s, &a), 1);
        return a;
}

static struct ipam_net
N(const char *cidr) {
        struct ipam_net n;
        assert_int_equal(ipam_cidr_parse(cidr, NULL, &n, NULL), 0);
        return n;
}

static void
test_cidr_parse(void **state)
{
        struct in_addr a;
        struct ipam_net n;
        struct bg_error err = {0};
        char buf[IPAM_CIDR_STRLEN];

        assert_int_equal(ipam_cidr_parse("172.30.0.1/24", &a, &n, &err), 0);
        assert_int_equal(a.s_addr, A("172.30.0.1").s_addr);
        assert_int_equal(n.network.s_addr, A("172.30.0.0").s_addr);
        assert_int_equal(n.prefix, 24);
        assert_string_equal(ipam_net_format(&n, buf), "172.30.0.0/24");

        assert_int_equal(ipam_cidr_parse("10.1.2.3/8", NULL, &n, NULL), 0);
        assert_string_equal(ipam_net_format(&n, buf), "10.0.0.0/8");
        assert_int_equal(ipam_cidr_parse("0.0.0.0/0", NULL, &n, NULL), 0);
        assert_int_equal(n.prefix, 0);
        assert_int_equal(ipam_cidr_parse("1.2.3.4/32", NULL, &n, NULL), 0);
        assert_string_equal(ipam_net_format(&n, buf), "1.2.3.4/32");

        const char *bad[] = {"172.30.0.1",
                             "172.30.0.1/",
                             "/24",
                             "172.30.0.1/33",
                             "172.30.0.1/-1",
                             "172.30.0.1/+8",
                             "172.30.0.1/ 8",
                             "172.30.0/24",
                             "172.30.0.256/24",
                             "172.30.0.1/24x",
                             "a.b.c.d/8",
                             "172.30.0.1/024",
                             ""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bg_error_clear(&err);
                assert_int_equal(ipam_cidr_parse(bad[i], &a, &n, &err), -EINVAL);
                assert_int_equal(err.code, EINVAL);
                assert_non_null(strstr(err.msg, bad[i]));
        }
        assert_int_equal(ipam_cidr_parse(NULL, NULL, NULL, &err), -EINVAL);

        assert_int_equal(ipam_addr_parse("172.30.0.9", &a, NULL), 0);
        assert_int_equal(a.s_addr, A("172.30.0.9").s_addr);
        assert_int_equal(ipam_addr_parse("172.30.0.9/24", &a, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "172.30.0.9/24"));
}

static void test_net_validate(void **state)
{
        struct bg_error err = {0};
        struct ipam_net n = N("172.30.0.0/24");
        assert_int_equal(ipam_net_validate(&n, &err), 0);
        n = N("10.0.0.0/8");
        assert_int_equal(ipam_net_validate(&n, &err), 0);
        n = N("10.0.0.0/7");
        assert_int_equal(ipam_net_validate(&n, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "/8 to /30"));
        n = N("10.0.0.0/31");
        assert_int_equal(ipam_net_validate(&n, &err), -EINVAL);
        struct ipam_net hostbits = {.network = A("172.30.0.1"), .prefix = 24};
        assert_int_equal(ipam_net_validate(&hostbits, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "host bits"));
}

static void test_contains_overlaps(void **state)
{
        struct ipam_net n = N("172.30.0.0/24");
        assert_true(ipam_net_contains(&n, A("172.30.0.0")));
        assert_true(ipam_net_contains(&n, A("172.30.0.200")));
        assert_false(ipam_net_contains(&n, A("172.30.1.1")));
        assert_false(ipam_net_contains(&n, A("10.0.0.1")));

        assert_false(ipam_net_is_host(&n, A("172.30.0.0")));
        assert_false(ipam_net_is_host(&n, A("172.30.0.255")));
        assert_true(ipam_net_is_host(&n, A("172.30.0.1")));
        assert_true(ipam_net_is_host(&n, A("172.30.0.254")));

        struct bg_error err = {0};
        assert_int_equal(ipam_check_host(&n, A("172.30.0.7"), &err), 0);
        assert_int_equal(ipam_check_host(&n, A("172.31.0.7"), &err), -EINVAL);
        assert_non_null(strstr(err.msg, "172.31.0.7"));
        assert_non_null(strstr(err.msg, "172.30.0.0/24"));

        struct ipam_net a = N("10.0.0.0/8"), b = N("10.20.0.0/16"), c = N("11.0.0.0/8"),
                        d = N("172.30.0.128/25");
        assert_true(ipam_net_overlaps(&a, &b));
        assert_true(ipam_net_overlaps(&b, &a));
        assert_false(ipam_net_overlaps(&a, &c));
        assert_true(ipam_net_overlaps(&n, &d));
        struct ipam_net e = N("172.30.1.0/24");
        assert_false(ipam_net_overlaps(&n, &e));
        struct ipam_net all = N("0.0.0.0/0");
        assert_true(ipam_net_overlaps(&all, &n));

        assert_int_equal(ipam_net_mask(0), 0);
        assert_int_equal(ipam_net_mask(24), 0xffffff00u);
        assert_int_equal(ipam_net_mask(32), 0xffffffffu);
}

static void test_next_free(void **state)
{
        struct ipam_net n = N("172.30.0.0/24");
        struct in_addr gw = A("172.30.0.1"), r;
        struct bg_error err = {0};

        assert_int_equal(ipam_next_free(&n, gw, NULL, 0, &r, &err), 0);
        assert_int_equal(r.s_addr, A("172.30.0.2").s_addr);

        /* Unsorted, with an outsider and a hole at .4. */
        struct in_addr used[] = {A("172.30.0.5"), A("172.30.0.2"), A("10.0.0.3"), A("172.30.0.3")};
        assert_int_equal(ipam_next_free(&n, gw, used, 4, &r, &err), 0);
        assert_int_equal(r.s_addr, A("172.30.0.4").s_addr);

        /* A gateway not at .1: .1 is free for guests then. */
        assert_int_equal(ipam_next_free(&n, A("172.30.0.254"), NULL, 0, &r, &err), 0);
        assert_int_equal(r.s_addr, A("172.30.0.1").s_addr);

        /* /30: hosts .1 and .2; gateway .1, so exactly one guest. */
        struct ipam_net small = N("192.168.7.0/30");
        struct in_addr sgw = A("192.168.7.1");
        assert_int_equal(ipam_next_free(&small, sgw, NULL, 0, &r, &err), 0);
        assert_int_equal(r.s_addr, A("192.168.7.2").s_addr);
        struct in_addr taken = A("192.168.7.2");
        r = A("9.9.9.9");
        assert_int_equal(ipam_next_free(&small, sgw, &taken, 1, &r, &err), -ENOSPC);
        assert_int_equal(r.s_addr, A("9.9.9.9").s_addr); /* untouched on failure */
        assert_non_null(strstr(err.msg, "192.168.7.0/30"));

        /* A full /24 (253 guests + gateway). */
        struct in_addr all[253];
        for (int i = 0; i < 253; i++)
                all[i].s_addr = htonl(ntohl(A("172.30.0.2").s_addr) + (uint32_t)i);
        assert_int_equal(ipam_next_free(&n, gw, all, 253, &r, &err), -ENOSPC);
        assert_int_equal(ipam_next_free(&n, gw, all + 1, 252, &r, &err), 0);
        assert_int_equal(r.s_addr, A("172.30.0.2").s_addr);
}

static void test_mac(void **state)
{
        uint8_t mac[6];
        char buf[IPAM_MAC_STRLEN];
        ipam_mac_from_ip(A("172.30.0.2"), mac);
        assert_string_equal(ipam_mac_format(mac, buf), "52:54:00:1e:00:02");
        ipam_mac_from_ip(A("10.170.187.204"), mac);
        assert_string_equal(ipam_mac_format(mac, buf), "52:54:00:aa:bb:cc");
        /* Unicast and locally administered. */
        assert_int_equal(mac[0] & 0x01, 0);
        assert_int_equal(mac[0] & 0x02, 0x02);
        /* Distinct guests of one /8 get distinct MACs. */
        uint8_t m2[6];
        ipam_mac_from_ip(A("10.170.187.205"), m2);
        assert_memory_not_equal(mac, m2, 6);
}

static void test_ifname(void **state)
{
        const char *taps[] = {"bg0", "bgtap0", "bg-a-1", "bg0123456789abc"};
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(ifname_validate_tap(taps[i], NULL), 0);
        const char *not_taps[] = {
            "bg",  "eth0", "bgTap", "bg_x", "bg.x", "bg x", "bg0123456789abcd",
            "Bg0", "bg/0", "xbg0",  ""};
        struct bg_error err = {0};
        for (size_t i = 0; i < sizeof(not_taps) / sizeof(not_taps[0]); i++) {
                bg_error_clear(&err);
                assert_int_equal(ifname_validate_tap(not_taps[i], &err), -EINVAL);
                assert_non_null(strstr(err.msg, "not a banger tap name"));
        }
        assert_int_equal(ifname_validate_tap(NULL, &err), -EINVAL);

        const char *ok[] = {"banger0", "br-lan", "eth0.100", "Wlan_0", "a", "abcdefghijklmno"};
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                assert_int_equal(ifname_validate(ok[i], "bridge", NULL), 0);
        const char *bad[] = {
            "",      ".",         "..", "a b", "a/b", "a:b", "x\"y", "eth*", "abcdefghijklmnop",
            "tab\t", "new\nline", "-h"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bg_error_clear(&err);
                assert_int_equal(ifname_validate(bad[i], "bridge", &err), -EINVAL);
                assert_non_null(strstr(err.msg, "bridge name"));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cidr_parse),
            cmocka_unit_test(test_net_validate),
            cmocka_unit_test(test_contains_overlaps),
            cmocka_unit_test(test_next_free),
            cmocka_unit_test(test_mac),
            cmocka_unit_test(test_ifname),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
