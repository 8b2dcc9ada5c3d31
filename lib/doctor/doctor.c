#include "doctor.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "units.h"

const char *doctor_status_to_string(enum doctor_status s)
{
        switch (s) {
        case DOCTOR_PASS:
                return "PASS";
        case DOCTOR_WARN:
                return "WARN";
        case DOCTOR_FAIL:
                return "FAIL";
        }
        return NULL;
}

int doctor_add(struct doctor_report *rep, const char *id, enum doctor_status st, const char *hint,
               const char *fmt, ...)
{
        if (rep->n == rep->cap) {
                size_t cap = rep->cap ? rep->cap * 2 : 32;
                struct doctor_row *p = realloc(rep->rows, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                rep->rows = p;
                rep->cap = cap;
        }
        struct doctor_row *row = &rep->rows[rep->n++];
        memset(row, 0, sizeof(*row));
        snprintf(row->id, sizeof(row->id), "%s", id);
        row->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(row->message, sizeof(row->message), fmt, ap);
        va_end(ap);
        snprintf(row->hint, sizeof(row->hint), "%s", hint ? hint : "");
        return 0;
}

const struct doctor_row *doctor_find(const struct doctor_report *rep, const char *id)
{
        for (size_t i = 0; i < rep->n; i++)
                if (streq(rep->rows[i].id, id))
                        return &rep->rows[i];
        return NULL;
}

bool doctor_any_fail(const struct doctor_report *rep)
{
        for (size_t i = 0; i < rep->n; i++)
                if (rep->rows[i].status == DOCTOR_FAIL)
                        return true;
        return false;
}

void doctor_report_free(struct doctor_report *rep)
{
        free(rep->rows);
        rep->rows = NULL;
        rep->n = rep->cap = 0;
}

long doctor_version_code(const char *s)
{
        if (!s)
                return -1;
        while (*s == ' ')
                s++;
        if (*s == 'v' || *s == 'V')
                s++;
        if (!isdigit((unsigned char)*s))
                return -1;
        long part[3] = {0, 0, 0};
        for (int i = 0; i < 3; i++) {
                if (!isdigit((unsigned char)*s))
                        break;
                char *end;
                long v = strtol(s, &end, 10);
                if (v > 999)
                        v = 999;
                part[i] = v;
                s = end;
                if (*s != '.')
                        break;
                s++;
        }
        return part[0] * 1000000L + part[1] * 1000L + part[2];
}

/* ---- helpers ---------------------------------------------------------- */

static bool is_debian_like(const char *os)
{
        return streq(os, "debian") || streq(os, "ubuntu") || streq(os, "linuxmint") ||
               streq(os, "pop") || streq(os, "raspbian");
}

void doctor_os_id(const struct doctor_env *env, char *out, size_t len)
{
        out[0] = '\0';
        _cleanup_free_ char *text = NULL;
        if (!env->read_file || env->read_file(env->ud, "/etc/os-release", &text) < 0)
                return;
        for (char *line = text; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                if (strncmp(line, "ID=", 3) == 0) {
                        const char *v = line + 3;
                        size_t n = strlen(v);
                        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                                v++;
                                n -= 2;
                        }
                        size_t k = 0;
                        for (size_t i = 0; i < n && k + 1 < len; i++)
                                if (isalnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '_')
                                        out[k++] = (char)tolower((unsigned char)v[i]);
                        out[k] = '\0';
                        return;
                }
                line = nl ? nl + 1 : NULL;
        }
}

/* "install PKG" in the words of the host's package manager. */
static void pkg_hint(const char *os, const char *deb_pkg, const char *rpm_pkg, char *out,
                     size_t len)
{
        if (is_debian_like(os))
                snprintf(out, len, "sudo apt-get install %s", deb_pkg);
        else if (streq(os, "fedora") || streq(os, "rhel") || streq(os, "centos") ||
                 streq(os, "rocky") || streq(os, "almalinux"))
                snprintf(out, len, "sudo dnf install %s", rpm_pkg);
        else if (streq(os, "arch") || streq(os, "manjaro"))
                snprintf(out, len, "sudo pacman -S %s", rpm_pkg);
        else if (streq(os, "opensuse-tumbleweed") || streq(os, "opensuse-leap") ||
                 streq(os, "sles"))
                snprintf(out, len, "sudo zypper install %s", rpm_pkg);
        else
                snprintf(out, len, "install the package that provides it (Debian: %s)", deb_pkg);
}

static enum bg_vmm cfg_vmm(const struct doctor_input *in)
{
        return in->cfg ? in->cfg->vmm : BG_VMM_AUTO;
}

static void first_line(const char *s, char *out, size_t len)
{
        while (*s == '\n' || *s == ' ')
                s++;
        size_t n = strcspn(s, "\n");
        if (n >= len)
                n = len - 1;
        memcpy(out, s, n);
        out[n] = '\0';
}

/* ---- kvm and accel ---------------------------------------------------- */

