#include "oci_ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_digest.h"

#define NAME_MAX_TOTAL 255

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One repository path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(s[0]))
                return false;
        while (i < n) {
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == n)
                        return true;
                size_t sep = i;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_') {
                        i++;
                        if (i < n && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else
                        return false;
                if (i == n || !is_lower_alnum(s[i]) || i == sep)
                        return false;
        }
        return true;
}

/* host[:port]: DNS-ish labels or [ipv6], optional decimal port. */
static bool registry_valid(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0)
                return false;
        if (s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                                return false;
                i = (size_t)(close - s) + 1;
        } else {
                size_t label = 0;
                for (; i < n && s[i] != ':'; i++) {
                        char c = s[i];
                        if (isalnum((unsigned char)c))
                                label++;
                        else if (c == '-' && label > 0)
                                label++;
                        else if (c == '.' && label > 0 && s[i - 1] != '-')
                                label = 0;
                        else
                                return false;
                }
                if (label == 0 || s[i - 1] == '-')
                        return false;
        }
        if (i == n)
                return true;
        if (s[i] != ':' || i + 1 == n || n - i - 1 > 5)
                return false;
        unsigned port = 0;
        for (i++; i < n; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return false;
                port = port * 10 + (unsigned)(s[i] - '0');
        }
        return port > 0 && port <= 65535;
}

static bool tag_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128)
                return false;
        if (!isalnum((unsigned char)t[0]) && t[0] != '_')
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
                        return false;
        return true;
}

void oci_ref_done(struct oci_ref *r)
{
        if (!r)
                return;
        free(r->registry);
        free(r->repository);
        free(r->tag);
        free(r->digest);
        *r = (struct oci_ref){0};
}

