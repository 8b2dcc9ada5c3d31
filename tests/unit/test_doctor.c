/* lib/doctor: every doctor row's PASS/WARN/FAIL branch against a faked host
 * (test_doctor_fixture.h). System install, units and the manifest:
 * test_doctor_install.c. */
#include "test_doctor_fixture.h"

/* ---- rows ------------------------------------------------------------- */

static void test_kvm(void **state)
{
        struct ctx *c = *state;
        assert_row(c, doctor_check_kvm, "kvm", DOCTOR_PASS, "API version 12");
        c->f.kvm_api = 11;
        assert_row(c, doctor_check_kvm, "kvm", DOCTOR_FAIL, "expected 12");
        c->f.kvm_r = -ENOENT;
        assert_row(c, doctor_check_kvm, "kvm", DOCTOR_WARN, "no /dev/kvm");
        c->f.kvm_r = -EACCES;
        assert_row(c, doctor_check_kvm, "kvm", DOCTOR_WARN, "permission denied");
        assert_non_null(strstr(c->rep.rows[0].hint, "usermod -aG kvm"));
        c->cfg.vmm = BG_VMM_FIRECRACKER;
        c->f.kvm_r = -ENOENT;
        assert_row(c, doctor_check_kvm, "kvm", DOCTOR_FAIL, "requires KVM");
}

static void test_tun(void **state)
{
        struct ctx *c = *state;
        c->env.is_root = false;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_PASS, "opens read-write");
        c->f.tun_r = -EACCES;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_FAIL, "permission denied");
        assert_non_null(strstr(doctor_find(&c->rep, "tun")->hint, "chmod 0666 /dev/net/tun"));
        c->f.tun_r = -ENOENT;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_FAIL, "no /dev/net/tun");
        assert_non_null(strstr(doctor_find(&c->rep, "tun")->hint, "modprobe tun"));
        c->f.tun_r = -EIO;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_FAIL, "Input/output error");
        c->env.dev_open = NULL;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_WARN, "cannot check");
        /* Root in system mode: the owner's access is read off the mode. */
        c->env.is_root = true;
        c->in.system_mode = true;
        c->f.files[c->f.n_files++] = (struct fake_file){"/dev/net/tun", NULL, S_IFCHR | 0600, 0, 0};
        assert_row(c, doctor_check_tun, "tun", DOCTOR_WARN, "mode 0600");
        c->f.files[c->f.n_files - 1].mode = S_IFCHR | 0666;
        assert_row(c, doctor_check_tun, "tun", DOCTOR_PASS, "mode 0666");
}

static void test_accel(void **state)
{
        struct ctx *c = *state;
        c->f.accel = DOCTOR_ACCEL_KVM;
        assert_row(c, doctor_check_accel, "accel", DOCTOR_PASS, "KVM acceleration");
        c->f.accel = DOCTOR_ACCEL_TCG;
        assert_row(c, doctor_check_accel, "accel", DOCTOR_WARN, "fall back to TCG");
        c->f.accel = DOCTOR_ACCEL_UNKNOWN;
        assert_row(c, doctor_check_accel, "accel", DOCTOR_WARN, "unknown");
        c->env.accel_probe = NULL;
        assert_row(c, doctor_check_accel, "accel", DOCTOR_WARN, "no accelerator probe");
        c->env.accel_probe = f_accel;
        c->f.accel = DOCTOR_ACCEL_TCG;
        c->cfg.qemu.accel = BG_QEMU_ACCEL_KVM;
        assert_row(c, doctor_check_accel, "accel", DOCTOR_FAIL, "requires KVM");
}

static void set_versions(struct ctx *c, const char *qemu, const char *fc)
{
        c->f.outputs[0][0] = "qemu-system-x86_64";
        c->f.outputs[0][1] = qemu;
        c->f.outputs[1][0] = "firecracker";
        c->f.outputs[1][1] = fc;
}

