#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "agent_cmdline.h"

static void count_warn(const char *message, void *userdata)
{
        (*(int *)userdata)++;
}

static void test_good(void **state)
{
        struct agent_config c;
        int warnings = 0;
        int r = agent_config_parse(
            "BOOT_IMAGE=/vmlinuz console=ttyS0 root=/dev/vda rw banger.name=dev-box "
            "banger.ip=172.16.0.2/24 banger.gw=172.16.0.1 banger.dns=1.1.1.1,2606:4700::1111 "
            "banger.mac=AA:bb:cc:00:11:22 banger.work=/dev/vdb banger.modules=/dev/vdc "
            "banger.agent=virtio-serial:org.banger.agent.0 quiet",
            &c, count_warn, &warnings);
        assert_int_equal(r, 0);
        assert_int_equal(warnings, 0);
        assert_string_equal(c.name, "dev-box");
        assert_true(c.has_ip);
        char buf[INET_ADDRSTRLEN];
        assert_string_equal(inet_ntop(AF_INET, &c.ip, buf, sizeof(buf)), "172.16.0.2");
        assert_int_equal(c.prefix, 24);
        assert_true(c.has_gw);
        assert_string_equal(inet_ntop(AF_INET, &c.gw, buf, sizeof(buf)), "172.16.0.1");
        assert_int_equal(c.n_dns, 2);
        assert_string_equal(c.dns[0], "1.1.1.1");
        assert_string_equal(c.dns[1], "2606:4700::1111");
        assert_true(c.has_mac);
        assert_int_equal(c.mac[0], 0xaa);
        assert_int_equal(c.mac[5], 0x22);
        assert_string_equal(c.work, "/dev/vdb");
        assert_string_equal(c.modules, "/dev/vdc");
        assert_int_equal(c.channel, AGENT_CHANNEL_VIRTIO_SERIAL);
        assert_string_equal(c.channel_name, "org.banger.agent.0");
}

static void test_vsock_and_last_wins(void **state)
{
        struct agent_config c;
        int r = agent_config_parse("banger.agent=virtio-serial:x banger.agent=vsock:1024 "
                                   "banger.name=a banger.name=b",
                                   &c, NULL, NULL);
        assert_int_equal(r, 0);
        assert_int_equal(c.channel, AGENT_CHANNEL_VSOCK);
        assert_int_equal(c.vsock_port, 1024);
        assert_string_equal(c.name, "b");
}

static void test_bad_values_skipped(void **state)
{
        struct agent_config c;
        int warnings = 0;
        int r = agent_config_parse(
            "banger.name=-bad_name banger.ip=10.0.0.300/24 banger.gw=nope "
            "banger.dns=1.1.1.1,bogus,8.8.8.8,9.9.9.9,4.4.4.4 banger.mac=zz:00:00:00:00:00 "
            "banger.work=vdb banger.modules=/dev/ banger.agent=tcp:1 banger.color=blue "
            "banger.novalue",
            &c, count_warn, &warnings);
        /* name, ip, gw, bogus dns, 4th dns, mac, work, modules, agent, unknown, novalue */
        assert_int_equal(r, 11);
        assert_int_equal(warnings, 11);
        assert_string_equal(c.name, "");
        assert_false(c.has_ip);
        assert_false(c.has_gw);
        assert_int_equal(c.n_dns, 3);
        assert_string_equal(c.dns[2], "9.9.9.9");
        assert_false(c.has_mac);
        assert_string_equal(c.work, "");
        assert_string_equal(c.modules, "");
        assert_int_equal(c.channel, AGENT_CHANNEL_NONE);
}

static void test_ip_prefix_edge_cases(void **state)
{
        struct agent_config c;
        assert_int_equal(agent_config_parse("banger.ip=10.0.0.2", &c, NULL, NULL), 1);
        assert_false(c.has_ip);
        assert_int_equal(agent_config_parse("banger.ip=10.0.0.2/33", &c, NULL, NULL), 1);
        assert_int_equal(agent_config_parse("banger.ip=10.0.0.2/0", &c, NULL, NULL), 1);
        assert_int_equal(agent_config_parse("banger.ip=10.0.0.2/24x", &c, NULL, NULL), 1);
        assert_int_equal(agent_config_parse("banger.ip=10.0.0.2/32", &c, NULL, NULL), 0);
        assert_true(c.has_ip);
        assert_int_equal(c.prefix, 32);
        /* A gateway without an address is useless: dropped with a warning. */
        assert_int_equal(agent_config_parse("banger.gw=10.0.0.1", &c, NULL, NULL), 1);
        assert_false(c.has_gw);
}

