#include "update_manifest.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "util/macro.h"

const char *const update_binaries[] = {
    "banger",        "banger-gateway",      "banger-vmsvc", "banger-imagesvc",
    "banger-netsvc", "banger-workspacesvc", "banger-agent",
};
const size_t update_n_binaries = ELEMENTSOF(update_binaries);

const char *update_builtin_public_key(void)
{
        return BANGER_UPDATE_PUBKEY;
}

/* Decodes base64 text (no whitespace inside) of exactly want bytes. */
static int b64_exact(const char *s, size_t len, unsigned char *out, size_t want)
{
        if (len == 0 || len % 4 != 0 || len > 4 * ((want + 2) / 3))
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' && s[i] != '=')
                        return -EINVAL;
        unsigned char buf[128];
        int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
        if (n < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
        size_t pad = (len >= 1 && s[len - 1] == '=') + (len >= 2 && s[len - 2] == '=');
        if ((size_t)n - pad != want)
                return -EINVAL;
        memcpy(out, buf, want);
        return 0;
}

bool update_public_key_valid(const char *s)
{
        unsigned char k[32];
        return s && b64_exact(s, strlen(s), k, sizeof(k)) == 0;
}

int update_verify(const void *msg, size_t len, const char *sig_text, size_t sig_len,
                  const char *pubkey_b64, struct bg_error *err)
{
        unsigned char key[32], sig[64];
        if (!pubkey_b64 || b64_exact(pubkey_b64, strlen(pubkey_b64), key, sizeof(key)) < 0)
                return bg_error_set(err, EINVAL,
                                    "the release public key is not base64 of 32 bytes (ed25519)");
        while (sig_len > 0 && isspace((unsigned char)sig_text[0]))
                sig_text++, sig_len--;
        while (sig_len > 0 && isspace((unsigned char)sig_text[sig_len - 1]))
                sig_len--;
        if (b64_exact(sig_text, sig_len, sig, sizeof(sig)) < 0)
                return bg_error_set(err, EINVAL,
                                    "the manifest signature is not base64 of 64 bytes (ed25519)");
        EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, sizeof(key));
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int r;
        if (!pk || !md)
                r = bg_error_set(err, ENOMEM, "out of memory (OpenSSL)");
        else if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) != 1)
                r = bg_error_set(err, EINVAL, "OpenSSL cannot verify ed25519 signatures");
        else if (EVP_DigestVerify(md, sig, sizeof(sig), msg, len) != 1)
                r = bg_error_set(err, EBADMSG,
                                 "the manifest's signature does not verify against banger's "
                                 "release key: refusing it");
        else
                r = 0;
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(pk);
        return r;
}

bool update_version_valid(const char *v)
{
        if (!v || strlen(v) >= 64)
                return false;
        int parts = 0;
        const char *p = v;
        for (;;) {
                if (!isdigit((unsigned char)*p))
                        return false;
                while (isdigit((unsigned char)*p))
                        p++;
                parts++;
                if (*p != '.')
                        break;
                p++;
        }
        if (parts > 4)
                return false;
        if (*p == '\0')
                return true;
        if (*p != '-' || !p[1])
                return false;
        for (p++; *p; p++)
                if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '.')
                        return false;
        return true;
}

int update_version_compare(const char *a, const char *b)
{
        while (isdigit((unsigned char)*a) || isdigit((unsigned char)*b)) {
                unsigned long long x = strtoull(a, (char **)&a, 10);
                unsigned long long y = strtoull(b, (char **)&b, 10);
                if (x != y)
                        return x < y ? -1 : 1;
                if (*a == '.')
                        a++;
                if (*b == '.')
                        b++;
        }
        /* Same numbers: a pre-release sorts first. */
        bool pa = *a == '-', pb = *b == '-';
        if (pa != pb)
                return pa ? -1 : 1;
        int c = strcmp(a, b);
        return c < 0 ? -1 : c > 0;
}

static bool https_url(const char *u)
{
        if (strncmp(u, "https://", 8) != 0 || strlen(u) >= UPDATE_URL_MAX || !u[8])
                return false;
        for (const char *c = u; *c; c++)
                if ((unsigned char)*c <= ' ' || *c == 0x7f)
                        return false;
        return true;
}

static ssize_t binary_index(const char *name)
{
        for (size_t i = 0; i < update_n_binaries; i++)
                if (streq(update_binaries[i], name))
                        return (ssize_t)i;
        return -1;
}