int doctor_check_kvm(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep)
{
        bool need = cfg_vmm(in) == BG_VMM_FIRECRACKER ||
                    (in->cfg && in->cfg->qemu.accel == BG_QEMU_ACCEL_KVM);
        enum doctor_status miss = need ? DOCTOR_FAIL : DOCTOR_WARN;
        int api = 0;
        if (!env->kvm_open)
                return doctor_add(rep, "kvm", DOCTOR_WARN, "check by hand: `ls -l /dev/kvm`",
                                  "cannot check /dev/kvm here");
        int r = env->kvm_open(env->ud, "/dev/kvm", &api);
        if (r == 0 && api == 12)
                return doctor_add(rep, "kvm", DOCTOR_PASS, NULL,
                                  "/dev/kvm is usable (KVM API version %d)", api);
        if (r == 0)
                return doctor_add(rep, "kvm", DOCTOR_FAIL,
                                  "this kernel's KVM is not one banger knows; use a mainline "
                                  "Linux kernel",
                                  "/dev/kvm reports KVM API version %d, expected 12", api);
        if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
                return doctor_add(
                    rep, "kvm", miss,
                    "enable virtualization (VT-x/AMD-V) in the firmware and load the "
                    "module (`sudo modprobe kvm_intel` or `kvm_amd`); inside a VM, "
                    "enable nested virtualization",
                    "no /dev/kvm: VMs run under QEMU's TCG emulation (much slower) and "
                    "Firecracker cannot run%s",
                    need ? ", but the configuration requires KVM" : "");
        if (r == -EACCES || r == -EPERM) {
                char hint[256];
                snprintf(hint, sizeof(hint),
                         "add the user banger runs as to the kvm group (`sudo usermod -aG kvm "
                         "%s`), then log in again",
                         in->manifest ? in->manifest->owner : "$USER");
                return doctor_add(rep, "kvm", miss, hint,
                                  "/dev/kvm exists but cannot be opened (permission denied)%s",
                                  need ? "; the configuration requires KVM" : "");
        }
        return doctor_add(rep, "kvm", miss, "check `dmesg | grep -i kvm`",
                          "cannot open /dev/kvm: %s", strerror(-r));
}

int doctor_check_accel(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep)
{
        char detail[256] = "";
        enum doctor_accel a = env->accel_probe ? env->accel_probe(env->ud, detail, sizeof(detail))
                                               : DOCTOR_ACCEL_UNKNOWN;
        bool need = cfg_vmm(in) == BG_VMM_FIRECRACKER ||
                    (in->cfg && in->cfg->qemu.accel == BG_QEMU_ACCEL_KVM);
        switch (a) {
        case DOCTOR_ACCEL_KVM:
                return doctor_add(rep, "accel", DOCTOR_PASS, NULL,
                                  "guests run with KVM acceleration%s%s", detail[0] ? ": " : "",
                                  detail);
        case DOCTOR_ACCEL_TCG:
                return doctor_add(rep, "accel", need ? DOCTOR_FAIL : DOCTOR_WARN,
                                  "see the kvm row; with vmm = \"qemu\" and qemu.accel = "
                                  "\"auto\" VMs still work, slowly",
                                  "KVM cannot run a guest here; VMs fall back to TCG "
                                  "emulation%s%s%s",
                                  detail[0] ? ": " : "", detail,
                                  need ? " (the configuration requires KVM)" : "");
        case DOCTOR_ACCEL_UNKNOWN:
                break;
        }
        return doctor_add(rep, "accel", DOCTOR_WARN,
                          "the kvm row tells whether /dev/kvm opens; `banger vm run` reports "
                          "the accelerator each VM got",
                          "unknown whether guests get KVM or TCG%s%s",
                          detail[0] ? ": " : " (no accelerator probe in this build)", detail);
}

/* ---- tun -------------------------------------------------------------- */

#define TUN_DEV "/dev/net/tun"
#define TUN_FIX                                                                                    \
        "make it read-write for everyone, as udev's default rules do: `sudo chmod 0666 "           \
        "/dev/net/tun` (a tap still needs its owner's uid or CAP_NET_ADMIN)"

int doctor_check_tun(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep)
{
        const char *owner = in->manifest ? in->manifest->owner : "the user banger runs as";
        /* Root opens anything: in system mode, judge by the mode whether the
         * owner, who runs the VMMs, can. */
        if (env->is_root && in->system_mode && env->lstat) {
                struct stat st;
                int r = env->lstat(env->ud, TUN_DEV, &st);
                if (r == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 0006) == 0006)
                        return doctor_add(rep, "tun", DOCTOR_PASS, NULL,
                                          TUN_DEV " is read-write for every user (mode %04o)",
                                          (unsigned)(st.st_mode & 07777));
                if (r == 0 && S_ISCHR(st.st_mode))
                        return doctor_add(rep, "tun", DOCTOR_WARN, TUN_FIX,
                                          TUN_DEV " has mode %04o (uid %u): %s may not be able to "
                                                  "open it, and then no VM starts",
                                          (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                                          owner);
        }
        if (!env->dev_open)
                return doctor_add(rep, "tun", DOCTOR_WARN, "check by hand: `ls -l /dev/net/tun`",
                                  "cannot check " TUN_DEV " here");
        int r = env->dev_open(env->ud, TUN_DEV);
        if (r == 0)
                return doctor_add(rep, "tun", DOCTOR_PASS, NULL,
                                  TUN_DEV " opens read-write: VMs can attach to their taps");
        if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
                return doctor_add(rep, "tun", DOCTOR_FAIL,
                                  "load the tun module (`sudo modprobe tun`); in a container, "
                                  "pass the host's /dev/net/tun in",
                                  "no " TUN_DEV ": VMs cannot get a network device");
        if (r == -EACCES || r == -EPERM)
                return doctor_add(rep, "tun", DOCTOR_FAIL, TUN_FIX,
                                  TUN_DEV
                                  " cannot be opened (permission denied): QEMU and "
                                  "Firecracker, running as %s, cannot attach a VM to its tap",
                                  owner);
        return doctor_add(rep, "tun", DOCTOR_FAIL, "check `ls -l /dev/net/tun` and `dmesg`",
                          "cannot open " TUN_DEV ": %s", strerror(-r));
}

/* ---- vmm -------------------------------------------------------------- */

static int version_of(const struct doctor_env *env, const char *path, char *out, size_t len)
{
        const char *argv[] = {path, "--version", NULL};
        char buf[1024];
        out[0] = '\0';
        if (!env->run)
                return -ENOSYS;
        int r = env->run(env->ud, argv, buf, sizeof(buf));
        if (r < 0)
                return r;
        first_line(buf, out, len);
        return r;
}

