#include "kernel_pull.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deb_extract.h"
#include "kernel_fetch.h"
#include "kernel_util.h"
#include "ops.h"
#include "packages.h"
#include "release.h"
#include "sha256.h"
#include "sources.h"
#include "util/fileio.h"
#include "util/macro.h"

void kernel_src_done(struct kernel_src *s)
{
        if (!s)
                return;
        free(s->image);
        free(s->modules_dir);
        free(s->release);
        free(s->source);
        memset(s, 0, sizeof(*s));
}

void kernel_catalog_entry_done(struct kernel_catalog_entry *e)
{
        if (!e)
                return;
        free(e->name);
        free(e->url);
        free(e->sha256);
        free(e->version);
        free(e->kind);
        memset(e, 0, sizeof(*e));
}

static void stage(const struct kernel_pull_env *env, const char *s)
{
        if (env->ctx)
                ops_ctx_stage(env->ctx, s);
}

static int check_cancel(const struct kernel_pull_env *env, struct bg_error *err)
{
        if (env->ctx && ops_ctx_cancelled(env->ctx))
                return bg_error_set(err, ECANCELED, "cancelled");
        return 0;
}

static void debrepo_release_donep(struct debrepo_release *r)
{
        debrepo_release_done(r);
}
static void debrepo_kernel_donep(struct debrepo_kernel *k)
{
        debrepo_kernel_done(k);
}
static void debrepo_source_donep(struct debrepo_source *s)
{
        debrepo_source_done(s);
}
static void deb_kernel_files_donep(struct deb_kernel_files *f)
{
        deb_kernel_files_done(f);
}
static void debrepo_packages_freep(struct debrepo_packages **p)
{
        debrepo_packages_free(*p);
}

/* Unpack a linux-image .deb under work_dir/root, make sure modules.dep
 * exists (depmod), and fill ret. */
static int unpack_deb(const struct kernel_pull_env *env, const char *deb, struct kernel_src *ret,
                      struct bg_error *err)
{
        stage(env, "extract");
        char root[PATH_MAX];
        snprintf(root, sizeof(root), "%s/root", env->work_dir);
        _cleanup_(deb_kernel_files_donep) struct deb_kernel_files files = {0};
        int r = deb_extract_kernel(deb, root, &files, err);
        if (r < 0)
                return bg_error_prefix(err, "unpack %s", deb);
        r = check_cancel(env, err);
        if (r < 0)
                return r;
        stage(env, "depmod");
        if (files.modules_dir) {
                char dep[PATH_MAX];
                snprintf(dep, sizeof(dep), "%s/modules.dep", files.modules_dir);
                /* The package ships no modules.dep (its postinst runs depmod). */
                if (access(dep, F_OK) < 0) {
                        r = kernel_run_depmod(root, NULL, files.version, err);
                        if (r < 0)
                                return r;
                }
        }
        ret->image = TAKE_PTR(files.vmlinuz);
        ret->modules_dir = TAKE_PTR(files.modules_dir);
        ret->release = TAKE_PTR(files.version);
        return 0;
}

/* Where the Debian entries come from: the configured mirror, else the
 * host's apt sources (with their keyring), else deb.debian.org; the suite
 * from the apt sources, else bookworm. */
struct debian_origin {
        char mirror[1024];
        char suite[128];
        char keyring[1024]; /* "" = gpgv's default (debian-archive-keyring) */
};

static int debian_origin(const struct kernel_pull_env *env, struct debian_origin *o,
                         struct bg_error *err)
{
        _cleanup_(debrepo_source_donep) struct debrepo_source src = {0};
        struct bg_error serr = {0};
        bool have_src = debrepo_sources_find_debian(env->apt_root, &src, &serr) >= 0;
        *o = (struct debian_origin){0};
        if (env->debian_mirror && env->debian_mirror[0]) {
                snprintf(o->mirror, sizeof(o->mirror), "%s", env->debian_mirror);
        } else if (have_src) {
                snprintf(o->mirror, sizeof(o->mirror), "%s", src.uri);
                if (src.signed_by && access(src.signed_by, R_OK) == 0)
                        snprintf(o->keyring, sizeof(o->keyring), "%s", src.signed_by);
        } else {
                snprintf(o->mirror, sizeof(o->mirror), "http://deb.debian.org/debian");
        }
        size_t ml = strlen(o->mirror);
        while (ml > 0 && o->mirror[ml - 1] == '/')
                o->mirror[--ml] = '\0';
        if (!kernel_url_allowed(o->mirror, false))
                return bg_error_set(err, EINVAL,
                                    "Debian mirror '%.200s' is not an http(s) URL (config "
                                    "kernel.debian_mirror)",
                                    o->mirror);
        snprintf(o->suite, sizeof(o->suite), "%s",
                 have_src ? src.suite : KERNEL_DEBIAN_DEFAULT_SUITE);
        return 0;
}

