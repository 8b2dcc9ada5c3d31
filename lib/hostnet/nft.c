#include "nft.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ifname.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_ctx *, nft_ctx_free);

/* Bump when the rule template changes, so nft_present() sees old tables as
 * different. */
#define NFT_TEMPLATE_VERSION 1

enum { CHAIN_POSTROUTING, CHAIN_FORWARD, CHAIN_INPUT, _CHAIN_MAX };

static const struct {
        const char *name, *type, *hook, *prio;
} chain_defs[_CHAIN_MAX] = {
    [CHAIN_POSTROUTING] = {"postrouting", "nat", "postrouting", "srcnat"},
    [CHAIN_FORWARD] = {"forward", "filter", "forward", "filter"},
    [CHAIN_INPUT] = {"input", "filter", "input", "filter"},
};

int nft_config_validate(const struct nft_config *cfg, struct bg_error *err)
{
        if (!cfg)
                return bg_error_set(err, EINVAL, "missing nftables config");
        int r = ifname_validate(cfg->bridge, "bridge", err);
        if (r < 0)
                return r;
        if (cfg->uplink[0]) {
                r = ifname_validate(cfg->uplink, "uplink", err);
                if (r < 0)
                        return r;
                if (streq(cfg->uplink, cfg->bridge))
                        return bg_error_set(err, EINVAL, "uplink '%s' is the bridge itself",
                                            cfg->uplink);
        }
        r = ipam_net_validate(&cfg->subnet, err);
        if (r < 0)
                return r;
        if (cfg->dns_port == 0)
                return bg_error_set(err, EINVAL, "DNS port 0 is not valid");
        return 0;
}

/* FNV-1a 64 of the inputs that shape the ruleset. */
static uint64_t config_fingerprint(const struct nft_config *cfg)
{
        char canon[256], nbuf[IPAM_CIDR_STRLEN];
        int n = snprintf(canon, sizeof(canon), "v%d|%s|%s|%s|%u|%d", NFT_TEMPLATE_VERSION,
                         cfg->bridge, ipam_net_format(&cfg->subnet, nbuf), cfg->uplink,
                         (unsigned)cfg->dns_port, cfg->isolate_vms ? 1 : 0);
        uint64_t h = 0xcbf29ce484222325ull;
        for (int i = 0; i < n && i < (int)sizeof(canon); i++) {
                h ^= (uint8_t)canon[i];
                h *= 0x100000001b3ull;
        }
        return h;
}

struct builder {
        FILE *f;
        char comment[40];
        unsigned counts[_CHAIN_MAX];
};

static void rule(struct builder *b, int chain, const char *fmt, ...) _printf_(3, 4);
static void rule(struct builder *b, int chain, const char *fmt, ...)
{
        va_list ap;
        fputs("\t\t", b->f);
        va_start(ap, fmt);
        vfprintf(b->f, fmt, ap);
        va_end(ap);
        fprintf(b->f, " comment \"%s\"\n", b->comment);
        b->counts[chain]++;
}

static void chain_open(struct builder *b, int chain)
{
        fprintf(b->f, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n",
                chain_defs[chain].name, chain_defs[chain].type, chain_defs[chain].hook,
                chain_defs[chain].prio);
}

