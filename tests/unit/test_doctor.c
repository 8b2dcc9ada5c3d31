#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor.h"
#include "manifest.h"
#include "paths/paths.h"
#include "units.h"

/* ---- a faked host ----------------------------------------------------- */

struct fake_file {
        const char *path;
        const char *text;
        mode_t mode;
        uid_t uid;
        gid_t gid;
};

struct fake {
        const char *missing[8];    /* programs not installed */
        const char *outputs[8][2]; /* program name -> --version / run output */
        int run_status;
        int kvm_r, kvm_api;
        int tun_r;
        enum doctor_accel accel;
        uint64_t free_bytes;
        int route_r;
        const char *route;
        bool resolved;
        struct fake_file files[16];
        size_t n_files;
        int health_r;
        struct doctor_health health[6];
        size_t n_health;
        struct doctor_net net;
        const char *os;
};

static int f_find(void *ud, const char *name, char *path, size_t len)
{
        struct fake *f = ud;
        for (size_t i = 0; i < 8 && f->missing[i]; i++)
                if (strcmp(f->missing[i], name) == 0)
                        return -ENOENT;
        snprintf(path, len, "/usr/bin/%s", name);
        return 0;
}

static int f_run(void *ud, const char *const *argv, char *out, size_t len)
{
        struct fake *f = ud;
        const char *base = strrchr(argv[0], '/') + 1;
        for (size_t i = 0; i < 8 && f->outputs[i][0]; i++)
                if (strcmp(f->outputs[i][0], base) == 0) {
                        snprintf(out, len, "%s", f->outputs[i][1]);
                        return f->run_status;
                }
        snprintf(out, len, "%s: no such fake", base);
        return 127;
}

static int f_kvm(void *ud, const char *dev, int *api)
{
        struct fake *f = ud;
        *api = f->kvm_api;
        return f->kvm_r;
}

static int f_dev(void *ud, const char *dev)
{
        struct fake *f = ud;
        return strcmp(dev, "/dev/net/tun") == 0 ? f->tun_r : -ENOENT;
}

static enum doctor_accel f_accel(void *ud, char *detail, size_t len)
{
        struct fake *f = ud;
        snprintf(detail, len, "fake probe");
        return f->accel;
}

static int f_disk(void *ud, const char *path, uint64_t *ret)
{
        *ret = ((struct fake *)ud)->free_bytes;
        return 0;
}

static int f_route(void *ud, struct in_addr subnet, uint8_t prefix, const char *bridge, char *route,
                   size_t len)
{
        struct fake *f = ud;
        if (f->route)
                snprintf(route, len, "%s", f->route);
        return f->route_r;
}

static bool f_resolved(void *ud)
{
        return ((struct fake *)ud)->resolved;
}

static const struct fake_file *f_lookup(struct fake *f, const char *path)
{
        for (size_t i = 0; i < f->n_files; i++)
                if (strcmp(f->files[i].path, path) == 0)
                        return &f->files[i];
        return NULL;
}

static int f_lstat(void *ud, const char *path, struct stat *st)
{
        const struct fake_file *ff = f_lookup(ud, path);
        if (!ff)
                return -ENOENT;
        memset(st, 0, sizeof(*st));
        st->st_mode = ff->mode;
        st->st_uid = ff->uid;
        st->st_gid = ff->gid;
        return 0;
}

static int f_read(void *ud, const char *path, char **ret)
{
        struct fake *f = ud;
        if (strcmp(path, "/etc/os-release") == 0) {
                if (!f->os)
                        return -ENOENT;
                char buf[64];
                snprintf(buf, sizeof(buf), "NAME=x\nID=\"%s\"\n", f->os);
                *ret = strdup(buf);
                return 0;
        }
        const struct fake_file *ff = f_lookup(f, path);
        if (!ff || !ff->text)
                return -ENOENT;
        *ret = strdup(ff->text);
        return 0;
}

static int f_health(void *ud, struct doctor_health **ret, size_t *n, char *error, size_t len)
{
        struct fake *f = ud;
        if (f->health_r < 0) {
                snprintf(error, len, "no gateway");
                return f->health_r;
        }
        *ret = calloc(f->n_health, sizeof(**ret));
        memcpy(*ret, f->health, f->n_health * sizeof(**ret));
        *n = f->n_health;
        return 0;
}

