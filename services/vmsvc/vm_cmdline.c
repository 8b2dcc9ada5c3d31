#include "vm_cmdline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/names.h"

static bool ipv4_ok(const char *s)
{
        struct in_addr a;
        return s && inet_pton(AF_INET, s, &a) == 1;
}

static bool mac_ok(const char *s)
{
        if (!s || strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                char c = s[i];
                if (i % 3 == 2) {
                        if (c != ':')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                        return false;
                }
        }
        return true;
}

static bool agent_ok(const char *s)
{
        const char *v;
        if (!s)
                return false;
        if (strncmp(s, "vsock:", 6) == 0) {
                v = s + 6;
                if (!*v || strlen(v) > 10)
                        return false;
                for (; *v; v++)
                        if (*v < '0' || *v > '9')
                                return false;
                return true;
        }
        if (strncmp(s, "virtio-serial:", 14) == 0) {
                v = s + 14;
                if (!*v || strlen(v) > 64)
                        return false;
                for (; *v; v++)
                        if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '.' ||
                              *v == '-' || *v == '_'))
                                return false;
                return true;
        }
        return false;
}

static int append(char *buf, size_t len, size_t *pos, struct bg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int append(char *buf, size_t len, size_t *pos, struct bg_error *err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= len - *pos)
                return bg_error_set(err, ENAMETOOLONG, "kernel command line too long");
        *pos += (size_t)n;
        return 0;
}

int vm_cmdline_build(const struct vm_boot_params *p, char *buf, size_t len, struct bg_error *err)
{
        size_t pos = 0;
        int r;

        if (len == 0)
                return bg_error_set(err, ENAMETOOLONG, "kernel command line too long");
        buf[0] = '\0';
        r = bg_name_check_dns_label("VM name", p->name, err);
        if (r < 0)
                return r;
        if (p->agent && !agent_ok(p->agent))
                return bg_error_set(err, EINVAL,
                                    "agent channel '%s' is not virtio-serial:NAME "
                                    "or vsock:PORT",
                                    p->agent ? p->agent : "");
        /* reboot=t: a triple fault always ends QEMU/Firecracker (-no-reboot);
         * panic=-1: reboot at once on panic, so the VMM exits instead of hanging. */
        r = append(buf, len, &pos, err, "root=/dev/vda rw rootfstype=ext4 panic=-1 reboot=t");
        if (r < 0)
                return r;
        /* Under TCG the TSC calibration against the PIT can fail on a busy host
         * and hang the boot; a preset frequency avoids it. */
        if (p->tcg && (r = append(buf, len, &pos, err, " tsc_early_khz=2000000")) < 0)
                return r;
        if ((r = append(buf, len, &pos, err, " banger.name=%s banger.work=/dev/vdb", p->name)) < 0)
                return r;
        if (p->has_modules_disk &&
            (r = append(buf, len, &pos, err, " banger.modules=/dev/vdc")) < 0)
                return r;
        if (p->agent && (r = append(buf, len, &pos, err, " banger.agent=%s", p->agent)) < 0)
                return r;
        if (p->ip) {
                if (!ipv4_ok(p->ip))
                        return bg_error_set(err, EINVAL, "VM address '%s' is not IPv4", p->ip);
                if (p->prefix < 8 || p->prefix > 30)
                        return bg_error_set(err, EINVAL, "prefix /%u is outside 8..30", p->prefix);
                if (!ipv4_ok(p->gateway))
                        return bg_error_set(err, EINVAL, "gateway '%s' is not IPv4",
                                            p->gateway ? p->gateway : "");
                if (!mac_ok(p->mac))
                        return bg_error_set(err, EINVAL, "MAC '%s' is not like 52:54:00:aa:bb:cc",
                                            p->mac ? p->mac : "");
                if ((r = append(buf, len, &pos, err, " banger.ip=%s/%u banger.gw=%s banger.mac=%s",
                                p->ip, p->prefix, p->gateway, p->mac)) < 0)
                        return r;
                if (p->dns) {
                        /* A comma-separated list of IPv4 addresses. */
                        char list[80];
                        if (strlen(p->dns) >= sizeof(list))
                                return bg_error_set(err, EINVAL, "DNS server list is too long");
                        snprintf(list, sizeof(list), "%s", p->dns);
                        char *save = NULL;
                        for (char *t = strtok_r(list, ",", &save); t;
                             t = strtok_r(NULL, ",", &save))
                                if (!ipv4_ok(t))
                                        return bg_error_set(err, EINVAL,
                                                            "DNS server '%s' is not IPv4", t);
                        if (p->dns[0] == ',' || p->dns[strlen(p->dns) - 1] == ',' ||
                            strstr(p->dns, ",,"))
                                return bg_error_set(err, EINVAL, "DNS server '%s' is not IPv4",
                                                    p->dns);
                        if ((r = append(buf, len, &pos, err, " banger.dns=%s", p->dns)) < 0)
                                return r;
                }
        }
        return 0;
}
