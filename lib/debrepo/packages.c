#include "packages.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "deb822.h"
#include "decompress.h"
#include "sha256.h"

#define PACKAGES_MAX (1024ull * 1024 * 1024)

struct debrepo_packages {
        char *text;
        size_t len;
};

struct debrepo_packages *debrepo_packages_free(struct debrepo_packages *p)
{
        if (p) {
                free(p->text);
                free(p);
        }
        return NULL;
}

int debrepo_packages_load(const char *path, struct debrepo_packages **ret, struct bg_error *err)
{
        struct debrepo_packages *p = calloc(1, sizeof(*p));
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!p)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r = kernel_decompress_file_to_memory(path, PACKAGES_MAX, &buf, &len, NULL, err);
        if (r < 0) {
                free(p);
                return bg_error_prefix(err, "Packages index");
        }
        p->text = (char *)buf;
        p->len = len;
        *ret = p;
        return 0;
}

int debrepo_packages_from_text(const char *text, size_t len, struct debrepo_packages **ret,
                               struct bg_error *err)
{
        struct debrepo_packages *p = calloc(1, sizeof(*p));
        if (!p || !(p->text = malloc(len + 1))) {
                free(p);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        memcpy(p->text, text, len);
        p->text[len] = '\0';
        p->len = len;
        *ret = p;
        return 0;
}

void debrepo_package_done(struct debrepo_package *p)
{
        if (!p)
                return;
        free(p->package);
        free(p->version);
        free(p->architecture);
        free(p->depends);
        free(p->filename);
        *p = (struct debrepo_package){0};
}

void debrepo_kernel_done(struct debrepo_kernel *k)
{
        if (!k)
                return;
        debrepo_package_done(&k->meta);
        debrepo_package_done(&k->image);
        free(k->release);
        k->release = NULL;
}

/* dpkg's character order within the non-digit parts of a version. */
static int order(int c)
{
        if (isdigit(c))
                return 0;
        if (isalpha(c))
                return c;
        if (c == '~')
                return -1;
        if (c)
                return c + 256;
        return 0;
}

static int verrevcmp(const char *a, const char *b)
{
        while (*a || *b) {
                int first_diff = 0;
                while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
                        int ac = order((unsigned char)*a), bc = order((unsigned char)*b);
                        if (ac != bc)
                                return ac - bc;
                        a++;
                        b++;
                }
                while (*a == '0')
                        a++;
                while (*b == '0')
                        b++;
                while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
                        if (!first_diff)
                                first_diff = *a - *b;
                        a++;
                        b++;
                }
                if (isdigit((unsigned char)*a))
                        return 1;
                if (isdigit((unsigned char)*b))
                        return -1;
                if (first_diff)
                        return first_diff;
        }
        return 0;
}

struct version {
        unsigned long epoch;
        char upstream[256];
        char revision[256];
};

static void version_split(const char *s, struct version *v)
{
        *v = (struct version){0};
        const char *colon = strchr(s, ':');
        if (colon && colon > s && (size_t)(colon - s) == strspn(s, "0123456789")) {
                v->epoch = strtoul(s, NULL, 10);
                s = colon + 1;
        }
        const char *dash = strrchr(s, '-');
        size_t ul = dash ? (size_t)(dash - s) : strlen(s);
        snprintf(v->upstream, sizeof(v->upstream), "%.*s", (int)ul, s);
        snprintf(v->revision, sizeof(v->revision), "%s", dash ? dash + 1 : "");
}

int debrepo_version_compare(const char *a, const char *b)
{
        struct version va, vb;
        version_split(a, &va);
        version_split(b, &vb);
        if (va.epoch != vb.epoch)
                return va.epoch < vb.epoch ? -1 : 1;
        int r = verrevcmp(va.upstream, vb.upstream);
        if (r != 0)
                return r;
        return verrevcmp(va.revision, vb.revision);
}

static bool filename_safe(const char *f)
{
        if (!f[0] || f[0] == '/')
                return false;
        for (const char *c = f; *c; c++)
                if (!isalnum((unsigned char)*c) && !strchr("._+~:/-", *c))
                        return false;
        for (const char *c = f; *c;) {
                size_t l = strcspn(c, "/");
                if (l == 0 || (l == 2 && c[0] == '.' && c[1] == '.') || (l == 1 && c[0] == '.'))
                        return false;
                c += l;
                if (*c == '/')
                        c++;
        }
        return true;
}