static void test_vmm(void **state)
{
        struct ctx *c = *state;
        set_versions(c, "QEMU emulator version 7.2.5 (Debian 1:7.2+dfsg-7)\nCopyright",
                     "Firecracker v1.7.0\n\nSupported snapshot data format versions: 1.0");
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_PASS, "QEMU 7.2.5");
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_PASS, "Firecracker 1.7.0");

        /* Firecracker: too new, too old, missing. */
        set_versions(c, "QEMU emulator version 7.2.5", "Firecracker v1.17.0");
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_WARN, "newer than the tested");
        set_versions(c, "QEMU emulator version 7.2.5", "Firecracker v1.4.1");
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_WARN, "older than 1.5.0");
        c->cfg.vmm = BG_VMM_FIRECRACKER;
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_FAIL, "older than 1.5.0");
        c->f.missing[0] = "firecracker";
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_FAIL, "needs it");
        c->cfg.vmm = BG_VMM_AUTO;
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_WARN, "not found");
        assert_non_null(strstr(doctor_find(&c->rep, "vmm.firecracker")->hint, "releases"));
        c->f.os = "arch";
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_WARN, "not found");
        assert_string_equal(doctor_find(&c->rep, "vmm.firecracker")->hint,
                            "sudo pacman -S firecracker");
        c->cfg.vmm = BG_VMM_QEMU;
        assert_row(c, doctor_check_vmm, "vmm.firecracker", DOCTOR_PASS, "not needed");

        /* QEMU: old, missing. */
        set_versions(c, "QEMU emulator version 4.2.1", "Firecracker v1.7.0");
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_FAIL, "older than 5.2");
        c->f.missing[0] = "qemu-system-x86_64";
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_FAIL, "needs it");
        c->cfg.vmm = BG_VMM_AUTO; /* Firecracker 1.7 works and KVM is fine */
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_WARN, "Firecracker is used");
        c->f.missing[1] = "firecracker";
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_FAIL, "no VMM");
        c->f.missing[0] = c->f.missing[1] = NULL;
        c->f.run_status = 1;
        assert_row(c, doctor_check_vmm, "vmm.qemu", DOCTOR_FAIL, "--version failed");
}

static void test_tools(void **state)
{
        struct ctx *c = *state;
        doctor_report_free(&c->rep);
        assert_int_equal(doctor_check_tools(&c->env, &c->in, &c->rep), 0);
        assert_int_equal(c->rep.n, 6);
        for (size_t i = 0; i < c->rep.n; i++)
                assert_int_equal(c->rep.rows[i].status, DOCTOR_PASS);
        c->f.missing[0] = "mkfs.ext4";
        c->f.missing[1] = "mmdebstrap";
        c->f.missing[2] = "qemu-img";
        assert_row(c, doctor_check_tools, "tools.mkfs.ext4", DOCTOR_FAIL, "work disk");
        assert_string_equal(doctor_find(&c->rep, "tools.mkfs.ext4")->hint,
                            "sudo apt-get install e2fsprogs");
        assert_row(c, doctor_check_tools, "tools.mmdebstrap", DOCTOR_WARN, "golden image");
        assert_row(c, doctor_check_tools, "tools.qemu-img", DOCTOR_WARN, "not found");
        c->cfg.vmm = BG_VMM_QEMU;
        assert_row(c, doctor_check_tools, "tools.qemu-img", DOCTOR_FAIL, "not found");
        assert_row(c, doctor_check_tools, "tools.ssh", DOCTOR_PASS, "/usr/bin/ssh");
        /* fakechroot: a row only in system mode (the unit's no_new_privs). */
        c->f.missing[3] = "fakechroot";
        assert_null(doctor_find(&c->rep, "tools.fakechroot"));
        c->in.system_mode = true;
        assert_row(c, doctor_check_tools, "tools.fakechroot", DOCTOR_WARN, "golden image");
        assert_string_equal(doctor_find(&c->rep, "tools.fakechroot")->hint,
                            "sudo apt-get install fakechroot fakeroot");
        c->in.system_mode = false;
}

