#include "validate.h"

#include <arpa/inet.h>
#include <string.h>

/* Copies at most 40 bytes of untrusted s into buf for a message, escaping
 * anything that is not printable ASCII. */
static const char *printable(const char *s, char *buf, size_t len)
{
        size_t o = 0;
        for (size_t i = 0; s[i] && o + 5 < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (i >= 40) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                        buf[o++] = (char)c;
                else
                        o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        }
        buf[o] = '\0';
        return buf;
}

bool netsvc_vm_name_is_valid(const char *name)
{
        if (!name)
                return false;
        size_t n = strlen(name);
        if (n < 1 || n > NETSVC_VM_NAME_MAX)
                return false;
        if (name[0] == '-' || name[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return true;
}

int netsvc_validate_vm_name(const char *name, struct bg_error *err)
{
        if (netsvc_vm_name_is_valid(name))
                return 0;
        if (!name || !name[0])
                return bg_error_set(err, EINVAL, "a VM name is required");
        char buf[200];
        return bg_error_set(err, EINVAL,
                            "VM name '%s' is not a DNS label: use 1-63 of a-z, 0-9 and '-', "
                            "not starting or ending with '-'",
                            printable(name, buf, sizeof(buf)));
}

int netsvc_validate_guest_ip(const struct ipam_net *net, struct in_addr gateway, const char *s,
                             struct in_addr *ret, struct bg_error *err)
{
        char buf[200];
        struct in_addr a;
        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return bg_error_set(err, EINVAL, "'%s' is not an IPv4 address",
                                    s ? printable(s, buf, sizeof(buf)) : "");
        int r = ipam_check_host(net, a, err);
        if (r < 0)
                return r;
        if (a.s_addr == gateway.s_addr)
                return bg_error_set(err, EINVAL,
                                    "%s is the gateway (the bridge address), not a "
                                    "guest address",
                                    s);
        *ret = a;
        return 0;
}
