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

int kernel_pull_debian(const struct kernel_pull_env *env, struct kernel_src *ret,
                       struct bg_error *err)
{
        int r;
        char mirror[1024], suite[128];
        const char *keyring = NULL;
        _cleanup_(debrepo_source_donep) struct debrepo_source src = {0};
        struct bg_error serr = {0};
        bool have_src = debrepo_sources_find_debian(env->apt_root, &src, &serr) >= 0;

        stage(env, "release");
        if (env->debian_mirror && env->debian_mirror[0]) {
                snprintf(mirror, sizeof(mirror), "%s", env->debian_mirror);
        } else if (have_src) {
                snprintf(mirror, sizeof(mirror), "%s", src.uri);
                keyring = src.signed_by;
        } else {
                snprintf(mirror, sizeof(mirror), "http://deb.debian.org/debian");
        }
        size_t ml = strlen(mirror);
        while (ml > 0 && mirror[ml - 1] == '/')
                mirror[--ml] = '\0';
        if (!kernel_url_allowed(mirror, false))
                return bg_error_set(err, EINVAL,
                                    "Debian mirror '%.200s' is not an http(s) URL (config "
                                    "kernel.debian_mirror)",
                                    mirror);
        snprintf(suite, sizeof(suite), "%s", have_src ? src.suite : KERNEL_DEBIAN_DEFAULT_SUITE);
        if (keyring && access(keyring, R_OK) < 0)
                keyring = NULL;

        /* 1. InRelease, signed by the archive key. */
        char url[2048], path[PATH_MAX];
        snprintf(url, sizeof(url), "%s/dists/%s/InRelease", mirror, suite);
        snprintf(path, sizeof(path), "%s/InRelease", env->work_dir);
        r = kernel_fetch(url, path, 16u << 20, env->ctx, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *text = NULL;
        size_t text_len = 0;
        r = debrepo_inrelease_verify(path, keyring, &text, &text_len, NULL, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_release_donep) struct debrepo_release rel = {0};
        r = debrepo_release_parse(text, text_len, &rel, err);
        if (r < 0)
                return bg_error_prefix(err, "%s", url);
        r = debrepo_release_check(&rel, suite, time(NULL), err);
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
                         mirror, suite, ie->sha256);
        else
                snprintf(url, sizeof(url), "%s/dists/%s/%s", mirror, suite, ie->path);
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
        _cleanup_(debrepo_packages_freep) struct debrepo_packages *pk = NULL;
        r = debrepo_packages_load(index_file, &pk, err);
        if (r < 0)
                return r;
        _cleanup_(debrepo_kernel_donep) struct debrepo_kernel k = {0};
        r = debrepo_kernel_resolve(pk, KERNEL_DEBIAN_METAPACKAGE, &k, err);
        if (r < 0)
                return r;
        r = check_cancel(env, err);
        if (r < 0)
                return r;

        /* 3. The .deb, listed in Packages. */
        stage(env, "download");
        snprintf(url, sizeof(url), "%s/%s", mirror, k.image.filename);
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
        if (r >= 0 && asprintf(&out.source, "debian %s %s %s (%s)", suite, k.image.package,
                               k.image.version, mirror) < 0) {
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
