/* Test helper: a kernel command line names each parameter at most once
 * ("key=value" counts as key, a bare word as itself), and names the given
 * ones exactly once. Include after <cmocka.h>. */
#pragma once

#include <stdio.h>
#include <string.h>

/* Fails the test, naming the parameter, when line repeats one. */
static inline void assert_params_once(const char *line)
{
        char keys[128][64];
        size_t n = 0;
        for (const char *p = line; *p;) {
                p += strspn(p, " ");
                size_t w = strcspn(p, " ");
                if (w == 0)
                        break;
                size_t k = strcspn(p, "= ");
                if (k > w)
                        k = w;
                char key[64];
                snprintf(key, sizeof(key), "%.*s", (int)k, p);
                for (size_t i = 0; i < n; i++)
                        if (strcmp(keys[i], key) == 0)
                                fail_msg("parameter '%s' appears twice in '%s'", key, line);
                if (n < sizeof(keys) / sizeof(keys[0]))
                        snprintf(keys[n++], sizeof(keys[0]), "%s", key);
                p += w;
        }
}

/* The value of parameter key in line ("" for a bare word), or NULL. */
static inline const char *param_value(const char *line, const char *key, char *buf, size_t len)
{
        size_t kl = strlen(key);
        for (const char *p = line; *p;) {
                p += strspn(p, " ");
                size_t w = strcspn(p, " ");
                if (w == 0)
                        break;
                if (w >= kl && strncmp(p, key, kl) == 0 && (w == kl || p[kl] == '=')) {
                        size_t vl = w == kl ? 0 : w - kl - 1;
                        snprintf(buf, len, "%.*s", (int)vl, p + kl + (w == kl ? 0 : 1));
                        return buf;
                }
                p += w;
        }
        return NULL;
}
