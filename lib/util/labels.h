/* VM labels: key=value pairs a user attaches to a VM (`vm create --label`)
 * and filters lists by (`vm list --label`). They come from RPC clients, so
 * each is checked here, by the service before it stores them and by the CLI
 * before it sends them (for an early, same-worded error).
 *
 * A key is 1-63 characters of [A-Za-z0-9._/-], starting with a letter or a
 * digit ("team", "com.example/owner"). A value is 0..max_value characters of
 * printable ASCII (0x20-0x7e): no control characters, so a label can never
 * rewrite a terminal or split a line of `vm list` output. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define BG_LABEL_KEY_MAX 63

/* One key=value; max_value is the longest value allowed. -EINVAL for a bad
 * key or character, -EFBIG (over a configured limit) for a value too long. */
int bg_label_check(const char *key, const char *value, uint32_t max_value, struct bg_error *err);

/* n pairs: each checked, no key twice, at most max_labels of them (else
 * -EFBIG). */
int bg_labels_check(const char *const *keys, const char *const *values, size_t n,
                    uint32_t max_labels, uint32_t max_value, struct bg_error *err);

/* Splits "key=value" (value may be empty, key may not) into freshly
 * allocated strings; only the '=' is looked at, not the character rules. */
int bg_label_split(const char *kv, char **ret_key, char **ret_value, struct bg_error *err);

/* A list filter (vm list --label, ListVmsRequest.labels): "KEY=VALUE"
 * matches a label with that key and value, "KEY" that key with any value.
 * Whether the n labels keys[i]=values[i] satisfy sel. */
bool bg_label_selector_match(const char *sel, const char *const *keys, const char *const *values,
                             size_t n);
/* Shape only (what a service checks of a request): a key before any '=',
 * at most BG_LABEL_SELECTOR_MAX characters. Keys and values are not checked
 * against the label rules: a filter no label can satisfy matches nothing. */
#define BG_LABEL_SELECTOR_MAX (BG_LABEL_KEY_MAX + 1 + 4096)
int bg_label_selector_check(const char *sel, struct bg_error *err);

/* Frees n keys and values and both arrays (NULL arrays are fine). */
void bg_labels_free(char **keys, char **values, size_t n);