static int check_qemu(const struct doctor_env *env, const struct doctor_input *in, const char *os,
                      bool fc_ok, struct doctor_report *rep)
{
        const char *bin =
            in->cfg && in->cfg->qemu.binary ? in->cfg->qemu.binary : "qemu-system-x86_64";
        enum bg_vmm vmm = cfg_vmm(in);
        bool needed = vmm == BG_VMM_QEMU || (vmm == BG_VMM_AUTO && !fc_ok);
        char path[PATH_MAX], hint[256], line[256];
        pkg_hint(os, "qemu-system-x86", "qemu-system-x86-core", hint, sizeof(hint));
        if (!env->find_program || env->find_program(env->ud, bin, path, sizeof(path)) < 0)
                return doctor_add(rep, "vmm.qemu", needed ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                  "QEMU (%s) not found%s", bin,
                                  needed ? (vmm == BG_VMM_QEMU
                                                ? "; vmm = \"qemu\" needs it"
                                                : " and Firecracker is not usable: no VMM "
                                                  "can run VMs")
                                         : "; Firecracker is used");
        int r = version_of(env, path, line, sizeof(line));
        if (r != 0)
                return doctor_add(rep, "vmm.qemu", needed ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                  "%s --version failed: %s", path,
                                  r < 0     ? strerror(-r)
                                  : line[0] ? line
                                            : "no output");
        const char *v = strstr(line, "version ");
        long code = doctor_version_code(v ? v + 8 : "");
        if (code < 0)
                return doctor_add(rep, "vmm.qemu", DOCTOR_WARN, hint,
                                  "%s: cannot read a version from '%s'", path, line);
        if (code < DOCTOR_QEMU_MIN)
                return doctor_add(rep, "vmm.qemu", needed ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                  "QEMU %ld.%ld.%ld at %s is older than 5.2: its microvm has no "
                                  "ACPI, which banger's kernels need",
                                  code / 1000000, code / 1000 % 1000, code % 1000, path);
        return doctor_add(rep, "vmm.qemu", DOCTOR_PASS, NULL, "QEMU %ld.%ld.%ld at %s",
                          code / 1000000, code / 1000 % 1000, code % 1000, path);
}

/* 1 when a Firecracker in the tested range is installed. */
static int check_firecracker(const struct doctor_env *env, const struct doctor_input *in,
                             const char *os, struct doctor_report *rep)
{
        const char *bin =
            in->cfg && in->cfg->firecracker.binary ? in->cfg->firecracker.binary : "firecracker";
        enum bg_vmm vmm = cfg_vmm(in);
        char path[PATH_MAX], hint[384], line[256];
        if (streq(os, "arch") || streq(os, "manjaro"))
                snprintf(hint, sizeof(hint), "sudo pacman -S firecracker");
        else if (streq(os, "fedora"))
                snprintf(hint, sizeof(hint), "sudo dnf install firecracker");
        else if (streq(os, "alpine"))
                snprintf(hint, sizeof(hint), "sudo apk add firecracker");
        else if (streq(os, "nixos"))
                snprintf(hint, sizeof(hint), "add pkgs.firecracker to your configuration");
        else
                snprintf(hint, sizeof(hint),
                         "%s has no firecracker package: download a v1.16.x release from "
                         "https://github.com/firecracker-microvm/firecracker/releases and put "
                         "firecracker in /usr/local/bin (or set firecracker.binary)",
                         is_debian_like(os) ? os : "this distribution");
        if (!env->find_program || env->find_program(env->ud, bin, path, sizeof(path)) < 0) {
                if (vmm == BG_VMM_QEMU) {
                        doctor_add(rep, "vmm.firecracker", DOCTOR_PASS, NULL,
                                   "Firecracker (%s) not installed; not needed with vmm = "
                                   "\"qemu\"",
                                   bin);
                        return 0;
                }
                int r = doctor_add(rep, "vmm.firecracker",
                                   vmm == BG_VMM_FIRECRACKER ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                   "Firecracker (%s) not found; %s", bin,
                                   vmm == BG_VMM_FIRECRACKER ? "vmm = \"firecracker\" needs it"
                                                             : "VMs use QEMU microvm");
                return r < 0 ? r : 0;
        }
        enum doctor_status bad = vmm == BG_VMM_FIRECRACKER ? DOCTOR_FAIL : DOCTOR_WARN;
        int r = version_of(env, path, line, sizeof(line));
        if (r != 0) {
                r = doctor_add(rep, "vmm.firecracker", bad, hint, "%s --version failed: %s", path,
                               r < 0     ? strerror(-r)
                               : line[0] ? line
                                         : "no output");
                return r < 0 ? r : 0;
        }
        const char *v = strchr(line, 'v');
        long code = doctor_version_code(v ? v : line);
        if (code < 0) {
                r = doctor_add(rep, "vmm.firecracker", bad, hint,
                               "%s: cannot read a version from '%s'", path, line);
                return r < 0 ? r : 0;
        }
        long a = code / 1000000, b = code / 1000 % 1000, c = code % 1000;
        if (code < DOCTOR_FC_MIN) {
                r = doctor_add(rep, "vmm.firecracker", bad, hint,
                               "Firecracker %ld.%ld.%ld at %s is older than 1.5.0, the oldest "
                               "banger supports%s",
                               a, b, c, path, bad == DOCTOR_WARN ? "; VMs use QEMU microvm" : "");
                return r < 0 ? r : 0;
        }
        if (code > DOCTOR_FC_MAX) {
                r = doctor_add(rep, "vmm.firecracker", DOCTOR_WARN,
                               "it may work; if VMs fail to boot, install v1.16.x or set vmm = "
                               "\"qemu\"",
                               "Firecracker %ld.%ld.%ld at %s is newer than the tested range "
                               "1.5.0-1.16.x",
                               a, b, c, path);
                return r < 0 ? r : 1;
        }
        r = doctor_add(rep, "vmm.firecracker", DOCTOR_PASS, NULL,
                       "Firecracker %ld.%ld.%ld at %s (tested range 1.5.0-1.16.x)", a, b, c, path);
        return r < 0 ? r : 1;
}

