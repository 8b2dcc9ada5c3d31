/* banger's configuration schema and loader. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toml.h"

#define CONFIG_MAX_SIZE (1024 * 1024)

/* Where the values being read come from, for messages. */
struct bg_config_src {
        const char *name;
        struct bg_error *err;
};

static int fail(struct bg_config_src *src, unsigned line, const char *key, const char *fmt, ...)
    _printf_(4, 5);
static int fail(struct bg_config_src *src, unsigned line, const char *key, const char *fmt, ...)
{
        char msg[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return bg_error_set(src->err, EINVAL, "%s:%u: %s: %s", src->name, line, key, msg);
}

static int fail_oom(struct bg_config_src *src)
{
        return bg_error_set(src->err, ENOMEM, "%s: out of memory", src->name);
}

/* The value quoted for a message: "…", escaped, shortened past 60 bytes. */
static const char *quote(const char *s, size_t len, char *out, size_t size)
{
        size_t o = 0;
        out[o++] = '"';
        for (size_t i = 0; i < len && o + 8 < size; i++) {
                unsigned char c = (unsigned char)s[i];
                if (i >= 60) {
                        o += (size_t)snprintf(out + o, size - o, "...");
                        break;
                }
                if (c == '"' || c == '\\')
                        o += (size_t)snprintf(out + o, size - o, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
                else
                        out[o++] = (char)c;
        }
        out[o++] = '"';
        out[o] = '\0';
        return out;
}

#define QUOTE(v) quote((v)->u.str.ptr, (v)->u.str.len, (char[96]){}, 96)

static const char *expect_article(enum toml_type t)
{
        return t == TOML_ARRAY || t == TOML_INTEGER || t == TOML_DATETIME ? "an" : "a";
}

static int expect_type(struct bg_config_src *src, const struct bg_config_key *k,
                       const struct toml_value *v, enum toml_type want)
{
        if (v->type == want)
                return 0;
        return fail(src, v->line, k->name, "expected %s %s, got %s", expect_article(want),
                    toml_type_to_string(want), toml_type_to_string(v->type));
}

/* A string value without NUL bytes. */
static int expect_string(struct bg_config_src *src, const struct bg_config_key *k,
                         const struct toml_value *v)
{
        int r = expect_type(src, k, v, TOML_STRING);
        if (r < 0)
                return r;
        if (memchr(v->u.str.ptr, '\0', v->u.str.len))
                return fail(src, v->line, k->name, "%s contains a NUL character", QUOTE(v));
        return 0;
}

static bool has_space_or_control(const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c <= 0x20 || c == 0x7f)
                        return true;
        }
        return false;
}

static bool has_control(const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c < 0x20 || c == 0x7f)
                        return true;
        }
        return false;
}

/* ---- small syntax checkers (return true if s is well-formed) --------- */

