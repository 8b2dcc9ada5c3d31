#include "oci_auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/fileio.h"

#define DOCKER_CONFIG_MAX (4u << 20)

void oci_challenge_done(struct oci_challenge *c)
{
        if (!c)
                return;
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (struct oci_challenge){0};
}

/* Read one auth-param value (quoted-string or token) at *p into a new string. */
static int read_value(const char **p, char **ret)
{
        const char *s = *p;
        size_t cap = strlen(s) + 1;
        _cleanup_free_ char *out = malloc(cap);
        size_t n = 0;
        if (!out)
                return -ENOMEM;
        if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                        if (*s == '\\' && s[1])
                                s++;
                        out[n++] = *s++;
                }
                if (*s != '"')
                        return -EINVAL;
                s++;
        } else {
                while (*s && *s != ',' && !isspace((unsigned char)*s))
                        out[n++] = *s++;
                if (n == 0)
                        return -EINVAL;
        }
        out[n] = '\0';
        *p = s;
        *ret = TAKE_PTR(out);
        return 0;
}

int oci_challenge_parse(const char *header, struct oci_challenge *ret, struct bg_error *err)
{
        struct oci_challenge c = {0};
        const char *p = header;
        if (!p)
                return bg_error_set(err, EINVAL, "missing WWW-Authenticate challenge");
        while (isspace((unsigned char)*p))
                p++;
        if (strncasecmp(p, "Bearer", 6) == 0 && (isspace((unsigned char)p[6]) || !p[6])) {
                c.scheme = OCI_AUTH_BEARER;
                p += 6;
        } else if (strncasecmp(p, "Basic", 5) == 0 && (isspace((unsigned char)p[5]) || !p[5])) {
                c.scheme = OCI_AUTH_BASIC;
                p += 5;
        } else
                return bg_error_set(err, EINVAL, "unsupported WWW-Authenticate challenge '%.60s'",
                                    header);

        for (;;) {
                while (isspace((unsigned char)*p) || *p == ',')
                        p++;
                if (!*p)
                        break;
                const char *k = p;
                while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
                        p++;
                size_t klen = (size_t)(p - k);
                while (isspace((unsigned char)*p))
                        p++;
                if (klen == 0 || *p != '=') {
                        oci_challenge_done(&c);
                        return bg_error_set(err, EINVAL, "malformed WWW-Authenticate '%.60s'",
                                            header);
                }
                p++;
                while (isspace((unsigned char)*p))
                        p++;
                char *v = NULL;
                int r = read_value(&p, &v);
                if (r < 0) {
                        oci_challenge_done(&c);
                        return bg_error_set(err, -r, "malformed WWW-Authenticate '%.60s'", header);
                }
                char **slot = NULL;
                if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
                        slot = &c.realm;
                else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
                        slot = &c.service;
                else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
                        slot = &c.scope;
                if (slot) {
                        free(*slot);
                        *slot = v;
                } else
                        free(v);
        }
        if (c.scheme == OCI_AUTH_BEARER && (!c.realm || !*c.realm)) {
                oci_challenge_done(&c);
                return bg_error_set(err, EINVAL, "Bearer challenge without a realm: '%.60s'",
                                    header);
        }
        *ret = c;
        return 0;
}

void oci_credentials_done(struct oci_credentials *c)
{
        if (!c)
                return;
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->username);
        free(c->password);
        *c = (struct oci_credentials){0};
}

char *oci_docker_config_default_path(void)
{
        const char *dir = getenv("DOCKER_CONFIG");
        char *p = NULL;
        if (dir && *dir) {
                if (asprintf(&p, "%s/config.json", dir) < 0)
                        return NULL;
                return p;
        }
        const char *home = getenv("HOME");
        if (!home || !*home)
                return NULL;
        if (asprintf(&p, "%s/.docker/config.json", home) < 0)
                return NULL;
        return p;
}