/* The verified Packages index of the origin: InRelease (signature, expiry,
 * suite) -> main/binary-amd64/Packages (size and sha256 from Release).
 * Stages "release" and "index". */
static int debian_index(const struct kernel_pull_env *env, const struct debian_origin *o,
                        struct debrepo_packages **ret, struct bg_error *err)
{
        int r;
        /* 1. InRelease, signed by the archive key. */
        stage(env, "release");
        char url[2048], path[PATH_MAX];
        snprintf(url, sizeof(url), "%s/dists/%s/InRelease", o->mirror, o->suite);
        snprintf(path, sizeof(path), "%s/InRelease", env->work_dir);
        r = kernel_fetch(url, path, 16u << 20, env->ctx, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t text_len = 0;
        r = debrepo_inrelease_verify(path, o->keyring[0] ? o->keyring : NULL, &text, &text_len,
                                     NULL, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_release_donep) struct debrepo_release rel = {0};
        r = debrepo_release_parse(text, text_len, &rel, err);
        if (r < 0)
                return bg_error_prefix(err, "%s", url);
        r = debrepo_release_check(&rel, o->suite, time(NULL), err);
        if (r < 0)
                return bg_error_prefix(err, "%s", url);
        r = check_cancel(env, err);
        if (r < 0)
                return r;

        /* 2. Packages index, listed in Release. */
        stage(env, "index");
        static const char *const index_names[] = {"main/binary-amd64/Packages.xz",
                                                  "main/binary-amd64/Packages.gz",
                                                  "main/binary-amd64/Packages"};
        const struct debrepo_index_entry *ie = NULL;
        for (size_t i = 0; i < ELEMENTSOF(index_names) && !ie; i++)
                ie = debrepo_release_find(&rel, index_names[i]);
        if (!ie)
                return bg_error_set(err, ENOENT, "%s lists no main/binary-amd64/Packages index",
                                    url);
        if (rel.acquire_by_hash)
                snprintf(url, sizeof(url), "%s/dists/%s/main/binary-amd64/by-hash/SHA256/%s",
                         o->mirror, o->suite, ie->sha256);
        else
                snprintf(url, sizeof(url), "%s/dists/%s/%s", o->mirror, o->suite, ie->path);
        char what[256];
        snprintf(what, sizeof(what), "index %s", ie->path);
        _cleanup_free_ char *index_file = NULL;
        r = kernel_fetch_cached(env->cache_dir, url, ie->sha256, ie->size, what, "Release",
                                env->ctx, &index_file, NULL, err);
        if (r < 0)
                return r;
        r = debrepo_release_verify_index(&rel, ie->path, index_file, err);
        if (r < 0)
                return r;
        r = debrepo_packages_load(index_file, ret, err);
        if (r < 0)
                return r;
        return check_cancel(env, err);
}

/* Whether a linux-image-* package name (without the prefix: rest) is one
 * the catalog offers: a bootable image, not its debug symbols, not the
 * unsigned twin of a signed package, not the signing template. */
static bool debian_rest_offered(const char *rest)
{
        static const char *const refused[] = {"-dbg", "-unsigned", "-signed-template"};
        size_t l = strlen(rest);
        if (l == 0 || l + strlen(KERNEL_DEBIAN_PREFIX) > 64)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                size_t s = strlen(refused[i]);
                if (l >= s && streq(rest + l - s, refused[i]))
                        return false;
        }
        for (const char *c = rest; *c; c++)
                if (!(*c >= 'a' && *c <= 'z') && !(*c >= '0' && *c <= '9') && *c != '.' &&
                    *c != '-' && *c != '+')
                        return false;
        return strchr(rest, '+') == NULL; /* a kernel name has no '+' */
}

