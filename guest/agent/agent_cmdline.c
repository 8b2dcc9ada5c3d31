#include "agent_cmdline.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"

int agent_cmdline_foreach(const char *cmdline,
                          void (*fn)(const char *name, const char *value, void *userdata),
                          void *userdata)
{
        _cleanup_free_ char *copy = strdup(cmdline ? cmdline : "");
        if (!copy)
                return -ENOMEM;
        char *p = copy;
        for (;;) {
                while (*p && isspace((unsigned char)*p))
                        p++;
                if (!*p)
                        break;
                /* One token: quotes group, and are removed. */
                char *out = p, *in = p, *eq = NULL;
                bool quoted = false;
                while (*in && (quoted || !isspace((unsigned char)*in))) {
                        if (*in == '"') {
                                quoted = !quoted;
                                in++;
                                continue;
                        }
                        if (*in == '=' && !eq)
                                eq = out;
                        *out++ = *in++;
                }
                char *next = *in ? in + 1 : in;
                *out = '\0';
                if (streq(p, "--"))
                        break;
                if (eq) {
                        *eq = '\0';
                        fn(p, eq + 1, userdata);
                } else {
                        fn(p, NULL, userdata);
                }
                p = next;
        }
        return 0;
}

struct get_state {
        const char *key;
        char *buf;
        size_t size;
        int result;
};

static void get_cb(const char *name, const char *value, void *userdata)
{
        struct get_state *s = userdata;
        if (!value || !streq(name, s->key))
                return;
        if (strlen(value) >= s->size) {
                s->result = -ENAMETOOLONG;
                return;
        }
        memcpy(s->buf, value, strlen(value) + 1);
        s->result = 1;
}

int agent_cmdline_get(const char *cmdline, const char *key, char *buf, size_t size)
{
        struct get_state s = {.key = key, .buf = buf, .size = size, .result = 0};
        int r = agent_cmdline_foreach(cmdline, get_cb, &s);
        if (r < 0)
                return r;
        return s.result;
}

struct flag_state {
        const char *flag;
        bool found;
};

static void flag_cb(const char *name, const char *value, void *userdata)
{
        struct flag_state *s = userdata;
        if (!value && streq(name, s->flag))
                s->found = true;
}

bool agent_cmdline_has_flag(const char *cmdline, const char *flag)
{
        struct flag_state s = {.flag = flag};
        if (agent_cmdline_foreach(cmdline, flag_cb, &s) < 0)
                return false;
        return s.found;
}

bool agent_hostname_valid(const char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > AGENT_NAME_MAX)
                return false;
        size_t label = 0;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!isalnum((unsigned char)c) && c != '-')
                        return false;
                if (c == '-' && label == 0)
                        return false;
                if (++label > 63)
                        return false;
        }
        return label > 0 && s[len - 1] != '-';
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
        if (!*s || !isdigit((unsigned char)*s))
                return false;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return false;
        *ret = (uint32_t)v;
        return true;
}

int agent_channel_parse(const char *value, enum agent_channel_kind *ret_kind, char *ret_name,
                        size_t name_size, uint32_t *ret_port)
{
        static const char vs[] = "virtio-serial:", vk[] = "vsock:";
        if (strncmp(value, vs, sizeof(vs) - 1) == 0) {
                const char *name = value + sizeof(vs) - 1;
                size_t len = strlen(name);
                if (len == 0 || len >= name_size || strchr(name, '/') || streq(name, ".") ||
                    streq(name, ".."))
                        return -EINVAL;
                memcpy(ret_name, name, len + 1);
                *ret_kind = AGENT_CHANNEL_VIRTIO_SERIAL;
                return 0;
        }
        if (strncmp(value, vk, sizeof(vk) - 1) == 0) {
                uint32_t port;
                /* Port 0 and VMADDR_PORT_ANY (-1U) cannot be listened on. */
                if (!parse_u32(value + sizeof(vk) - 1, UINT32_MAX - 1, &port) || port == 0)
                        return -EINVAL;
                *ret_port = port;
                *ret_kind = AGENT_CHANNEL_VSOCK;
                return 0;
        }
        return -EINVAL;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
        unsigned v[6];
        char tail;
        if (strlen(s) != 17)
                return false;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &tail) != 6)
                return false;
        for (int i = 0; i < 6; i++) {
                if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
                        return false;
                mac[i] = (uint8_t)v[i];
        }
        return true;
}

static bool parse_dev_path(const char *s, char *out, size_t size)
{
        if (strncmp(s, "/dev/", 5) != 0 || !s[5] || strstr(s, "/../") || strlen(s) >= size)
                return false;
        memcpy(out, s, strlen(s) + 1);
        return true;
}

struct parse_state {
        struct agent_config *cfg;
        void (*warn)(const char *message, void *userdata);
        void *userdata;
        int warnings;
};

