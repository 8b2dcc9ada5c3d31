/* Shared between the files of banger's configuration, not part of its API
 * (config.h): config.c (the schema, key lookup, [[file_sync]] entries,
 * defaults and loading) and config_value.c (what each kind of value
 * accepts). */
#pragma once

#include <stddef.h>

#include "config.h"
#include "toml.h"

/* Where the values being read come from, for messages. */
struct bg_config_src {
        const char *name;
        struct bg_error *err;
};

/* Set src->err to "NAME:LINE: KEY: message" (EINVAL) and return -EINVAL. */
int config_fail(struct bg_config_src *src, unsigned line, const char *key, const char *fmt, ...)
    _printf_(4, 5);
/* Set src->err to "NAME: out of memory" and return -ENOMEM. */
int config_fail_oom(struct bg_config_src *src);

/* s (len bytes) quoted for a message into out: "…", escaped, shortened past
 * 60 bytes. Returns out. */
const char *config_quote(const char *s, size_t len, char *out, size_t size);

/* The parse functions of the schema (struct bg_config_key.parse), one per
 * kind of value; see config_value.c. */
typedef int config_parse_fn(const struct bg_config_key *k, const struct toml_value *v, void *field,
                            struct bg_config_src *src);
config_parse_fn config_parse_int, config_parse_bool, config_parse_enum, config_parse_name,
    config_parse_program, config_parse_ifname, config_parse_cidr, config_parse_endpoint,
    config_parse_size, config_parse_duration, config_parse_hosts, config_parse_mirror,
    config_parse_host_path, config_parse_guest_path, config_parse_mode, config_parse_opt_host_path,
    config_parse_tristate, config_parse_https_url, config_parse_public_key;

/* Their release functions (struct bg_config_key.release). */
void config_release_string(void *field);      /* char * */
void config_release_string_list(void *field); /* struct bg_string_list */
