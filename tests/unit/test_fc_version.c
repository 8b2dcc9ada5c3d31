/* Firecracker version checks, exit code table, vCPU and boot argument rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmdline_once.h"
#include "util/macro.h"
#include "vmm/firecracker/fc_config.h"
#include "vmm/firecracker/fc_version.h"
#include "vmm/firecracker/vmm_firecracker.h"
#include "vmm/vmm_proc.h"

static void test_version_parse(void **state)
{
        (void)state;
        static const struct {
                const char *text;
                int r;
                unsigned a, b, c;
        } cases[] = {
            {"Firecracker v1.16.1\n\n", 0, 1, 16, 1},   {"Firecracker v1.5.0", 0, 1, 5, 0},
            {"Firecracker v1.10.0-dev\n", 0, 1, 10, 0}, {"Firecracker v2.0.12 ", 0, 2, 0, 12},
            {"firecracker 1.16.1", -EINVAL, 0, 0, 0},   {"Firecracker 1.16.1", -EINVAL, 0, 0, 0},
            {"Firecracker v1.16", -EINVAL, 0, 0, 0},    {"Firecracker v1.x.1", -EINVAL, 0, 0, 0},
            {"Firecracker v1.16.1x", -EINVAL, 0, 0, 0}, {"", -EINVAL, 0, 0, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned a = 99, b = 99, c = 99;
                int r = fc_version_parse(cases[i].text, &a, &b, &c);
                if (r != cases[i].r)
                        fail_msg("'%s': %d, want %d", cases[i].text, r, cases[i].r);
                if (r == 0) {
                        assert_int_equal(a, cases[i].a);
                        assert_int_equal(b, cases[i].b);
                        assert_int_equal(c, cases[i].c);
                } else {
                        assert_int_equal(a, 99); /* untouched on failure */
                }
        }
}

