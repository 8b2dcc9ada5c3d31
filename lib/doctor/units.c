#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct unit_template *units_find(const char *name)
{
        for (size_t i = 0; i < units_n_embedded; i++)
                if (streq(units_embedded[i].name, name))
                        return &units_embedded[i];
        return NULL;
}

bool units_is_service(const char *name)
{
        size_t n = strlen(name);
        return strncmp(name, "banger-", 7) == 0 && n > 8 + 7 && streq(name + n - 8, ".service");
}

int units_install_path(const char *name, char *out, size_t len)
{
        int n;
        if (units_is_service(name))
                n = snprintf(out, len, "etc/systemd/system/%s", name);
        else if (streq(name, "banger.tmpfiles"))
                n = snprintf(out, len, "etc/tmpfiles.d/banger.conf");
        else
                return -EINVAL;
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool units_name_is_safe(const char *name)
{
        if (!name)
                return false;
        size_t n = strlen(name);
        if (n == 0 || n > 32)
                return false;
        if (!(islower((unsigned char)name[0]) || name[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c == '$' && i == n - 1)
                        break;
                if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

bool units_path_is_safe(const char *path)
{
        if (!path || path[0] != '/' || strlen(path) > 200)
                return false;
        for (const char *s = path; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c <= ' ' || c >= 0x7f || strchr("\"'%\\$;`", c))
                        return false;
        }
        return true;
}

struct buf {
        char *p;
        size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
        if (b->n + n + 1 > b->cap) {
                size_t cap = (b->n + n + 1) * 2;
                char *p = realloc(b->p, cap);
                if (!p)
                        return -ENOMEM;
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        return 0;
}

int units_render(const char *tmpl, const struct units_params *p, char **ret, struct bg_error *err)
{
        if (!units_path_is_safe(p->libexecdir))
                return bg_error_set(err, EINVAL,
                                    "'%s' cannot be written into a unit file: the binary "
                                    "directory must be an absolute path without spaces, quotes "
                                    "or any of %%\\$;",
                                    p->libexecdir ? p->libexecdir : "");
        if (!units_name_is_safe(p->owner))
                return bg_error_set(err, EINVAL, "'%s' is not a user name a unit can run as",
                                    p->owner ? p->owner : "");
        if (!units_name_is_safe(p->group))
                return bg_error_set(err, EINVAL, "'%s' is not a group name a unit can use",
                                    p->group ? p->group : "");
        char uid[16];
        snprintf(uid, sizeof(uid), "%u", (unsigned)p->owner_uid);
        const struct {
                const char *key, *val;
        } vars[] = {
            {"@LIBEXECDIR@", p->libexecdir},
            {"@OWNER@", p->owner},
            {"@GROUP@", p->group},
            {"@OWNER_UID@", uid},
        };

        struct buf b = {0};
        const char *s = tmpl;
        int r = 0;
        while (*s) {
                const char *at = strchr(s, '@');
                if (!at) {
                        r = buf_add(&b, s, strlen(s));
                        break;
                }
                r = buf_add(&b, s, (size_t)(at - s));
                if (r < 0)
                        break;
                /* Only @UPPER_CASE@ is a placeholder; "@system-service" is text. */
                size_t m = 1;
                while (isupper((unsigned char)at[m]) || at[m] == '_')
                        m++;
                if (m == 1 || at[m] != '@') {
                        r = buf_add(&b, "@", 1);
                        if (r < 0)
                                break;
                        s = at + 1;
                        continue;
                }
                size_t k;
                for (k = 0; k < ELEMENTSOF(vars); k++)
                        if (strncmp(at, vars[k].key, strlen(vars[k].key)) == 0)
                                break;
                if (k == ELEMENTSOF(vars)) {
                        free(b.p);
                        return bg_error_set(err, EINVAL, "unit template: unknown placeholder %.*s",
                                            (int)(m + 1 > 40 ? 40 : m + 1), at);
                }
                r = buf_add(&b, vars[k].val, strlen(vars[k].val));
                if (r < 0)
                        break;
                s = at + strlen(vars[k].key);
        }
        if (r == 0 && !b.p)
                r = buf_add(&b, "", 0);
        if (r < 0) {
                free(b.p);
                return bg_error_set(err, ENOMEM, "out of memory rendering a unit");
        }
        *ret = b.p;
        return 0;
}
