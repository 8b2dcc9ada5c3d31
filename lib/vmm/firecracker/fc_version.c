#include "vmm/firecracker/fc_version.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/run.h"
#include "util/timeutil.h"
#include "vmm/vmm_proc.h"

/* "MAJOR.MINOR.PATCH" at p, followed by the end, a space or a "-"/"+"
 * suffix. */
static int parse_triplet(const char *p, unsigned *ret_major, unsigned *ret_minor,
                         unsigned *ret_patch)
{
        unsigned v[3];
        for (int i = 0; i < 3; i++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                char *end;
                errno = 0;
                unsigned long x = strtoul(p, &end, 10);
                if (errno || x > 100000)
                        return -EINVAL;
                v[i] = (unsigned)x;
                p = end;
                if (i < 2) {
                        if (*p != '.')
                                return -EINVAL;
                        p++;
                }
        }
        if (*p && !isspace((unsigned char)*p) && *p != '-' && *p != '+')
                return -EINVAL;
        *ret_major = v[0];
        *ret_minor = v[1];
        *ret_patch = v[2];
        return 0;
}

int fc_version_parse(const char *text, unsigned *ret_major, unsigned *ret_minor,
                     unsigned *ret_patch)
{
        if (!text)
                return -EINVAL;
        const char *p = strstr(text, "Firecracker");
        if (!p)
                return -EINVAL;
        p += strlen("Firecracker");
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p != 'v')
                return -EINVAL;
        return parse_triplet(p + 1, ret_major, ret_minor, ret_patch);
}

int fc_version_parse_api(const char *text, unsigned *ret_major, unsigned *ret_minor,
                         unsigned *ret_patch)
{
        if (!text)
                return -EINVAL;
        return parse_triplet(text[0] == 'v' ? text + 1 : text, ret_major, ret_minor, ret_patch);
}

static int version_cmp(unsigned a1, unsigned a2, unsigned a3, unsigned b1, unsigned b2, unsigned b3)
{
        if (a1 != b1)
                return a1 < b1 ? -1 : 1;
        if (a2 != b2)
                return a2 < b2 ? -1 : 1;
        if (a3 != b3)
                return a3 < b3 ? -1 : 1;
        return 0;
}

bool fc_version_supported(unsigned major, unsigned minor, unsigned patch)
{
        return version_cmp(major, minor, patch, FC_VERSION_MIN_MAJOR, FC_VERSION_MIN_MINOR,
                           FC_VERSION_MIN_PATCH) >= 0;
}

bool fc_version_snapshots(unsigned major, unsigned minor, unsigned patch)
{
        return version_cmp(major, minor, patch, FC_SNAPSHOT_MIN_MAJOR, FC_SNAPSHOT_MIN_MINOR,
                           FC_SNAPSHOT_MIN_PATCH) >= 0;
}

bool fc_version_tested(unsigned major, unsigned minor, unsigned patch)
{
        return fc_version_supported(major, minor, patch) &&
               (major < FC_TESTED_MAX_MAJOR ||
                (major == FC_TESTED_MAX_MAJOR && minor <= FC_TESTED_MAX_MINOR));
}

int fc_version(const char *binary, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_patch,
               struct bg_error *err)
{
        char exe[PATH_MAX];
        int r = vmm_find_binary(binary, exe, sizeof(exe));
        if (r < 0)
                return bg_error_errno(err, r, "find '%s'", binary ? binary : "");
        const char *argv[] = {exe, "--version", NULL};
        char out[1024];
        struct bg_error e = {0};
        r = bg_run_head(argv, &(struct bg_run_opts){.timeout_ms = 5000}, false, out, sizeof(out),
                        &e);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT, "'%s --version' did not answer within 5 s",
                                    exe);
        if (r < 0)
                return bg_error_set(err, e.code, "%s", e.msg);
        unsigned a, b, c;
        if (fc_version_parse(out, &a, &b, &c) < 0)
                return bg_error_set(err, EBADMSG,
                                    "'%s --version' printed no Firecracker version: '%.*s'", exe,
                                    (int)strcspn(out, "\n"), out);
        *ret_major = a;
        *ret_minor = b;
        *ret_patch = c;
        return 0;
}

int fc_usable_kvm(const char *binary, const char *kvm_path, char *why, size_t why_len)
{
        char exe[PATH_MAX];
        int r = vmm_find_binary(binary, exe, sizeof(exe));
        if (r < 0) {
                snprintf(why, why_len, "%s not found%s", binary && *binary ? binary : "firecracker",
                         binary && strchr(binary, '/') ? "" : " in PATH");
                return 0;
        }
        struct bg_error e = {0};
        unsigned a, b, c;
        r = fc_version(exe, &a, &b, &c, &e);
        if (r < 0) {
                snprintf(why, why_len, "%s", e.msg);
                return 0;
        }
        if (!fc_version_supported(a, b, c)) {
                snprintf(why, why_len, "%s is Firecracker v%u.%u.%u, older than %d.%d.%d", exe, a,
                         b, c, FC_VERSION_MIN_MAJOR, FC_VERSION_MIN_MINOR, FC_VERSION_MIN_PATCH);
                return 0;
        }
        int fd = open(kvm_path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, why_len, "%s: %s", kvm_path, strerror(errno));
                return 0;
        }
        close(fd);
        snprintf(why, why_len, "%s is Firecracker v%u.%u.%u%s", exe, a, b, c,
                 fc_version_tested(a, b, c) ? "" : " (newer than the tested " FC_TESTED_RANGE ")");
        return 1;
}

int fc_usable(const char *binary, char *why, size_t why_len)
{
        return fc_usable_kvm(binary, "/dev/kvm", why, why_len);
}

const char *fc_auto_pick(const char *binary, const char *kvm_path, char *why, size_t why_len)
{
        return fc_usable_kvm(binary, kvm_path, why, why_len) == 1 ? "firecracker" : "qemu";
}
