/* What each kind of configuration value accepts: integers in a range,
 * booleans, enum names, names, program paths, interface names, IPv4 CIDRs and
 * endpoints, sizes, durations, registry hosts, mirror URLs, [[file_sync]]
 * paths and modes. Each parse function checks one TOML value against its
 * schema entry and stores it, or fails with a message naming the file, the
 * line and the key (config_fail()). The schema itself is in config.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

int config_fail(struct bg_config_src *src, unsigned line, const char *key, const char *fmt, ...)
{
        char msg[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return bg_error_set(src->err, EINVAL, "%s:%u: %s: %s", src->name, line, key, msg);
}

int config_fail_oom(struct bg_config_src *src)
{
        return bg_error_set(src->err, ENOMEM, "%s: out of memory", src->name);
}

/* The value quoted for a message: "…", escaped, shortened past 60 bytes. */
const char *config_quote(const char *s, size_t len, char *out, size_t size)
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

#define QUOTE(v) config_quote((v)->u.str.ptr, (v)->u.str.len, (char[96]){}, 96)

/* config_fail() about v, a string: the message is the quoted value followed
 * by fmt (" is not a name"). */
static int fail_value(struct bg_config_src *src, const struct bg_config_key *k,
                      const struct toml_value *v, const char *fmt, ...) _printf_(4, 5);
static int fail_value(struct bg_config_src *src, const struct bg_config_key *k,
                      const struct toml_value *v, const char *fmt, ...)
{
        char what[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return config_fail(src, v->line, k->name, "%s%s", QUOTE(v), what);
}

static const char *expect_article(enum toml_type t)
{
        return t == TOML_ARRAY || t == TOML_INTEGER || t == TOML_DATETIME ? "an" : "a";
}

static int expect_type(struct bg_config_src *src, const struct bg_config_key *k,
                       const struct toml_value *v, enum toml_type want)
{
        if (v->type == want)
                return 0;
        return config_fail(src, v->line, k->name, "expected %s %s, got %s", expect_article(want),
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
                return fail_value(src, k, v, " contains a NUL character");
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
                return config_fail_oom(src);
        char **f = field;
        free(*f);
        *f = copy;
        return 0;
}

void config_release_string(void *field)
{
        char **f = field;
        free(*f);
        *f = NULL;
}

int config_parse_int(const struct bg_config_key *k, const struct toml_value *v, void *field,
                     struct bg_config_src *src)
{
        int r = expect_type(src, k, v, TOML_INTEGER);
        if (r < 0)
                return r;
        if (v->u.integer < k->min || v->u.integer > k->max)
                return config_fail(src, v->line, k->name,
                                   "%" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
                                   v->u.integer, k->min, k->max);
        *(uint32_t *)field = (uint32_t)v->u.integer;
        return 0;
}

int config_parse_bool(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        int r = expect_type(src, k, v, TOML_BOOL);
        if (r < 0)
                return r;
        *(bool *)field = v->u.boolean;
        return 0;
}

int config_parse_enum(const struct bg_config_key *k, const struct toml_value *v, void *field,
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
        return fail_value(src, k, v, " is not one of %s", list);
}

/* ---- strings checked by a rule, stored as copies --------------------- */

/* What is wrong with the string s (len bytes, no NULs) as a value of k, as
 * the end of a sentence about the quoted value (" is not a name"); NULL when
 * it is fine. */
typedef const char *string_check_fn(const struct bg_config_key *k, const char *s, size_t len);

/* A string that check accepts (and, with nonempty, not ""), copied into
 * *(char **)field. */
static int parse_checked_string(const struct bg_config_key *k, const struct toml_value *v,
                                void *field, struct bg_config_src *src, bool nonempty,
                                string_check_fn *check)
{
        int r = expect_string(src, k, v);
        if (r < 0)
                return r;
        if (nonempty && v->u.str.len == 0)
                return config_fail(src, v->line, k->name, "must not be empty");
        const char *problem = check(k, v->u.str.ptr, v->u.str.len);
        if (problem)
                return fail_value(src, k, v, "%s", problem);
        return store_string(src, field, v);
}

/* Any non-empty name without blanks or control characters. */
static const char *check_name(const struct bg_config_key *k, const char *s, size_t len)
{
        if (len > 255 || has_space_or_control(s))
                return " is not a name (at most 255 characters, no spaces)";
        return NULL;
}

int config_parse_name(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, true, check_name);
}

/* A program name (looked up in PATH) or path. */
static const char *check_program(const struct bg_config_key *k, const char *s, size_t len)
{
        if (len >= 4096 || has_control(s))
                return " is not a program name or path";
        return NULL;
}

int config_parse_program(const struct bg_config_key *k, const struct toml_value *v, void *field,
                         struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, true, check_program);
}

