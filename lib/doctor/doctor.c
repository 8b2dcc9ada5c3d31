/* The doctor report (rows of PASS/WARN/FAIL with a fix hint), the helpers
 * the checks share (version numbers, the distribution and its package
 * manager, the configured VMM) and doctor_run(), which runs every check in
 * order. The checks themselves: doctor_vmm.c (KVM, accelerator, tun, the
 * VMM programs), doctor_host.c (host tools, free disk), doctor_net.c
 * (nftables, subnet, DNS port, resolver), doctor_install.c (services,
 * versions and a system install). */
#include "doctor.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_internal.h"

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

bool doctor_is_debian_like(const char *os)
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
void doctor_pkg_hint(const char *os, const char *deb_pkg, const char *rpm_pkg, char *out,
                     size_t len)
{
        if (doctor_is_debian_like(os))
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

enum bg_vmm doctor_cfg_vmm(const struct doctor_input *in)
{
        return in->cfg ? in->cfg->vmm : BG_VMM_AUTO;
}

void doctor_first_line(const char *s, char *out, size_t len)
{
        while (*s == '\n' || *s == ' ')
                s++;
        size_t n = strcspn(s, "\n");
        if (n >= len)
                n = len - 1;
        memcpy(out, s, n);
        out[n] = '\0';
}

int doctor_run(const struct doctor_env *env, const struct doctor_input *in,
               struct doctor_report *rep)
{
        int (*const checks[])(const struct doctor_env *, const struct doctor_input *,
                              struct doctor_report *) = {
            doctor_check_kvm,      doctor_check_accel,       doctor_check_tun,
            doctor_check_vmm,      doctor_check_fc_security, doctor_check_tools,
            doctor_check_nftables, doctor_check_subnet,      doctor_check_dns_port,
            doctor_check_resolver, doctor_check_disk,        doctor_check_services,
            doctor_check_system,
        };
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                int r = checks[i](env, in, rep);
                if (r < 0)
                        return r;
        }
        return 0;
}
