#include "util/names.h"

#include <errno.h>
#include <string.h>

bool bg_name_is_dns_label(const char *s)
{
        return bg_name_check_dns_label("name", s, NULL) == 0;
}

int bg_name_check_dns_label(const char *what, const char *s, struct bg_error *err)
{
        if (!s || !s[0])
                return bg_error_set(err, EINVAL, "%s must not be empty", what);
        size_t n = strlen(s);
        if (n > BG_NAME_MAX)
                return bg_error_set(err, EINVAL, "%s '%.70s…' is %zu characters; at most %d", what,
                                    s, n, BG_NAME_MAX);
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return bg_error_set(err, EINVAL,
                                            "%s '%s' has '%c' at position %zu; use lower-case "
                                            "letters, digits and '-'",
                                            what, s, (c >= 0x20 && c < 0x7f) ? c : '?', i + 1);
        }
        if (s[0] == '-' || s[n - 1] == '-')
                return bg_error_set(err, EINVAL, "%s '%s' must not start or end with '-'", what, s);
        return 0;
}