_printf_(2, 3) static void warnf(struct parse_state *s, const char *fmt, ...)
{
        s->warnings++;
        if (!s->warn)
                return;
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        s->warn(msg, s->userdata);
}

static void parse_ip(struct parse_state *s, const char *value)
{
        char addr[INET_ADDRSTRLEN + 1];
        const char *slash = strchr(value, '/');
        uint32_t prefix;
        if (!slash || (size_t)(slash - value) >= sizeof(addr) ||
            !parse_u32(slash + 1, 32, &prefix)) {
                warnf(s, "banger.ip='%s' is not ADDRESS/PREFIX, ignored", value);
                return;
        }
        memcpy(addr, value, (size_t)(slash - value));
        addr[slash - value] = '\0';
        struct in_addr a;
        if (inet_pton(AF_INET, addr, &a) != 1) {
                warnf(s, "banger.ip='%s': '%s' is not an IPv4 address, ignored", value, addr);
                return;
        }
        if (prefix == 0) {
                warnf(s, "banger.ip='%s': prefix must be 1..32, ignored", value);
                return;
        }
        s->cfg->ip = a;
        s->cfg->prefix = prefix;
        s->cfg->has_ip = true;
}

static void parse_dns(struct parse_state *s, const char *value)
{
        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return;
        s->cfg->n_dns = 0;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                unsigned char buf[sizeof(struct in6_addr)];
                if (inet_pton(AF_INET, tok, buf) != 1 && inet_pton(AF_INET6, tok, buf) != 1) {
                        warnf(s, "banger.dns: '%s' is not an IP address, skipped", tok);
                        continue;
                }
                if (s->cfg->n_dns >= AGENT_DNS_MAX) {
                        warnf(s, "banger.dns: more than %d servers, '%s' skipped", AGENT_DNS_MAX,
                              tok);
                        continue;
                }
                snprintf(s->cfg->dns[s->cfg->n_dns++], INET6_ADDRSTRLEN, "%s", tok);
        }
}

static void config_cb(const char *name, const char *value, void *userdata)
{
        struct parse_state *s = userdata;
        struct agent_config *cfg = s->cfg;
        if (strncmp(name, "banger.", 7) != 0)
                return;
        const char *key = name + 7;
        if (!value) {
                warnf(s, "%s has no value, ignored", name);
                return;
        }
        if (streq(key, "name")) {
                if (agent_hostname_valid(value))
                        snprintf(cfg->name, sizeof(cfg->name), "%s", value);
                else
                        warnf(s, "banger.name='%s' is not a valid hostname, ignored", value);
        } else if (streq(key, "ip")) {
                parse_ip(s, value);
        } else if (streq(key, "gw")) {
                struct in_addr a;
                if (inet_pton(AF_INET, value, &a) == 1) {
                        cfg->gw = a;
                        cfg->has_gw = true;
                } else {
                        warnf(s, "banger.gw='%s' is not an IPv4 address, ignored", value);
                }
        } else if (streq(key, "dns")) {
                parse_dns(s, value);
        } else if (streq(key, "mac")) {
                if (parse_mac(value, cfg->mac))
                        cfg->has_mac = true;
                else
                        warnf(s, "banger.mac='%s' is not a MAC address, ignored", value);
        } else if (streq(key, "work")) {
                if (!parse_dev_path(value, cfg->work, sizeof(cfg->work)))
                        warnf(s, "banger.work='%s' is not a /dev path, ignored", value);
        } else if (streq(key, "modules")) {
                if (!parse_dev_path(value, cfg->modules, sizeof(cfg->modules)))
                        warnf(s, "banger.modules='%s' is not a /dev path, ignored", value);
        } else if (streq(key, "agent")) {
                if (agent_channel_parse(value, &cfg->channel, cfg->channel_name,
                                        sizeof(cfg->channel_name), &cfg->vsock_port) < 0)
                        warnf(s,
                              "banger.agent='%s' is neither virtio-serial:NAME nor vsock:PORT, "
                              "ignored",
                              value);
        } else if (streq(key, "init")) {
                if (streq(value, "agent") || streq(value, "image"))
                        cfg->agent_init = streq(value, "agent");
                else
                        warnf(s, "banger.init='%s' is neither agent nor image, ignored", value);
        } else {
                warnf(s, "unknown parameter %s, ignored", name);
        }
}

int agent_config_parse(const char *cmdline, struct agent_config *cfg,
                       void (*warn)(const char *message, void *userdata), void *userdata)
{
        memset(cfg, 0, sizeof(*cfg));
        struct parse_state s = {.cfg = cfg, .warn = warn, .userdata = userdata};
        int r = agent_cmdline_foreach(cmdline, config_cb, &s);
        if (r < 0)
                return r;
        if (cfg->has_gw && !cfg->has_ip) {
                warnf(&s, "banger.gw given without banger.ip, ignored");
                cfg->has_gw = false;
        }
        return s.warnings;
}
