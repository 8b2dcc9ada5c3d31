/* Jailer plan, argv and path validation (pure; no root needed). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/firecracker/fc_jailer.h"
#include "util/macro.h"

static const char *const roots[] = {"/var/lib/banger", "/run/banger"};

static struct vmm_spec make_spec(void)
{
        struct vmm_spec s = {.vcpu = 2, .memory_mib = 512, .n_disks = 3, .vsock_cid = 7};
        snprintf(s.id, sizeof(s.id), "0123456789abcdef0123456789abcdef");
        snprintf(s.dir, sizeof(s.dir), "/var/lib/banger/vms/%s", s.id);
        snprintf(s.kernel_vmlinux, sizeof(s.kernel_vmlinux), "/var/lib/banger/kernels/k1/vmlinux");
        snprintf(s.initrd, sizeof(s.initrd), "/var/lib/banger/kernels/k1/initrd.img");
        snprintf(s.disks[0].path, sizeof(s.disks[0].path), "%s/root.ext4", s.dir);
        snprintf(s.disks[1].path, sizeof(s.disks[1].path), "%s/work.ext4", s.dir);
        snprintf(s.disks[2].path, sizeof(s.disks[2].path),
                 "/var/lib/banger/kernels/k1/modules.ext4");
        s.disks[2].read_only = true;
        snprintf(s.tap, sizeof(s.tap), "bgtap3");
        snprintf(s.mac, sizeof(s.mac), "52:54:00:aa:bb:cc");
        return s;
}

static struct fc_jailer_opts make_opts(void)
{
        return (struct fc_jailer_opts){
            .jailer = "/usr/bin/jailer",
            .exec_file = "/usr/bin/firecracker",
            .base_dir = "/var/lib/banger/jail",
            .uid = 1000,
            .gid = 1000,
            .roots = roots,
            .n_roots = ELEMENTSOF(roots),
        };
}

static void test_plan_layout(void **state)
{
        (void)state;
        struct vmm_spec s = make_spec();
        struct fc_jailer_opts o = make_opts();
        struct fc_jail_plan p;
        struct bg_error err = {0};
        assert_int_equal(fc_jailer_plan(&s, &o, &p, &err), 0);
        assert_string_equal(p.jail_dir,
                            "/var/lib/banger/jail/firecracker/0123456789abcdef0123456789abcdef");
        assert_string_equal(
            p.chroot_dir, "/var/lib/banger/jail/firecracker/0123456789abcdef0123456789abcdef/root");
        assert_int_equal(p.n_links, 5);
        assert_string_equal(p.links[0].src, s.kernel_vmlinux);
        assert_string_equal(p.links[0].jailed, "/vmlinux");
        assert_int_equal(p.links[0].root_len, strlen("/var/lib/banger"));
        assert_string_equal(p.links[1].jailed, "/initrd");
        assert_string_equal(p.links[2].jailed, "/vda");
        assert_string_equal(p.links[4].jailed, "/vdc");
        char want[600];
        snprintf(want, sizeof(want), "%s/vdb", p.chroot_dir);
        assert_string_equal(p.links[3].dst, want);
        snprintf(want, sizeof(want), "%s/dev/kvm", p.chroot_dir);
        assert_string_equal(p.nodes[0].path, want);
        assert_int_equal(p.nodes[0].major, 10);
        assert_int_equal(p.nodes[0].minor, 232);
        assert_int_equal(p.nodes[1].minor, 200);
        /* Short symlinks in the VM dir, pointing into the chroot. */
        assert_int_equal(p.n_symlinks, 4);
        snprintf(want, sizeof(want), "%s/api.sock", s.dir);
        assert_string_equal(p.symlinks[0].path, want);
        snprintf(want, sizeof(want), "%s/api.sock", p.chroot_dir);
        assert_string_equal(p.symlinks[0].target, want);
        assert_true(strlen(p.symlinks[0].target) > 107 - 30); /* the reason for the link */
        assert_true(strlen(p.symlinks[0].path) <= 107);
        /* The spec as the jailed Firecracker sees it. */
        assert_string_equal(p.jailed.dir, "/");
        assert_string_equal(p.jailed.kernel_vmlinux, "/vmlinux");
        assert_string_equal(p.jailed.initrd, "/initrd");
        assert_string_equal(p.jailed.disks[0].path, "/vda");
        assert_true(p.jailed.disks[2].read_only);
        assert_string_equal(p.jailed.tap, "bgtap3");
}