bool oci_registry_key_normalize(const char *key, char *out, size_t size)
{
        const char *s = key;
        const char *sep = strstr(s, "://");
        if (sep)
                s = sep + 3;
        size_t n = strcspn(s, "/");
        if (n == 0 || n >= size)
                return false;
        for (size_t i = 0; i < n; i++)
                out[i] = (char)tolower((unsigned char)s[i]);
        out[n] = '\0';
        if (strcmp(out, "index.docker.io") == 0 || strcmp(out, "registry-1.docker.io") == 0 ||
            strcmp(out, "registry.hub.docker.com") == 0) {
                if (size < sizeof("docker.io"))
                        return false;
                strcpy(out, "docker.io");
        }
        return true;
}

static int b64_value(int c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

/* Decode base64 (standard or URL alphabet, padding optional) into a new
 * NUL-terminated string. */
static int b64_decode(const char *in, char **ret)
{
        size_t n = strlen(in);
        _cleanup_free_ char *out = malloc(n / 4 * 3 + 4);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
                if (in[i] == '=')
                        break;
                int v = b64_value((unsigned char)in[i]);
                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char)((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        if (memchr(out, '\0', o))
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

int oci_docker_config_credentials_from_json(const char *json, const char *registry,
                                            struct oci_credentials *ret, struct bg_error *err)
{
        char want[256];
        if (!oci_registry_key_normalize(registry, want, sizeof(want)))
                return bg_error_set(err, EINVAL, "invalid registry name '%s'", registry);
        json_error_t jerr;
        json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return bg_error_set(err, EINVAL, "docker config: line %d: %s", jerr.line,
                                    jerr.text);
        int rc = 0;
        json_t *auths = json_object_get(root, "auths");
        if (!json_is_object(auths))
                goto out;
        const char *key;
        json_t *entry;
        json_object_foreach(auths, key, entry)
        {
                char have[256];
                if (!oci_registry_key_normalize(key, have, sizeof(have)) || strcmp(have, want) != 0)
                        continue;
                if (!json_is_object(entry))
                        continue;
                struct oci_credentials c = {0};
                const char *auth = json_string_value(json_object_get(entry, "auth"));
                if (auth && *auth) {
                        _cleanup_free_ char *dec = NULL;
                        if (b64_decode(auth, &dec) < 0) {
                                rc = bg_error_set(err, EINVAL,
                                                  "docker config: \"auth\" of '%s' is not "
                                                  "base64 user:password",
                                                  key);
                                goto out;
                        }
                        char *colon = strchr(dec, ':');
                        if (!colon) {
                                explicit_bzero(dec, strlen(dec));
                                rc = bg_error_set(err, EINVAL,
                                                  "docker config: \"auth\" of '%s' has no "
                                                  "user:password",
                                                  key);
                                goto out;
                        }
                        *colon = '\0';
                        c.username = strdup(dec);
                        c.password = strdup(colon + 1);
                        explicit_bzero(dec, strlen(colon + 1) + (size_t)(colon - dec) + 1);
                } else {
                        const char *u = json_string_value(json_object_get(entry, "username"));
                        const char *pw = json_string_value(json_object_get(entry, "password"));
                        if (!u || !pw)
                                continue;
                        c.username = strdup(u);
                        c.password = strdup(pw);
                }
                if (!c.username || !c.password) {
                        oci_credentials_done(&c);
                        rc = -ENOMEM;
                        goto out;
                }
                *ret = c;
                rc = 1;
                goto out;
        }
out:
        json_decref(root);
        return rc;
}

int oci_docker_config_credentials(const char *path, const char *registry,
                                  struct oci_credentials *ret, struct bg_error *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        int r = read_file_capped(path, DOCKER_CONFIG_MAX, 0, &buf, &n, err);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return bg_error_prefix(err, "docker config");
        r = oci_docker_config_credentials_from_json(buf, registry, ret, err);
        explicit_bzero(buf, n);
        if (r < 0)
                bg_error_prefix(err, "%s", path);
        return r;
}