static int f_net(void *ud, struct doctor_net *ret)
{
        *ret = ((struct fake *)ud)->net;
        return 0;
}

struct ctx {
        struct fake f;
        struct doctor_env env;
        struct bg_config cfg;
        struct doctor_input in;
        struct doctor_report rep;
        struct install_manifest m;
        char tmp[64];
};

static int setup(void **state)
{
        struct ctx *c = calloc(1, sizeof(*c));
        assert_int_equal(bg_config_defaults(&c->cfg), 0);
        c->f.kvm_api = 12;
        c->f.free_bytes = 100ULL << 30;
        c->f.os = "debian";
        struct doctor_env e = {
            .ud = &c->f,
            .proc_root = "/nonexistent-proc",
            .is_root = true,
            .find_program = f_find,
            .run = f_run,
            .kvm_open = f_kvm,
            .dev_open = f_dev,
            .accel_probe = f_accel,
            .disk_free = f_disk,
            .route_overlap = f_route,
            .resolved_running = f_resolved,
            .lstat = f_lstat,
            .read_file = f_read,
            .health = f_health,
            .net_status = f_net,
        };
        c->env = e;
        c->in = (struct doctor_input){.cfg = &c->cfg,
                                      .state_dir = "/var/lib/banger",
                                      .runtime_dir = "/run/banger",
                                      .cli_version = "0.1.0",
                                      .cli_commit = "abc",
                                      .install_root = ""};
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        struct ctx *c = *state;
        doctor_report_free(&c->rep);
        bg_config_free(&c->cfg);
        manifest_free(&c->m);
        if (c->tmp[0]) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf %s", c->tmp);
                assert_int_equal(system(cmd), 0);
        }
        free(c);
        return 0;
}

/* Runs check, returns the row with id (asserting it exists) after clearing
 * the report. */
typedef int (*check_fn)(const struct doctor_env *, const struct doctor_input *,
                        struct doctor_report *);

static const struct doctor_row *run1(struct ctx *c, check_fn fn, const char *id)
{
        doctor_report_free(&c->rep);
        assert_int_equal(fn(&c->env, &c->in, &c->rep), 0);
        const struct doctor_row *r = doctor_find(&c->rep, id);
        if (!r)
                fail_msg("no row %s", id);
        if (r->status != DOCTOR_PASS && !r->hint[0])
                fail_msg("row %s is %s without a hint", id, doctor_status_to_string(r->status));
        return r;
}

#define assert_row(c, fn, id, st, text)                                                            \
        do {                                                                                       \
                const struct doctor_row *_r = run1(c, fn, id);                                     \
                if (_r->status != (st) || !strstr(_r->message, text))                              \
                        fail_msg("%s: got %s '%s', want %s containing '%s'", id,                   \
                                 doctor_status_to_string(_r->status), _r->message,                 \
                                 doctor_status_to_string(st), text);                               \
        } while (0)

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

static const struct units_params params = {.libexecdir = "/usr/local/libexec/banger",
                                           .owner = "alice",
                                           .group = "alice",
                                           .owner_uid = 1000};

static void fill_manifest(struct ctx *c)
{
        struct install_manifest *m = &c->m;
        snprintf(m->version, sizeof(m->version), "0.1.0");
        snprintf(m->owner, sizeof(m->owner), "alice");
        snprintf(m->group, sizeof(m->group), "alice");
        m->owner_uid = 1000;
        m->owner_gid = 1000;
        snprintf(m->prefix, sizeof(m->prefix), "/usr/local");
        snprintf(m->libexecdir, sizeof(m->libexecdir), "/usr/local/libexec/banger");
        c->in.manifest = m;
        c->in.system_mode = true;
}

static char rendered[8][8192];
static char unit_paths[8][128];

/* The fake host holds /run/banger with the owner's four good sockets,
 * /run/banger-netsvc with netsvc's (root's, group alice, 0660) and every
 * unit as install rendered it. */