static void test_argv(void **state)
{
        (void)state;
        struct vmm_spec s = make_spec();
        struct fc_jailer_opts o = make_opts();
        o.parent_cgroup = "banger.slice/vms";
        struct fc_jail_plan p;
        struct bg_error err = {0};
        assert_int_equal(fc_jailer_plan(&s, &o, &p, &err), 0);
        struct fc_jail_argbuf b;
        const char *argv[FC_JAIL_MAX_ARGS];
        int n = fc_jailer_argv(&p, &b, argv, &err);
        static const char *const want[] = {"/usr/bin/jailer",
                                           "--id",
                                           "0123456789abcdef0123456789abcdef",
                                           "--exec-file",
                                           "/usr/bin/firecracker",
                                           "--uid",
                                           "1000",
                                           "--gid",
                                           "1000",
                                           "--chroot-base-dir",
                                           "/var/lib/banger/jail",
                                           "--cgroup-version",
                                           "2",
                                           "--parent-cgroup",
                                           "banger.slice/vms",
                                           "--",
                                           "--api-sock",
                                           "/api.sock"};
        assert_int_equal(n, (int)ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(argv[i], want[i]);
        assert_null(argv[n]);
        for (int i = 0; i < n; i++) {
                assert_string_not_equal(argv[i], "--daemonize");
                assert_string_not_equal(argv[i], "--new-pid-ns");
        }
        o.parent_cgroup = NULL;
        assert_int_equal(fc_jailer_plan(&s, &o, &p, &err), 0);
        n = fc_jailer_argv(&p, &b, argv, &err);
        assert_int_equal(n, (int)ELEMENTSOF(want) - 2);
        assert_string_equal(argv[n - 3], "--");
}

static void test_path_check(void **state)
{
        (void)state;
        struct bg_error err = {0};
        assert_int_equal(fc_jail_path_check("/var/lib/banger/vms/x/root.ext4", roots, 2, &err), 0);
        assert_int_equal(fc_jail_path_check("/run/banger/x", roots, 2, &err), 0);
        static const char *const bad[] = {
            "/var/lib/banger/../../etc/shadow",
            "/var/lib/banger/vms/./x",
            "/var/lib/banger//x",
            "/var/lib/banger/x/",
            "var/lib/banger/x",
            "/var/lib/bangerx/y",
            "/var/lib/banger",
            "/etc/shadow",
            "",
            "/var/lib/banger/x/..",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (fc_jail_path_check(bad[i], roots, 2, &err) >= 0)
                        fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(fc_jail_path_check("/etc/shadow", roots, 2, &err), -EPERM);
        assert_non_null(strstr(err.msg, "outside banger's directories"));
        assert_int_equal(fc_jail_path_check("/var/lib/banger/../x", roots, 2, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "'..'"));

        assert_true(vmm_id_valid("0a1b"));
        assert_false(vmm_id_valid("0A1B"));
        assert_false(vmm_id_valid("../x"));
        assert_false(vmm_id_valid(""));
        assert_false(vmm_id_valid("0123456789abcdef0123456789abcdef0"));
}

static void test_plan_refusals(void **state)
{
        (void)state;
        struct fc_jail_plan p;
        struct bg_error err = {0};
        struct vmm_spec s;
        struct fc_jailer_opts o;

#define REFUSE(mutate, needle)                                                                     \
        do {                                                                                       \
                s = make_spec();                                                                   \
                o = make_opts();                                                                   \
                mutate;                                                                            \
                bg_error_clear(&err);                                                              \
                assert_true(fc_jailer_plan(&s, &o, &p, &err) < 0);                                 \
                if (!strstr(err.msg, needle))                                                      \
                        fail_msg("'%s' lacks '%s'", err.msg, needle);                              \
        } while (0)

        REFUSE(snprintf(s.id, sizeof(s.id), "../../etc"), "hex");
        REFUSE(o.uid = 0, "root");
        REFUSE(o.exec_file = "/usr/bin/fc", "named 'firecracker'");
        REFUSE(o.exec_file = "/usr/bin/../bin/firecracker", "clean absolute");
        REFUSE(o.jailer = "jailer", "clean absolute");
        REFUSE(o.base_dir = "/srv/jailer", "chroot base dir: path '/srv/jailer' is outside");
        REFUSE(o.base_dir = "/var/lib/banger/../../srv", "chroot base dir");
        REFUSE(snprintf(s.kernel_vmlinux, sizeof(s.kernel_vmlinux), "/boot/vmlinux"), "outside");
        REFUSE(snprintf(s.disks[1].path, sizeof(s.disks[1].path),
                        "/var/lib/banger/vms/../../../etc/passwd"),
               "'..'");
        REFUSE(snprintf(s.dir, sizeof(s.dir), "/home/x/vm"), "VM dir");
        REFUSE(s.disks[0].format = VMM_DISK_QCOW2, "Firecracker needs raw disks");
        REFUSE(s.vcpu = 3, "even number");
        REFUSE(o.parent_cgroup = "/abs", "parent cgroup");
        REFUSE(o.parent_cgroup = "a/../../b", "parent cgroup");
        REFUSE(o.roots = NULL; o.n_roots = 0, "banger directories");
        /* A VM dir so long that DIR/api.sock would not fit in sun_path. */
        REFUSE(snprintf(s.dir, sizeof(s.dir), "/var/lib/banger/%0100d", 0), "too long");
#undef REFUSE
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_layout),
            cmocka_unit_test(test_argv),
            cmocka_unit_test(test_path_check),
            cmocka_unit_test(test_plan_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