int oci_ref_parse(const char *s, struct oci_ref *ret, struct bg_error *err)
{
        if (!s || !*s)
                return bg_error_set(err, EINVAL, "empty image reference");
        if (strlen(s) > 1024)
                return bg_error_set(err, EINVAL, "image reference too long");
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                        return bg_error_set(err, EINVAL,
                                            "image reference '%s' contains a space or control "
                                            "character",
                                            s);

        _cleanup_free_ char *work = strdup(s);
        if (!work)
                return -ENOMEM;
        struct oci_ref r = {0};
        int rc = -ENOMEM;

        char *at = strchr(work, '@');
        if (at) {
                *at = '\0';
                if (!oci_digest_valid(at + 1)) {
                        rc = bg_error_set(err, EINVAL,
                                          "image reference '%s': digest '%s' is not "
                                          "sha256:<64 lowercase hex digits>",
                                          s, at + 1);
                        goto fail;
                }
                r.digest = strdup(at + 1);
                if (!r.digest)
                        goto fail;
        }

        /* The tag is after the last ':' that follows the last '/'. */
        char *slash = strrchr(work, '/');
        char *colon = strrchr(slash ? slash : work, ':');
        if (colon) {
                *colon = '\0';
                if (!tag_valid(colon + 1)) {
                        rc = bg_error_set(err, EINVAL, "image reference '%s': invalid tag '%s'", s,
                                          colon + 1);
                        goto fail;
                }
                r.tag = strdup(colon + 1);
                if (!r.tag)
                        goto fail;
        }

        char *name = work;
        char *first_slash = strchr(name, '/');
        const char *registry = OCI_DEFAULT_REGISTRY;
        if (first_slash) {
                size_t n = (size_t)(first_slash - name);
                bool is_registry = memchr(name, '.', n) || memchr(name, ':', n) ||
                                   (n == 9 && strncmp(name, "localhost", 9) == 0) || name[0] == '[';
                if (is_registry) {
                        if (!registry_valid(name, n)) {
                                *first_slash = '\0';
                                rc = bg_error_set(err, EINVAL,
                                                  "image reference '%s': invalid registry '%s'", s,
                                                  name);
                                goto fail;
                        }
                        *first_slash = '\0';
                        registry = name;
                        name = first_slash + 1;
                }
        }
        r.registry = strdup(registry);
        if (!r.registry)
                goto fail;
        /* Lowercase hosts compare equal, Docker Hub's aliases too. */
        for (char *p = r.registry; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (strcmp(r.registry, "index.docker.io") == 0 ||
            strcmp(r.registry, "registry-1.docker.io") == 0) {
                free(r.registry);
                r.registry = strdup(OCI_DEFAULT_REGISTRY);
                if (!r.registry)
                        goto fail;
        }

        if (!*name) {
                rc = bg_error_set(err, EINVAL, "image reference '%s': empty repository name", s);
                goto fail;
        }
        for (const char *c = name;;) {
                const char *e = strchr(c, '/');
                size_t n = e ? (size_t)(e - c) : strlen(c);
                if (!path_component_valid(c, n)) {
                        rc = bg_error_set(err, EINVAL,
                                          "image reference '%s': invalid repository name '%s' "
                                          "(lowercase letters, digits and separators . _ __ - "
                                          "only)",
                                          s, name);
                        goto fail;
                }
                if (!e)
                        break;
                c = e + 1;
        }
        bool hub = strcmp(r.registry, OCI_DEFAULT_REGISTRY) == 0;
        if (hub && !strchr(name, '/')) {
                if (asprintf(&r.repository, "library/%s", name) < 0) {
                        r.repository = NULL;
                        goto fail;
                }
        } else {
                r.repository = strdup(name);
                if (!r.repository)
                        goto fail;
        }
        if (strlen(r.registry) + 1 + strlen(r.repository) > NAME_MAX_TOTAL) {
                rc = bg_error_set(err, EINVAL, "image reference '%s': name longer than %d bytes", s,
                                  NAME_MAX_TOTAL);
                goto fail;
        }
        if (!r.tag && !r.digest) {
                r.tag = strdup("latest");
                if (!r.tag)
                        goto fail;
        }
        *ret = r;
        return 0;
fail:
        oci_ref_done(&r);
        if (rc == -ENOMEM)
                return bg_error_set(err, ENOMEM, "out of memory");
        return rc;
}

bool oci_ref_is_reference(const char *s)
{
        return s && strpbrk(s, ":/@") != NULL;
}

int oci_ref_default_name(const struct oci_ref *ref, char *buf, size_t len, size_t max_len)
{
        if (len == 0)
                return -EINVAL;
        const char *repo = strrchr(ref->repository, '/');
        repo = repo ? repo + 1 : ref->repository;
        char raw[512];
        if (ref->tag)
                snprintf(raw, sizeof(raw), "%s-%s", repo, ref->tag);
        else if (ref->digest)
                snprintf(raw, sizeof(raw), "%s-%.12s", repo, ref->digest + strlen("sha256:"));
        else
                snprintf(raw, sizeof(raw), "%s", repo);
        size_t n = 0;
        for (size_t i = 0; raw[i] && n + 1 < len && n < max_len; i++) {
                char c = (char)tolower((unsigned char)raw[i]);
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        c = '-';
                buf[n++] = c;
        }
        buf[n] = '\0';
        while (n > 0 && strchr("._-", buf[n - 1]))
                buf[--n] = '\0';
        size_t lead = strspn(buf, "._-");
        memmove(buf, buf + lead, n - lead + 1);
        return buf[0] ? 0 : -EINVAL;
}

char *oci_ref_to_string(const struct oci_ref *r)
{
        char *s = NULL;
        if (asprintf(&s, "%s/%s%s%s%s%s", r->registry, r->repository, r->tag ? ":" : "",
                     r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
                return NULL;
        return s;
}

const char *oci_registry_endpoint(const char *registry)
{
        if (strcmp(registry, OCI_DEFAULT_REGISTRY) == 0)
                return OCI_DOCKER_HUB_ENDPOINT;
        return registry;
}

bool oci_registry_is_loopback(const char *registry)
{
        char host[256];
        const char *end;
        if (registry[0] == '[') {
                end = strchr(registry, ']');
                if (!end)
                        return false;
                end++;
        } else {
                end = strchr(registry, ':');
                if (!end)
                        end = registry + strlen(registry);
        }
        size_t n = (size_t)(end - registry);
        if (n == 0 || n >= sizeof(host))
                return false;
        memcpy(host, registry, n);
        host[n] = '\0';
        if (*end && *end != ':')
                return false;
        if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
                return true;
        /* 127.x.y.z, dotted decimal only */
        unsigned a, b, c, d;
        char tail;
        if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
            c < 256 && d < 256)
                return true;
        return false;
}

static const char *arch_normalize(const char *a)
{
        if (strcmp(a, "x86_64") == 0 || strcmp(a, "x86-64") == 0)
                return "amd64";
        if (strcmp(a, "aarch64") == 0)
                return "arm64";
        if (strcmp(a, "armhf") == 0)
                return "arm";
        if (strcmp(a, "i686") == 0 || strcmp(a, "i386") == 0)
                return "386";
        return a;
}

static bool platform_word_valid(const char *w)
{
        if (!*w || strlen(w) >= 32)
                return false;
        for (; *w; w++)
                if (!isalnum((unsigned char)*w) && *w != '_' && *w != '-' && *w != '.')
                        return false;
        return true;
}

int oci_platform_parse(const char *s, struct oci_platform *ret, struct bg_error *err)
{
        struct oci_platform p = {"linux", "amd64", ""};
        if (!s || !*s) {
                *ret = p;
                return 0;
        }
        char buf[128];
        if (strlen(s) >= sizeof(buf))
                return bg_error_set(err, EINVAL, "platform '%.64s...' too long", s);
        strcpy(buf, s);
        char *parts[4] = {0};
        int n = 0;
        for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (n == 3)
                        return bg_error_set(err, EINVAL,
                                            "platform '%s': expected os/arch[/variant]", s);
                parts[n++] = t;
        }
        if (n < 2 || s[strlen(s) - 1] == '/' || strstr(s, "//"))
                return bg_error_set(err, EINVAL, "platform '%s': expected os/arch[/variant]", s);
        for (int i = 0; i < n; i++)
                if (!platform_word_valid(parts[i]))
                        return bg_error_set(err, EINVAL, "platform '%s': invalid word '%s'", s,
                                            parts[i]);
        snprintf(p.os, sizeof(p.os), "%s", parts[0]);
        snprintf(p.arch, sizeof(p.arch), "%s", arch_normalize(parts[1]));
        snprintf(p.variant, sizeof(p.variant), "%s", n == 3 ? parts[2] : "");
        *ret = p;
        return 0;
}