/* GET / "vmm_version": the bare form. */
static void test_version_parse_api(void **state)
{
        (void)state;
        static const struct {
                const char *text;
                int r;
                unsigned a, b, c;
        } cases[] = {
            {"1.16.1", 0, 1, 16, 1},      {"1.12.0-dev", 0, 1, 12, 0},   {"v1.15.2", 0, 1, 15, 2},
            {"1.16", -EINVAL, 0, 0, 0},   {"1.16.1x", -EINVAL, 0, 0, 0}, {"", -EINVAL, 0, 0, 0},
            {"x1.2.3", -EINVAL, 0, 0, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned a = 99, b = 99, c = 99;
                int r = fc_version_parse_api(cases[i].text, &a, &b, &c);
                if (r != cases[i].r)
                        fail_msg("'%s': %d, want %d", cases[i].text, r, cases[i].r);
                if (r == 0) {
                        assert_int_equal(a, cases[i].a);
                        assert_int_equal(b, cases[i].b);
                        assert_int_equal(c, cases[i].c);
                } else {
                        assert_int_equal(a, 99);
                }
        }
        assert_int_equal(fc_version_parse_api(NULL, &(unsigned){0}, &(unsigned){0}, &(unsigned){0}),
                         -EINVAL);
}

static void test_version_ranges(void **state)
{
        (void)state;
        assert_false(fc_version_supported(1, 4, 9));
        assert_false(fc_version_supported(0, 25, 0));
        assert_true(fc_version_supported(1, 5, 0));
        assert_true(fc_version_supported(1, 16, 1));
        assert_true(fc_version_supported(2, 0, 0));
        assert_true(fc_version_tested(1, 5, 0));
        assert_true(fc_version_tested(1, 16, 9));
        assert_false(fc_version_tested(1, 17, 0));
        assert_false(fc_version_tested(2, 0, 0));
        assert_false(fc_version_tested(1, 4, 0));
        /* Templates: vsock_override arrived in 1.16.0. */
        assert_false(fc_version_snapshots(1, 15, 9));
        assert_false(fc_version_snapshots(1, 5, 0));
        assert_false(fc_version_snapshots(0, 99, 0));
        assert_true(fc_version_snapshots(1, 16, 0));
        assert_true(fc_version_snapshots(1, 17, 0));
        assert_true(fc_version_snapshots(2, 0, 0));
}

static void test_version_of_binary(void **state)
{
        (void)state;
        struct bg_error err = {0};
        unsigned a, b, c;
        setenv("FAKE_FC_VERSION", "1.16.1", 1);
        assert_int_equal(fc_version(FC_FAKE_BINARY, &a, &b, &c, &err), 0);
        assert_int_equal(a, 1);
        assert_int_equal(b, 16);
        assert_int_equal(c, 1);

        char why[256];
        assert_int_equal(fc_usable_kvm(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)), 1);
        assert_non_null(strstr(why, "v1.16.1"));
        assert_null(strstr(why, "newer than the tested"));

        setenv("FAKE_FC_VERSION", "1.4.1", 1);
        assert_int_equal(fc_usable_kvm(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)), 0);
        assert_non_null(strstr(why, "older than 1.5.0"));
        /* vmm = "auto" falls back to QEMU and says why */
        assert_string_equal(fc_auto_pick(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)), "qemu");
        assert_non_null(strstr(why, "older than 1.5.0"));
        setenv("FAKE_FC_VERSION", "1.16.1", 1);
        assert_string_equal(fc_auto_pick(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)),
                            "firecracker");
        assert_string_equal(fc_auto_pick(FC_FAKE_BINARY, "/nonexistent/kvm", why, sizeof(why)),
                            "qemu");
        assert_string_equal(fc_auto_pick("/nonexistent/firecracker", "/dev/null", why, sizeof(why)),
                            "qemu");

        setenv("FAKE_FC_VERSION", "1.20.0", 1);
        assert_int_equal(fc_usable_kvm(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)), 1);
        assert_non_null(strstr(why, "newer than the tested 1.5.0 .. 1.16.x"));

        setenv("FAKE_FC_VERSION", "garbage", 1);
        assert_int_equal(fc_version(FC_FAKE_BINARY, &a, &b, &c, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "no Firecracker version"));
        assert_int_equal(fc_usable_kvm(FC_FAKE_BINARY, "/dev/null", why, sizeof(why)), 0);

        setenv("FAKE_FC_VERSION", "1.16.1", 1);
        assert_int_equal(fc_usable_kvm(FC_FAKE_BINARY, "/nonexistent/kvm", why, sizeof(why)), 0);
        assert_non_null(strstr(why, "/nonexistent/kvm"));

        assert_int_equal(fc_usable("/nonexistent/firecracker", why, sizeof(why)), 0);
        assert_non_null(strstr(why, "/nonexistent/firecracker not found"));

        /* PATH lookup of a bare name. */
        char dir[4096], path[8192], *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
        snprintf(dir, sizeof(dir), "%s", FC_FAKE_BINARY);
        *strrchr(dir, '/') = '\0';
        snprintf(path, sizeof(path), "%s:%s", dir, old ? old : "/usr/bin");
        setenv("PATH", path, 1);
        char found[4096];
        assert_int_equal(vmm_find_binary("firecracker", found, sizeof(found)), 0);
        assert_string_equal(found, FC_FAKE_BINARY);
        assert_int_equal(fc_version("firecracker", &a, &b, &c, &err), 0);
        setenv("PATH", "/nonexistent", 1);
        assert_int_equal(vmm_find_binary("firecracker", found, sizeof(found)), -ENOENT);
        assert_int_equal(fc_usable("firecracker", why, sizeof(why)), 0);
        assert_string_equal(why, "firecracker not found in PATH");
        setenv("PATH", old ? old : "/usr/bin:/bin", 1);
        free(old);
}