/* An interface name; "" (automatic) too when the key's min is 0. */
static const char *check_ifname(const struct bg_config_key *k, const char *s, size_t len)
{
        bool optional = k->min == 0; /* min 0: "" allowed (means automatic) */
        if (!(optional && len == 0) && !valid_ifname(s))
                return " is not a network interface name (1-15 characters of A-Z a-z 0-9 _ . -)";
        return NULL;
}

int config_parse_ifname(const struct bg_config_key *k, const struct toml_value *v, void *field,
                        struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_ifname);
}

/* "" or an http:// / https:// URL. */
static const char *check_mirror(const struct bg_config_key *k, const char *s, size_t len)
{
        if (!*s)
                return NULL;
        const char *rest = strncmp(s, "http://", 7) == 0    ? s + 7
                           : strncmp(s, "https://", 8) == 0 ? s + 8
                                                            : NULL;
        size_t auth = rest ? strcspn(rest, "/?#") : 0;
        if (!rest || has_space_or_control(s) || !valid_host_port(rest, auth, false, false) ||
            (rest[auth] != '\0' && rest[auth] != '/'))
                return " is not an http(s) URL like http://deb.debian.org/debian";
        return NULL;
}

int config_parse_mirror(const struct bg_config_key *k, const struct toml_value *v, void *field,
                        struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_mirror);
}

/* An https:// URL (update.manifest_url: what it fetches is checked by its
 * signature, but only over TLS). */
static const char *check_https_url(const struct bg_config_key *k, const char *s, size_t len)
{
        const char *rest = strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;
        size_t auth = rest ? strcspn(rest, "/?#") : 0;
        if (!rest || len >= 2048 || has_space_or_control(s) ||
            !valid_host_port(rest, auth, false, false) || (rest[auth] != '\0' && rest[auth] != '/'))
                return " is not an https:// URL like https://example.com/banger/manifest.json";
        return NULL;
}

int config_parse_https_url(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, true, check_https_url);
}

/* "" or base64 of a raw 32-byte ed25519 public key (44 characters). */
static const char *check_public_key(const struct bg_config_key *k, const char *s, size_t len)
{
        if (len == 0)
                return NULL;
        bool ok = len == 44 && s[43] == '=';
        for (size_t i = 0; ok && i < 43; i++)
                ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                     (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/';
        return ok ? NULL
                  : " is not an ed25519 public key: base64 of its 32 raw bytes (44 characters, "
                    "e.g. `openssl pkey -pubout -outform DER | tail -c 32 | base64`)";
}

int config_parse_public_key(const struct bg_config_key *k, const struct toml_value *v, void *field,
                            struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_public_key);
}

/* [[file_sync]] host: absolute or ~/... */
static const char *check_host_path(const struct bg_config_key *k, const char *s, size_t len)
{
        if (s[0] == '~' && s[1] != '/')
                return ": ~user paths are not supported; use ~/ or an absolute path";
        if (!(s[0] == '/' || (s[0] == '~' && s[1] == '/')) || (s[0] == '~' && s[2] == '\0'))
                return " must be an absolute path or start with ~/";
        if (len >= 4096 || has_control(s))
                return " is not a usable path";
        return NULL;
}

/* "" (unset) or a host path as above. */
static const char *check_opt_host_path(const struct bg_config_key *k, const char *s, size_t len)
{
        return len == 0 ? NULL : check_host_path(k, s, len);
}

int config_parse_opt_host_path(const struct bg_config_key *k, const struct toml_value *v,
                               void *field, struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_opt_host_path);
}

/* true, false or "auto" (struct bg_config's enum bg_tristate). */
int config_parse_tristate(const struct bg_config_key *k, const struct toml_value *v, void *field,
                          struct bg_config_src *src)
{
        if (v->type == TOML_BOOL) {
                *(int *)field = v->u.boolean ? BG_TRISTATE_ON : BG_TRISTATE_OFF;
                return 0;
        }
        if (v->type == TOML_STRING && streq(v->u.str.ptr, "auto")) {
                *(int *)field = BG_TRISTATE_AUTO;
                return 0;
        }
        return config_fail(src, v->line, k->name, "expected true, false or \"auto\", got %s",
                           v->type == TOML_STRING ? "another string"
                                                  : toml_type_to_string(v->type));
}

