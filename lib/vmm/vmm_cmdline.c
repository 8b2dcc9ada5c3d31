#include "vmm/vmm_cmdline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"
#include "util/names.h"

static bool ipv4_ok(const char *s)
{
        struct in_addr a;
        return s && inet_pton(AF_INET, s, &a) == 1;
}

/* The guest agent matches banger.mac against the kernel's lowercase form. */
static bool mac_ok(const char *s)
{
        if (!vmm_mac_valid(s))
                return false;
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'F')
                        return false;
        return true;
}

static bool word_ok(const char *v, size_t max, const char *extra)
{
        size_t n = strlen(v);
        if (n == 0 || n > max)
                return false;
        for (; *v; v++)
                if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || strchr(extra, *v)))
                        return false;
        return true;
}

static bool agent_ok(const char *s)
{
        if (!s)
                return false;
        if (strncmp(s, "vsock:", 6) == 0)
                return word_ok(s + 6, 10, "") && strspn(s + 6, "0123456789") == strlen(s + 6);
        if (strncmp(s, "virtio-serial:", 14) == 0)
                return word_ok(s + 14, 64, ".-_");
        return false;
}

/* An absolute path of plain characters: no spaces, quotes or '=' that could
 * end the parameter. */
static bool init_ok(const char *s)
{
        size_t n = strlen(s);
        if (n < 2 || s[0] != '/' || n >= sizeof(((struct vmm_boot *)0)->init))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr("/._-", *s)))
                        return false;
        return true;
}

/* A comma-separated list of IPv4 addresses, at most what struct vmm_boot
 * holds. */
static bool dns_ok(const char *dns)
{
        char list[sizeof(((struct vmm_boot *)0)->dns)];
        size_t n = strlen(dns);
        if (n == 0 || n >= sizeof(list) || dns[0] == ',' || dns[n - 1] == ',' || strstr(dns, ",,"))
                return false;
        snprintf(list, sizeof(list), "%s", dns);
        char *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (!ipv4_ok(t))
                        return false;
        return true;
}

static int check(const struct vmm_spec *spec, const struct vmm_cmdline_machine *m,
                 struct bg_error *err)
{
        const struct vmm_boot *b = &spec->boot;
        int r = bg_name_check_dns_label("VM name", spec->name, err);
        if (r < 0)
                return r;
        if (!m->console || !word_ok(m->console, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                return bg_error_set(err, EINVAL, "console device '%s' is not like ttyS0",
                                    m->console ? m->console : "");
        if (!agent_ok(m->agent))
                return bg_error_set(err, EINVAL,
                                    "agent channel '%s' is not virtio-serial:NAME or vsock:PORT",
                                    m->agent ? m->agent : "");
        if (b->init[0] && !init_ok(b->init))
                return bg_error_set(err, EINVAL, "init '%s' is not an absolute path", b->init);
        if (!b->ip[0])
                return 0;
        if (!ipv4_ok(b->ip))
                return bg_error_set(err, EINVAL, "VM address '%s' is not IPv4", b->ip);
        if (b->prefix < 8 || b->prefix > 30)
                return bg_error_set(err, EINVAL, "prefix /%u is outside 8..30", b->prefix);
        if (!ipv4_ok(b->gateway))
                return bg_error_set(err, EINVAL, "gateway '%s' is not IPv4", b->gateway);
        if (!mac_ok(spec->mac))
                return bg_error_set(err, EINVAL, "MAC '%s' is not like 52:54:00:aa:bb:cc",
                                    spec->mac);
        if (b->dns[0] && !dns_ok(b->dns))
                return bg_error_set(err, EINVAL, "DNS server list '%s' is not IPv4 addresses",
                                    b->dns);
        return 0;
}

struct line {
        char *buf;
        size_t len, pos;
        bool full;
};

_printf_(2, 3) static void add(struct line *l, const char *fmt, ...)
{
        if (l->full)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(l->buf + l->pos, l->len - l->pos, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= l->len - l->pos)
                l->full = true;
        else
                l->pos += (size_t)n;
}

/* What every kernel banger boots is told about ending: reboot=t: a guest
 * reboot is a triple fault, which ends the VMM (QEMU -no-reboot;
 * Firecracker exits on a shutdown exit); the ACPI reset path sometimes
 * resets QEMU in place. panic=-1: reboot at once on a panic, so the VMM
 * exits instead of hanging. */
#define CMDLINE_END_ON_REBOOT "reboot=t panic=-1"

int vmm_cmdline_probe(const char *console, char *buf, size_t len)
{
        int n =
            snprintf(buf, len, "console=%s " CMDLINE_END_ON_REBOOT " rdinit=/nonexistent", console);
        return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

int vmm_cmdline_build(const struct vmm_spec *spec, const struct vmm_cmdline_machine *m, char *buf,
                      size_t len, struct bg_error *err)
{
        if (len == 0)
                return bg_error_set(err, E2BIG, "kernel command line too long");
        buf[0] = '\0';
        int r = check(spec, m, err);
        if (r < 0)
                return r;
        const struct vmm_boot *b = &spec->boot;
        struct line l = {.buf = buf, .len = len < VMM_CMDLINE_MAX ? len : VMM_CMDLINE_MAX};

        /* The machine. The serial console is the guest's log (console.log). */
        add(&l, "console=%s " CMDLINE_END_ON_REBOOT, m->console);
        if (m->no_pci)
                add(&l, " pci=off");
        if (m->i8042_quick)
                add(&l, " i8042.noaux i8042.nomux i8042.dumbkbd");
        /* Under TCG the guest's TSC runs at the host's rate, and calibrating
         * it against the PIT can fail on a busy host and hang the boot: the
         * driver tells the rate instead. */
        if (m->tsc_khz)
                add(&l, " tsc_early_khz=%" PRIu32, m->tsc_khz);

        /* The banger initramfs mounts the root disk itself. */
        add(&l, " root=/dev/vda rw rootfstype=ext4");
        if (b->agent_init)
                add(&l, " banger.init=agent");
        else if (b->init[0])
                add(&l, " init=%s", b->init);

        /* What the guest agent reads at boot. */
        add(&l, " banger.name=%s banger.work=/dev/vdb", spec->name);
        if (b->modules_disk)
                add(&l, " banger.modules=/dev/vdc");
        add(&l, " banger.agent=%s", m->agent);
        if (b->ip[0]) {
                add(&l, " banger.ip=%s/%u banger.gw=%s banger.mac=%s", b->ip, b->prefix, b->gateway,
                    spec->mac);
                if (b->dns[0])
                        add(&l, " banger.dns=%s", b->dns);
        }
        if (l.full) {
                buf[0] = '\0';
                return bg_error_set(err, E2BIG, "kernel command line too long (limit %zu bytes)",
                                    l.len - 1);
        }
        return 0;
}
