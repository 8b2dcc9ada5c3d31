/* QEMU's command line for a banger guest: the microvm machine
 * (qemu_machine.h), the disks, network, agent channel, console, QMP and the
 * kernel command line (vmm_cmdline.c), all checked first
 * (vmm_qemu_build_argv in vmm_qemu.h). Pure: the driver (vmm_qemu.c) and
 * the tests call it; it looks at nothing but its arguments. */
#include "vmm/qemu/vmm_qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/accel_probe.h"
#include "vmm/qemu/qmp.h"
#include "vmm/vmm_cmdline.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

/* The guest's TSC rate under TCG when the host's cannot be measured (not an
 * x86 host): what banger told every TCG guest before it measured. */

struct strv {
        char **v;
        size_t n, cap;
        bool oom;
};

char **vmm_qemu_argv_free(char **argv)
{
        if (!argv)
                return NULL;
        for (char **p = argv; *p; p++)
                free(*p);
        free(argv);
        return NULL;
}

static void strv_take(struct strv *s, char *str)
{
        if (!str) {
                s->oom = true;
                return;
        }
        if (s->n + 2 > s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 32;
                char **nv = realloc(s->v, ncap * sizeof(char *));
                if (!nv) {
                        free(str);
                        s->oom = true;
                        return;
                }
                s->v = nv;
                s->cap = ncap;
        }
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
}

static void strv_add(struct strv *s, const char *str)
{
        strv_take(s, strdup(str));
}

_printf_(2, 3) static void strv_addf(struct strv *s, const char *fmt, ...)
{
        va_list ap;
        char *str = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&str, fmt, ap);
        va_end(ap);
        strv_take(s, r < 0 ? NULL : str);
}

/* QEMU option values separate keys with ','; a literal ',' is written ",,". */
static char *opt_escape(const char *s)
{
        size_t n = strlen(s), commas = 0;
        for (size_t i = 0; i < n; i++)
                commas += s[i] == ',';
        char *out = malloc(n + commas + 1);
        if (!out)
                return NULL;
        char *o = out;
        for (size_t i = 0; i < n; i++) {
                *o++ = s[i];
                if (s[i] == ',')
                        *o++ = ',';
        }
        *o = '\0';
        return out;
}

static bool valid_tap(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n >= 16)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = t[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.'))
                        return false;
        }
        return true;
}

static int check_socket_path(const char *dir, const char *name, struct bg_error *err)
{
        struct sockaddr_un sa;
        if (strlen(dir) + 1 + strlen(name) >= sizeof(sa.sun_path))
                return bg_error_set(err, EINVAL,
                                    "VM directory %s is too long for a unix socket path (%s/%s "
                                    "must be shorter than %zu bytes)",
                                    dir, dir, name, sizeof(sa.sun_path));
        return 0;
}

