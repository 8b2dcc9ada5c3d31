#include "ifname.h"

#include <errno.h>
#include <string.h>

bool ifname_is_tap(const char *name)
{
        if (!name)
                return false;
        size_t n = strlen(name);
        if (n < 3 || n > IFNAME_MAX || name[0] != 'b' || name[1] != 'g')
                return false;
        for (size_t i = 2; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return true;
}

bool ifname_is_valid(const char *name)
{
        if (!name)
                return false;
        size_t n = strlen(name);
        if (n == 0 || n > IFNAME_MAX || streq(name, ".") || streq(name, "..") || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.'))
                        return false;
        }
        return true;
}

int ifname_validate_tap(const char *name, struct bg_error *err)
{
        if (ifname_is_tap(name))
                return 0;
        return bg_error_set(err, EINVAL,
                            "'%.32s' is not a banger tap name (want bg + 1-13 of [a-z0-9-])",
                            name ? name : "(null)");
}

int ifname_validate(const char *name, const char *what, struct bg_error *err)
{
        if (ifname_is_valid(name))
                return 0;
        return bg_error_set(
            err, EINVAL,
            "%s name '%.32s' is not valid (1-15 of [A-Za-z0-9_.-], no leading -, not . or ..)",
            what, name ? name : "(null)");
}