static void test_nftables(void **state)
{
        struct ctx *c = *state;
        c->f.outputs[0][0] = "nft";
        c->f.outputs[0][1] = "table inet filter\ntable inet banger\n";
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_PASS, "table inet banger present");
        c->f.run_status = 1;
        c->f.outputs[0][1] = "Error: Could not process rule: Operation not supported";
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_WARN, "Operation not supported");
        c->f.missing[0] = "nft";
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_WARN, "nft not found");
        c->env.is_root = false;
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_WARN, "without root");
        c->f.net = (struct doctor_net){.known = true, .nft_present = true};
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_PASS, "in place");
        c->f.net.nft_present = false;
        assert_row(c, doctor_check_nftables, "nftables", DOCTOR_WARN, "missing");
}

static void test_subnet(void **state)
{
        struct ctx *c = *state;
        assert_row(c, doctor_check_subnet, "subnet", DOCTOR_PASS, "172.30.0.0/24 overlaps no");
        c->f.route_r = 1;
        c->f.route = "172.16.0.0/12 dev eth0";
        assert_row(c, doctor_check_subnet, "subnet", DOCTOR_FAIL, "172.16.0.0/12 dev eth0");
        c->f.route_r = -EPERM;
        assert_row(c, doctor_check_subnet, "subnet", DOCTOR_WARN, "cannot read");
}

/* A fake /proc with one UDP socket on 127.0.0.1:42069 (inode 4242), held
 * by pid 77 named comm (or by nobody visible when comm is NULL). */
static void fake_proc(struct ctx *c, const char *comm)
{
        char p[256], cmd[320];
        if (c->tmp[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf %s", c->tmp);
                assert_int_equal(system(cmd), 0);
        }
        snprintf(c->tmp, sizeof(c->tmp), "/tmp/doctor-proc.XXXXXX");
        assert_non_null(mkdtemp(c->tmp));
        snprintf(p, sizeof(p), "%s/net", c->tmp);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/net/udp", c->tmp);
        FILE *f = fopen(p, "w");
        fprintf(f, "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                   "retrnsmt   uid  timeout inode ref pointer drops\n"
                   "  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 "
                   "00000000     0        0 1111 2 0000000000000000 0\n"
                   "  321: 0100007F:A455 00000000:0000 07 00000000:00000000 00:00000000 "
                   "00000000     0        0 4242 2 0000000000000000 0\n");
        fclose(f);
        if (!comm)
                return;
        snprintf(p, sizeof(p), "%s/77/fd", c->tmp);
        assert_int_equal(mkdir_p(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/77/fd/3", c->tmp);
        assert_int_equal(symlink("socket:[4242]", p), 0);
        snprintf(p, sizeof(p), "%s/77/fd/4", c->tmp);
        assert_int_equal(symlink("/dev/null", p), 0);
        snprintf(p, sizeof(p), "%s/77/comm", c->tmp);
        f = fopen(p, "w");
        fprintf(f, "%s\n", comm);
        fclose(f);
}

static void test_dns_port(void **state)
{
        struct ctx *c = *state;
        fake_proc(c, "banger-netsvc");
        c->env.proc_root = c->tmp;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_PASS, "banger-netsvc (pid 77)");
        fake_proc(c, "dnsmasq");
        c->env.proc_root = c->tmp;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_FAIL, "taken by dnsmasq (pid 77)");
        fake_proc(c, NULL);
        c->env.proc_root = c->tmp;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_WARN, "cannot see which");
        /* not visible, but netsvc says it is its own server: PASS; another
         * address in netsvc's list does not count */
        c->f.net = (struct doctor_net){.known = true, .n_dns_listen = 2};
        snprintf(c->f.net.dns_listen[0], sizeof(c->f.net.dns_listen[0]), "172.30.0.1:%u",
                 (unsigned)c->cfg.network.dns_listen.port);
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_WARN, "cannot see which");
        snprintf(c->f.net.dns_listen[1], sizeof(c->f.net.dns_listen[1]), "127.0.0.1:%u",
                 (unsigned)c->cfg.network.dns_listen.port);
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_PASS, "banger-netsvc reports");
        c->f.net.known = false;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_WARN, "cannot see which");
        c->cfg.network.dns_listen.port = 5353;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_WARN, "nothing answers");
        c->env.proc_root = "/nonexistent-proc";
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_WARN, "cannot read");
        c->in.system_mode = true;
        c->cfg.network.dns_listen.port = 53;
        assert_row(c, doctor_check_dns_port, "dns.port", DOCTOR_FAIL, "below 1024");
}