static int validate_spec(const struct vmm_spec *spec, const struct vmm_qemu_opts *opts,
                         struct bg_error *err)
{
        if (opts->accel != VMM_ACCEL_KVM && opts->accel != VMM_ACCEL_TCG)
                return bg_error_set(err, EINVAL, "QEMU accelerator must be resolved to kvm or tcg");
        if (!spec->binary[0])
                return bg_error_set(err, EINVAL, "no QEMU binary given");
        if (!spec->dir[0] || spec->dir[0] != '/')
                return bg_error_set(err, EINVAL, "VM directory '%s' is not an absolute path",
                                    spec->dir);
        if (!spec->kernel_bzimage[0])
                return bg_error_set(err, EINVAL, "no kernel (bzImage) given");
        if (spec->vcpu < 1 || spec->vcpu > 255)
                return bg_error_set(err, EINVAL, "vcpu count %u is out of range (1-255)",
                                    spec->vcpu);
        if (spec->memory_mib < 64 || spec->memory_mib > 1024u * 1024)
                return bg_error_set(err, EINVAL, "memory %u MiB is out of range (64 MiB-1 TiB)",
                                    spec->memory_mib);
        if (spec->n_disks > VMM_MAX_DISKS)
                return bg_error_set(err, EINVAL, "%u disks given, at most %d are supported",
                                    spec->n_disks, VMM_MAX_DISKS);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                const struct vmm_disk *d = &spec->disks[i];
                if (!d->path[0])
                        return bg_error_set(err, EINVAL, "disk %u has no path", i);
                if (d->format != VMM_DISK_RAW && d->format != VMM_DISK_QCOW2)
                        return bg_error_set(err, EINVAL, "disk %u (%s) has an unknown format", i,
                                            d->path);
        }
        if (spec->tap[0]) {
                if (!valid_tap(spec->tap))
                        return bg_error_set(
                            err, EINVAL, "tap name '%s' is not a valid interface name", spec->tap);
                if (spec->mac[0] && !vmm_mac_valid(spec->mac))
                        return bg_error_set(err, EINVAL, "MAC address '%s' is malformed",
                                            spec->mac);
        }
        if (opts->vsock && (spec->vsock_cid < 3 || spec->vsock_cid == UINT32_MAX))
                return bg_error_set(err, EINVAL, "vsock CID %u is reserved (must be >= 3)",
                                    spec->vsock_cid);
        if (spec->restore[0] && (!spec->mem.path[0] || spec->mem.shared))
                return bg_error_set(err, EINVAL,
                                    "restoring a snapshot needs its memory file, mapped private");
        if (spec->mem.path[0] && spec->mem.path[0] != '/')
                return bg_error_set(err, EINVAL, "memory file '%s' is not an absolute path",
                                    spec->mem.path);
        if (spec->restore[0] && opts->vsock)
                return bg_error_set(err, EINVAL,
                                    "a restored guest keeps its snapshot's vsock CID: use the "
                                    "virtio-serial agent channel");
        if (spec->exec_ports > VMM_EXEC_PORTS_MAX)
                return bg_error_set(err, EINVAL, "%u exec ports (at most %u)", spec->exec_ports,
                                    VMM_EXEC_PORTS_MAX);
        int r = check_socket_path(spec->dir, VMM_QEMU_QMP_SOCK, err);
        if (r < 0)
                return r;
        char last[32];
        snprintf(last, sizeof(last), VMM_FILE_EXEC_FMT, VMM_EXEC_PORTS_MAX);
        if (!opts->vsock && spec->exec_ports && (r = check_socket_path(spec->dir, last, err)) < 0)
                return r;
        return check_socket_path(spec->dir, VMM_FILE_AGENT, err);
}

/* Adds prefix + path (with its commas doubled) + suffix. */
static void add_opt_path(struct strv *s, const char *prefix, const char *path, const char *suffix)
{
        _cleanup_free_ char *esc = opt_escape(path);
        char *str = NULL;
        if (!esc || asprintf(&str, "%s%s%s", prefix, esc, suffix) < 0)
                str = NULL;
        strv_take(s, str);
}

