/* The one kernel command line builder (lib/vmm/vmm_cmdline.c): contents for
 * the guest and machine parts, each parameter once, and refusal of anything
 * that could inject parameters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmdline_once.h"
#include "vmm/vmm_cmdline.h"

static const struct vmm_cmdline_machine qemu_tcg = {
    .console = "ttyS0",
    .agent = "virtio-serial:org.banger.agent.0",
    .tsc_khz = 2299998,
};

static const struct vmm_cmdline_machine firecracker = {
    .console = "ttyS0",
    .agent = "vsock:1024",
    .no_pci = true,
    .i8042_quick = true,
};

static void good_spec(struct vmm_spec *s)
{
        memset(s, 0, sizeof(*s));
        strcpy(s->name, "web-1");
        strcpy(s->mac, "52:54:00:1e:00:05");
        strcpy(s->boot.ip, "172.30.0.5");
        s->boot.prefix = 24;
        strcpy(s->boot.gateway, "172.30.0.1");
        strcpy(s->boot.dns, "172.30.0.1");
        s->boot.modules_disk = true;
}

static void test_full(void **state)
{
        struct vmm_spec s;
        good_spec(&s);
        char buf[VMM_CMDLINE_MAX];
        struct bg_error err = {0};
        assert_int_equal(vmm_cmdline_build(&s, &qemu_tcg, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 tsc_early_khz=2299998 "
                                 "root=/dev/vda rw rootfstype=ext4 banger.name=web-1 "
                                 "banger.work=/dev/vdb banger.modules=/dev/vdc "
                                 "banger.agent=virtio-serial:org.banger.agent.0 "
                                 "banger.ip=172.30.0.5/24 banger.gw=172.30.0.1 "
                                 "banger.mac=52:54:00:1e:00:05 banger.dns=172.30.0.1");
        assert_params_once(buf);

        assert_int_equal(vmm_cmdline_build(&s, &firecracker, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 pci=off i8042.noaux "
                                 "i8042.nomux i8042.dumbkbd root=/dev/vda rw rootfstype=ext4 "
                                 "banger.name=web-1 banger.work=/dev/vdb banger.modules=/dev/vdc "
                                 "banger.agent=vsock:1024 banger.ip=172.30.0.5/24 "
                                 "banger.gw=172.30.0.1 banger.mac=52:54:00:1e:00:05 "
                                 "banger.dns=172.30.0.1");
        assert_params_once(buf);
}

/* The KVM probe's line (accel_probe.c) comes from the same file. */
static void test_probe(void **state)
{
        char buf[96];
        assert_int_equal(vmm_cmdline_probe("ttyS0", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 rdinit=/nonexistent");
        assert_params_once(buf);
        assert_int_equal(vmm_cmdline_probe("ttyS0", buf, 20), -E2BIG);
}

static void test_minimal(void **state)
{
        struct vmm_spec s;
        memset(&s, 0, sizeof(s));
        strcpy(s.name, "a");
        strcpy(s.boot.init, "/sbin/e2e-init");
        const struct vmm_cmdline_machine m = {.console = "ttyS0", .agent = "vsock:1024"};
        char buf[256];
        struct bg_error err = {0};
        assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 root=/dev/vda rw "
                                 "rootfstype=ext4 init=/sbin/e2e-init banger.name=a "
                                 "banger.work=/dev/vdb banger.agent=vsock:1024");
        assert_params_once(buf);
}

/* --init agent: banger.init=agent, and no init= even if one is set. */
static void test_agent_init(void **state)
{
        struct vmm_spec s;
        memset(&s, 0, sizeof(s));
        strcpy(s.name, "a");
        strcpy(s.boot.init, "/sbin/e2e-init");
        s.boot.agent_init = true;
        const struct vmm_cmdline_machine m = {.console = "ttyS0", .agent = "vsock:1024"};
        char buf[256];
        struct bg_error err = {0};
        assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 root=/dev/vda rw "
                                 "rootfstype=ext4 banger.init=agent banger.name=a "
                                 "banger.work=/dev/vdb banger.agent=vsock:1024");
        assert_params_once(buf);
}