/* The package an entry name stands for: "debian-REST" -> "linux-image-REST". */
static int debian_package_of(const char *name, char *pkg, size_t len, struct bg_error *err)
{
        size_t pl = strlen(KERNEL_DEBIAN_PREFIX);
        if (strncmp(name, KERNEL_DEBIAN_PREFIX, pl) != 0 || !debian_rest_offered(name + pl))
                return bg_error_set(err, ENOENT,
                                    "no kernel '%.80s' in the Debian catalog: its names are "
                                    "debian-FLAVOUR (e.g. %s) or debian-RELEASE; see `banger "
                                    "kernel catalog`",
                                    name, KERNEL_BUILTIN_DEBIAN);
        snprintf(pkg, len, "linux-image-%s", name + pl);
        return 0;
}

bool kernel_debian_name(const char *name)
{
        char pkg[128];
        struct bg_error e = {0};
        return name && debian_package_of(name, pkg, sizeof(pkg), &e) >= 0;
}

/* The image package behind a catalog name, as the index lists it: a
 * flavour's metapackage followed to its linux-image-<release>, or a
 * release's package itself. */
static int debian_resolve(const struct debrepo_packages *pk, const char *name,
                          struct debrepo_kernel *ret, struct bg_error *err)
{
        char pkg[128];
        int r = debian_package_of(name, pkg, sizeof(pkg), err);
        if (r < 0)
                return r;
        const char *rest = pkg + strlen("linux-image-");
        if (!(rest[0] >= '0' && rest[0] <= '9'))
                return debrepo_kernel_resolve(pk, pkg, ret, err);
        struct debrepo_kernel k = {0};
        r = debrepo_packages_find(pk, pkg, NULL, &k.image, err);
        if (r >= 0 && !(k.release = strdup(rest)))
                r = bg_error_set(err, ENOMEM, "out of memory");
        if (r < 0) {
                debrepo_kernel_done(&k);
                return r;
        }
        *ret = k;
        return 0;
}

void kernel_debian_entry_done(struct kernel_debian_entry *e)
{
        if (!e)
                return;
        free(e->name);
        free(e->package);
        free(e->image_package);
        free(e->version);
        free(e->release);
        memset(e, 0, sizeof(*e));
}

void kernel_debian_entries_free(struct kernel_debian_entry *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                kernel_debian_entry_done(&v[i]);
        free(v);
}

struct collect {
        char **names;
        size_t n, cap;
};

static int collect_one(const char *package, const char *version, void *ud)
{
        struct collect *c = ud;
        const char *rest = package + strlen("linux-image-");
        if (!debian_rest_offered(rest))
                return 0;
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->names[i], package))
                        return 0;
        if (c->n == KERNEL_DEBIAN_CATALOG_MAX)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                char **v = realloc(c->names, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                c->names = v;
                c->cap = cap;
        }
        if (!(c->names[c->n] = strdup(package)))
                return -ENOMEM;
        c->n++;
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        const struct kernel_debian_entry *x = a, *y = b;
        if (x->tracks_latest != y->tracks_latest)
                return x->tracks_latest ? -1 : 1;
        if (!x->tracks_latest) {
                /* Newest package version first, then by name. */
                int c = debrepo_version_compare(y->version, x->version);
                if (c)
                        return c;
        }
        return strcmp(x->name, y->name);
}

int kernel_debian_catalog(const struct debrepo_packages *pk, struct kernel_debian_entry **ret,
                          size_t *ret_n, struct bg_error *err)
{
        struct collect c = {0};
        int r = debrepo_packages_each(pk, "linux-image-", collect_one, &c, err);
        if (r == -ENOMEM)
                bg_error_set(err, ENOMEM, "out of memory");
        struct kernel_debian_entry *v = r < 0 ? NULL : calloc(c.n ? c.n : 1, sizeof(*v));
        size_t n = 0;
        if (r >= 0 && !v)
                r = bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < c.n; i++) {
                char name[128];
                snprintf(name, sizeof(name), "%s%s", KERNEL_DEBIAN_PREFIX,
                         c.names[i] + strlen("linux-image-"));
                struct debrepo_kernel k = {0};
                struct bg_error e = {0};
                /* A metapackage that leads to no image (a broken or partial
                 * index) is left out, not fatal. */
                if (debian_resolve(pk, name, &k, &e) < 0) {
                        if (e.code == ENOMEM)
                                r = bg_error_set(err, ENOMEM, "out of memory");
                        continue;
                }
                struct kernel_debian_entry *x = &v[n];
                x->tracks_latest = k.meta.package != NULL;
                x->size = k.image.size;
                x->name = strdup(name);
                x->package = strdup(c.names[i]);
                x->image_package = strdup(k.image.package);
                x->version = strdup(k.image.version);
                x->release = strdup(k.release);
                debrepo_kernel_done(&k);
                n++;
                if (!x->name || !x->package || !x->image_package || !x->version || !x->release)
                        r = bg_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < c.n; i++)
                free(c.names[i]);
        free(c.names);
        if (r < 0) {
                kernel_debian_entries_free(v, n);
                return r;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), entry_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