int doctor_check_vmm(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep)
{
        char os[64];
        doctor_os_id(env, os, sizeof(os));
        int fc = check_firecracker(env, in, os, rep);
        if (fc < 0)
                return fc;
        /* Firecracker needs KVM; without it, "auto" falls back to QEMU. */
        const struct doctor_row *k = doctor_find(rep, "kvm");
        bool fc_ok = fc > 0 && (!k || k->status == DOCTOR_PASS);
        return check_qemu(env, in, os, fc_ok, rep);
}

/* ---- tools ------------------------------------------------------------ */

int doctor_check_tools(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep)
{
        static const struct {
                const char *name, *deb, *rpm, *why;
                int need; /* 2 always FAIL, 1 FAIL when QEMU is the VMM, 0 WARN,
                           * -1 WARN and checked in system mode only */
        } tools[] = {
            {"mkfs.ext4", "e2fsprogs", "e2fsprogs", "makes every VM's work disk", 2},
            {"e2fsck", "e2fsprogs", "e2fsprogs", "checks work and image disks", 2},
            {"qemu-img", "qemu-utils", "qemu-img", "makes QEMU's copy-on-write root disks", 1},
            {"mmdebstrap", "mmdebstrap", "mmdebstrap", "builds the golden image", 0},
            /* The imagesvc unit sets no_new_privs, so no newuidmap: mmdebstrap
             * runs in fakechroot mode there. */
            {"fakechroot", "fakechroot fakeroot", "fakechroot fakeroot",
             "lets the owner's imagesvc build the golden image", -1},
            {"gpgv", "gpgv", "gnupg2", "verifies downloaded Debian kernel packages", 0},
            {"ssh", "openssh-client", "openssh-clients", "runs `banger vm ssh`", 0},
        };
        char os[64];
        doctor_os_id(env, os, sizeof(os));
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                char id[48], path[PATH_MAX], hint[256];
                if (tools[i].need < 0 && !in->system_mode)
                        continue;
                snprintf(id, sizeof(id), "tools.%s", tools[i].name);
                int r;
                if (env->find_program &&
                    env->find_program(env->ud, tools[i].name, path, sizeof(path)) == 0) {
                        r = doctor_add(rep, id, DOCTOR_PASS, NULL, "%s: %s", tools[i].name, path);
                } else {
                        bool fail = tools[i].need == 2 ||
                                    (tools[i].need == 1 && cfg_vmm(in) == BG_VMM_QEMU);
                        pkg_hint(os, tools[i].deb, tools[i].rpm, hint, sizeof(hint));
                        r = doctor_add(rep, id, fail ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                       "%s not found (it %s)", tools[i].name, tools[i].why);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- nftables --------------------------------------------------------- */

int doctor_check_nftables(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        char os[64], hint[256], path[PATH_MAX];
        doctor_os_id(env, os, sizeof(os));
        if (!env->is_root) {
                struct doctor_net net = {0};
                if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known) {
                        if (net.nft_present)
                                return doctor_add(rep, "nftables", DOCTOR_PASS, NULL,
                                                  "banger-netsvc reports table inet banger in "
                                                  "place");
                        return doctor_add(rep, "nftables", DOCTOR_WARN,
                                          "run `sudo banger doctor` to test nftables directly; "
                                          "`banger net status` shows why Setup failed",
                                          "banger-netsvc reports table inet banger missing%s%s",
                                          net.setup_error[0] ? ": " : "", net.setup_error);
                }
                return doctor_add(rep, "nftables", DOCTOR_WARN,
                                  "run `sudo banger doctor` to check nftables",
                                  "cannot check nftables without root while banger-netsvc is "
                                  "not running");
        }
        pkg_hint(os, "nftables", "nftables", hint, sizeof(hint));
        if (!env->find_program || env->find_program(env->ud, "nft", path, sizeof(path)) < 0)
                return doctor_add(rep, "nftables", DOCTOR_WARN, hint,
                                  "nft not found: banger-netsvc uses libnftables directly, but "
                                  "without nft the rules cannot be inspected or tested here");
        const char *argv[] = {path, "list", "tables", NULL};
        char out[4096], line[256];
        int r = env->run ? env->run(env->ud, argv, out, sizeof(out)) : -ENOSYS;
        if (r != 0) {
                if (r < 0)
                        snprintf(line, sizeof(line), "%s", strerror(-r));
                else
                        first_line(out, line, sizeof(line));
                return doctor_add(rep, "nftables", DOCTOR_WARN,
                                  "load nf_tables (`sudo modprobe nf_tables`); a kernel without "
                                  "it cannot give VMs NAT",
                                  "`nft list tables` failed: %s", line);
        }
        return doctor_add(rep, "nftables", DOCTOR_PASS, NULL, "nftables usable (%s)",
                          strstr(out, "table inet banger") ? "table inet banger present"
                                                           : "table inet banger not set up yet");
}

/* ---- subnet ----------------------------------------------------------- */

int doctor_check_subnet(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep)
{
        if (!in->cfg)
                return doctor_add(rep, "subnet", DOCTOR_WARN,
                                  "fix config.toml first (see the config row)",
                                  "no configuration loaded");
        uint8_t prefix = in->cfg->network.subnet.prefix;
        uint32_t mask = prefix ? htonl(0xffffffffu << (32 - prefix)) : 0;
        struct in_addr net = {.s_addr = in->cfg->network.subnet.addr.s_addr & mask};
        char ns[INET_ADDRSTRLEN], route[256] = "";
        inet_ntop(AF_INET, &net, ns, sizeof(ns));
        const char *bridge = in->cfg->network.bridge ? in->cfg->network.bridge : "banger0";
        if (!env->route_overlap)
                return doctor_add(rep, "subnet", DOCTOR_WARN,
                                  "compare network.subnet with `ip -4 route` by hand",
                                  "cannot read the host's routes in this build");
        int r = env->route_overlap(env->ud, net, prefix, bridge, route, sizeof(route));
        if (r < 0)
                return doctor_add(rep, "subnet", DOCTOR_WARN,
                                  "compare network.subnet with `ip -4 route` by hand",
                                  "cannot read the host's routes: %s", strerror(-r));
        if (r > 0)
                return doctor_add(rep, "subnet", DOCTOR_FAIL,
                                  "set network.subnet in config.toml to an unused private "
                                  "range (e.g. \"10.213.0.1/24\") and restart banger-netsvc",
                                  "network.subnet %s/%u overlaps the host route '%s'", ns,
                                  (unsigned)prefix, route);
        return doctor_add(rep, "subnet", DOCTOR_PASS, NULL,
                          "network.subnet %s/%u overlaps no host route", ns, (unsigned)prefix);
}

/* ---- dns port --------------------------------------------------------- */

static inline void closedirp_doctor(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Looks for "socket:[inode]" among the fds of every process. */
static int find_inode_owner(const char *proc_root, unsigned long inode, int *ret_pid,
                            bool *ret_denied)
{
        _cleanup_(closedirp_doctor) DIR *d = opendir(proc_root);
        if (!d)
                return -errno;
        char want[64];
        snprintf(want, sizeof(want), "socket:[%lu]", inode);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                char fddir[PATH_MAX];
                snprintf(fddir, sizeof(fddir), "%s/%s/fd", proc_root, de->d_name);
                DIR *fds = opendir(fddir);
                if (!fds) {
                        if (errno == EACCES || errno == EPERM)
                                *ret_denied = true;
                        continue;
                }
                struct dirent *fe;
                bool found = false;
                while ((fe = readdir(fds))) {
                        if (fe->d_name[0] == '.')
                                continue;
                        char link[PATH_MAX + 300], target[128];
                        snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
                        ssize_t n = readlink(link, target, sizeof(target) - 1);
                        if (n < 0)
                                continue;
                        target[n] = '\0';
                        if (streq(target, want)) {
                                found = true;
                                break;
                        }
                }
                closedir(fds);
                if (found) {
                        *ret_pid = atoi(de->d_name);
                        return 1;
                }
        }
        return 0;
}

int doctor_udp_port_owner(const char *proc_root, struct in_addr addr, uint16_t port, int *ret_pid,
                          char *comm, size_t comm_len)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/net/udp", proc_root);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char line[512];
        unsigned long inode = 0;
        bool header = true;
        while (fgets(line, sizeof(line), f)) {
                if (header) {
                        header = false;
                        continue;
                }
                unsigned sl, laddr, lport, raddr, rport, st;
                unsigned long txq, rxq, ino;
                unsigned uid;
                char rest[32];
                /* sl local rem st tx:rx tr:when retr uid timeout inode */
                if (sscanf(line, " %u: %8X:%4X %8X:%4X %2X %8lX:%8lX %31s %*s %u %*s %lu", &sl,
                           &laddr, &lport, &raddr, &rport, &st, &txq, &rxq, rest, &uid, &ino) != 11)
                        continue;
                if (lport != port || ino == 0)
                        continue;
                if (laddr == addr.s_addr || laddr == 0) {
                        inode = ino;
                        break;
                }
        }
        if (!inode)
                return 0;
        int pid = 0;
        bool denied = false;
        int r = find_inode_owner(proc_root, inode, &pid, &denied);
        if (r < 0)
                return r;
        if (r == 0) {
                *ret_pid = 0;
                comm[0] = '\0';
                return -EACCES; /* listening, owner not visible to us */
        }
        *ret_pid = pid;
        snprintf(path, sizeof(path), "%s/%d/comm", proc_root, pid);
        comm[0] = '\0';
        _cleanup_fclose_ FILE *c = fopen(path, "re");
        if (c && fgets(comm, (int)comm_len, c))
                comm[strcspn(comm, "\n")] = '\0';
        return 1;
}