static int parse_release(json_t *rel, size_t idx, struct update_release *out, struct bg_error *err)
{
        memset(out, 0, sizeof(*out));
        json_t *ver = json_object_get(rel, "version"), *bins = json_object_get(rel, "binaries");
        if (!json_is_object(rel) || !json_is_string(ver) || !json_is_object(bins))
                return bg_error_set(err, EBADMSG,
                                    "manifest release %zu needs a \"version\" string and a "
                                    "\"binaries\" object",
                                    idx);
        const char *v = json_string_value(ver);
        if (!update_version_valid(v))
                return bg_error_set(err, EBADMSG,
                                    "manifest release %zu: version '%.64s' is not "
                                    "like 1.2.3",
                                    idx, v);
        snprintf(out->version, sizeof(out->version), "%s", v);
        bool seen[UPDATE_MAX_FILES] = {0};
        const char *name;
        json_t *f;
        json_object_foreach(bins, name, f)
        {
                ssize_t bi = binary_index(name);
                if (bi < 0)
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s: '%.64s' is not a banger binary",
                                            v, name);
                json_t *url = json_object_get(f, "url"), *sha = json_object_get(f, "sha256"),
                       *size = json_object_get(f, "size");
                if (!json_is_object(f) || !json_is_string(url) || !json_is_string(sha) ||
                    !json_is_integer(size))
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s: %s needs \"url\", \"sha256\" "
                                            "and \"size\"",
                                            v, name);
                if (!https_url(json_string_value(url)))
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s: the url of %s is not https://", v,
                                            name);
                if (!sha256_hex_valid(json_string_value(sha)))
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s: the sha256 of %s is not 64 hex "
                                            "digits",
                                            v, name);
                if (json_integer_value(size) <= 0)
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s: the size of %s is not positive",
                                            v, name);
                struct update_file *uf = &out->files[out->n_files++];
                seen[bi] = true;
                snprintf(uf->name, sizeof(uf->name), "%s", name);
                snprintf(uf->url, sizeof(uf->url), "%s", json_string_value(url));
                const char *s = json_string_value(sha);
                for (int k = 0; k < 64; k++)
                        uf->sha256[k] = (char)tolower((unsigned char)s[k]);
                uf->size = (uint64_t)json_integer_value(size);
        }
        for (size_t i = 0; i < UPDATE_N_REQUIRED; i++)
                if (!seen[i])
                        return bg_error_set(err, EBADMSG,
                                            "manifest release %s does not list %s (a release "
                                            "has all of banger, banger-gateway, banger-vmsvc, "
                                            "banger-imagesvc, banger-netsvc, banger-workspacesvc)",
                                            v, update_binaries[i]);
        return 0;
}

int update_manifest_pick(const char *text, size_t len, const char *want_version,
                         struct update_release *ret, struct bg_error *err)
{
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return bg_error_set(err, EBADMSG, "the manifest is not JSON: %s (line %d)", je.text,
                                    je.line);
        json_t *rels = json_object_get(root, "releases");
        int r = 0;
        size_t best = SIZE_MAX, i;
        json_t *rel;
        char have[512] = "";
        struct update_release *cur = malloc(sizeof(*cur)), *pick = malloc(sizeof(*pick));
        if (!cur || !pick) {
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        if (!json_is_array(rels) || json_array_size(rels) == 0) {
                r = bg_error_set(err, EBADMSG, "the manifest has no \"releases\" list");
                goto out;
        }
        json_array_foreach(rels, i, rel)
        {
                r = parse_release(rel, i, cur, err);
                if (r < 0)
                        goto out;
                size_t hl = strlen(have);
                snprintf(have + hl, sizeof(have) - hl, "%s%s", hl ? ", " : "", cur->version);
                bool take = want_version
                                ? streq(cur->version, want_version)
                                : (best == SIZE_MAX ||
                                   update_version_compare(cur->version, pick->version) > 0);
                if (take) {
                        *pick = *cur;
                        best = i;
                }
        }
        if (best == SIZE_MAX) {
                r = bg_error_set(err, ENOENT, "the manifest has no release %s (it has: %s)",
                                 want_version, have);
                goto out;
        }
        *ret = *pick;
out:
        free(cur);
        free(pick);
        json_decref(root);
        return r;
}
