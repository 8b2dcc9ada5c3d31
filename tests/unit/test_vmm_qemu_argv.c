/* Unit tests of the QEMU VMM driver's command line: the argv it builds for
 * TCG and KVM, with and without a tap and vsock, escaping, the console pump,
 * and the specs it refuses. */
#include "test_vmm_qemu_fixture.h"

static int argv_find(char **argv, const char *a)
{
        for (int i = 0; argv[i]; i++)
                if (strcmp(argv[i], a) == 0)
                        return i;
        return -1;
}

/* The kernel command line QEMU gets: the value of the one -append (QEMU
 * would take the last of several, so a second one fails the test too). */
static const char *the_append(char **argv)
{
        const char *v = NULL;
        int n = 0;
        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], "-append") == 0) {
                        v = argv[i + 1];
                        n++;
                }
        if (n != 1)
                fail_msg("%d -append options, want one", n);
        return v;
}

/* The value following option `opt` whose value starts with prefix. */
static const char *opt_value(char **argv, const char *opt, const char *prefix)
{
        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], opt) == 0 && strncmp(argv[i + 1], prefix, strlen(prefix)) == 0)
                        return argv[i + 1];
        return NULL;
}

static void assert_pair(char **argv, const char *opt, const char *value)
{
        const char *v = opt_value(argv, opt, value);
        if (!v || strcmp(v, value) != 0)
                fail_msg("missing '%s %s'", opt, value);
}

/* ---- argv builder ---- */

static void test_argv_tcg_serial_no_tap(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG, .vsock = false, .tsc_khz = 2299998};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);

        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_pair(argv, "-M", "microvm,acpi=on,pit=off,pic=off,rtc=on");
        assert_pair(argv, "-accel", "tcg,thread=multi");
        assert_pair(argv, "-cpu", "qemu64");
        assert_pair(argv, "-m", "512M");
        assert_pair(argv, "-smp", "2");
        assert_pair(argv, "-name", "guest=dev-box");
        assert_true(argv_find(argv, "-no-reboot") > 0);
        assert_true(argv_find(argv, "-nodefaults") > 0);
        assert_pair(argv, "-display", "none");
        assert_pair(argv, "-chardev", "file,id=console,path=/var/lib/banger/vms/0123/console.log,append=on");
        assert_pair(argv, "-serial", "chardev:console");
        assert_pair(argv, "-chardev",
                    "socket,id=qmp,path=/var/lib/banger/vms/0123/qmp.sock,server=on,wait=off");
        assert_pair(argv, "-mon", "chardev=qmp,mode=control");
        assert_pair(argv, "-kernel", "/k/vmlinuz");
        assert_pair(argv, "-initrd", "/k/initrd.img");
        assert_pair(argv, "-append",
                    "console=ttyS0 reboot=t panic=-1 tsc_early_khz=2299998 root=/dev/vda rw "
                    "rootfstype=ext4 banger.name=dev-box banger.work=/dev/vdb "
                    "banger.modules=/dev/vdc banger.agent=virtio-serial:org.banger.agent.0");
        /* The whole line comes from one builder: every parameter once. */
        assert_params_once(the_append(argv));

        /* Disks in order, with their formats; the read-only one read-only. */
        int d0 = argv_find(argv, "id=disk0,file=/vm/root.qcow2,format=qcow2,if=none,discard=unmap");
        int d1 = argv_find(argv, "id=disk1,file=/vm/work.ext4,format=raw,if=none,discard=unmap");
        int d2 = argv_find(argv, "id=disk2,file=/k/modules.ext4,format=raw,if=none,readonly=on");
        assert_true(d0 > 0 && d1 > d0 && d2 > d1);
        assert_string_equal(argv[d0 + 2], "virtio-blk-device,drive=disk0");
        assert_string_equal(argv[d2 + 2], "virtio-blk-device,drive=disk2");
        assert_string_equal(argv[d0 - 1], "-drive");

        /* No network, agent over virtio-serial. */
        assert_int_equal(argv_find(argv, "-netdev"), -1);
        assert_pair(argv, "-device", "virtio-serial-device");
        assert_pair(argv, "-chardev",
                    "socket,id=agent,path=/var/lib/banger/vms/0123/agent.sock,server=on,wait=off");
        assert_pair(argv, "-device", "virtserialport,chardev=agent,name=org.banger.agent.0");
        assert_null(opt_value(argv, "-device", "vhost-vsock"));
        /* No exec ports unless asked for (a template from before them). */
        assert_null(opt_value(argv, "-chardev", "socket,id=exec"));
        vmm_qemu_argv_free(argv);

        /* Exec ports: one socket chardev and one port each, beside the agent's. */
        s.exec_ports = 2;
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-chardev",
                    "socket,id=exec0,path=/var/lib/banger/vms/0123/exec-0.sock,server=on,wait=off");
        assert_pair(argv, "-device", "virtserialport,chardev=exec0,name=org.banger.exec.0");
        assert_pair(argv, "-chardev",
                    "socket,id=exec1,path=/var/lib/banger/vms/0123/exec-1.sock,server=on,wait=off");
        assert_pair(argv, "-device", "virtserialport,chardev=exec1,name=org.banger.exec.1");
        assert_null(opt_value(argv, "-chardev", "socket,id=exec2"));
        vmm_qemu_argv_free(argv);
        s.exec_ports = VMM_EXEC_PORTS_MAX + 1;
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "exec ports"));
}