static void test_resolver(void **state)
{
        struct ctx *c = *state;
        assert_row(c, doctor_check_resolver, "resolver", DOCTOR_WARN, "not running");
        assert_non_null(strstr(doctor_find(&c->rep, "resolver")->hint, "-p 42069"));
        c->f.resolved = true;
        c->f.net = (struct doctor_net){.known = true, .resolver_routed = true};
        assert_row(c, doctor_check_resolver, "resolver", DOCTOR_PASS, "routes ~vm");
        c->f.net.resolver_routed = false;
        assert_row(c, doctor_check_resolver, "resolver", DOCTOR_WARN, "does not route");
        c->f.net.known = false;
        c->f.outputs[0][0] = "resolvectl";
        c->f.outputs[0][1] = "Link 9 (banger0): ~vm\n";
        assert_row(c, doctor_check_resolver, "resolver", DOCTOR_PASS, "routes ~vm via banger0");
        c->f.outputs[0][1] = "Link 9 (banger0):\n";
        assert_row(c, doctor_check_resolver, "resolver", DOCTOR_WARN, "not routed");
}

static void test_disk(void **state)
{
        struct ctx *c = *state;
        assert_row(c, doctor_check_disk, "disk", DOCTOR_PASS, "100.0 GiB free in /");
        c->f.free_bytes = 3ULL << 30;
        assert_row(c, doctor_check_disk, "disk", DOCTOR_WARN, "3.0 GiB");
        c->f.free_bytes = 512ULL << 20;
        assert_row(c, doctor_check_disk, "disk", DOCTOR_FAIL, "only 0.50 GiB");
        /* The nearest existing parent is measured. */
        c->f.files[0] = (struct fake_file){"/var", NULL, S_IFDIR | 0755, 0, 0};
        c->f.n_files = 1;
        assert_row(c, doctor_check_disk, "disk", DOCTOR_FAIL, "in /var (");
}

static void set_health(struct ctx *c, const char *down, const char *ver)
{
        static const char *names[] = {"gateway", "netsvc", "imagesvc", "vmsvc", "workspacesvc"};
        c->f.n_health = 5;
        for (size_t i = 0; i < 5; i++) {
                struct doctor_health *h = &c->f.health[i];
                memset(h, 0, sizeof(*h));
                snprintf(h->name, sizeof(h->name), "%s", names[i]);
                h->up = !down || strcmp(down, names[i]) != 0;
                snprintf(h->version, sizeof(h->version), "%s",
                         ver && strcmp(names[i], "vmsvc") == 0 ? ver : "0.1.0");
                snprintf(h->commit, sizeof(h->commit), "abc");
                if (!h->up)
                        snprintf(h->error, sizeof(h->error), "connection refused");
        }
}