/* Writes the table body; counts[] gets the number of rules per chain. */
static int build(const struct nft_config *cfg, char **ret, unsigned counts[_CHAIN_MAX],
                 struct bg_error *err)
{
        int r = nft_config_validate(cfg, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        struct builder b = {.f = open_memstream(&text, &len)};
        if (!b.f)
                return bg_error_set(err, ENOMEM, "out of memory");
        snprintf(b.comment, sizeof(b.comment), "banger %016" PRIx64, config_fingerprint(cfg));

        const char *br = cfg->bridge, *up = cfg->uplink;
        char net[IPAM_CIDR_STRLEN];
        ipam_net_format(&cfg->subnet, net);
        char ports[16];
        if (cfg->dns_port == 53)
                snprintf(ports, sizeof(ports), "53");
        else
                snprintf(ports, sizeof(ports), "53, %u", (unsigned)cfg->dns_port);

        fprintf(b.f, "add table %s %s\ndelete table %s %s\ntable %s %s {\n", NFT_BANGER_FAMILY,
                NFT_BANGER_TABLE, NFT_BANGER_FAMILY, NFT_BANGER_TABLE, NFT_BANGER_FAMILY,
                NFT_BANGER_TABLE);

        chain_open(&b, CHAIN_POSTROUTING);
        if (up[0])
                rule(&b, CHAIN_POSTROUTING, "ip saddr %s ip daddr != %s oifname \"%s\" masquerade",
                     net, net, up);
        else
                rule(&b, CHAIN_POSTROUTING,
                     "ip saddr %s ip daddr != %s oifname != \"%s\" masquerade", net, net, br);
        fputs("\t}\n", b.f);

        chain_open(&b, CHAIN_FORWARD);
        rule(&b, CHAIN_FORWARD, "iifname \"%s\" ip daddr 169.254.169.254 drop", br);
        if (cfg->isolate_vms)
                rule(&b, CHAIN_FORWARD, "iifname \"%s\" oifname \"%s\" drop", br, br);
        else
                rule(&b, CHAIN_FORWARD, "iifname \"%s\" oifname \"%s\" accept", br, br);
        if (up[0]) {
                rule(&b, CHAIN_FORWARD, "iifname \"%s\" oifname \"%s\" accept", br, up);
                rule(&b, CHAIN_FORWARD, "iifname \"%s\" drop", br);
        } else {
                rule(&b, CHAIN_FORWARD, "iifname \"%s\" accept", br);
        }
        rule(&b, CHAIN_FORWARD, "oifname \"%s\" ct state established,related accept", br);
        rule(&b, CHAIN_FORWARD, "oifname \"%s\" drop", br);
        fputs("\t}\n", b.f);

        chain_open(&b, CHAIN_INPUT);
        rule(&b, CHAIN_INPUT, "iifname \"%s\" ip daddr 169.254.169.254 drop", br);
        rule(&b, CHAIN_INPUT, "iifname \"%s\" ct state established,related accept", br);
        rule(&b, CHAIN_INPUT, "iifname \"%s\" meta l4proto { tcp, udp } th dport { %s } accept", br,
             ports);
        rule(&b, CHAIN_INPUT, "iifname \"%s\" drop", br);
        fputs("\t}\n}\n", b.f);

        bool failed = ferror(b.f);
        if (fclose(b.f) != 0 || failed)
                return bg_error_set(err, ENOMEM, "build nftables ruleset: out of memory");
        if (counts)
                memcpy(counts, b.counts, sizeof(b.counts));
        *ret = TAKE_PTR(text);
        return 0;
}

int nft_ruleset_build(const struct nft_config *cfg, char **ret, struct bg_error *err)
{
        return build(cfg, ret, NULL, err);
}

static int ctx_new(bool json, struct nft_ctx **ret, struct bg_error *err)
{
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return bg_error_set(err, ENOMEM, "create nftables context");
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
                return bg_error_set(err, ENOMEM, "nftables output buffering");
        if (json)
                nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
        *ret = TAKE_PTR(ctx);
        return 0;
}

/* Runs cmd; on failure fills err with nft's first error lines. */
static int run(struct nft_ctx *ctx, const char *cmd, const char *what, struct bg_error *err)
{
        if (nft_run_cmd_from_buffer(ctx, cmd) == 0)
                return 0;
        const char *e = nft_ctx_get_error_buffer(ctx);
        char msg[200];
        size_t j = 0;
        for (size_t i = 0; e && e[i] && j + 1 < sizeof(msg); i++) {
                char c = e[i];
                if (c == '\n') {
                        if (e[i + 1] == '\0')
                                break;
                        if (j + 3 >= sizeof(msg))
                                break;
                        msg[j++] = ';';
                        msg[j++] = ' ';
                        continue;
                }
                msg[j++] = (c == '\t') ? ' ' : c;
        }
        msg[j] = '\0';
        int code = EIO;
        if (strstr(msg, "Operation not permitted"))
                code = EPERM;
        else if (strstr(msg, "No such file or directory"))
                code = ENOENT;
        return bg_error_set(err, code, "nftables %s: %s", what, j ? msg : "failed");
}

/* Safe as root: the config is validated (interface names restricted to
 * [A-Za-z0-9_.-], so nothing can break out of the quoted strings; subnet and
 * port checked), and the generated text only ever names `table inet banger`. */
int nft_apply(const struct nft_config *cfg, struct bg_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = build(cfg, &text, NULL, err);
        if (r < 0)
                return r;
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
        r = ctx_new(false, &ctx, err);
        if (r < 0)
                return r;
        return run(ctx, text, "apply table inet banger", err);
}

/* Safe as root: a constant command that names only `table inet banger`. */
int nft_teardown(struct bg_error *err)
{
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
        int r = ctx_new(false, &ctx, err);
        if (r < 0)
                return r;
        return run(ctx,
                   "add table " NFT_BANGER_FAMILY " " NFT_BANGER_TABLE "\n"
                   "delete table " NFT_BANGER_FAMILY " " NFT_BANGER_TABLE "\n",
                   "remove table inet banger", err);
}

static int list_json(struct nft_ctx *ctx, const char *cmd, json_t **ret, struct bg_error *err)
{
        int r = run(ctx, cmd, "list", err);
        if (r < 0)
                return r;
        json_error_t jerr;
        json_t *root = json_loads(nft_ctx_get_output_buffer(ctx), 0, &jerr);
        if (!root)
                return bg_error_set(err, EBADMSG, "nftables JSON output: %s", jerr.text);
        json_t *arr = json_object_get(root, "nftables");
        if (!json_is_array(arr)) {
                json_decref(root);
                return bg_error_set(err, EBADMSG, "nftables JSON output: no 'nftables' array");
        }
        *ret = root;
        return 0;
}

static const char *jstr(json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s ? s : "";
}

static bool table_exists(json_t *root)
{
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(root, "nftables"), i, item)
        {
                json_t *t = json_object_get(item, "table");
                if (t && streq(jstr(t, "family"), NFT_BANGER_FAMILY) &&
                    streq(jstr(t, "name"), NFT_BANGER_TABLE))
                        return true;
        }
        return false;
}