static void test_missing(void **state)
{
        struct agent_config c;
        memset(&c, 0xff, sizeof(c));
        assert_int_equal(agent_config_parse("console=ttyS0 root=/dev/vda", &c, NULL, NULL), 0);
        assert_string_equal(c.name, "");
        assert_false(c.has_ip);
        assert_int_equal(c.n_dns, 0);
        assert_int_equal(c.channel, AGENT_CHANNEL_NONE);
        assert_int_equal(agent_config_parse("", &c, NULL, NULL), 0);
        assert_int_equal(agent_config_parse(NULL, &c, NULL, NULL), 0);
}

static void test_get_flag_quotes_and_dashdash(void **state)
{
        const char *cl = "root=/dev/vda ro rootflags=\"data=ordered,noatime\" "
                         "init=/sbin/init -- serve root=/dev/other rw";
        char buf[64];
        assert_int_equal(agent_cmdline_get(cl, "root", buf, sizeof(buf)), 1);
        assert_string_equal(buf, "/dev/vda");
        assert_int_equal(agent_cmdline_get(cl, "rootflags", buf, sizeof(buf)), 1);
        assert_string_equal(buf, "data=ordered,noatime");
        assert_int_equal(agent_cmdline_get(cl, "rootfstype", buf, sizeof(buf)), 0);
        assert_true(agent_cmdline_has_flag(cl, "ro"));
        assert_false(agent_cmdline_has_flag(cl, "rw")); /* after "--": init's */
        assert_false(agent_cmdline_has_flag(cl, "root"));
        char small[4];
        assert_int_equal(agent_cmdline_get(cl, "root", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(agent_cmdline_get("a=\"x y\" b", "a", buf, sizeof(buf)), 1);
        assert_string_equal(buf, "x y");
}

static void test_channel_parse(void **state)
{
        enum agent_channel_kind k;
        char name[16];
        uint32_t port = 0;
        assert_int_equal(agent_channel_parse("vsock:52", &k, name, sizeof(name), &port), 0);
        assert_int_equal(k, AGENT_CHANNEL_VSOCK);
        assert_int_equal(port, 52);
        assert_int_equal(agent_channel_parse("vsock:0", &k, name, sizeof(name), &port), -EINVAL);
        assert_int_equal(agent_channel_parse("vsock:-1", &k, name, sizeof(name), &port), -EINVAL);
        assert_int_equal(agent_channel_parse("vsock:4294967295", &k, name, sizeof(name), &port),
                         -EINVAL);
        assert_int_equal(agent_channel_parse("vsock:", &k, name, sizeof(name), &port), -EINVAL);
        assert_int_equal(agent_channel_parse("virtio-serial:", &k, name, sizeof(name), &port),
                         -EINVAL);
        assert_int_equal(agent_channel_parse("virtio-serial:../x", &k, name, sizeof(name), &port),
                         -EINVAL);
        assert_int_equal(
            agent_channel_parse("virtio-serial:waytoolongname.0", &k, name, sizeof(name), &port),
            -EINVAL);
        assert_int_equal(agent_channel_parse("serial:x", &k, name, sizeof(name), &port), -EINVAL);
}

static void test_hostname_valid(void **state)
{
        assert_true(agent_hostname_valid("a"));
        assert_true(agent_hostname_valid("vm-1.example"));
        assert_false(agent_hostname_valid(""));
        assert_false(agent_hostname_valid("-a"));
        assert_false(agent_hostname_valid("a-"));
        assert_false(agent_hostname_valid("a..b"));
        assert_false(agent_hostname_valid("a_b"));
        assert_false(agent_hostname_valid("a b"));
        char long_label[70];
        memset(long_label, 'a', 64);
        long_label[64] = '\0';
        assert_false(agent_hostname_valid(long_label));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good),
            cmocka_unit_test(test_vsock_and_last_wins),
            cmocka_unit_test(test_bad_values_skipped),
            cmocka_unit_test(test_ip_prefix_edge_cases),
            cmocka_unit_test(test_missing),
            cmocka_unit_test(test_get_flag_quotes_and_dashdash),
            cmocka_unit_test(test_channel_parse),
            cmocka_unit_test(test_hostname_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
