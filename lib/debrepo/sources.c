#include "sources.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "deb822.h"
#include "util/array.h"
#include "util/fileio.h"

#define SOURCES_FILE_MAX (4u * 1024 * 1024)

void debrepo_source_done(struct debrepo_source *s)
{
        if (!s)
                return;
        free(s->uri);
        free(s->suite);
        free(s->components);
        free(s->signed_by);
        free(s->file);
        *s = (struct debrepo_source){0};
}

void debrepo_sources_free(struct debrepo_source *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                debrepo_source_done(&v[i]);
        free(v);
}

struct list {
        struct debrepo_source *v;
        size_t n, cap;
};

static void list_done(struct list *l)
{
        debrepo_sources_free(l->v, l->n);
}

/* Append a copy of the given strings (components/signed_by may be NULL). */
static int list_add(struct list *l, const char *uri, size_t uri_len, const char *suite,
                    size_t suite_len, const char *components, const char *signed_by,
                    const char *file)
{
        if (ARRAY_RESERVE(l->v, l->cap, l->n + 1) < 0)
                return -ENOMEM;
        while (uri_len > 0 && uri[uri_len - 1] == '/')
                uri_len--;
        struct debrepo_source s = {
            .uri = strndup(uri, uri_len),
            .suite = strndup(suite, suite_len),
            .components = strdup(components ? components : ""),
            .signed_by = signed_by ? strdup(signed_by) : NULL,
            .file = strdup(file),
        };
        if (!s.uri || !s.suite || !s.components || (signed_by && !s.signed_by) || !s.file) {
                debrepo_source_done(&s);
                return -ENOMEM;
        }
        l->v[l->n++] = s;
        return 0;
}

/* Split off the next whitespace-separated token of [*p, end). */
static bool next_token(const char **p, const char *end, const char **tok, size_t *tl)
{
        while (*p < end && isspace((unsigned char)**p))
                (*p)++;
        if (*p >= end)
                return false;
        *tok = *p;
        while (*p < end && !isspace((unsigned char)**p))
                (*p)++;
        *tl = (size_t)(*p - *tok);
        return true;
}

static bool tok_is(const char *t, size_t l, const char *s)
{
        return l == strlen(s) && memcmp(t, s, l) == 0;
}

