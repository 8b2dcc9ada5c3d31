/* The nftables ruleset text of lib/hostnet: validation and content. The
 * kernel side (apply/present/teardown) is covered by tests/root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostnet/nft.h"

static struct nft_config base(void)
{
        struct nft_config c = {.bridge = "banger0", .uplink = "eth0", .dns_port = 42069};
        assert_int_equal(ipam_cidr_parse("172.30.0.0/24", NULL, &c.subnet, NULL), 0);
        return c;
}

static size_t count(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *build(const struct nft_config *c)
{
        char *text = NULL;
        struct bg_error err = {0};
        assert_int_equal(nft_ruleset_build(c, &text, &err), 0);
        assert_non_null(text);
        return text;
}

/* The line of text containing needle, or NULL. */
static char *line_with(const char *text, const char *needle)
{
        const char *p = strstr(text, needle);
        if (!p)
                return NULL;
        const char *s = p, *e = strchr(p, '\n');
        while (s > text && s[-1] != '\n')
                s--;
        return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static void test_validate(void **state)
{
        struct bg_error err = {0};
        struct nft_config c = base();
        assert_int_equal(nft_config_validate(&c, &err), 0);

        c = base();
        strcpy(c.bridge, "br\"; drop");
        assert_int_equal(nft_config_validate(&c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "bridge name"));

        c = base();
        strcpy(c.uplink, "eth*");
        assert_int_equal(nft_config_validate(&c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "uplink name"));

        c = base();
        strcpy(c.uplink, "banger0");
        assert_int_equal(nft_config_validate(&c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "is the bridge itself"));

        c = base();
        c.dns_port = 0;
        assert_int_equal(nft_config_validate(&c, &err), -EINVAL);

        c = base();
        c.subnet.prefix = 31;
        assert_int_equal(nft_config_validate(&c, &err), -EINVAL);

        char *text = NULL;
        c = base();
        c.bridge[0] = '\0';
        assert_int_equal(nft_ruleset_build(&c, &text, &err), -EINVAL);
        assert_null(text);
        assert_int_equal(nft_apply(&c, &err), -EINVAL); /* refused before touching nft */
        bool present = true;
        assert_int_equal(nft_present(&c, &present, &err), -EINVAL);
        assert_true(present);
}

static void test_only_banger_table(void **state)
{
        struct nft_config c = base();
        char *text = build(&c);
        assert_true(
            strncmp(text, "add table inet banger\ndelete table inet banger\ntable inet banger {\n",
                    strlen("add table inet banger\ndelete table inet banger\n"
                           "table inet banger {\n")) == 0);
        assert_int_equal(count(text, "table "), 3);
        assert_int_equal(count(text, "table inet banger"), 3);
        /* The three base chains with their hooks. */
        assert_non_null(strstr(text, "chain postrouting {\n\t\ttype nat hook postrouting priority "
                                     "srcnat; policy accept;"));
        assert_non_null(strstr(text, "chain forward {\n\t\ttype filter hook forward priority "
                                     "filter; policy accept;"));
        assert_non_null(strstr(text, "chain input {\n\t\ttype filter hook input priority filter; "
                                     "policy accept;"));
        free(text);
}

static void test_rules_with_uplink(void **state)
{
        struct nft_config c = base();
        char *text = build(&c);
        assert_non_null(strstr(
            text, "ip saddr 172.30.0.0/24 ip daddr != 172.30.0.0/24 oifname \"eth0\" masquerade"));
        assert_non_null(strstr(text, "iifname \"banger0\" ip daddr 169.254.169.254 drop"));
        assert_non_null(strstr(text, "iifname \"banger0\" oifname \"eth0\" accept"));
        assert_non_null(strstr(text, "oifname \"banger0\" ct state established,related accept"));
        assert_non_null(strstr(text, "iifname \"banger0\" oifname \"banger0\" accept"));
        assert_null(strstr(text, "iifname \"banger0\" oifname \"banger0\" drop"));
        assert_non_null(strstr(text, "th dport { 53, 42069 } accept"));
        /* The metadata drop comes before anything that accepts guest traffic. */
        const char *fwd = strstr(text, "chain forward");
        assert_true(strstr(fwd, "169.254.169.254 drop") < strstr(fwd, "oifname \"eth0\" accept"));
        const char *in = strstr(text, "chain input");
        assert_true(strstr(in, "th dport") < strstr(in, "iifname \"banger0\" drop"));
        /* Every rule carries the same fingerprint comment. */
        char *l = line_with(text, "masquerade");
        const char *cm = strstr(l, "comment \"banger ");
        assert_non_null(cm);
        char stamp[64];
        snprintf(stamp, sizeof(stamp), "%.*s", (int)strlen("comment \"banger 0123456789abcdef\""),
                 cm);
        size_t rules = count(text, "\n\t\t") - 3; /* minus the three chain headers */
        assert_int_equal(count(text, stamp), rules);
        assert_int_equal(rules, 11);
        free(l);
        free(text);
}

static void test_rules_without_uplink(void **state)
{
        struct nft_config c = base();
        c.uplink[0] = '\0';
        c.dns_port = 53;
        char *text = build(&c);
        assert_non_null(strstr(text, "ip saddr 172.30.0.0/24 ip daddr != 172.30.0.0/24 oifname != "
                                     "\"banger0\" masquerade"));
        assert_non_null(strstr(text, "\t\tiifname \"banger0\" accept"));
        assert_non_null(strstr(text, "th dport { 53 } accept"));
        assert_null(strstr(text, "eth0"));
        free(text);
}

static void test_isolate(void **state)
{
        struct nft_config c = base();
        c.isolate_vms = true;
        char *text = build(&c);
        assert_non_null(strstr(text, "iifname \"banger0\" oifname \"banger0\" drop"));
        assert_null(strstr(text, "iifname \"banger0\" oifname \"banger0\" accept"));
        const char *fwd = strstr(text, "chain forward");
        assert_true(strstr(fwd, "oifname \"banger0\" drop") <
                    strstr(fwd, "oifname \"eth0\" accept"));
        free(text);
}

static void test_fingerprint_changes(void **state)
{
        struct nft_config a = base(), b = base();
        b.isolate_vms = true;
        char *ta = build(&a), *tb = build(&b), *ta2 = build(&a);
        char *la = line_with(ta, "masquerade"), *lb = line_with(tb, "masquerade"),
             *la2 = line_with(ta2, "masquerade");
        assert_string_not_equal(la, lb);
        assert_string_equal(la, la2);
        assert_string_equal(ta, ta2);
        struct nft_config d = base();
        d.dns_port = 5353;
        char *td = build(&d), *ld = line_with(td, "masquerade");
        assert_string_not_equal(la, ld);
        free(la), free(lb), free(la2), free(ld);
        free(ta), free(tb), free(ta2), free(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_validate),          cmocka_unit_test(test_only_banger_table),
            cmocka_unit_test(test_rules_with_uplink), cmocka_unit_test(test_rules_without_uplink),
            cmocka_unit_test(test_isolate),           cmocka_unit_test(test_fingerprint_changes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