static void test_exit_codes(void **state)
{
        (void)state;
        static const int codes[] = {0, 1, 2, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157};
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                const char *name = fc_exit_code_to_string(codes[i]);
                assert_non_null(name);
                assert_int_equal(fc_exit_code_from_string(name), codes[i]);
                assert_non_null(fc_exit_code_describe(codes[i]));
        }
        assert_string_equal(fc_exit_code_to_string(148), "BadSyscall");
        assert_string_equal(fc_exit_code_to_string(153), "ArgParsing");
        assert_null(fc_exit_code_to_string(3));
        assert_null(fc_exit_code_describe(127));
        assert_int_equal(fc_exit_code_from_string("Nope"), -EINVAL);
        assert_int_equal(fc_exit_code_from_string(NULL), -EINVAL);

        /* exit_reason in words, from a wait status and the logs. */
        struct vmm_spec spec = {0};
        snprintf(spec.dir, sizeof(spec.dir), "/nonexistent");
        char buf[256];
        vmm_firecracker_driver.exit_reason(&spec, 148 << 8, buf, sizeof(buf));
        assert_non_null(strstr(buf, "code 148 (BadSyscall: stopped by seccomp"));
        vmm_firecracker_driver.exit_reason(&spec, 0, buf, sizeof(buf));
        assert_non_null(strstr(buf, "code 0 (Ok: clean exit"));
        vmm_firecracker_driver.exit_reason(&spec, 9 /* WTERMSIG */, buf, sizeof(buf));
        assert_string_equal(buf, "Firecracker was killed by signal 9 (SIGKILL)");
        vmm_firecracker_driver.exit_reason(&spec, -1, buf, sizeof(buf));
        assert_string_equal(buf, "");
}

static void test_vcpu(void **state)
{
        (void)state;
        struct bg_error err = {0};
        assert_int_equal(fc_check_vcpu(1, &err), 0);
        assert_int_equal(fc_check_vcpu(2, &err), 0);
        assert_int_equal(fc_check_vcpu(32, &err), 0);
        assert_int_equal(fc_check_vcpu(0, &err), -EINVAL);
        assert_int_equal(fc_check_vcpu(3, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "1 or an even number of vCPUs up to 32, not 3"));
        assert_int_equal(fc_check_vcpu(31, &err), -EINVAL);
        assert_int_equal(fc_check_vcpu(34, &err), -EINVAL);
}

/* Firecracker's machine part of the kernel command line: console, agent on
 * vsock 1024, no PCI, quick i8042, and nothing twice. */
static void test_boot_args(void **state)
{
        (void)state;
        struct bg_error err = {0};
        struct vmm_spec s;
        memset(&s, 0, sizeof(s));
        snprintf(s.name, sizeof(s.name), "a");
        char buf[VMM_CMDLINE_MAX];
        assert_int_equal(fc_boot_args(&s, buf, sizeof(buf), &err), 0);
        assert_string_equal(buf, "console=ttyS0 reboot=t panic=-1 pci=off i8042.noaux "
                                 "i8042.nomux i8042.dumbkbd root=/dev/vda rw rootfstype=ext4 "
                                 "banger.name=a banger.work=/dev/vdb banger.agent=vsock:1024");
        assert_params_once(buf);
        /* Under Firecracker the guest always runs on KVM: no TSC rate. */
        assert_null(strstr(buf, "tsc_early_khz"));
        snprintf(s.name, sizeof(s.name), "a b");
        assert_int_equal(fc_boot_args(&s, buf, sizeof(buf), &err), -EINVAL);
        assert_non_null(strstr(err.msg, "VM name"));
        snprintf(s.name, sizeof(s.name), "a");
        assert_int_equal(fc_boot_args(&s, buf, 40, &err), -E2BIG);
        assert_non_null(strstr(err.msg, "too long"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_version_parse),  cmocka_unit_test(test_version_parse_api),
            cmocka_unit_test(test_version_ranges), cmocka_unit_test(test_version_of_binary),
            cmocka_unit_test(test_exit_codes),     cmocka_unit_test(test_vcpu),
            cmocka_unit_test(test_boot_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