int doctor_check_dns_port(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        if (!in->cfg)
                return doctor_add(rep, "dns.port", DOCTOR_WARN,
                                  "fix config.toml first (see the config row)",
                                  "no configuration loaded");
        struct in_addr a = in->cfg->network.dns_listen.addr;
        uint16_t port = in->cfg->network.dns_listen.port;
        char as[INET_ADDRSTRLEN], comm[64];
        inet_ntop(AF_INET, &a, as, sizeof(as));
        if (in->system_mode && port < 1024)
                return doctor_add(rep, "dns.port", DOCTOR_FAIL,
                                  "set network.dns_listen to a port of 1024 or above (default "
                                  "127.0.0.1:42069)",
                                  "network.dns_listen %s:%u: the banger-netsvc unit has no "
                                  "CAP_NET_BIND_SERVICE, so it cannot bind a port below 1024",
                                  as, (unsigned)port);
        int pid = 0;
        int r = doctor_udp_port_owner(env->proc_root ? env->proc_root : "/proc", a, port, &pid,
                                      comm, sizeof(comm));
        if (r == 1 && streq(comm, "banger-netsvc"))
                return doctor_add(rep, "dns.port", DOCTOR_PASS, NULL,
                                  "banger-netsvc (pid %d) answers DNS on %s:%u", pid, as,
                                  (unsigned)port);
        if (r == 1)
                return doctor_add(rep, "dns.port", DOCTOR_FAIL,
                                  "stop that program, or set network.dns_listen in config.toml "
                                  "to a free port and restart banger-netsvc",
                                  "%s:%u is taken by %s (pid %d), not banger-netsvc", as,
                                  (unsigned)port, comm[0] ? comm : "?", pid);
        if (r == -EACCES) {
                /* netsvc runs as root: the owner cannot see its sockets in
                 * /proc. Its own Status names what its DNS server listens on. */
                struct doctor_net net = {0};
                char want[48];
                snprintf(want, sizeof(want), "%s:%u", as, (unsigned)port);
                if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known)
                        for (size_t i = 0; i < net.n_dns_listen && i < ELEMENTSOF(net.dns_listen); i++)
                                if (streq(net.dns_listen[i], want))
                                        return doctor_add(rep, "dns.port", DOCTOR_PASS, NULL,
                                                          "banger-netsvc reports it answers DNS "
                                                          "on %s (its process is not visible to "
                                                          "this user)",
                                                          want);
                return doctor_add(rep, "dns.port", DOCTOR_WARN,
                                  "run `sudo banger doctor` to see which process holds it",
                                  "something listens on %s:%u, but this user cannot see which "
                                  "process",
                                  as, (unsigned)port);
        }
        if (r < 0)
                return doctor_add(rep, "dns.port", DOCTOR_WARN, "check by hand: `sudo ss -ulpn`",
                                  "cannot read the UDP socket table: %s", strerror(-r));
        return doctor_add(rep, "dns.port", DOCTOR_WARN,
                          in->system_mode ? "sudo systemctl start banger-netsvc; `banger net "
                                            "status` shows why Setup failed"
                                          : "start banger (`banger daemon start`); `banger net "
                                            "status` shows why Setup failed",
                          "nothing answers DNS on %s:%u (banger-netsvc not running or not set "
                          "up)",
                          as, (unsigned)port);
}

