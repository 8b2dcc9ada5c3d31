#include "util/labels.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool key_char(char c, bool first)
{
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        return alnum || (!first && (c == '.' || c == '_' || c == '-' || c == '/'));
}

int bg_label_check(const char *key, const char *value, uint32_t max_value, struct bg_error *err)
{
        if (!key || !key[0])
                return bg_error_set(err, EINVAL, "a label needs a key (KEY=VALUE)");
        size_t n = strlen(key);
        if (n > BG_LABEL_KEY_MAX)
                return bg_error_set(err, EINVAL, "label key '%.40s…' is %zu characters; at most %d",
                                    key, n, BG_LABEL_KEY_MAX);
        for (size_t i = 0; i < n; i++)
                if (!key_char(key[i], i == 0))
                        return bg_error_set(
                            err, EINVAL,
                            "label key '%s' has '%c' at position %zu; use letters, digits and "
                            ". _ - / (not first)",
                            key, (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?', i + 1);
        if (!value)
                value = "";
        size_t vn = strlen(value);
        if (vn > max_value)
                return bg_error_set(err, EFBIG,
                                    "label %s: the value is %zu characters; at most %u "
                                    "(config vm.max_label_value)",
                                    key, vn, max_value);
        for (size_t i = 0; i < vn; i++) {
                unsigned char c = (unsigned char)value[i];
                if (c < 0x20 || c > 0x7e)
                        return bg_error_set(err, EINVAL,
                                            "label %s: the value has byte 0x%02x at position %zu; "
                                            "values are printable ASCII",
                                            key, c, i + 1);
        }
        return 0;
}

int bg_labels_check(const char *const *keys, const char *const *values, size_t n,
                    uint32_t max_labels, uint32_t max_value, struct bg_error *err)
{
        if (n > max_labels)
                return bg_error_set(err, EFBIG, "%zu labels; at most %u (config vm.max_labels)", n,
                                    max_labels);
        for (size_t i = 0; i < n; i++) {
                int r = bg_label_check(keys[i], values[i], max_value, err);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(keys[k], keys[i]) == 0)
                                return bg_error_set(err, EINVAL, "label %s is given twice",
                                                    keys[i]);
        }
        return 0;
}

int bg_label_split(const char *kv, char **ret_key, char **ret_value, struct bg_error *err)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return bg_error_set(err, EINVAL, "label '%.80s' is not KEY=VALUE", kv);
        char *k = strndup(kv, (size_t)(eq - kv));
        char *v = strdup(eq + 1);
        if (!k || !v) {
                free(k);
                free(v);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret_key = k;
        *ret_value = v;
        return 0;
}

void bg_labels_free(char **keys, char **values, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (keys)
                        free(keys[i]);
                if (values)
                        free(values[i]);
        }
        free(keys);
        free(values);
}

bool bg_label_selector_match(const char *sel, const char *const *keys, const char *const *values,
                             size_t n)
{
        const char *eq = strchr(sel, '=');
        size_t klen = eq ? (size_t)(eq - sel) : strlen(sel);
        for (size_t i = 0; i < n; i++)
                if (strlen(keys[i]) == klen && strncmp(keys[i], sel, klen) == 0 &&
                    (!eq || strcmp(values[i], eq + 1) == 0))
                        return true;
        return false;
}

int bg_label_selector_check(const char *sel, struct bg_error *err)
{
        size_t len = strnlen(sel, BG_LABEL_SELECTOR_MAX + 1);
        if (len == 0 || sel[0] == '=')
                return bg_error_set(err, EINVAL, "label filter '%.80s': give KEY=VALUE, or KEY "
                                                 "for any value",
                                    sel);
        if (len > BG_LABEL_SELECTOR_MAX)
                return bg_error_set(err, EINVAL, "label filter '%.40s...' is over %d characters",
                                    sel, BG_LABEL_SELECTOR_MAX);
        return 0;
}