static void add_dir_opt(struct strv *s, const char *prefix, const char *dir, const char *name,
                        const char *suffix)
{
        char path[VMM_PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        add_opt_path(s, prefix, path, suffix);
}

int vmm_qemu_build_argv(const struct vmm_spec *spec, const struct vmm_qemu_opts *opts,
                        char ***ret_argv, struct bg_error *err)
{
        int r = validate_spec(spec, opts, err);
        if (r < 0)
                return r;
        bool kvm = opts->accel == VMM_ACCEL_KVM;
        struct strv s = {0};

        strv_add(&s, spec->binary);
        if (spec->name[0] || spec->id[0]) {
                strv_add(&s, "-name");
                add_opt_path(&s, "guest=", spec->name[0] ? spec->name : spec->id, "");
        }
        strv_add(&s, "-M");
        if (spec->mem.path[0]) {
                /* The guest's RAM is a file (templates and their clones). */
                strv_add(&s, VMM_QEMU_MACHINE ",memory-backend=mem");
                strv_add(&s, "-object");
                char prefix[96];
                snprintf(
                    prefix, sizeof(prefix),
                    "memory-backend-file,id=mem,size=%" PRIu32 "M,mem-path=", spec->memory_mib);
                add_opt_path(&s, prefix, spec->mem.path,
                             spec->mem.shared ? ",share=on" : ",share=off");
        } else {
                strv_add(&s, VMM_QEMU_MACHINE);
        }
        strv_add(&s, "-accel");
        strv_add(&s, kvm ? "kvm" : "tcg,thread=multi");
        strv_add(&s, "-cpu");
        strv_add(&s, kvm ? "host" : "qemu64");
        strv_add(&s, "-m");
        strv_addf(&s, "%" PRIu32 "M", spec->memory_mib);
        strv_add(&s, "-smp");
        strv_addf(&s, "%" PRIu32, spec->vcpu);
        strv_add(&s, "-no-reboot");
        strv_add(&s, "-no-user-config");
        strv_add(&s, "-nodefaults");
        strv_add(&s, "-display");
        strv_add(&s, "none");
        strv_add(&s, "-chardev");
        /* With a console pump QEMU writes its stdout, the pump's pipe
         * (vmm_console.h). Without, appending: vmsvc caps the log by
         * truncating it under QEMU (vmm_log_rotate), and appends then start
         * again at 0. */
        if (spec->console_fd > 0)
                strv_add(&s, "file,id=console,path=/dev/stdout");
        else
                add_dir_opt(&s, "file,id=console,path=", spec->dir, VMM_FILE_CONSOLE,
                            ",append=on");
        strv_add(&s, "-serial");
        strv_add(&s, "chardev:console");
        strv_add(&s, "-chardev");
        add_dir_opt(&s, "socket,id=qmp,path=", spec->dir, VMM_QEMU_QMP_SOCK, ",server=on,wait=off");
        strv_add(&s, "-mon");
        strv_add(&s, "chardev=qmp,mode=control");
        strv_add(&s, "-kernel");
        strv_add(&s, spec->kernel_bzimage);
        if (spec->initrd[0]) {
                strv_add(&s, "-initrd");
                strv_add(&s, spec->initrd);
        }
        char agent[96], append[VMM_CMDLINE_MAX];
        if (opts->vsock)
                snprintf(agent, sizeof(agent), "vsock:%d", VMM_QEMU_AGENT_VSOCK_PORT);
        else
                snprintf(agent, sizeof(agent), "virtio-serial:%s", VMM_QEMU_AGENT_PORT_NAME);
        struct vmm_cmdline_machine m = {
            .console = "ttyS0",
            .agent = agent,
            .tsc_khz = kvm ? 0 : opts->tsc_khz,
        };
        r = vmm_cmdline_build(spec, &m, append, sizeof(append), err);
        if (r < 0) {
                vmm_qemu_argv_free(s.v);
                return r;
        }
        strv_add(&s, "-append");
        strv_add(&s, append);

        /* Disks first, so they take the first virtio-mmio slots in order. */
        for (unsigned i = 0; i < spec->n_disks; i++) {
                const struct vmm_disk *d = &spec->disks[i];
                char prefix[32], suffix[64];
                snprintf(prefix, sizeof(prefix), "id=disk%u,file=", i);
                snprintf(suffix, sizeof(suffix), ",format=%s,if=none%s",
                         d->format == VMM_DISK_QCOW2 ? "qcow2" : "raw",
                         d->read_only ? ",readonly=on" : ",discard=unmap");
                strv_add(&s, "-drive");
                add_opt_path(&s, prefix, d->path, suffix);
                strv_add(&s, "-device");
                strv_addf(&s, "virtio-blk-device,drive=disk%u", i);
        }
        if (spec->tap[0]) {
                strv_add(&s, "-netdev");
                strv_addf(&s, "tap,id=net0,ifname=%s,script=no,downscript=no", spec->tap);
                strv_add(&s, "-device");
                if (spec->mac[0])
                        strv_addf(&s, "virtio-net-device,netdev=net0,mac=%s", spec->mac);
                else
                        strv_add(&s, "virtio-net-device,netdev=net0");
        }
        if (opts->vsock) {
                strv_add(&s, "-device");
                strv_addf(&s, "vhost-vsock-device,guest-cid=%" PRIu32, spec->vsock_cid);
        } else {
                strv_add(&s, "-device");
                strv_add(&s, "virtio-serial-device");
                strv_add(&s, "-chardev");
                add_dir_opt(&s, "socket,id=agent,path=", spec->dir, VMM_FILE_AGENT,
                            ",server=on,wait=off");
                strv_add(&s, "-device");
                strv_add(&s, "virtserialport,chardev=agent,name=" VMM_QEMU_AGENT_PORT_NAME);
                for (unsigned i = 0; i < spec->exec_ports; i++) {
                        char name[32];
                        snprintf(name, sizeof(name), VMM_FILE_EXEC_FMT, i);
                        strv_add(&s, "-chardev");
                        char prefix[48];
                        snprintf(prefix, sizeof(prefix), "socket,id=exec%u,path=", i);
                        add_dir_opt(&s, prefix, spec->dir, name, ",server=on,wait=off");
                        strv_add(&s, "-device");
                        strv_addf(&s, "virtserialport,chardev=exec%u,name=" VMM_QEMU_EXEC_PORT_FMT,
                                  i, i);
                }
        }
        if (spec->restore[0]) {
                /* The state arrives over QMP (migrate-incoming) once QEMU is up. */
                strv_add(&s, "-incoming");
                strv_add(&s, "defer");
        }
        if (s.oom) {
                vmm_qemu_argv_free(s.v);
                return bg_error_set(err, ENOMEM, "out of memory building the QEMU command line");
        }
        *ret_argv = s.v;
        return 0;
}
