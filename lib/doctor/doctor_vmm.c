/* Checks of what VMs need from the host: /dev/kvm (kvm), which accelerator
 * guests really get (accel), /dev/net/tun for the VMMs' taps (tun), and the
 * VMM programs with versions banger supports (vmm.qemu, vmm.firecracker). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "doctor.h"
#include "doctor_internal.h"

/* ---- kvm and accel ---------------------------------------------------- */

int doctor_check_kvm(const struct doctor_env *env, const struct doctor_input *in,
                     struct doctor_report *rep)
{
        bool need = doctor_cfg_vmm(in) == BG_VMM_FIRECRACKER ||
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
        bool need = doctor_cfg_vmm(in) == BG_VMM_FIRECRACKER ||
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
        doctor_first_line(buf, out, len);
        return r;
}

static int check_qemu(const struct doctor_env *env, const struct doctor_input *in, const char *os,
                      bool fc_ok, struct doctor_report *rep)
{
        const char *bin =
            in->cfg && in->cfg->qemu.binary ? in->cfg->qemu.binary : "qemu-system-x86_64";
        enum bg_vmm vmm = doctor_cfg_vmm(in);
        bool needed = vmm == BG_VMM_QEMU || (vmm == BG_VMM_AUTO && !fc_ok);
        char path[PATH_MAX], hint[256], line[256];
        doctor_pkg_hint(os, "qemu-system-x86", "qemu-system-x86-core", hint, sizeof(hint));
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
        enum bg_vmm vmm = doctor_cfg_vmm(in);
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
                         doctor_is_debian_like(os) ? os : "this distribution");
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