static void fake_install(struct ctx *c)
{
        size_t k = 0;
        c->f.files[k++] = (struct fake_file){"/run/banger", NULL, S_IFDIR | 0770, 1000, 1000};
        c->f.files[k++] = (struct fake_file){"/run/banger-netsvc", NULL, S_IFDIR | 0755, 0, 0};
        c->f.files[k++] =
            (struct fake_file){"/run/banger-netsvc/netsvc.sock", NULL, S_IFSOCK | 0660, 0, 1000};
        static const char *socks[] = {"/run/banger/gateway.sock", "/run/banger/imagesvc.sock",
                                      "/run/banger/vmsvc.sock", "/run/banger/workspacesvc.sock"};
        for (size_t i = 0; i < 4; i++)
                c->f.files[k++] = (struct fake_file){socks[i], NULL, S_IFSOCK | 0600, 1000, 1000};
        assert_true(units_n_embedded <= 8);
        for (size_t i = 0; i < units_n_embedded; i++) {
                char *text = NULL, rel[128];
                struct bg_error err = {0};
                assert_int_equal(units_render(units_embedded[i].text, &params, &text, &err), 0);
                snprintf(rendered[i], sizeof(rendered[i]), "%s", text);
                free(text);
                assert_int_equal(units_install_path(units_embedded[i].name, rel, sizeof(rel)), 0);
                snprintf(unit_paths[i], sizeof(unit_paths[i]), "/%s", rel);
                c->f.files[k++] =
                    (struct fake_file){unit_paths[i], rendered[i], S_IFREG | 0644, 0, 0};
        }
        c->f.n_files = k;
}

static int unit_idx(const char *name)
{
        for (size_t i = 0; i < units_n_embedded; i++)
                if (strcmp(units_embedded[i].name, name) == 0)
                        return (int)i;
        fail_msg("no template %s", name);
        return -1;
}

static struct fake_file *file_of(struct ctx *c, const char *path)
{
        for (size_t i = 0; i < c->f.n_files; i++)
                if (strcmp(c->f.files[i].path, path) == 0)
                        return &c->f.files[i];
        fail_msg("no fake file %s", path);
        return NULL;
}