/* ---- resolver --------------------------------------------------------- */

int doctor_check_resolver(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        const char *bridge =
            in->cfg && in->cfg->network.bridge ? in->cfg->network.bridge : "banger0";
        char hint[384], as[INET_ADDRSTRLEN] = "127.0.0.1";
        unsigned port = in->cfg ? in->cfg->network.dns_listen.port : 42069;
        if (in->cfg)
                inet_ntop(AF_INET, &in->cfg->network.dns_listen.addr, as, sizeof(as));
        snprintf(hint, sizeof(hint),
                 "ask banger's server directly (`dig @%s -p %u NAME.vm`), or make your resolver "
                 "forward the vm domain to %s:%u (dnsmasq: server=/vm/%s#%u)",
                 as, port, as, port, as, port);
        if (!env->resolved_running || !env->resolved_running(env->ud))
                return doctor_add(rep, "resolver", DOCTOR_WARN, hint,
                                  "systemd-resolved is not running: NAME.vm does not resolve on "
                                  "the host by itself");
        struct doctor_net net = {0};
        if (env->net_status && env->net_status(env->ud, &net) == 0 && net.known) {
                if (net.resolver_routed)
                        return doctor_add(rep, "resolver", DOCTOR_PASS, NULL,
                                          "systemd-resolved routes ~vm to banger's DNS on %s",
                                          bridge);
                return doctor_add(rep, "resolver", DOCTOR_WARN,
                                  "restart banger-netsvc; `banger net status` shows the "
                                  "resolver text",
                                  "systemd-resolved runs but does not route ~vm to %s", bridge);
        }
        char path[PATH_MAX], out[2048];
        if (env->find_program && env->run &&
            env->find_program(env->ud, "resolvectl", path, sizeof(path)) == 0) {
                const char *argv[] = {path, "domain", bridge, NULL};
                int r = env->run(env->ud, argv, out, sizeof(out));
                if (r == 0 && strstr(out, "~vm"))
                        return doctor_add(rep, "resolver", DOCTOR_PASS, NULL,
                                          "systemd-resolved routes ~vm via %s", bridge);
        }
        return doctor_add(rep, "resolver", DOCTOR_WARN,
                          "start banger-netsvc: it routes ~vm when it sets the bridge up",
                          "systemd-resolved runs but ~vm is not routed to %s (banger-netsvc "
                          "not running or not set up)",
                          bridge);
}

/* ---- disk ------------------------------------------------------------- */

int doctor_check_disk(const struct doctor_env *env, const struct doctor_input *in,
                      struct doctor_report *rep)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", in->state_dir ? in->state_dir : "/");
        /* The state dir may not exist yet: measure its nearest parent. */
        struct stat st;
        while (env->lstat && env->lstat(env->ud, dir, &st) < 0 && strlen(dir) > 1) {
                char *s = strrchr(dir, '/');
                if (!s)
                        break;
                if (s == dir)
                        s[1] = '\0';
                else
                        *s = '\0';
        }
        uint64_t avail = 0;
        int r = env->disk_free ? env->disk_free(env->ud, dir, &avail) : -ENOSYS;
        if (r < 0)
                return doctor_add(rep, "disk", DOCTOR_WARN, "check by hand: `df -h`",
                                  "cannot measure free space in %s: %s", dir, strerror(-r));
        double gib = (double)avail / (double)(1ULL << 30);
        const char *hint = "free space there: `banger vm prune`, `banger image cache prune`, or move "
                           "the state directory to a larger disk";
        if (avail < DOCTOR_DISK_FAIL)
                return doctor_add(rep, "disk", DOCTOR_FAIL, hint,
                                  "only %.2f GiB free in %s (need at least 1 GiB)", gib, dir);
        if (avail < DOCTOR_DISK_WARN)
                return doctor_add(rep, "disk", DOCTOR_WARN, hint,
                                  "%.1f GiB free in %s (images and work disks want 5 GiB or "
                                  "more)",
                                  gib, dir);
        return doctor_add(rep, "disk", DOCTOR_PASS, NULL, "%.1f GiB free in %s", gib, dir);
}

/* ---- services and version --------------------------------------------- */

static const char *const service_names[] = {"gateway", "netsvc", "imagesvc", "vmsvc",
                                            "workspacesvc"};