static void test_argv_kvm_tap_vsock(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        strcpy(s.tap, "bgtap3");
        strcpy(s.mac, "52:54:00:ab:cd:ef");
        s.n_disks = 1;
        s.initrd[0] = '\0';
        s.boot.modules_disk = false;
        strcpy(s.boot.ip, "172.30.0.9");
        s.boot.prefix = 24;
        strcpy(s.boot.gateway, "172.30.0.1");
        strcpy(s.boot.dns, "1.1.1.1,8.8.8.8");
        s.exec_ports = 8; /* vhost-vsock: connections are independent, no exec ports */
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_KVM, .vsock = true, .tsc_khz = 2299998};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-accel", "kvm");
        assert_pair(argv, "-cpu", "host");
        /* Under KVM the guest uses kvmclock: no TSC frequency; no initrd given. */
        assert_pair(argv, "-append",
                    "console=ttyS0 reboot=t panic=-1 root=/dev/vda rw rootfstype=ext4 "
                    "banger.name=dev-box banger.work=/dev/vdb banger.agent=vsock:1024 "
                    "banger.ip=172.30.0.9/24 banger.gw=172.30.0.1 banger.mac=52:54:00:ab:cd:ef "
                    "banger.dns=1.1.1.1,8.8.8.8");
        assert_params_once(the_append(argv));
        assert_int_equal(argv_find(argv, "-initrd"), -1);
        assert_pair(argv, "-netdev", "tap,id=net0,ifname=bgtap3,script=no,downscript=no");
        assert_pair(argv, "-device", "virtio-net-device,netdev=net0,mac=52:54:00:ab:cd:ef");
        assert_pair(argv, "-device", "vhost-vsock-device,guest-cid=7");
        assert_null(opt_value(argv, "-device", "virtio-serial-device"));
        assert_null(opt_value(argv, "-chardev", "socket,id=agent"));
        assert_null(opt_value(argv, "-chardev", "socket,id=exec"));
        assert_non_null(opt_value(argv, "-drive", "id=disk0,"));
        assert_null(opt_value(argv, "-drive", "id=disk1,"));
        vmm_qemu_argv_free(argv);
}

static void test_argv_commas_escaped(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        strcpy(s.dir, "/tmp/a,b");
        strcpy(s.disks[0].path, "/img/x,readonly=off");
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-chardev", "socket,id=qmp,path=/tmp/a,,b/qmp.sock,server=on,wait=off");
        assert_pair(argv, "-chardev", "file,id=console,path=/tmp/a,,b/console.log,append=on");
        assert_non_null(
            opt_value(argv, "-drive", "id=disk0,file=/img/x,,readonly=off,format=qcow2,if=none"));
        /* tsc_khz 0: no tsc_early_khz. */
        assert_non_null(
            opt_value(argv, "-append", "console=ttyS0 reboot=t panic=-1 root=/dev/vda"));
        vmm_qemu_argv_free(argv);
}

/* With a console pump the console goes to QEMU's stdout (the pump's pipe),
 * never to a file in the VM's directory. */
static void test_argv_console_pump(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        s.console_fd = 7;
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-chardev", "file,id=console,path=/dev/stdout");
        assert_pair(argv, "-serial", "chardev:console");
        for (char **a = argv; *a; a++)
                assert_null(strstr(*a, "console.log"));
        vmm_qemu_argv_free(argv);
}

static void expect_rejected(const struct vmm_spec *s, const struct vmm_qemu_opts *o,
                            const char *msg_part)
{
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(s, o, &argv, &err), -EINVAL);
        assert_null(argv);
        if (!strstr(err.msg, msg_part))
                fail_msg("error '%s' lacks '%s'", err.msg, msg_part);
}

static void test_argv_rejects(void **state)
{
        struct vmm_spec s;
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        struct vmm_qemu_opts auto_o = {.accel = VMM_ACCEL_AUTO};
        base_spec(&s);
        expect_rejected(&s, &auto_o, "kvm or tcg");
        base_spec(&s);
        s.n_disks = 5;
        expect_rejected(&s, &o, "5 disks");
        base_spec(&s);
        strcpy(s.tap, "bg tap");
        expect_rejected(&s, &o, "tap name 'bg tap'");
        base_spec(&s);
        strcpy(s.tap, "bg0");
        strcpy(s.mac, "52:54:00:zz:00:01");
        expect_rejected(&s, &o, "MAC address");
        base_spec(&s);
        s.vsock_cid = 2;
        struct vmm_qemu_opts vs = {.accel = VMM_ACCEL_KVM, .vsock = true};
        expect_rejected(&s, &vs, "vsock CID 2");
        base_spec(&s);
        memset(s.dir, 'x', 100);
        s.dir[0] = '/';
        s.dir[100] = '\0';
        expect_rejected(&s, &o, "too long for a unix socket");
        base_spec(&s);
        strcpy(s.dir, "relative/dir");
        expect_rejected(&s, &o, "not an absolute path");
        base_spec(&s);
        s.vcpu = 0;
        expect_rejected(&s, &o, "vcpu count 0");
        base_spec(&s);
        s.memory_mib = 16;
        expect_rejected(&s, &o, "memory 16 MiB");
        base_spec(&s);
        strcpy(s.name, "dev box");
        expect_rejected(&s, &o, "VM name");
        base_spec(&s);
        strcpy(s.boot.init, "/sbin/init\nrdinit=/bin/sh");
        expect_rejected(&s, &o, "init");
        base_spec(&s);
        s.disks[1].path[0] = '\0';
        expect_rejected(&s, &o, "disk 1 has no path");
        base_spec(&s);
        s.kernel_bzimage[0] = '\0';
        expect_rejected(&s, &o, "no kernel");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_argv_tcg_serial_no_tap),
            cmocka_unit_test(test_argv_kvm_tap_vsock),
            cmocka_unit_test(test_argv_commas_escaped),
            cmocka_unit_test(test_argv_console_pump),
            cmocka_unit_test(test_argv_rejects),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