static void test_system(void **state)
{
        struct ctx *c = *state;
        /* User mode: no system rows at all. */
        assert_int_equal(doctor_check_system(&c->env, &c->in, &c->rep), 0);
        assert_int_equal(c->rep.n, 0);

        c->in.system_mode = true;
        c->in.manifest_error = "No such file or directory";
        assert_row(c, doctor_check_system, "system.install", DOCTOR_FAIL, "No such file");

        fill_manifest(c);
        fake_install(c);
        assert_row(c, doctor_check_system, "system.install", DOCTOR_PASS, "for alice (uid 1000)");
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_PASS,
                   "4 sockets in /run/banger, each owned by alice with mode 0600; netsvc's in "
                   "/run/banger-netsvc, root's, mode 0660 for group alice");
        assert_row(c, doctor_check_system, "system.units", DOCTOR_PASS, "match");
        snprintf(c->m.version, sizeof(c->m.version), "0.0.1");
        assert_row(c, doctor_check_system, "system.install", DOCTOR_WARN, "installed banger 0.0.1");

        /* Sockets: one missing (WARN), one with a wrong mode or owner (FAIL). */
        file_of(c, "/run/banger/vmsvc.sock")->path = "/run/banger/gone";
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_WARN, "vmsvc.sock missing");
        file_of(c, "/run/banger/imagesvc.sock")->uid = 0;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "imagesvc.sock belongs to uid 0, not alice");
        file_of(c, "/run/banger/imagesvc.sock")->uid = 1000;
        file_of(c, "/run/banger/imagesvc.sock")->mode = S_IFSOCK | 0660;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "imagesvc.sock has mode 0660, not 0600");
        file_of(c, "/run/banger/imagesvc.sock")->mode = S_IFSOCK | 0600;
        file_of(c, "/run/banger/gone")->path = "/run/banger/vmsvc.sock";
        file_of(c, "/run/banger")->mode = S_IFDIR | 0777;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL, "mode 0777");
        file_of(c, "/run/banger")->mode = S_IFDIR | 0770;
        /* netsvc's socket is root's, in the owner's group, 0660; its
         * directory root's alone. The old layout (the owner's socket in the
         * owner's directory) FAILs. */
        struct fake_file *ns = file_of(c, "/run/banger-netsvc/netsvc.sock");
        ns->uid = 1000;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock belongs to uid 1000, not root (uid 0)");
        ns->uid = 0;
        ns->gid = 0;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock is in group 0, not the owner's alice (gid 1000)");
        ns->gid = 1000;
        ns->mode = S_IFSOCK | 0666;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "netsvc.sock has mode 0666, not 0660");
        ns->mode = S_IFSOCK | 0660;
        file_of(c, "/run/banger-netsvc")->uid = 1000;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL,
                   "/run/banger-netsvc is a directory of uid 1000 mode 0755 (want root's");
        file_of(c, "/run/banger-netsvc")->uid = 0;
        file_of(c, "/run/banger-netsvc")->mode = S_IFDIR | 0775;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_FAIL, "mode 0775");
        file_of(c, "/run/banger-netsvc")->mode = S_IFDIR | 0755;
        assert_row(c, doctor_check_system, "system.sockets", DOCTOR_PASS, "4 sockets");

        /* Units: hardening removed (FAIL), something added (WARN), a drop-in
         * (WARN), a file missing (FAIL). */
        int ni = unit_idx("banger-netsvc.service"), gi = unit_idx("banger-gateway.service");
        static char edited[8300];
        snprintf(edited, sizeof(edited), "%s", rendered[ni]);
        char *p = strstr(edited, "ProtectSystem=strict\n");
        assert_non_null(p);
        memcpy(p, "ProtectSystem=full  \n", 21);
        file_of(c, unit_paths[ni])->text = edited;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_FAIL,
                   "banger-netsvc.service lacks 'ProtectSystem=strict'");
        file_of(c, unit_paths[ni])->text = rendered[ni];
        snprintf(edited, sizeof(edited), "%sEnvironment=FOO=1\n", rendered[gi]);
        file_of(c, unit_paths[gi])->text = edited;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_WARN,
                   "banger-gateway.service adds 'Environment=FOO=1'");
        file_of(c, unit_paths[gi])->text = rendered[gi];
        assert_row(c, doctor_check_system, "system.units", DOCTOR_PASS, "match");
        c->f.files[c->f.n_files++] = (struct fake_file){
            "/etc/systemd/system/banger-vmsvc.service.d", NULL, S_IFDIR | 0755, 0, 0};
        assert_row(c, doctor_check_system, "system.units", DOCTOR_WARN, "drop-in directory");
        c->f.n_files--;
        file_of(c, "/etc/tmpfiles.d/banger.conf")->text = NULL;
        assert_row(c, doctor_check_system, "system.units", DOCTOR_FAIL,
                   "/etc/tmpfiles.d/banger.conf is missing");
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

/* ---- units, manifest, helpers ----------------------------------------- */

static void test_units_render(void **state)
{
        char *out = NULL;
        struct bg_error err = {0};
        assert_int_equal(units_render("A=@OWNER@:@GROUP@ @OWNER_UID@\nX=@LIBEXECDIR@/b\n"
                                      "SystemCallFilter=@system-service\nmail a@b.c @\n",
                                      &params, &out, &err),
                         0);
        assert_string_equal(out, "A=alice:alice 1000\nX=/usr/local/libexec/banger/b\n"
                                 "SystemCallFilter=@system-service\nmail a@b.c @\n");
        free(out);
        assert_int_equal(units_render("X=@NOPE@\n", &params, &out, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "@NOPE@"));

        struct units_params bad = params;
        bad.owner = "alice\nExecStartPre=/bin/sh";
        assert_int_equal(units_render("U=@OWNER@", &bad, &out, &err), -EINVAL);
        bad = params;
        bad.libexecdir = "/opt/my dir";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);
        bad.libexecdir = "relative/dir";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);
        bad.libexecdir = "/opt/%h";
        assert_int_equal(units_render("U=@LIBEXECDIR@", &bad, &out, &err), -EINVAL);

        /* Every embedded template renders, and only services are units. */
        assert_int_equal(units_n_embedded, 6);
        for (size_t i = 0; i < units_n_embedded; i++) {
                assert_int_equal(units_render(units_embedded[i].text, &params, &out, &err), 0);
                assert_null(strstr(out, "@OWNER"));
                assert_null(strstr(out, "@LIBEXECDIR@"));
                free(out);
        }
        assert_non_null(units_find("banger-netsvc.service"));
        assert_true(units_is_service("banger-vmsvc.service"));
        assert_false(units_is_service("banger.tmpfiles"));
        assert_true(strstr(units_find("banger-vmsvc.service")->text, "KillMode=process") != NULL);
}