int doctor_check_services(const struct doctor_env *env, const struct doctor_input *in,
                          struct doctor_report *rep)
{
        struct doctor_health *h = NULL;
        size_t n = 0;
        char why[256] = "";
        int r = env->health ? env->health(env->ud, &h, &n, why, sizeof(why)) : -ENOSYS;
        bool sys = in->system_mode;
        char hint[256], id[48];
        if (r < 0) {
                if (r == -ENOSYS)
                        snprintf(why, sizeof(why), "cannot ask the gateway in this build");
                snprintf(hint, sizeof(hint), "%s",
                         sys ? "sudo systemctl start banger-gateway; journalctl -u "
                               "banger-gateway shows why it stopped"
                             : "banger daemon start");
                r = doctor_add(rep, "service.gateway", sys ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                               "the gateway is not running%s%s", why[0] ? ": " : "", why);
                for (size_t i = 1; r >= 0 && i < ELEMENTSOF(service_names); i++) {
                        snprintf(id, sizeof(id), "service.%s", service_names[i]);
                        r = doctor_add(rep, id, DOCTOR_WARN, hint,
                                       "%s: unknown, the gateway is not running", service_names[i]);
                }
                if (r >= 0)
                        r = doctor_add(rep, "version", DOCTOR_PASS, NULL,
                                       "no running service to compare with banger %s",
                                       in->cli_version);
                return r;
        }
        char mismatch[400] = "";
        size_t ml = 0;
        for (size_t k = 0; k < ELEMENTSOF(service_names); k++) {
                const struct doctor_health *s = NULL;
                for (size_t i = 0; i < n; i++)
                        if (streq(h[i].name, service_names[k]))
                                s = &h[i];
                snprintf(id, sizeof(id), "service.%s", service_names[k]);
                if (s && s->up) {
                        r = doctor_add(rep, id, DOCTOR_PASS, NULL, "%s is up (version %s)", s->name,
                                       s->version);
                        bool differs =
                            !streq(s->version, in->cli_version) ||
                            (in->cli_commit && s->commit[0] && !streq(s->commit, in->cli_commit));
                        if (differs && ml < sizeof(mismatch))
                                ml += (size_t)snprintf(mismatch + ml, sizeof(mismatch) - ml,
                                                       "%s%s runs %s (commit %s)", ml ? ", " : "",
                                                       s->name, s->version,
                                                       s->commit[0] ? s->commit : "?");
                } else {
                        if (sys)
                                snprintf(hint, sizeof(hint),
                                         "sudo systemctl restart banger-%s; journalctl -u "
                                         "banger-%s shows why it stopped",
                                         service_names[k], service_names[k]);
                        else
                                snprintf(hint, sizeof(hint),
                                         "banger daemon start (starts just the missing one); "
                                         "its log is STATE/logs/%s.log",
                                         service_names[k]);
                        r = doctor_add(rep, id, sys ? DOCTOR_FAIL : DOCTOR_WARN, hint,
                                       "%s is down%s%s", service_names[k],
                                       s && s->error[0] ? ": " : "", s ? s->error : "");
                }
                if (r < 0)
                        break;
        }
        free(h);
        if (r < 0)
                return r;
        if (ml)
                return doctor_add(rep, "version", DOCTOR_WARN,
                                  sys ? "after upgrading banger run `sudo banger system install` "
                                        "again, then `sudo banger system restart`"
                                      : "restart them: `banger daemon stop && banger daemon "
                                        "start`",
                                  "this banger is %s (commit %s) but %s", in->cli_version,
                                  in->cli_commit ? in->cli_commit : "?", mismatch);
        return doctor_add(rep, "version", DOCTOR_PASS, NULL,
                          "every running service is version %s like this banger", in->cli_version);
}

/* ---- system mode ------------------------------------------------------ */

static void worst(enum doctor_status *st, enum doctor_status s)
{
        if (s > *st)
                *st = s;
}

static void append(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);
static void append(char *buf, size_t len, const char *fmt, ...)
{
        size_t n = strlen(buf);
        if (n + 3 >= len)
                return;
        if (n)
                n += (size_t)snprintf(buf + n, len - n, "; ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + n, len - n, fmt, ap);
        va_end(ap);
}

static int check_sockets(const struct doctor_env *env, const struct doctor_input *in,
                         struct doctor_report *rep)
{
        const struct install_manifest *m = in->manifest;
        const char *rd = in->runtime_dir ? in->runtime_dir : "/run/banger";
        enum doctor_status st = DOCTOR_PASS;
        char msg[512] = "";
        struct stat s;
        size_t ok = 0;
        if (!env->lstat || env->lstat(env->ud, rd, &s) < 0) {
                return doctor_add(rep, "system.sockets", DOCTOR_FAIL,
                                  "sudo systemd-tmpfiles --create /etc/tmpfiles.d/banger.conf",
                                  "%s does not exist", rd);
        }
        if (!S_ISDIR(s.st_mode) || s.st_uid != m->owner_uid || (s.st_mode & 0007)) {
                worst(&st, DOCTOR_FAIL);
                append(msg, sizeof(msg),
                       "%s is %s uid %u mode %04o (want a directory of uid %u, "
                       "no access for others)",
                       rd, S_ISDIR(s.st_mode) ? "a directory of" : "not a directory,",
                       (unsigned)s.st_uid, (unsigned)(s.st_mode & 07777), (unsigned)m->owner_uid);
        }
        for (size_t i = 0; i < ELEMENTSOF(service_names); i++) {
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "%s/%s.sock", rd, service_names[i]);
                if (env->lstat(env->ud, p, &s) < 0) {
                        worst(&st, DOCTOR_WARN);
                        append(msg, sizeof(msg), "%s.sock missing (service not running)",
                               service_names[i]);
                        continue;
                }
                if (!S_ISSOCK(s.st_mode)) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s is not a socket", p);
                } else if (s.st_uid != m->owner_uid) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg),
                               "%s.sock belongs to uid %u, not the owner %s "
                               "(uid %u)",
                               service_names[i], (unsigned)s.st_uid, m->owner,
                               (unsigned)m->owner_uid);
                } else if (s.st_mode & 0077) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s.sock has mode %04o, not 0600",
                               service_names[i], (unsigned)(s.st_mode & 07777));
                } else {
                        ok++;
                }
        }
        if (st == DOCTOR_PASS)
                return doctor_add(rep, "system.sockets", DOCTOR_PASS, NULL,
                                  "%zu sockets in %s, each owned by %s with mode 0600", ok, rd,
                                  m->owner);
        return doctor_add(rep, "system.sockets", st,
                          st == DOCTOR_FAIL ? "something other than the units changed them: "
                                              "`sudo banger system restart` recreates every "
                                              "socket; check for local edits of the units"
                                            : "sudo banger system restart",
                          "%s", msg);
}