static void test_services(void **state)
{
        struct ctx *c = *state;
        set_health(c, NULL, NULL);
        assert_row(c, doctor_check_services, "service.vmsvc", DOCTOR_PASS, "up (version 0.1.0)");
        assert_row(c, doctor_check_services, "version", DOCTOR_PASS, "every running service");
        set_health(c, "netsvc", NULL);
        assert_row(c, doctor_check_services, "service.netsvc", DOCTOR_WARN, "connection refused");
        assert_non_null(strstr(doctor_find(&c->rep, "service.netsvc")->hint, "daemon start"));
        c->in.system_mode = true;
        assert_row(c, doctor_check_services, "service.netsvc", DOCTOR_FAIL, "down");
        assert_non_null(strstr(doctor_find(&c->rep, "service.netsvc")->hint, "systemctl"));
        set_health(c, NULL, "0.0.9");
        assert_row(c, doctor_check_services, "version", DOCTOR_WARN,
                   "this banger is 0.1.0 (commit abc) but vmsvc runs 0.0.9");
        c->f.health_r = -ECONNREFUSED;
        assert_row(c, doctor_check_services, "service.gateway", DOCTOR_FAIL, "not running");
        c->in.system_mode = false;
        assert_row(c, doctor_check_services, "service.gateway", DOCTOR_WARN, "not running");
        assert_row(c, doctor_check_services, "service.imagesvc", DOCTOR_WARN, "unknown");
        assert_row(c, doctor_check_services, "version", DOCTOR_PASS, "no running service");
}

static void test_run_all_and_fail_flag(void **state)
{
        struct ctx *c = *state;
        set_versions(c, "QEMU emulator version 7.2.5", "Firecracker v1.7.0");
        set_health(c, NULL, NULL);
        c->f.resolved = true;
        c->f.net = (struct doctor_net){.known = true, .resolver_routed = true, .nft_present = true};
        c->f.accel = DOCTOR_ACCEL_KVM;
        c->f.outputs[2][0] = "nft";
        c->f.outputs[2][1] = "table inet banger";
        fake_proc(c, "banger-netsvc");
        c->env.proc_root = c->tmp;
        c->f.files[c->f.n_files++] =
            (struct fake_file){"/usr/bin/firecracker", NULL, S_IFREG | 0755, 0, 0};
        c->f.files[c->f.n_files++] =
            (struct fake_file){"/usr/bin/jailer", NULL, S_IFREG | 0755, 0, 0};
        c->env.is_root = false; /* dev mode as root is a WARN (test_fc_security) */
        assert_int_equal(doctor_run(&c->env, &c->in, &c->rep), 0);
        for (size_t i = 0; i < c->rep.n; i++)
                if (c->rep.rows[i].status != DOCTOR_PASS)
                        fail_msg("%s: %s", c->rep.rows[i].id, c->rep.rows[i].message);
        assert_false(doctor_any_fail(&c->rep));
        assert_non_null(doctor_find(&c->rep, "tools.gpgv"));
        doctor_report_free(&c->rep);
        c->f.free_bytes = 1;
        assert_int_equal(doctor_run(&c->env, &c->in, &c->rep), 0);
        assert_true(doctor_any_fail(&c->rep));
}

/* Issue #21 item 5: the Firecracker binary's owner and mode, the jailer, and
 * dev mode as root, each with a fix. */
static const struct doctor_row *fc_row(struct ctx *c, const char *id)
{
        doctor_report_free(&c->rep);
        memset(&c->rep, 0, sizeof(c->rep));
        assert_int_equal(doctor_check_fc_security(&c->env, &c->in, &c->rep), 0);
        return doctor_find(&c->rep, id);
}