static void test_manifest_roundtrip(void **state)
{
        struct install_manifest m = {0}, n = {0};
        struct bg_error err = {0};
        snprintf(m.version, sizeof(m.version), "0.1.0");
        snprintf(m.commit, sizeof(m.commit), "abc\"def");
        m.installed_unix = 1700000000;
        snprintf(m.owner, sizeof(m.owner), "alice");
        m.owner_uid = 1000;
        snprintf(m.group, sizeof(m.group), "alice");
        m.owner_gid = 1001;
        snprintf(m.prefix, sizeof(m.prefix), "/usr/local");
        snprintf(m.bindir, sizeof(m.bindir), "/usr/local/bin");
        snprintf(m.libexecdir, sizeof(m.libexecdir), "/usr/local/libexec/banger");
        assert_int_equal(manifest_add_file(&m, "/usr/local/bin/banger"), 0);
        assert_int_equal(manifest_add_file(&m, "/etc/banger/install.toml"), 0);
        assert_int_equal(manifest_add_dir(&m, "/var/lib/banger"), 0);
        char *text = NULL;
        assert_int_equal(manifest_format(&m, &text, &err), 0);
        assert_int_equal(manifest_parse("install.toml", text, strlen(text), &n, &err), 0);
        assert_string_equal(n.commit, "abc\"def");
        assert_int_equal(n.owner_gid, 1001);
        assert_int_equal(n.installed_unix, 1700000000);
        assert_int_equal(n.n_files, 2);
        assert_string_equal(n.files[1], "/etc/banger/install.toml");
        assert_int_equal(n.n_dirs, 1);
        manifest_free(&n);
        free(text);
        manifest_free(&m);

        const char *bad[] = {
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[\"relative\"]\ndirs=[]\n",
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[\"/etc/../etc/shadow\"]\ndirs=[]\n",
            "version=\"1\"\ncommit=\"c\"\ninstalled_unix=1\nowner=\"a\"\nowner_uid=1\n"
            "group=\"a\"\nowner_gid=1\nprefix=\"/p\"\nbindir=\"/p/bin\"\n"
            "libexecdir=\"/p/l\"\nfiles=[]\ndirs=[\"/\"]\n",
            "version=1\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bg_error_clear(&err);
                assert_int_equal(manifest_parse("t.toml", bad[i], strlen(bad[i]), &n, &err),
                                 -EINVAL);
                assert_non_null(strstr(err.msg, "t.toml"));
        }
}

static void test_version_code_and_os(void **state)
{
        struct ctx *c = *state;
        assert_int_equal(doctor_version_code("v1.16.1"), 1016001);
        assert_int_equal(doctor_version_code("7.2.5 (Debian)"), 7002005);
        assert_int_equal(doctor_version_code("6"), 6000000);
        assert_int_equal(doctor_version_code("x1"), -1);
        char os[32];
        c->f.os = "Ubuntu";
        doctor_os_id(&c->env, os, sizeof(os));
        assert_string_equal(os, "ubuntu");
        c->f.os = NULL;
        doctor_os_id(&c->env, os, sizeof(os));
        assert_string_equal(os, "");
        assert_string_equal(doctor_status_to_string(DOCTOR_WARN), "WARN");
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
            cmocka_unit_test_setup_teardown(test_system, setup, teardown),
            cmocka_unit_test_setup_teardown(test_run_all_and_fail_flag, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fc_security, setup, teardown),
            cmocka_unit_test_setup_teardown(test_units_render, setup, teardown),
            cmocka_unit_test_setup_teardown(test_manifest_roundtrip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_version_code_and_os, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