int config_parse_host_path(const struct bg_config_key *k, const struct toml_value *v, void *field,
                           struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_host_path);
}

/* [[file_sync]] guest: ~/... or /root/..., without empty, . or .. parts. */
static const char *check_guest_path(const struct bg_config_key *k, const char *s, size_t len)
{
        const char *rest;
        if (strncmp(s, "~/", 2) == 0)
                rest = s + 2;
        else if (strncmp(s, "/root/", 6) == 0)
                rest = s + 6;
        else if (s[0] == '~')
                return ": ~user paths are not supported; use ~/ or /root/";
        else
                return " must start with ~/ or /root/";
        if (*rest == '\0')
                return " must name a path below ~/ or /root/";
        if (len >= 4096 || has_control(s))
                return " is not a usable path";
        for (const char *c = rest;;) {
                size_t n = strcspn(c, "/");
                if (n == 0)
                        return " has an empty path component (// or a trailing /)";
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return " must not contain . or .. components";
                if (c[n] == '\0')
                        break;
                c += n + 1;
        }
        return NULL;
}

int config_parse_guest_path(const struct bg_config_key *k, const struct toml_value *v, void *field,
                            struct bg_config_src *src)
{
        return parse_checked_string(k, v, field, src, false, check_guest_path);
}

/* ---- addresses, sizes, durations, host lists, modes ------------------ */

int config_parse_cidr(const struct bg_config_key *k, const struct toml_value *v, void *field,
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
                return fail_value(src, k, v, " is not an IPv4 CIDR like 172.30.0.1/24");
        if (prefix < 8 || prefix > 30)
                return fail_value(src, k, v, ": the prefix length must be between 8 and 30");
        uint32_t host = ntohl(a.s_addr);
        uint32_t mask = prefix == 0 ? 0 : ~(uint32_t)0 << (32 - prefix);
        if ((host & ~mask) == 0)
                return fail_value(src, k, v,
                                  " is a network address; give the bridge's host address, like "
                                  "172.30.0.1/24");
        if ((host & ~mask) == ~mask)
                return fail_value(src, k, v,
                                  " is the broadcast address; give the bridge's host address, like "
                                  "172.30.0.1/24");
        struct bg_ipv4_cidr *c = field;
        c->addr = a;
        c->prefix = (uint8_t)prefix;
        return 0;
}

int config_parse_endpoint(const struct bg_config_key *k, const struct toml_value *v, void *field,
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
                return fail_value(src, k, v,
                                  " is not an IPv4 address and port like 127.0.0.1:42069");
        struct bg_ipv4_endpoint *e = field;
        e->addr = a;
        e->port = (uint16_t)port;
        return 0;
}

/* For keys that take an integer or a string: 1 with *ret the integer (not
 * negative), 0 for a string without NUL bytes, or an error saying what was
 * expected ("a size like \"8G\" or an integer of bytes"). */