int kernel_catalog_debian(const struct kernel_pull_env *env, struct kernel_debian_entry **ret,
                          size_t *ret_n, char **ret_origin, struct bg_error *err)
{
        struct debian_origin o;
        int r = debian_origin(env, &o, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_packages_freep) struct debrepo_packages *pk = NULL;
        r = debian_index(env, &o, &pk, err);
        if (r < 0)
                return r;
        struct kernel_debian_entry *v = NULL;
        size_t n = 0;
        r = kernel_debian_catalog(pk, &v, &n, err);
        if (r < 0)
                return r;
        if (asprintf(ret_origin, "debian %s (%s)", o.suite, o.mirror) < 0) {
                kernel_debian_entries_free(v, n);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int kernel_pull_debian(const struct kernel_pull_env *env, const char *name, struct kernel_src *ret,
                       struct bg_error *err)
{
        int r;
        struct debian_origin o;
        char pkg[128];
        r = debian_package_of(name, pkg, sizeof(pkg), err);
        if (r < 0)
                return r;
        r = debian_origin(env, &o, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_packages_freep) struct debrepo_packages *pk = NULL;
        r = debian_index(env, &o, &pk, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_kernel_donep) struct debrepo_kernel k = {0};
        r = debian_resolve(pk, name, &k, err);
        if (r == -ENOENT)
                return bg_error_prefix(err,
                                       "no kernel '%s' in debian %s; see `banger kernel "
                                       "catalog`",
                                       name, o.suite);
        if (r < 0)
                return r;
        r = check_cancel(env, err);
        if (r < 0)
                return r;

        /* 3. The .deb, listed in Packages. */
        stage(env, "download");
        char url[2048], what[256];
        snprintf(url, sizeof(url), "%s/%s", o.mirror, k.image.filename);
        const char *base = strrchr(k.image.filename, '/');
        snprintf(what, sizeof(what), "%s", base ? base + 1 : k.image.filename);
        _cleanup_free_ char *deb = NULL;
        r = kernel_fetch_cached(env->cache_dir, url, k.image.sha256, k.image.size, what, "Packages",
                                env->ctx, &deb, NULL, err);
        if (r < 0)
                return r;
        r = debrepo_deb_verify(&k.image, deb, err);
        if (r < 0)
                return r;
        r = check_cancel(env, err);
        if (r < 0)
                return r;

        struct kernel_src out = {0};
        r = unpack_deb(env, deb, &out, err);
        if (r >= 0 && asprintf(&out.source, "debian %s %s %s (%s)", o.suite, k.image.package,
                               k.image.version, o.mirror) < 0) {
                out.source = NULL;
                r = bg_error_set(err, ENOMEM, "out of memory");
        }
        if (r < 0) {
                kernel_src_done(&out);
                return r;
        }
        *ret = out;
        return 0;
}

static int entry_string(json_t *e, const char *key, bool required, size_t idx, char **ret,
                        struct bg_error *err)
{
        json_t *v = json_object_get(e, key);
        if (!v || json_is_null(v)) {
                if (required)
                        return bg_error_set(err, EINVAL, "catalog entry %zu has no \"%s\"", idx,
                                            key);
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return bg_error_set(err, EINVAL, "catalog entry %zu: \"%s\" is not a string", idx,
                                    key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

int kernel_catalog_find(const char *text, size_t len, const char *name,
                        struct kernel_catalog_entry *ret, struct bg_error *err)
{
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return bg_error_set(err, EINVAL, "catalog is not valid JSON: line %d: %s", je.line,
                                    je.text);
        json_t *arr = json_is_object(root) ? json_object_get(root, "kernels") : root;
        int r = 0;
        bool found = false;
        if (!json_is_array(arr)) {
                json_decref(root);
                return bg_error_set(err, EINVAL,
                                    "catalog must be a JSON array of entries (or "
                                    "{\"kernels\": [...]})");
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
                struct kernel_catalog_entry c = {0};
                if (!json_is_object(e)) {
                        r = bg_error_set(err, EINVAL, "catalog entry %zu is not an object", i);
                        break;
                }
                r = entry_string(e, "name", true, i, &c.name, err);
                if (r >= 0)
                        r = entry_string(e, "url", true, i, &c.url, err);
                if (r >= 0)
                        r = entry_string(e, "sha256", true, i, &c.sha256, err);
                if (r >= 0)
                        r = entry_string(e, "version", false, i, &c.version, err);
                if (r >= 0)
                        r = entry_string(e, "kind", false, i, &c.kind, err);
                if (r >= 0 && !kernel_name_valid(c.name))
                        r = kernel_check_name("catalog entry name", c.name, err);
                if (r >= 0 && !kernel_url_allowed(c.url, true))
                        r = bg_error_set(err, EINVAL,
                                         "catalog entry '%s': url '%.200s' is not http(s):// or "
                                         "file:///",
                                         c.name, c.url);
                if (r >= 0 && !sha256_hex_valid(c.sha256))
                        r = bg_error_set(err, EINVAL,
                                         "catalog entry '%s': sha256 '%.80s' is not 64 hex "
                                         "digits",
                                         c.name, c.sha256);
                if (r >= 0 && !c.kind && !(c.kind = strdup("bzimage")))
                        r = bg_error_set(err, ENOMEM, "out of memory");
                if (r >= 0 && !streq(c.kind, "bzimage") && !streq(c.kind, "deb"))
                        r = bg_error_set(err, EINVAL,
                                         "catalog entry '%s': kind '%.40s' is not \"bzimage\" "
                                         "or \"deb\"",
                                         c.name, c.kind);
                if (r >= 0) {
                        for (char *p = c.sha256; *p; p++)
                                if (*p >= 'A' && *p <= 'F')
                                        *p = (char)(*p + 32);
                }
                if (r >= 0 && !found && streq(c.name, name)) {
                        *ret = c;
                        found = true;
                        continue;
                }
                kernel_catalog_entry_done(&c);
                if (r < 0)
                        break;
        }
        json_decref(root);
        if (r < 0) {
                if (found)
                        kernel_catalog_entry_done(ret);
                return r;
        }
        if (!found)
                return bg_error_set(err, ENOENT, "kernel '%s' is not in the catalog", name);
        return 0;
}

int kernel_pull_catalog(const struct kernel_pull_env *env, const char *catalog_url,
                        const char *name, struct kernel_src *ret, struct bg_error *err)
{
        stage(env, "catalog");
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/catalog.json", env->work_dir);
        int r = kernel_fetch(catalog_url, path, KERNEL_CATALOG_MAX, env->ctx, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        r = read_file_capped(path, KERNEL_CATALOG_MAX, READ_FILE_NOFOLLOW, &text, &len, err);
        if (r < 0)
                return r;
        struct kernel_catalog_entry e = {0};
        r = kernel_catalog_find(text, len, name, &e, err);
        if (r < 0)
                return bg_error_prefix(err, "catalog %.200s", catalog_url);

        stage(env, "download");
        char what[300];
        snprintf(what, sizeof(what), "kernel '%s' (%.200s)", e.name, e.url);
        _cleanup_free_ char *file = NULL;
        r = kernel_fetch_cached(env->cache_dir, e.url, e.sha256, 0, what, "the catalog", env->ctx,
                                &file, NULL, err);
        struct kernel_src out = {0};
        if (r >= 0)
                r = check_cancel(env, err);
        if (r >= 0 && streq(e.kind, "deb")) {
                r = unpack_deb(env, file, &out, err);
        } else if (r >= 0) {
                out.image = TAKE_PTR(file);
                if (e.version && !(out.release = strdup(e.version)))
                        r = bg_error_set(err, ENOMEM, "out of memory");
        }
        if (r >= 0 && asprintf(&out.source, "catalog %s (%s)", catalog_url, e.url) < 0) {
                out.source = NULL;
                r = bg_error_set(err, ENOMEM, "out of memory");
        }
        kernel_catalog_entry_done(&e);
        if (r < 0) {
                kernel_src_done(&out);
                return r;
        }
        *ret = out;
        return 0;
}