static void test_fc_security(void **state)
{
        struct ctx *c = *state;
        const struct doctor_row *r;
        c->f.files[c->f.n_files++] =
            (struct fake_file){"/usr/bin/firecracker", NULL, S_IFREG | 0755, 1000, 1000};
        struct fake_file *fc = &c->f.files[c->f.n_files - 1];
        c->f.files[c->f.n_files++] =
            (struct fake_file){"/usr/bin/jailer", NULL, S_IFREG | 0755, 0, 0};
        struct fake_file *jl = &c->f.files[c->f.n_files - 1];

        /* Not root's: WARN in user mode, FAIL in system mode, chown as the fix. */
        r = fc_row(c, "firecracker.perms");
        assert_non_null(r);
        assert_int_equal(r->status, DOCTOR_WARN);
        assert_non_null(strstr(r->message, "is not owned by root"));
        assert_non_null(strstr(r->hint, "sudo chown root:root /usr/bin/firecracker"));
        c->in.system_mode = true;
        assert_int_equal(fc_row(c, "firecracker.perms")->status, DOCTOR_FAIL);
        fc->uid = 0;
        fc->mode = S_IFREG | 0775;
        r = fc_row(c, "firecracker.perms");
        assert_int_equal(r->status, DOCTOR_FAIL);
        assert_non_null(strstr(r->message, "writable by group or others"));
        fc->mode = S_IFREG | 0755;
        assert_int_equal(fc_row(c, "firecracker.perms")->status, DOCTOR_PASS);

        /* System mode, auto: netsvc cannot run it -> WARN with its reason;
         * it can -> PASS "on". */
        c->f.net = (struct doctor_net){
            .known = true, .jailer_usable = false, .jailer_why = "the jailer needs CAP_SYS_ADMIN"};
        r = fc_row(c, "jailer");
        assert_int_equal(r->status, DOCTOR_WARN);
        assert_non_null(strstr(r->message, "CAP_SYS_ADMIN"));
        assert_non_null(strstr(r->hint, "firecracker.md"));
        c->cfg.firecracker.jailer = BG_TRISTATE_ON;
        assert_int_equal(fc_row(c, "jailer")->status, DOCTOR_FAIL);
        c->f.net.jailer_usable = true;
        r = fc_row(c, "jailer");
        assert_int_equal(r->status, DOCTOR_PASS);
        assert_non_null(strstr(r->message, ": on, netsvc can run it"));
        /* A jailer others can write is refused (netsvc runs it as root). */
        jl->mode = S_IFREG | 0777;
        r = fc_row(c, "jailer");
        assert_int_equal(r->status, DOCTOR_FAIL);
        assert_non_null(strstr(r->hint, "chmod 0755 /usr/bin/jailer"));
        jl->mode = S_IFREG | 0755;
        /* Missing: FAIL when required, WARN with auto in system mode, PASS
         * (not used) in user mode. */
        c->f.missing[0] = "jailer";
        assert_int_equal(fc_row(c, "jailer")->status, DOCTOR_FAIL);
        c->cfg.firecracker.jailer = BG_TRISTATE_AUTO;
        r = fc_row(c, "jailer");
        assert_int_equal(r->status, DOCTOR_WARN);
        assert_non_null(strstr(r->hint, "firecracker.jailer = false"));
        c->in.system_mode = false;
        r = fc_row(c, "jailer");
        assert_int_equal(r->status, DOCTOR_PASS);
        assert_non_null(strstr(r->message, "not used in user mode"));

        /* Dev mode as root: WARN with the way out; not a row in system mode. */
        c->env.is_root = true;
        r = fc_row(c, "dev-root");
        assert_int_equal(r->status, DOCTOR_WARN);
        assert_non_null(strstr(r->hint, "banger system install"));
        c->env.is_root = false;
        assert_int_equal(fc_row(c, "dev-root")->status, DOCTOR_PASS);
        c->in.system_mode = true;
        assert_null(fc_row(c, "dev-root"));
        doctor_report_free(&c->rep);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_kvm, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tun, setup, teardown),
            cmocka_unit_test_setup_teardown(test_accel, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vmm, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tools, setup, teardown),
            cmocka_unit_test_setup_teardown(test_nftables, setup, teardown),
            cmocka_unit_test_setup_teardown(test_subnet, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dns_port, setup, teardown),
            cmocka_unit_test_setup_teardown(test_resolver, setup, teardown),
            cmocka_unit_test_setup_teardown(test_disk, setup, teardown),
            cmocka_unit_test_setup_teardown(test_services, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_all_and_fail_flag, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fc_security, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