/* The first line of `want` that `have` lacks (hardening removed or changed),
 * or else the first line of `have` that `want` lacks (something added). */
static bool line_in(const char *text, const char *line, size_t len)
{
        for (const char *s = text; s && *s;) {
                size_t n = strcspn(s, "\n");
                if (n == len && strncmp(s, line, len) == 0)
                        return true;
                s += n;
                if (*s)
                        s++;
        }
        return false;
}

static bool missing_line(const char *from, const char *in_text, char *out, size_t len)
{
        for (const char *s = from; *s;) {
                size_t n = strcspn(s, "\n");
                if (n && s[0] != '#' && !line_in(in_text, s, n)) {
                        snprintf(out, len, "%.*s", (int)(n > 120 ? 120 : n), s);
                        return true;
                }
                s += n;
                if (*s)
                        s++;
        }
        return false;
}

static int check_units(const struct doctor_env *env, const struct doctor_input *in,
                       struct doctor_report *rep)
{
        const struct install_manifest *m = in->manifest;
        struct units_params up = {.libexecdir = m->libexecdir,
                                  .owner = m->owner,
                                  .group = m->group,
                                  .owner_uid = m->owner_uid};
        enum doctor_status st = DOCTOR_PASS;
        char msg[512] = "";
        size_t ok = 0;
        for (size_t i = 0; i < units_n_embedded; i++) {
                const char *name = units_embedded[i].name;
                char rel[PATH_MAX], path[PATH_MAX + 8], line[160];
                struct bg_error err = {0};
                _cleanup_free_ char *want = NULL, *have = NULL;
                if (units_install_path(name, rel, sizeof(rel)) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s",
                         in->install_root && !streq(in->install_root, "/") ? in->install_root : "",
                         rel);
                if (units_render(units_embedded[i].text, &up, &want, &err) < 0) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s: %s", name, err.msg);
                        continue;
                }
                if (!env->read_file || env->read_file(env->ud, path, &have) < 0) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s is missing", path);
                        continue;
                }
                if (streq(want, have)) {
                        ok++;
                } else if (missing_line(want, have, line, sizeof(line))) {
                        worst(&st, DOCTOR_FAIL);
                        append(msg, sizeof(msg), "%s lacks '%s'", path, line);
                } else if (missing_line(have, want, line, sizeof(line))) {
                        worst(&st, DOCTOR_WARN);
                        append(msg, sizeof(msg), "%s adds '%s'", path, line);
                } else {
                        worst(&st, DOCTOR_WARN);
                        append(msg, sizeof(msg), "%s differs in comments or order", path);
                }
                /* Drop-ins can override anything in the unit. */
                if (units_is_service(name) && env->lstat) {
                        struct stat s;
                        char dropin[PATH_MAX + 16];
                        snprintf(dropin, sizeof(dropin), "%s.d", path);
                        if (env->lstat(env->ud, dropin, &s) == 0) {
                                worst(&st, DOCTOR_WARN);
                                append(msg, sizeof(msg), "drop-in directory %s overrides it",
                                       dropin);
                        }
                }
        }
        if (st == DOCTOR_PASS)
                return doctor_add(rep, "system.units", DOCTOR_PASS, NULL,
                                  "%zu installed files match what `banger system install` wrote",
                                  ok);
        return doctor_add(rep, "system.units", st,
                          "`sudo banger system install` writes them again (then `sudo banger "
                          "system restart`); put local changes in drop-ins only if you mean to "
                          "weaken the sandbox",
                          "%s", msg);
}

int doctor_check_system(const struct doctor_env *env, const struct doctor_input *in,
                        struct doctor_report *rep)
{
        if (!in->system_mode)
                return 0;
        const struct install_manifest *m = in->manifest;
        int r;
        if (!m)
                return doctor_add(rep, "system.install", DOCTOR_FAIL, "sudo banger system install",
                                  "cannot read /etc/banger/install.toml: %s",
                                  in->manifest_error ? in->manifest_error : "unknown error");
        if (!streq(m->version, in->cli_version))
                r = doctor_add(rep, "system.install", DOCTOR_WARN,
                               "run `sudo banger system install` with this banger to update "
                               "the services",
                               "installed banger %s for %s (uid %u), but this banger is %s",
                               m->version, m->owner, (unsigned)m->owner_uid, in->cli_version);
        else
                r = doctor_add(rep, "system.install", DOCTOR_PASS, NULL,
                               "banger %s installed in %s for %s (uid %u)", m->version, m->prefix,
                               m->owner, (unsigned)m->owner_uid);
        if (r < 0)
                return r;
        r = check_sockets(env, in, rep);
        if (r < 0)
                return r;
        return check_units(env, in, rep);
}

int doctor_run(const struct doctor_env *env, const struct doctor_input *in,
               struct doctor_report *rep)
{
        int (*const checks[])(const struct doctor_env *, const struct doctor_input *,
                              struct doctor_report *) = {
            doctor_check_kvm,    doctor_check_accel,    doctor_check_tun,
            doctor_check_vmm,    doctor_check_tools,    doctor_check_nftables,
            doctor_check_subnet, doctor_check_dns_port, doctor_check_resolver,
            doctor_check_disk,   doctor_check_services, doctor_check_system,
        };
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                int r = checks[i](env, in, rep);
                if (r < 0)
                        return r;
        }
        return 0;
}