static int parse_one_line(struct list *l, const char *file, const char *buf, size_t len,
                          struct bg_error *err)
{
        unsigned lineno = 0;
        for (size_t pos = 0; pos < len;) {
                const char *s = buf + pos;
                const char *nl = memchr(s, '\n', len - pos);
                const char *end = nl ? nl : buf + len;
                pos = (size_t)(end - buf) + 1;
                lineno++;
                const char *hash = memchr(s, '#', (size_t)(end - s));
                if (hash)
                        end = hash;
                const char *p = s, *tok;
                size_t tl;
                if (!next_token(&p, end, &tok, &tl))
                        continue;
                bool binary = tok_is(tok, tl, "deb");
                if (!binary && !tok_is(tok, tl, "deb-src"))
                        return bg_error_set(err, EINVAL, "%s line %u: unknown type '%.*s'", file,
                                            lineno, (int)(tl > 32 ? 32 : tl), tok);
                _cleanup_free_ char *signed_by = NULL;
                while (p < end && isspace((unsigned char)*p))
                        p++;
                if (p < end && *p == '[') {
                        const char *close = memchr(p, ']', (size_t)(end - p));
                        if (!close)
                                return bg_error_set(err, EINVAL, "%s line %u: unterminated '['",
                                                    file, lineno);
                        const char *o = p + 1;
                        while (next_token(&o, close, &tok, &tl)) {
                                static const char key[] = "signed-by=";
                                if (tl > strlen(key) && strncasecmp(tok, key, strlen(key)) == 0 &&
                                    tok[strlen(key)] == '/') {
                                        free(signed_by);
                                        signed_by = strndup(tok + strlen(key), tl - strlen(key));
                                        if (!signed_by)
                                                return bg_error_set(err, ENOMEM, "out of memory");
                                }
                        }
                        p = close + 1;
                }
                const char *uri, *suite;
                size_t ul, sl;
                if (!next_token(&p, end, &uri, &ul) || !next_token(&p, end, &suite, &sl))
                        return bg_error_set(err, EINVAL,
                                            "%s line %u: expected 'deb [options] uri suite "
                                            "[components]'",
                                            file, lineno);
                char comps[512] = "";
                size_t cl = 0;
                while (next_token(&p, end, &tok, &tl)) {
                        if (cl + tl + 2 > sizeof(comps))
                                return bg_error_set(err, EINVAL, "%s line %u: too many components",
                                                    file, lineno);
                        if (cl > 0)
                                comps[cl++] = ' ';
                        memcpy(comps + cl, tok, tl);
                        cl += tl;
                        comps[cl] = '\0';
                }
                if (binary && list_add(l, uri, ul, suite, sl, comps, signed_by, file) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

static bool word_in(const char *list, const char *word)
{
        const char *p = list, *end = list + strlen(list), *tok;
        size_t tl;
        while (next_token(&p, end, &tok, &tl))
                if (tok_is(tok, tl, word))
                        return true;
        return false;
}

static int parse_deb822(struct list *l, const char *file, const char *buf, size_t len,
                        struct bg_error *err)
{
        size_t pos = 0, start, end;
        unsigned n = 0;
        while (deb822_next_paragraph(buf, len, &pos, &start, &end) > 0) {
                const char *para = buf + start;
                size_t pl = end - start;
                _cleanup_free_ char *types = NULL, *uris = NULL, *suites = NULL, *comps = NULL,
                                    *enabled = NULL, *signed_by = NULL;
                n++;
                if (deb822_field(para, pl, "Types", &types) < 0 ||
                    deb822_field(para, pl, "URIs", &uris) < 0 ||
                    deb822_field(para, pl, "Suites", &suites) < 0 ||
                    deb822_field(para, pl, "Components", &comps) < 0 ||
                    deb822_field(para, pl, "Enabled", &enabled) < 0 ||
                    deb822_field(para, pl, "Signed-By", &signed_by) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (!types || !uris || !suites)
                        return bg_error_set(err, EINVAL,
                                            "%s entry %u: Types, URIs and Suites are required",
                                            file, n);
                if (enabled && strcasecmp(enabled, "no") == 0)
                        continue;
                if (!word_in(types, "deb"))
                        continue;
                /* Only a keyring path; an inline key block is not a path. */
                if (signed_by &&
                    (signed_by[0] != '/' || strchr(signed_by, '\n') || strchr(signed_by, ' ')))
                        free(TAKE_PTR(signed_by));
                /* Components as one space-separated line. */
                if (comps)
                        for (char *c = comps; *c; c++)
                                if (isspace((unsigned char)*c))
                                        *c = ' ';
                const char *up = uris, *uend = uris + strlen(uris), *u;
                size_t ul;
                while (next_token(&up, uend, &u, &ul)) {
                        const char *sp = suites, *send = suites + strlen(suites), *s;
                        size_t sl;
                        while (next_token(&sp, send, &s, &sl))
                                if (list_add(l, u, ul, s, sl, comps, signed_by, file) < 0)
                                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t l = strlen(s), sl = strlen(suffix);
        return l > sl && streq(s + l - sl, suffix);
}

/* apt's rule: only [A-Za-z0-9_.-] names ending in .list or .sources. */
static int sources_filter(const struct dirent *de)
{
        const char *n = de->d_name;
        if (n[0] == '.')
                return 0;
        for (const char *c = n; *c; c++)
                if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
                        return 0;
        return has_suffix(n, ".list") || has_suffix(n, ".sources");
}

static int parse_file(struct list *l, const char *path, bool deb822, struct bg_error *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_capped(path, SOURCES_FILE_MAX, 0, &buf, &len, err);
        if (r == -ENOENT) {
                bg_error_clear(err);
                return 0;
        }
        if (r < 0)
                return r;
        return deb822 ? parse_deb822(l, path, buf, len, err)
                      : parse_one_line(l, path, buf, len, err);
}

int debrepo_sources_list(const char *root, struct debrepo_source **ret, size_t *ret_n,
                         struct bg_error *err)
{
        _cleanup_(list_done) struct list l = {0};
        _cleanup_free_ char *main_file = NULL, *dir = NULL;
        struct dirent **names = NULL;
        int r;

        if (!root || streq(root, "/"))
                root = "";
        if (asprintf(&main_file, "%s/etc/apt/sources.list", root) < 0 ||
            asprintf(&dir, "%s/etc/apt/sources.list.d", root) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        r = parse_file(&l, main_file, false, err);
        if (r < 0)
                return r;
        int n = scandir(dir, &names, sources_filter, alphasort);
        if (n < 0 && errno != ENOENT && errno != ENOTDIR)
                return bg_error_errno(err, -errno, "list '%s'", dir);
        r = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                if (r >= 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
                        path = NULL;
                        r = bg_error_set(err, ENOMEM, "out of memory");
                }
                if (r >= 0)
                        r = parse_file(&l, path, has_suffix(names[i]->d_name, ".sources"), err);
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        *ret = l.v;
        *ret_n = l.n;
        l = (struct list){0};
        return 0;
}

static bool is_main_debian(const struct debrepo_source *s)
{
        static const char *const pockets[] = {"-updates",   "-security",
                                              "-backports", "-proposed-updates",
                                              "/updates",   "-backports-sloppy"};
        if (strncmp(s->uri, "http://", 7) != 0 && strncmp(s->uri, "https://", 8) != 0)
                return false;
        if (!s->components[0] || has_suffix(s->suite, "/"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(pockets); i++)
                if (has_suffix(s->suite, pockets[i]))
                        return false;
        /* A path component named "debian": deb.debian.org/debian, a mirror's
         * /debian/, snapshot.debian.org/archive/debian/<date>. */
        const char *path = strchr(strstr(s->uri, "://") + 3, '/');
        for (const char *p = path; p && *p;) {
                p++;
                size_t l = strcspn(p, "/");
                if (l == 6 && strncmp(p, "debian", 6) == 0)
                        return true;
                p += l;
        }
        return false;
}

int debrepo_sources_find_debian(const char *root, struct debrepo_source *ret, struct bg_error *err)
{
        struct debrepo_source *v = NULL;
        size_t n = 0;
        int r = debrepo_sources_list(root, &v, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (!is_main_debian(&v[i]))
                        continue;
                *ret = v[i];
                v[i] = (struct debrepo_source){0};
                debrepo_sources_free(v, n);
                return 0;
        }
        debrepo_sources_free(v, n);
        return bg_error_set(err, ENOENT,
                            "no Debian archive entry (deb http(s)://.../debian <suite> "
                            "<components>) in the apt sources under '%s/etc/apt'",
                            root && !streq(root, "/") ? root : "");
}