static int integer_or_string(struct bg_config_src *src, const struct bg_config_key *k,
                             const struct toml_value *v, const char *expected, uint64_t *ret)
{
        if (v->type == TOML_INTEGER) {
                if (v->u.integer < 0)
                        return config_fail(src, v->line, k->name, "%" PRId64 " is negative",
                                           v->u.integer);
                *ret = (uint64_t)v->u.integer;
                return 1;
        }
        if (v->type != TOML_STRING)
                return config_fail(src, v->line, k->name, "expected %s, got %s", expected,
                                   toml_type_to_string(v->type));
        return expect_string(src, k, v);
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
int config_parse_size(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        uint64_t bytes = 0;
        int r = integer_or_string(src, k, v, "a size like \"8G\" or an integer of bytes", &bytes);
        if (r < 0)
                return r;
        if (r == 0) {
                const char *s = v->u.str.ptr;
                size_t n = v->u.str.len;
                uint64_t scale = n > 0 ? unit_scale(s[n - 1]) : 0;
                uint64_t num;
                if (scale)
                        n--;
                else
                        scale = 1;
                if (!parse_dec(s, n, UINT64_MAX, &num))
                        return fail_value(src, k, v, " is not a size like 8G, 512M or 1073741824");
                if (num > UINT64_MAX / scale)
                        return fail_value(src, k, v, " is too large");
                bytes = num * scale;
        }
        if (bytes < (uint64_t)k->min)
                return config_fail(src, v->line, k->name,
                                   "%" PRIu64 " bytes is below the minimum 64M", bytes);
        *(uint64_t *)field = bytes;
        return 0;
}

/* "0", "90s", "30m", "2h", "1h30m", "1d12h": units d, h, m, s in that order,
 * each at most once; or an integer of seconds. */
int config_parse_duration(const struct bg_config_key *k, const struct toml_value *v, void *field,
                          struct bg_config_src *src)
{
        uint64_t secs = 0;
        int r = integer_or_string(src, k, v, "a duration like \"1h30m\" or an integer of seconds",
                                  &secs);
        if (r < 0)
                return r;
        const char *s = r == 1 ? "" : v->u.str.ptr;
        bool ok = r == 1;
        if (r != 1 && streq(s, "0")) {
                ok = true;
                s = ""; /* 0 seconds */
        }
        static const struct {
                char unit;
                uint64_t secs;
        } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
        size_t next_unit = 0;
        if (!ok)
                ok = *s != '\0';
        while (ok && *s) {
                size_t n = strspn(s, "0123456789");
                uint64_t num;
                size_t u = next_unit;
                while (u < ELEMENTSOF(units) && s[n] != units[u].unit)
                        u++;
                ok = n > 0 && u < ELEMENTSOF(units) && n <= 12 && parse_dec(s, n, UINT64_MAX, &num);
                if (ok) {
                        secs += num * units[u].secs;
                        next_unit = u + 1;
                        s += n + 1;
                }
        }
        if (!ok)
                return fail_value(src, k, v,
                                  " is not a duration like 90s, 30m, 2h or 1h30m (\"0\" = off)");
        if (k->max > 0 && (secs < (uint64_t)k->min || secs > (uint64_t)k->max))
                return config_fail(src, v->line, k->name, "%llu s is outside %llds..%llds",
                                   (unsigned long long)secs, (long long)k->min,
                                   (long long)k->max);
        *(uint64_t *)field = secs;
        return 0;
}

void config_release_string_list(void *field)
{
        struct bg_string_list *l = field;
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

/* An array of "host" or "host:port" strings. */
int config_parse_hosts(const struct bg_config_key *k, const struct toml_value *v, void *field,
                       struct bg_config_src *src)
{
        if (v->type != TOML_ARRAY)
                return config_fail(src, v->line, k->name, "expected an array of strings, got %s",
                                   toml_type_to_string(v->type));
        struct bg_string_list l = {};
        if (v->u.array.n > 0) {
                l.items = calloc(v->u.array.n, sizeof(char *));
                if (!l.items)
                        return config_fail_oom(src);
        }
        for (size_t i = 0; i < v->u.array.n; i++) {
                const struct toml_value *e = v->u.array.items[i];
                int r = expect_string(src, k, e);
                if (r >= 0 && !valid_host_port(e->u.str.ptr, e->u.str.len, false, false))
                        r = fail_value(src, k, e,
                                       " is not a host or host:port like registry.local:5000");
                if (r >= 0 && !(l.items[l.n++] = strdup(e->u.str.ptr)))
                        r = config_fail_oom(src);
                if (r < 0) {
                        config_release_string_list(&l);
                        return r;
                }
        }
        config_release_string_list(field);
        *(struct bg_string_list *)field = l;
        return 0;
}

/* 0o600 / 384 or "0600". */
int config_parse_mode(const struct bg_config_key *k, const struct toml_value *v, void *field,
                      struct bg_config_src *src)
{
        uint64_t mode = 0;
        if (v->type == TOML_INTEGER) {
                if (v->u.integer < 0 || v->u.integer > 07777)
                        return config_fail(src, v->line, k->name,
                                           "%" PRId64 " is out of range (0..0o7777)", v->u.integer);
                mode = (uint64_t)v->u.integer;
        } else if (v->type == TOML_STRING) {
                const char *s = v->u.str.ptr;
                size_t n = strspn(s, "01234567");
                if (n == 0 || n != v->u.str.len || n > 5)
                        return fail_value(src, k, v, " is not an octal mode like \"0600\"");
                mode = strtoull(s, NULL, 8);
                if (mode > 07777)
                        return fail_value(src, k, v, " is out of range (0..07777)");
        } else {
                return config_fail(
                    src, v->line, k->name,
                    "expected an integer like 0o600 or a string like \"0600\", got %s",
                    toml_type_to_string(v->type));
        }
        *(uint32_t *)field = (uint32_t)mode;
        return 0;
}