static void test_refusals(void **state)
{
        char buf[VMM_CMDLINE_MAX];
        struct bg_error err = {0};
        struct vmm_spec s;
        struct vmm_cmdline_machine m;
#define REFUSE(field, value, needle)                                                               \
        do {                                                                                       \
                good_spec(&s);                                                                     \
                m = qemu_tcg;                                                                      \
                snprintf(field, sizeof(field), "%s", value);                                       \
                assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), -EINVAL);      \
                if (!strstr(err.msg, needle))                                                      \
                        fail_msg("'%s' refused as '%s', not naming '%s'", value, err.msg, needle); \
                assert_string_equal(buf, "");                                                      \
        } while (0)
        REFUSE(s.name, "web init=/bin/sh", "VM name");
        REFUSE(s.name, "", "VM name");
        REFUSE(s.boot.ip, "172.30.0.5 init=/bin/sh", "not IPv4");
        REFUSE(s.boot.gateway, "gw", "gateway");
        REFUSE(s.boot.dns, "1.1.1.1 x", "DNS");
        REFUSE(s.boot.dns, "1.1.1.1,", "DNS");
        REFUSE(s.boot.dns, "1.1.1.1,,8.8.8.8", "DNS");
        REFUSE(s.boot.dns, "1.1.1.1,x", "DNS");
        REFUSE(s.mac, "52:54:00:1E:00:05", "MAC");
        REFUSE(s.mac, "52:54:00:1e:00:0", "MAC");
        REFUSE(s.boot.init, "sbin/init", "init");
        REFUSE(s.boot.init, "/sbin/init quiet", "init");
#undef REFUSE
        good_spec(&s);
        s.boot.prefix = 31;
        assert_int_equal(vmm_cmdline_build(&s, &qemu_tcg, buf, sizeof(buf), &err), -EINVAL);
        assert_non_null(strstr(err.msg, "prefix"));

        static const char *const agents[] = {"virtio-serial:a b", "vsock:", "vsock:1x", "tcp:1",
                                             NULL};
        good_spec(&s);
        for (const char *const *a = agents; *a; a++) {
                m = qemu_tcg;
                m.agent = *a;
                assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), -EINVAL);
                assert_non_null(strstr(err.msg, "agent"));
        }
        m = qemu_tcg;
        m.agent = NULL;
        assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), -EINVAL);
        m = qemu_tcg;
        m.console = "ttyS0 init=/x";
        assert_int_equal(vmm_cmdline_build(&s, &m, buf, sizeof(buf), &err), -EINVAL);
        assert_non_null(strstr(err.msg, "console"));

        /* Without an address nothing of the network is checked or written. */
        good_spec(&s);
        s.boot.ip[0] = '\0';
        strcpy(s.boot.gateway, "junk");
        assert_int_equal(vmm_cmdline_build(&s, &qemu_tcg, buf, sizeof(buf), &err), 0);
        assert_null(strstr(buf, "banger.ip"));
        assert_null(strstr(buf, "banger.mac"));
        assert_null(strstr(buf, "banger.dns"));

        good_spec(&s);
        strcpy(s.boot.dns, "10.0.0.53,1.1.1.1");
        assert_int_equal(vmm_cmdline_build(&s, &qemu_tcg, buf, sizeof(buf), &err), 0);
        assert_non_null(strstr(buf, " banger.dns=10.0.0.53,1.1.1.1"));
}

static void test_too_long(void **state)
{
        struct vmm_spec s;
        good_spec(&s);
        char buf[VMM_CMDLINE_MAX];
        struct bg_error err = {0};
        assert_int_equal(vmm_cmdline_build(&s, &firecracker, buf, 60, &err), -E2BIG);
        assert_non_null(strstr(err.msg, "too long (limit 59 bytes)"));
        assert_string_equal(buf, "");
        assert_int_equal(vmm_cmdline_build(&s, &firecracker, buf, 0, &err), -E2BIG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_full),       cmocka_unit_test(test_minimal),
            cmocka_unit_test(test_agent_init), cmocka_unit_test(test_probe),
            cmocka_unit_test(test_refusals),   cmocka_unit_test(test_too_long),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