static int para_to_package(const char *para, size_t len, const char *name,
                           struct debrepo_package *ret, struct bg_error *err)
{
        _cleanup_(debrepo_package_done) struct debrepo_package p = {0};
        _cleanup_free_ char *size = NULL, *sha = NULL;
        if (deb822_field(para, len, "Package", &p.package) < 0 ||
            deb822_field(para, len, "Version", &p.version) < 0 ||
            deb822_field(para, len, "Architecture", &p.architecture) < 0 ||
            deb822_field(para, len, "Depends", &p.depends) < 0 ||
            deb822_field(para, len, "Filename", &p.filename) < 0 ||
            deb822_field(para, len, "Size", &size) < 0 ||
            deb822_field(para, len, "SHA256", &sha) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (!p.version || !p.filename || !size || !sha)
                return bg_error_set(err, EBADMSG,
                                    "Packages: stanza of '%s' lacks Version, Filename, Size or "
                                    "SHA256",
                                    name);
        if (!filename_safe(p.filename))
                return bg_error_set(err, EBADMSG,
                                    "Packages: Filename '%s' of '%s' is not a safe relative path",
                                    p.filename, name);
        char *end = NULL;
        errno = 0;
        unsigned long long sz = strtoull(size, &end, 10);
        if (!isdigit((unsigned char)size[0]) || *end || errno)
                return bg_error_set(err, EBADMSG, "Packages: Size '%s' of '%s' is malformed", size,
                                    name);
        if (!sha256_hex_valid(sha))
                return bg_error_set(err, EBADMSG, "Packages: SHA256 of '%s' is malformed", name);
        p.size = sz;
        for (int i = 0; i < 64; i++)
                p.sha256[i] = (char)tolower((unsigned char)sha[i]);
        p.sha256[64] = '\0';
        *ret = p;
        p = (struct debrepo_package){0};
        return 0;
}

enum relation { REL_ANY, REL_LT, REL_LE, REL_EQ, REL_GE, REL_GT };

static bool relation_holds(const char *have, enum relation rel, const char *want)
{
        if (rel == REL_ANY)
                return true;
        int c = debrepo_version_compare(have, want);
        switch (rel) {
        case REL_LT:
                return c < 0;
        case REL_LE:
                return c <= 0;
        case REL_EQ:
                return c == 0;
        case REL_GE:
                return c >= 0;
        case REL_GT:
                return c > 0;
        default:
                return true;
        }
}

/* The best (highest-version) stanza of `name` whose version satisfies rel. */
static int find_best(const struct debrepo_packages *pk, const char *name, enum relation rel,
                     const char *want, struct debrepo_package *ret, struct bg_error *err)
{
        _cleanup_(debrepo_package_done) struct debrepo_package best = {0};
        size_t pos = 0, start, end;
        bool seen = false;
        while (deb822_next_paragraph(pk->text, pk->len, &pos, &start, &end) > 0) {
                const char *para = pk->text + start;
                if (!deb822_field_equals(para, end - start, "Package", name))
                        continue;
                seen = true;
                _cleanup_free_ char *ver = NULL;
                if (deb822_field(para, end - start, "Version", &ver) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (!ver || !relation_holds(ver, rel, want))
                        continue;
                if (best.version && debrepo_version_compare(ver, best.version) <= 0)
                        continue;
                struct debrepo_package p;
                int r = para_to_package(para, end - start, name, &p, err);
                if (r < 0)
                        return r;
                debrepo_package_done(&best);
                best = p;
        }
        if (!best.package) {
                if (seen && want)
                        return bg_error_set(err, ENOENT,
                                            "package '%s' is in the Packages index but not in the "
                                            "wanted version %s",
                                            name, want);
                return bg_error_set(err, ENOENT, "package '%s' is not in the Packages index", name);
        }
        *ret = best;
        best = (struct debrepo_package){0};
        return 0;
}

int debrepo_packages_find(const struct debrepo_packages *pk, const char *name, const char *version,
                          struct debrepo_package *ret, struct bg_error *err)
{
        return find_best(pk, name, version ? REL_EQ : REL_ANY, version, ret, err);
}

int debrepo_packages_each(const struct debrepo_packages *pk, const char *prefix,
                          int (*fn)(const char *package, const char *version, void *ud), void *ud,
                          struct bg_error *err)
{
        size_t pos = 0, start, end, pl = strlen(prefix);
        while (deb822_next_paragraph(pk->text, pk->len, &pos, &start, &end) > 0) {
                const char *para = pk->text + start;
                _cleanup_free_ char *name = NULL, *ver = NULL;
                if (deb822_field(para, end - start, "Package", &name) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (!name || strncmp(name, prefix, pl) != 0)
                        continue;
                if (deb822_field(para, end - start, "Version", &ver) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                if (!ver)
                        continue;
                int r = fn(name, ver, ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Parse one alternative of a Depends entry: "name[:arch] [(op version)]". */
static int parse_dep(const char *s, size_t l, char *name, size_t name_size, enum relation *rel,
                     char *ver, size_t ver_size)
{
        while (l > 0 && isspace((unsigned char)*s))
                s++, l--;
        while (l > 0 && isspace((unsigned char)s[l - 1]))
                l--;
        size_t nl = 0;
        while (nl < l && !isspace((unsigned char)s[nl]) && s[nl] != '(' && s[nl] != ':')
                nl++;
        if (nl == 0 || nl >= name_size)
                return -EINVAL;
        memcpy(name, s, nl);
        name[nl] = '\0';
        *rel = REL_ANY;
        ver[0] = '\0';
        const char *open = memchr(s, '(', l);
        if (!open)
                return 0;
        const char *close = memchr(open, ')', l - (size_t)(open - s));
        if (!close)
                return -EINVAL;
        const char *p = open + 1;
        while (p < close && isspace((unsigned char)*p))
                p++;
        static const struct {
                const char *op;
                enum relation rel;
        } ops[] = {{"<<", REL_LT}, {"<=", REL_LE}, {">=", REL_GE}, {">>", REL_GT},
                   {"=", REL_EQ},  {"<", REL_LE},  {">", REL_GE}};
        size_t k;
        for (k = 0; k < ELEMENTSOF(ops); k++)
                if (strncmp(p, ops[k].op, strlen(ops[k].op)) == 0)
                        break;
        if (k == ELEMENTSOF(ops))
                return -EINVAL;
        *rel = ops[k].rel;
        p += strlen(ops[k].op);
        while (p < close && isspace((unsigned char)*p))
                p++;
        const char *e = close;
        while (e > p && isspace((unsigned char)e[-1]))
                e--;
        if (e == p || (size_t)(e - p) >= ver_size)
                return -EINVAL;
        memcpy(ver, p, (size_t)(e - p));
        ver[e - p] = '\0';
        return 0;
}

int debrepo_kernel_resolve(const struct debrepo_packages *pk, const char *metapackage,
                           struct debrepo_kernel *ret, struct bg_error *err)
{
        _cleanup_(debrepo_kernel_done) struct debrepo_kernel k = {0};
        static const char prefix[] = "linux-image-";
        char name[256], ver[256];
        enum relation rel = REL_ANY;
        bool found = false;

        int r = find_best(pk, metapackage, REL_ANY, NULL, &k.meta, err);
        if (r < 0)
                return r;
        if (!k.meta.depends)
                return bg_error_set(err, EBADMSG, "package '%s' has no Depends to follow",
                                    metapackage);
        for (const char *d = k.meta.depends; *d && !found;) {
                size_t dl = strcspn(d, ",");
                const char *end = d + dl;
                for (const char *a = d; a < end && !found;) {
                        const char *bar = memchr(a, '|', (size_t)(end - a));
                        size_t al = bar ? (size_t)(bar - a) : (size_t)(end - a);
                        if (parse_dep(a, al, name, sizeof(name), &rel, ver, sizeof(ver)) < 0)
                                return bg_error_set(err, EBADMSG,
                                                    "package '%s' has a malformed Depends: '%s'",
                                                    metapackage, k.meta.depends);
                        if (strncmp(name, prefix, strlen(prefix)) == 0 && !streq(name, metapackage))
                                found = true;
                        a = bar ? bar + 1 : end;
                }
                d += dl + (d[dl] ? 1 : 0);
        }
        if (!found)
                return bg_error_set(err, ENOENT,
                                    "package '%s' depends on no linux-image-* package (Depends: "
                                    "%s)",
                                    metapackage, k.meta.depends);
        r = find_best(pk, name, rel, rel == REL_ANY ? NULL : ver, &k.image, err);
        if (r < 0)
                return bg_error_prefix(err, "%s depends on %s", metapackage, name);
        const char *release = name + strlen(prefix);
        size_t rl = strlen(release);
        static const char unsigned_suffix[] = "-unsigned";
        if (rl > strlen(unsigned_suffix) &&
            streq(release + rl - strlen(unsigned_suffix), unsigned_suffix))
                rl -= strlen(unsigned_suffix);
        if (rl == 0 || !isdigit((unsigned char)release[0]))
                return bg_error_set(err, EBADMSG,
                                    "'%s' does not name a kernel release (linux-image-<release>)",
                                    name);
        k.release = strndup(release, rl);
        if (!k.release)
                return bg_error_set(err, ENOMEM, "out of memory");
        *ret = k;
        k = (struct debrepo_kernel){0};
        return 0;
}

int debrepo_deb_verify(const struct debrepo_package *p, const char *deb_path, struct bg_error *err)
{
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size = 0;
        const char *base = strrchr(p->filename, '/');
        base = base ? base + 1 : p->filename;
        int r = sha256_file_hex(deb_path, hex, &size, err);
        if (r < 0)
                return bg_error_prefix(err, ".deb %s", base);
        if (size != p->size)
                return bg_error_set(err, EBADMSG,
                                    ".deb size mismatch for %s: Packages says %" PRIu64
                                    " bytes, got %" PRIu64,
                                    base, p->size, size);
        if (!streq(hex, p->sha256))
                return bg_error_set(err, EBADMSG,
                                    ".deb sha256 mismatch for %s: Packages says %s, got %s", base,
                                    p->sha256, hex);
        return 0;
}
