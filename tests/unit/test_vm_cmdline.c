/* vmsvc kernel command line: contents, and refusal of anything that could
 * inject parameters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vm_cmdline.h"

static const struct vm_boot_params good = {
    .name = "web-1",
    .ip = "172.30.0.5",
    .prefix = 24,
    .gateway = "172.30.0.1",
    .dns = "172.30.0.1",
    .mac = "52:54:00:1e:00:05",
    .has_modules_disk = true,
    .agent = "virtio-serial:org.banger.agent.0",
    .tcg = true,
};

static void test_full(void **state)
{
        char buf[1024];
        struct bg_error err = {0};
        assert_int_equal(vm_cmdline_build(&good, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "root=/dev/vda rw rootfstype=ext4 panic=-1 reboot=t "
                                 "tsc_early_khz=2000000 banger.name=web-1 banger.work=/dev/vdb "
                                 "banger.modules=/dev/vdc "
                                 "banger.agent=virtio-serial:org.banger.agent.0 "
                                 "banger.ip=172.30.0.5/24 banger.gw=172.30.0.1 "
                                 "banger.mac=52:54:00:1e:00:05 banger.dns=172.30.0.1");
}

static void test_minimal(void **state)
{
        struct vm_boot_params p = {.name = "a", .agent = "vsock:1024"};
        char buf[256];
        struct bg_error err = {0};
        assert_int_equal(vm_cmdline_build(&p, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "root=/dev/vda rw rootfstype=ext4 panic=-1 reboot=t "
                                 "banger.name=a banger.work=/dev/vdb banger.agent=vsock:1024");
}

static void test_refusals(void **state)
{
        char buf[1024];
        struct bg_error err = {0};
        struct vm_boot_params p;
#define REFUSE(field, value, needle)                                                               \
        do {                                                                                       \
                p = good;                                                                          \
                p.field = value;                                                                   \
                assert_int_equal(vm_cmdline_build(&p, buf, sizeof(buf), &err), -EINVAL);           \
                assert_non_null(strstr(err.msg, needle));                                          \
        } while (0)
        REFUSE(name, "web init=/bin/sh", "VM name");
        REFUSE(name, "", "VM name");
        REFUSE(ip, "172.30.0.5 init=/bin/sh", "not IPv4");
        REFUSE(gateway, "gw", "gateway");
        REFUSE(dns, "1.1.1.1 x", "DNS");
        REFUSE(dns, "1.1.1.1,", "DNS");
        REFUSE(dns, "1.1.1.1,,8.8.8.8", "DNS");
        REFUSE(dns, "1.1.1.1,x", "DNS");
        p = good;
        p.dns = "10.0.0.53,1.1.1.1";
        assert_int_equal(vm_cmdline_build(&p, buf, sizeof(buf), &err), 0);
        assert_non_null(strstr(buf, " banger.dns=10.0.0.53,1.1.1.1"));
        REFUSE(mac, "52:54:00:1E:00:05", "MAC");
        REFUSE(mac, "52:54:00:1e:00:05 x", "MAC");
        REFUSE(agent, "virtio-serial:a b", "agent");
        REFUSE(agent, "vsock:", "agent");
        REFUSE(agent, "tcp:1", "agent");
        p = good;
        p.agent = NULL; /* the driver adds it */
        assert_int_equal(vm_cmdline_build(&p, buf, sizeof(buf), &err), 0);
        assert_null(strstr(buf, "banger.agent"));
        REFUSE(prefix, 31, "prefix");
        assert_int_equal(vm_cmdline_build(&good, buf, 40, &err), -ENAMETOOLONG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_full),
            cmocka_unit_test(test_minimal),
            cmocka_unit_test(test_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