/* Safe as root: read-only listing of `table inet banger` only. */
int nft_present(const struct nft_config *cfg, bool *ret, struct bg_error *err)
{
        _cleanup_free_ char *text = NULL;
        unsigned want[_CHAIN_MAX];
        int r = build(cfg, &text, want, err);
        if (r < 0)
                return r;
        char comment[40];
        snprintf(comment, sizeof(comment), "banger %016" PRIx64, config_fingerprint(cfg));

        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
        r = ctx_new(true, &ctx, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *tables = NULL;
        r = list_json(ctx, "list tables " NFT_BANGER_FAMILY, &tables, err);
        if (r < 0)
                return r;
        if (!table_exists(tables)) {
                *ret = false;
                return 0;
        }
        _cleanup_(nft_ctx_freep) struct nft_ctx *ctx2 = NULL;
        r = ctx_new(true, &ctx2, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *root = NULL;
        r = list_json(ctx2, "list table " NFT_BANGER_FAMILY " " NFT_BANGER_TABLE, &root, err);
        if (r == -ENOENT) { /* removed between the two listings */
                bg_error_clear(err);
                *ret = false;
                return 0;
        }
        if (r < 0)
                return r;

        bool seen[_CHAIN_MAX] = {false};
        unsigned have[_CHAIN_MAX] = {0};
        bool match = true;
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(root, "nftables"), i, item)
        {
                json_t *c = json_object_get(item, "chain");
                json_t *rl = json_object_get(item, "rule");
                json_t *o = c ? c : rl;
                if (!o)
                        continue;
                const char *chain = c ? jstr(o, "name") : jstr(o, "chain");
                int k = -1;
                for (int j = 0; j < _CHAIN_MAX; j++)
                        if (streq(chain, chain_defs[j].name))
                                k = j;
                if (k < 0) {
                        match = false; /* a chain banger does not create */
                        continue;
                }
                if (c) {
                        seen[k] = true;
                        if (!streq(jstr(o, "type"), chain_defs[k].type) ||
                            !streq(jstr(o, "hook"), chain_defs[k].hook) ||
                            !streq(jstr(o, "policy"), "accept"))
                                match = false;
                } else {
                        have[k]++;
                        if (!streq(jstr(o, "comment"), comment))
                                match = false;
                }
        }
        for (int j = 0; j < _CHAIN_MAX; j++)
                if (!seen[j] || have[j] != want[j])
                        match = false;
        *ret = match;
        return 0;
}