/* Decimal without sign or leading zeros, at most max. */
static bool parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
        if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
                return false;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                uint64_t d = (uint64_t)(s[i] - '0');
                if (v > (max - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *out = v;
        return true;
}

/* Strict dotted quad: four 0..255 without leading zeros. */
static bool parse_ipv4(const char *s, size_t n, struct in_addr *out)
{
        uint32_t a = 0;
        size_t i = 0;
        for (int part = 0; part < 4; part++) {
                size_t st = i;
                while (i < n && s[i] != '.')
                        i++;
                uint64_t v;
                if (!parse_dec(s + st, i - st, 255, &v))
                        return false;
                a = (a << 8) | (uint32_t)v;
                if (part < 3) {
                        if (i >= n)
                                return false;
                        i++;
                }
        }
        if (i != n)
                return false;
        out->s_addr = htonl(a);
        return true;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and '-'. */
static bool valid_hostname(const char *s, size_t n)
{
        if (n == 0 || n > 253)
                return false;
        size_t label = 0;
        for (size_t i = 0; i <= n; i++) {
                char c = i < n ? s[i] : '.';
                if (c == '.') {
                        if (label == 0 || label > 63 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                bool alnum =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && !(c == '-' && label > 0))
                        return false;
                label++;
        }
        return true;
}

/* HOST[:PORT] with HOST a host name, IPv4 address or [IPv6]; port_required
 * and allow_star (HOST "*") as asked. */
static bool valid_host_port(const char *s, size_t n, bool port_required, bool allow_star)
{
        size_t host_end;
        const char *colon;
        if (n > 0 && s[0] == '[') {
                const char *rb = memchr(s, ']', n);
                if (!rb)
                        return false;
                char v6[64];
                size_t hl = (size_t)(rb - s) - 1;
                struct in6_addr a6;
                if (hl == 0 || hl >= sizeof(v6))
                        return false;
                memcpy(v6, s + 1, hl);
                v6[hl] = '\0';
                if (inet_pton(AF_INET6, v6, &a6) != 1)
                        return false;
                host_end = (size_t)(rb - s) + 1;
                if (host_end < n && s[host_end] != ':')
                        return false;
        } else {
                colon = memchr(s, ':', n);
                host_end = colon ? (size_t)(colon - s) : n;
                struct in_addr a4;
                bool star = allow_star && host_end == 1 && s[0] == '*';
                if (!star && !parse_ipv4(s, host_end, &a4) && !valid_hostname(s, host_end))
                        return false;
        }
        if (host_end == n)
                return !port_required;
        uint64_t port;
        return parse_dec(s + host_end + 1, n - host_end - 1, 65535, &port) && port > 0;
}

/* Linux interface name as banger accepts it. */
static bool valid_ifname(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}

/* ---- parse functions (one per kind of value) ------------------------- */

static int store_string(struct bg_config_src *src, void *field, const struct toml_value *v)
{
        char *copy = strdup(v->u.str.ptr);
        if (!copy)
                return fail_oom(src);
        char **f = field;
        free(*f);
        *f = copy;
        return 0;
}

static void release_string(void *field)
{
        char **f = field;
        free(*f);
        *f = NULL;
}

static int parse_int(const struct bg_config_key *k, const struct toml_value *v, void *field,
                     struct bg_config_src *src)
{
        int r = expect_type(src, k, v, TOML_INTEGER);
        if (r < 0)
                return r;
        if (v->u.integer < k->min || v->u.integer > k->max)
                return fail(src, v->line, k->name,
                            "%" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")", v->u.integer,
                            k->min, k->max);
        *(uint32_t *)field = (uint32_t)v->u.integer;
        return 0;
}

static int parse_bool(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        int r = expect_type(src, k, v, TOML_BOOL);
        if (r < 0)
                return r;
        *(bool *)field = v->u.boolean;
        return 0;
}

static int parse_enum(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        char list[128] = "";
        for (size_t i = 0; k->choices[i]; i++) {
                if (streq(v->u.str.ptr, k->choices[i])) {
                        *(int *)field = (int)i;
                        return 0;
                }
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", k->choices[i]);
        }
        return fail(src, v->line, k->name, "%s is not one of %s", QUOTE(v), list);
}

/* Any non-empty name without blanks or control characters. */
static int parse_name(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        if (v->u.str.len == 0)
                return fail(src, v->line, k->name, "must not be empty");
        if (v->u.str.len > 255 || has_space_or_control(v->u.str.ptr))
                return fail(src, v->line, k->name,
                            "%s is not a name (at most 255 characters, no spaces)", QUOTE(v));
        return store_string(src, field, v);
}

/* A program name (looked up in PATH) or path. */
static int parse_program(const struct bg_config_key *k, const struct toml_value *v, void *field,
                         struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        if (v->u.str.len == 0)
                return fail(src, v->line, k->name, "must not be empty");
        if (v->u.str.len >= 4096 || has_control(v->u.str.ptr))
                return fail(src, v->line, k->name, "%s is not a program name or path", QUOTE(v));
        return store_string(src, field, v);
}

static int parse_ifname(const struct bg_config_key *k, const struct toml_value *v, void *field,
                        struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        bool optional = k->min == 0; /* min 0: "" allowed (means automatic) */
        if (!(optional && v->u.str.len == 0) && !valid_ifname(v->u.str.ptr))
                return fail(src, v->line, k->name,
                            "%s is not a network interface name (1-15 characters of "
                            "A-Z a-z 0-9 _ . -)",
                            QUOTE(v));
        return store_string(src, field, v);
}

static int parse_cidr(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        const char *slash = strchr(s, '/');
        struct in_addr a;
        uint64_t prefix;
        if (!slash || !parse_ipv4(s, (size_t)(slash - s), &a) ||
            !parse_dec(slash + 1, strlen(slash + 1), 32, &prefix))
                return fail(src, v->line, k->name, "%s is not an IPv4 CIDR like 172.30.0.1/24",
                            QUOTE(v));
        if (prefix < 8 || prefix > 30)
                return fail(src, v->line, k->name, "%s: the prefix length must be between 8 and 30",
                            QUOTE(v));
        uint32_t host = ntohl(a.s_addr);
        uint32_t mask = prefix == 0 ? 0 : ~(uint32_t)0 << (32 - prefix);
        if ((host & ~mask) == 0)
                return fail(src, v->line, k->name,
                            "%s is a network address; give the bridge's host address, like "
                            "172.30.0.1/24",
                            QUOTE(v));
        if ((host & ~mask) == ~mask)
                return fail(src, v->line, k->name,
                            "%s is the broadcast address; give the bridge's host address, like "
                            "172.30.0.1/24",
                            QUOTE(v));
        struct bg_ipv4_cidr *c = field;
        c->addr = a;
        c->prefix = (uint8_t)prefix;
        return 0;
}

static int parse_endpoint(const struct bg_config_key *k, const struct toml_value *v, void *field,
                          struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        const char *colon = strrchr(s, ':');
        struct in_addr a;
        uint64_t port;
        if (!colon || !parse_ipv4(s, (size_t)(colon - s), &a) ||
            !parse_dec(colon + 1, strlen(colon + 1), 65535, &port) || port == 0)
                return fail(src, v->line, k->name,
                            "%s is not an IPv4 address and port like 127.0.0.1:42069", QUOTE(v));
        struct bg_ipv4_endpoint *e = field;
        e->addr = a;
        e->port = (uint16_t)port;
        return 0;
}

static uint64_t unit_scale(char c)
{
        switch (c) {
        case 'K':
        case 'k':
                return 1ULL << 10;
        case 'M':
        case 'm':
                return 1ULL << 20;
        case 'G':
        case 'g':
                return 1ULL << 30;
        case 'T':
        case 't':
                return 1ULL << 40;
        default:
                return 0;
        }
}

/* "8G", "512M", "1073741824" or an integer of bytes; at least k->min. */
static int parse_size(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        uint64_t bytes;
        if (v->type == TOML_INTEGER) {
                if (v->u.integer < 0)
                        return fail(src, v->line, k->name, "%" PRId64 " is negative", v->u.integer);
                bytes = (uint64_t)v->u.integer;
        } else {
                if (v->type != TOML_STRING)
                        return fail(src, v->line, k->name,
                                    "expected a size like \"8G\" or an integer of bytes, got %s",
                                    toml_type_to_string(v->type));
                int r = expect_string(src, k, v);
                if (r < 0)
                        return r;
                const char *s = v->u.str.ptr;
                size_t n = v->u.str.len;
                uint64_t scale = n > 0 ? unit_scale(s[n - 1]) : 0;
                uint64_t num;
                if (scale)
                        n--;
                else
                        scale = 1;
                if (!parse_dec(s, n, UINT64_MAX, &num))
                        return fail(src, v->line, k->name,
                                    "%s is not a size like 8G, 512M or 1073741824", QUOTE(v));
                if (num > UINT64_MAX / scale)
                        return fail(src, v->line, k->name, "%s is too large", QUOTE(v));
                bytes = num * scale;
        }
        if (bytes < (uint64_t)k->min)
                return fail(src, v->line, k->name, "%" PRIu64 " bytes is below the minimum 64M",
                            bytes);
        *(uint64_t *)field = bytes;
        return 0;
}

/* "0", "90s", "30m", "2h", "1h30m", "1d12h": units d, h, m, s in that order,
 * each at most once; or an integer of seconds. */
static int parse_duration(const struct bg_config_key *k, const struct toml_value *v, void *field,
                          struct bg_config_src *src)
{
        uint64_t secs = 0;
        if (v->type == TOML_INTEGER) {
                if (v->u.integer < 0)
                        return fail(src, v->line, k->name, "%" PRId64 " is negative", v->u.integer);
                *(uint64_t *)field = (uint64_t)v->u.integer;
                return 0;
        }
        if (v->type != TOML_STRING)
                return fail(src, v->line, k->name,
                            "expected a duration like \"1h30m\" or an integer of seconds, got "
                            "%s",
                            toml_type_to_string(v->type));
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        if (streq(s, "0")) {
                *(uint64_t *)field = 0;
                return 0;
        }
        static const struct {
                char unit;
                uint64_t secs;
        } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
        size_t next_unit = 0;
        bool any = false;
        while (*s) {
                size_t n = strspn(s, "0123456789");
                uint64_t num;
                size_t u = next_unit;
                while (u < ELEMENTSOF(units) && s[n] != units[u].unit)
                        u++;
                if (n == 0 || u == ELEMENTSOF(units) || n > 12 ||
                    !parse_dec(s, n, UINT64_MAX, &num))
                        return fail(src, v->line, k->name,
                                    "%s is not a duration like 90s, 30m, 2h or 1h30m (\"0\" = "
                                    "off)",
                                    QUOTE(v));
                secs += num * units[u].secs;
                next_unit = u + 1;
                s += n + 1;
                any = true;
        }
        if (!any)
                return fail(src, v->line, k->name,
                            "%s is not a duration like 90s, 30m, 2h or 1h30m (\"0\" = off)",
                            QUOTE(v));
        *(uint64_t *)field = secs;
        return 0;
}

static void release_string_list(void *field)
{
        struct bg_string_list *l = field;
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

/* An array of "host" or "host:port" strings. */
static int parse_hosts(const struct bg_config_key *k, const struct toml_value *v, void *field,
                       struct bg_config_src *src)
{
        if (v->type != TOML_ARRAY)
                return fail(src, v->line, k->name, "expected an array of strings, got %s",
                            toml_type_to_string(v->type));
        struct bg_string_list l = {};
        if (v->u.array.n > 0) {
                l.items = calloc(v->u.array.n, sizeof(char *));
                if (!l.items)
                        return fail_oom(src);
        }
        for (size_t i = 0; i < v->u.array.n; i++) {
                const struct toml_value *e = v->u.array.items[i];
                int r = expect_string(src, k, e);
                if (r >= 0 && !valid_host_port(e->u.str.ptr, e->u.str.len, false, false))
                        r = fail(src, e->line, k->name,
                                 "%s is not a host or host:port like registry.local:5000",
                                 QUOTE(e));
                if (r >= 0 && !(l.items[l.n++] = strdup(e->u.str.ptr)))
                        r = fail_oom(src);
                if (r < 0) {
                        release_string_list(&l);
                        return r;
                }
        }
        release_string_list(field);
        *(struct bg_string_list *)field = l;
        return 0;
}

/* "" or an http:// / https:// URL. */
static int parse_mirror(const struct bg_config_key *k, const struct toml_value *v, void *field,
                        struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        if (*s) {
                const char *rest = strncmp(s, "http://", 7) == 0    ? s + 7
                                   : strncmp(s, "https://", 8) == 0 ? s + 8
                                                                    : NULL;
                size_t auth = rest ? strcspn(rest, "/?#") : 0;
                if (!rest || has_space_or_control(s) ||
                    !valid_host_port(rest, auth, false, false) ||
                    (rest[auth] != '\0' && rest[auth] != '/'))
                        return fail(src, v->line, k->name,
                                    "%s is not an http(s) URL like http://deb.debian.org/debian",
                                    QUOTE(v));
        }
        return store_string(src, field, v);
}

/* ---- [[file_sync]] --------------------------------------------------- */

static int parse_host_path(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        if (s[0] == '~' && s[1] != '/')
                return fail(src, v->line, k->name,
                            "%s: ~user paths are not supported; use ~/ or an absolute path",
                            QUOTE(v));
        if (!(s[0] == '/' || (s[0] == '~' && s[1] == '/')) || (s[0] == '~' && s[2] == '\0'))
                return fail(src, v->line, k->name, "%s must be an absolute path or start with ~/",
                            QUOTE(v));
        if (v->u.str.len >= 4096 || has_control(s))
                return fail(src, v->line, k->name, "%s is not a usable path", QUOTE(v));
        return store_string(src, field, v);
}

static int parse_guest_path(const struct bg_config_key *k, const struct toml_value *v, void *field,
                            struct bg_config_src *src)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        const char *s = v->u.str.ptr;
        const char *rest;
        if (strncmp(s, "~/", 2) == 0)
                rest = s + 2;
        else if (strncmp(s, "/root/", 6) == 0)
                rest = s + 6;
        else if (s[0] == '~')
                return fail(src, v->line, k->name,
                            "%s: ~user paths are not supported; use ~/ or /root/", QUOTE(v));
        else
                return fail(src, v->line, k->name, "%s must start with ~/ or /root/", QUOTE(v));
        if (*rest == '\0')
                return fail(src, v->line, k->name, "%s must name a path below ~/ or /root/",
                            QUOTE(v));
        if (v->u.str.len >= 4096 || has_control(s))
                return fail(src, v->line, k->name, "%s is not a usable path", QUOTE(v));
        for (const char *c = rest;;) {
                size_t n = strcspn(c, "/");
                if (n == 0)
                        return fail(src, v->line, k->name,
                                    "%s has an empty path component (// or a trailing /)",
                                    QUOTE(v));
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return fail(src, v->line, k->name, "%s must not contain . or .. components",
                                    QUOTE(v));
                if (c[n] == '\0')
                        break;
                c += n + 1;
        }
        return store_string(src, field, v);
}

/* 0o600 / 384 or "0600". */
static int parse_mode(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        uint64_t mode = 0;
        if (v->type == TOML_INTEGER) {
                if (v->u.integer < 0 || v->u.integer > 07777)
                        return fail(src, v->line, k->name,
                                    "%" PRId64 " is out of range (0..0o7777)", v->u.integer);
                mode = (uint64_t)v->u.integer;
        } else if (v->type == TOML_STRING) {
                const char *s = v->u.str.ptr;
                size_t n = strspn(s, "01234567");
                if (n == 0 || n != v->u.str.len || n > 5)
                        return fail(src, v->line, k->name, "%s is not an octal mode like \"0600\"",
                                    QUOTE(v));
                mode = strtoull(s, NULL, 8);
                if (mode > 07777)
                        return fail(src, v->line, k->name, "%s is out of range (0..07777)",
                                    QUOTE(v));
        } else {
                return fail(src, v->line, k->name,
                            "expected an integer like 0o600 or a string like \"0600\", got %s",
                            toml_type_to_string(v->type));
        }
        *(uint32_t *)field = (uint32_t)mode;
        return 0;
}

static void file_sync_entry_free(struct bg_file_sync *fs)
{
        free(fs->host);
        free(fs->guest);
}

static void release_file_sync(void *field)
{
        struct bg_file_sync_list *l = field;
        for (size_t i = 0; i < l->n; i++)
                file_sync_entry_free(&l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

static int parse_file_sync(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src);

/* ---- the schema ------------------------------------------------------- */

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};
_Static_assert(ELEMENTSOF(log_level_names) == _LOG_LEVEL_MAX + 1, "log levels out of sync");
static const char *const vmm_names[] = {"auto", "qemu", "firecracker", NULL};
static const char *const accel_names[] = {"auto", "kvm", "tcg", NULL};

#define CFG(field) offsetof(struct bg_config, field)
#define FS(field) offsetof(struct bg_file_sync, field)

static const struct bg_config_key schema[] = {
    {"log_level", "string", "\"info\"",
     "Least severe log level written: debug, info, warn or error.", parse_enum, NULL,
     CFG(log_level), 0, 0, log_level_names},
    {"vmm", "string", "\"auto\"",
     "VMM for new VMs: qemu, firecracker, or auto (firecracker when it is installed, >= 1.5 and "
     "/dev/kvm is usable; else qemu).",
     parse_enum, NULL, CFG(vmm), 0, 0, vmm_names},

    {"vm.vcpu", "integer", "2", "Virtual CPUs of a new VM (1..32).", parse_int, NULL, CFG(vm.vcpu),
     1, 32, NULL},
    {"vm.memory_mib", "integer", "1024", "Memory of a new VM in MiB (128..262144).", parse_int,
     NULL, CFG(vm.memory_mib), 128, 262144, NULL},
    {"vm.work_disk_size", "size", "\"8G\"",
     "Size of a new VM's work disk: a number with K, M, G or T, or bytes (at least 64M).",
     parse_size, NULL, CFG(vm.work_disk_size), 64LL << 20, INT64_MAX, NULL},
    {"vm.default_image", "string", "\"golden\"", "Image used when none is given.", parse_name,
     release_string, CFG(vm.default_image), 0, 0, NULL},
    {"vm.default_kernel", "string", "\"debian-cloud-amd64\"", "Kernel used when none is given.",
     parse_name, release_string, CFG(vm.default_kernel), 0, 0, NULL},
    {"vm.auto_stop_after", "duration", "\"0\"",
     "Stop a VM whose guest has been idle (under 10 % CPU) this long, like \"90s\" "
     "or \"1h30m\" (or seconds); \"0\" = never.",
     parse_duration, NULL, CFG(vm.auto_stop_after), 0, 0, NULL},

    {"network.bridge", "string", "\"banger0\"", "Name of the bridge the VMs' taps join.",
     parse_ifname, release_string, CFG(network.bridge), 1, 0, NULL},
    {"network.subnet", "string", "\"172.30.0.1/24\"",
     "The bridge's address and prefix (8..30); VMs get addresses in this subnet.", parse_cidr, NULL,
     CFG(network.subnet), 0, 0, NULL},
    {"network.dns_listen", "string", "\"127.0.0.1:42069\"",
     "IPv4 address and port of the DNS server for <name>.vm.", parse_endpoint, NULL,
     CFG(network.dns_listen), 0, 0, NULL},
    {"network.isolate_vms", "boolean", "false", "Block traffic between VMs on the bridge.",
     parse_bool, NULL, CFG(network.isolate_vms), 0, 0, NULL},
    {"network.tap_pool_size", "integer", "4", "Taps kept ready for new VMs (0..256).", parse_int,
     NULL, CFG(network.tap_pool_size), 0, 256, NULL},
    {"network.uplink", "string", "\"\"",
     "Interface VMs reach the outside through; \"\" = the default route's.", parse_ifname,
     release_string, CFG(network.uplink), 0, 0, NULL},

    {"image.pull_concurrency", "integer", "4", "Layers downloaded at once (1..32).", parse_int,
     NULL, CFG(image.pull_concurrency), 1, 32, NULL},
    {"image.insecure_registries", "array of strings", "[]",
     "Registries (host or host:port) reached over plain HTTP.", parse_hosts, release_string_list,
     CFG(image.insecure_registries), 0, 0, NULL},

    {"kernel.debian_mirror", "string", "\"\"",
     "Debian mirror URL for kernel packages; \"\" = the host's apt sources.", parse_mirror,
     release_string, CFG(kernel.debian_mirror), 0, 0, NULL},

    {"firecracker.binary", "string", "\"firecracker\"", "Firecracker program name or path.",
     parse_program, release_string, CFG(firecracker.binary), 0, 0, NULL},
    {"firecracker.jailer", "boolean", "false", "Start Firecracker through its jailer.", parse_bool,
     NULL, CFG(firecracker.jailer), 0, 0, NULL},
    {"firecracker.jailer_binary", "string", "\"jailer\"", "Jailer program name or path.",
     parse_program, release_string, CFG(firecracker.jailer_binary), 0, 0, NULL},

    {"qemu.binary", "string", "\"qemu-system-x86_64\"", "QEMU program name or path.", parse_program,
     release_string, CFG(qemu.binary), 0, 0, NULL},
    {"qemu.accel", "string", "\"auto\"", "QEMU accelerator: auto, kvm or tcg.", parse_enum, NULL,
     CFG(qemu.accel), 0, 0, accel_names},

    {"file_sync", "array of tables", "[]",
     "Files and directories copied from the host onto each VM's work disk before every boot "
     "(a missing host path or a symlink inside a directory is skipped with a warning).",
     parse_file_sync, release_file_sync, CFG(file_sync), 0, 0, NULL},
    {"file_sync.host", "string", "(required)", "Host path: absolute or starting with ~/.",
     parse_host_path, release_string, FS(host), 0, 0, NULL},
    {"file_sync.guest", "string", "(required)",
     "Path in the VM: starting with ~/ or /root/, without . or .. components.", parse_guest_path,
     release_string, FS(guest), 0, 0, NULL},
    {"file_sync.mode", "integer or string", "0o600 for files, kept for directories",
     "Permission bits, like 0o600 or \"0600\".", parse_mode, NULL, FS(mode), 0, 0, NULL},
};

const struct bg_config_key *bg_config_keys(size_t *n)
{
        if (n)
                *n = ELEMENTSOF(schema);
        return schema;
}

static bool in_file_sync(const struct bg_config_key *k)
{
        return strncmp(k->name, "file_sync.", 10) == 0;
}

/* The schema entry for a top-level key ("log_level"), a key in a section
 * ("vm.vcpu", never matched by a quoted top-level key "vm.vcpu") or, with
 * file_sync_entry, a key of a [[file_sync]] entry ("host"). */
static const struct bg_config_key *find_key(const char *section, const char *name,
                                            bool file_sync_entry)
{
        size_t sl = section ? strlen(section) : 0;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                const struct bg_config_key *k = &schema[i];
                if (in_file_sync(k) != file_sync_entry)
                        continue;
                const char *kn = file_sync_entry ? k->name + 10 : k->name;
                if (section) {
                        if (strncmp(kn, section, sl) != 0 || kn[sl] != '.')
                                continue;
                        kn += sl + 1;
                } else if (!file_sync_entry && strchr(kn, '.')) {
                        continue;
                }
                if (streq(kn, name))
                        return k;
        }
        return NULL;
}

/* A key as written, for messages: bare keys as they are, others quoted. */
static const char *key_text(const char *key, char *out, size_t size)
{
        size_t n = strlen(key);
        if (n > 0 && n == strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_-"))
                snprintf(out, size, "%s", key);
        else
                quote(key, n, out, size);
        return out;
}

/* Is name a [section] of the schema? */
static bool is_section(const char *name)
{
        size_t n = strlen(name);
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (!in_file_sync(&schema[i]) && strncmp(schema[i].name, name, n) == 0 &&
                    schema[i].name[n] == '.')
                        return true;
        return false;
}

static int parse_file_sync_entry(const struct toml_value *t, struct bg_file_sync *fs,
                                 struct bg_config_src *src)
{
        const struct bg_config_key *top = find_key(NULL, "file_sync", false);
        char kt[96];
        if (t->type != TOML_TABLE)
                return fail(src, t->line, top->name,
                            "expected an array of tables, got an array "
                            "holding %s",
                            toml_type_to_string(t->type));
        fs->line = t->line;
        fs->mode = 0600;
        for (size_t i = 0; i < t->u.table.n; i++) {
                const struct toml_keyval *kv = &t->u.table.items[i];
                const struct bg_config_key *k = find_key(NULL, kv->key, true);
                if (!k)
                        return bg_error_set(src->err, EINVAL, "%s:%u: unknown key file_sync.%s",
                                            src->name, kv->line, key_text(kv->key, kt, sizeof(kt)));
                int r = k->parse(k, kv->value, (char *)fs + k->offset, src);
                if (r < 0)
                        return r;
                if (k->parse == parse_mode)
                        fs->has_mode = true;
        }
        if (!fs->host)
                return fail(src, t->line, top->name, "entry has no host (the path to copy)");
        if (!fs->guest)
                return fail(src, t->line, top->name, "entry has no guest (where to copy it)");
        return 0;
}

static int parse_file_sync(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src)
{
        if (v->type != TOML_ARRAY)
                return fail(src, v->line, k->name,
                            "expected an array of tables ([[file_sync]]), got %s",
                            toml_type_to_string(v->type));
        struct bg_file_sync_list l = {};
        if (v->u.array.n > 0) {
                l.items = calloc(v->u.array.n, sizeof(*l.items));
                if (!l.items)
                        return fail_oom(src);
        }
        for (size_t i = 0; i < v->u.array.n; i++) {
                int r = parse_file_sync_entry(v->u.array.items[i], &l.items[l.n++], src);
                if (r < 0) {
                        release_file_sync(&l);
                        return r;
                }
        }
        release_file_sync(field);
        *(struct bg_file_sync_list *)field = l;
        return 0;
}

/* ---- loading ---------------------------------------------------------- */

void bg_config_free(struct bg_config *cfg)
{
        if (!cfg)
                return;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (schema[i].release && !in_file_sync(&schema[i]))
                        schema[i].release((char *)cfg + schema[i].offset);
        memset(cfg, 0, sizeof(*cfg));
}

int bg_config_defaults(struct bg_config *cfg)
{
        struct bg_config c = {};
        struct bg_error err = {};
        struct bg_config_src src = {.name = "<defaults>", .err = &err};

        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                const struct bg_config_key *k = &schema[i];
                char text[256];
                _cleanup_(toml_freep) struct toml_value *doc = NULL;
                if (in_file_sync(k))
                        continue;
                snprintf(text, sizeof(text), "v = %s\n", k->default_text);
                int r = toml_parse(text, strlen(text), &doc, &err);
                if (r >= 0)
                        r = k->parse(k, toml_table_get(doc, "v"), (char *)&c + k->offset, &src);
                if (r < 0) {
                        bg_config_free(&c);
                        return r;
                }
        }
        *cfg = c;
        return 0;
}

static int apply(const struct toml_value *root, struct bg_config *cfg, struct bg_config_src *src)
{
        char kt[96], skt[96];
        for (size_t i = 0; i < root->u.table.n; i++) {
                const struct toml_keyval *kv = &root->u.table.items[i];
                const struct bg_config_key *k = find_key(NULL, kv->key, false);
                if (k) {
                        int r = k->parse(k, kv->value, (char *)cfg + k->offset, src);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!is_section(kv->key))
                        return bg_error_set(src->err, EINVAL, "%s:%u: unknown key %s", src->name,
                                            kv->line, key_text(kv->key, kt, sizeof(kt)));
                const struct toml_value *t = kv->value;
                if (t->type != TOML_TABLE)
                        return fail(src, t->line, kv->key, "expected a table, got %s",
                                    toml_type_to_string(t->type));
                for (size_t j = 0; j < t->u.table.n; j++) {
                        const struct toml_keyval *skv = &t->u.table.items[j];
                        const struct bg_config_key *sk = find_key(kv->key, skv->key, false);
                        if (!sk)
                                return bg_error_set(src->err, EINVAL, "%s:%u: unknown key %s.%s",
                                                    src->name, skv->line, kv->key,
                                                    key_text(skv->key, skt, sizeof(skt)));
                        int r = sk->parse(sk, skv->value, (char *)cfg + sk->offset, src);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int bg_config_load_string(const char *name, const char *text, size_t len, struct bg_config *cfg,
                          struct bg_error *err)
{
        struct bg_config_src src = {.name = name ? name : "<config>", .err = err};
        _cleanup_(toml_freep) struct toml_value *root = NULL;
        struct bg_config c;

        int r = toml_parse(text, len, &root, err);
        if (r < 0) {
                char msg[BG_ERROR_MSG_MAX];
                snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
                return bg_error_set(err, -r, "%s:%s", src.name, msg);
        }
        r = bg_config_defaults(&c);
        if (r < 0)
                return bg_error_set(err, -r, "%s: cannot set the defaults: %s", src.name,
                                    strerror(-r));
        r = apply(root, &c, &src);
        if (r < 0) {
                bg_config_free(&c);
                return r;
        }
        *cfg = c;
        return 0;
}

int bg_config_load_file(const char *path, struct bg_config *cfg, struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return bg_config_defaults(cfg) < 0
                                   ? bg_error_set(err, ENOMEM, "%s: out of memory", path)
                                   : 0;
                return bg_error_errno(err, -errno, "%s: cannot open", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "%s: cannot stat", path);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s: not a regular file", path);
        if (st.st_size > CONFIG_MAX_SIZE)
                return bg_error_set(err, EFBIG, "%s: larger than %d bytes", path, CONFIG_MAX_SIZE);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return bg_error_set(err, ENOMEM, "%s: out of memory", path);
        size_t n = 0;
        for (;;) {
                if (n == (size_t)st.st_size + 1) /* grew while reading: re-read is simpler */
                        return bg_error_set(err, EAGAIN, "%s: changed while being read", path);
                ssize_t k = read(fd, buf + n, (size_t)st.st_size + 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "%s: cannot read", path);
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        return bg_config_load_string(path, buf, n, cfg, err);
}

static int enum_from(const char *const *names, const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; names[i]; i++)
                if (streq(names[i], s))
                        return i;
        return -EINVAL;
}

const char *bg_vmm_to_string(enum bg_vmm v)
{
        return (unsigned)v < _BG_VMM_MAX ? vmm_names[v] : NULL;
}

int bg_vmm_from_string(const char *s)
{
        return enum_from(vmm_names, s);
}

const char *bg_qemu_accel_to_string(enum bg_qemu_accel a)
{
        return (unsigned)a < _BG_QEMU_ACCEL_MAX ? accel_names[a] : NULL;
}

int bg_qemu_accel_from_string(const char *s)
{
        return enum_from(accel_names, s);
}
