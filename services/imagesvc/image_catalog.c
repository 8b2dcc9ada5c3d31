/* The image catalog: a JSON list of bundles by name, URL, sha256 and size
 * (`banger image catalog`, `banger image pull --catalog`), parsed and
 * checked here; the pull itself is a bundle job (image_bundle.c). */
#include "image_bundle.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_internal.h"
#include "kernel_fetch.h"
#include "sha256.h"
#include "util/fileio.h"
#include "util/macro.h"

static int cat_string(json_t *e, const char *key, bool required, size_t idx, char *buf, size_t len,
                      struct bg_error *err)
{
        json_t *v = json_object_get(e, key);
        buf[0] = '\0';
        if (!v || json_is_null(v))
                return required
                           ? bg_error_set(err, EBADMSG, "catalog entry %zu has no \"%s\"", idx, key)
                           : 0;
        if (!json_is_string(v) || json_string_length(v) >= len ||
            strlen(json_string_value(v)) != json_string_length(v))
                return bg_error_set(err, EBADMSG,
                                    "catalog entry %zu: \"%s\" is not a string of at most %zu "
                                    "bytes",
                                    idx, key, len - 1);
        snprintf(buf, len, "%s", json_string_value(v));
        for (char *p = buf; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        return 0;
}

int image_catalog_parse(const char *text, size_t len, bool allow_file,
                        struct image_catalog_entry **ret, size_t *ret_n, struct bg_error *err)
{
        json_error_t je;
        _cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return bg_error_set(err, EBADMSG, "the image catalog is not JSON: line %d: %s",
                                    je.line, je.text);
        json_t *arr = json_is_object(root) ? json_object_get(root, "images") : root;
        if (!json_is_array(arr))
                return bg_error_set(err, EBADMSG,
                                    "the image catalog must be a JSON array of entries (or "
                                    "{\"images\": [...]})");
        size_t n = json_array_size(arr);
        if (n > 1024)
                return bg_error_set(err, EBADMSG, "the image catalog has more than 1024 entries");
        _cleanup_free_ struct image_catalog_entry *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(arr, i);
                struct image_catalog_entry *c = &v[i];
                if (!json_is_object(e))
                        return bg_error_set(err, EBADMSG, "catalog entry %zu is not an object", i);
                int r = cat_string(e, "name", true, i, c->name, sizeof(c->name), err);
                if (r >= 0)
                        r = cat_string(e, "url", true, i, c->url, sizeof(c->url), err);
                if (r >= 0)
                        r = cat_string(e, "sha256", true, i, c->sha256, sizeof(c->sha256), err);
                if (r >= 0)
                        r = cat_string(e, "description", false, i, c->description,
                                       sizeof(c->description), err);
                if (r < 0)
                        return r;
                if (!image_name_valid(c->name))
                        return bg_error_set(err, EBADMSG,
                                            "catalog entry %zu: '%.80s' is not a valid image name",
                                            i, c->name);
                for (size_t k = 0; k < i; k++)
                        if (streq(v[k].name, c->name))
                                return bg_error_set(err, EBADMSG,
                                                    "the image catalog lists %s twice", c->name);
                if (!kernel_url_allowed(c->url, allow_file))
                        return bg_error_set(err, EBADMSG,
                                            "catalog entry '%s': url '%.200s' is not http(s)://%s",
                                            c->name, c->url,
                                            allow_file ? " or file:///"
                                                       : " (file:// URLs only "
                                                         "in a file:// catalog)");
                for (char *p = c->sha256; *p; p++)
                        if (*p >= 'A' && *p <= 'F')
                                *p = (char)(*p + 32);
                if (!sha256_hex_valid(c->sha256))
                        return bg_error_set(err, EBADMSG,
                                            "catalog entry '%s': sha256 is not 64 hex digits",
                                            c->name);
                json_t *sz = json_object_get(e, "size");
                if (sz && !json_is_null(sz)) {
                        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                                return bg_error_set(err, EBADMSG,
                                                    "catalog entry '%s': size is not a number",
                                                    c->name);
                        c->size = (uint64_t)json_integer_value(sz);
                }
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int image_catalog_url(struct imagestore *s, const char *req, char *buf, size_t len,
                      struct bg_error *err)
{
        const char *cfg = s->d->cfg.image.catalog_url ? s->d->cfg.image.catalog_url : "";
        if (req[0]) {
                if (!kernel_url_allowed(req, false))
                        return bg_error_set(err, EINVAL,
                                            "catalog URL '%.200s' must be http:// or https:// (a "
                                            "file:// catalog only through config "
                                            "image.catalog_url)",
                                            req);
                snprintf(buf, len, "%s", req);
                return 0;
        }
        if (!cfg[0])
                return bg_error_set(err, ENOENT,
                                    "no image catalog: set config image.catalog_url or give "
                                    "--catalog-url");
        if (strlen(cfg) >= len)
                return bg_error_set(err, ENAMETOOLONG, "config image.catalog_url is too long");
        snprintf(buf, len, "%s", cfg);
        return 0;
}

int image_catalog_load(struct imagestore *s, const char *url, struct image_catalog_entry **ret,
                       size_t *ret_n, struct bg_error *err)
{
        char id[33], path[PATH_MAX + 64];
        int r = image_random_id(id, err);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s/.tmp-cat-%s.json", s->dir, id);
        r = kernel_fetch(url, path, IMAGE_CATALOG_MAX, NULL, err);
        if (r < 0)
                return bg_error_prefix(err, "fetch the image catalog");
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        r = read_file_capped(path, IMAGE_CATALOG_MAX, 0, &text, &len, err);
        unlink(path);
        if (r < 0)
                return r;
        return image_catalog_parse(text, len, strncmp(url, "file://", 7) == 0, ret, ret_n, err);
}

int image_catalog(struct imagestore *s, const Banger__V1__ImageCatalogRequest *in,
                  Banger__V1__ImageCatalogResponse *out, struct bg_error *err)
{
        char url[1024];
        int r = image_catalog_url(s, in->catalog_url, url, sizeof(url), err);
        if (r < 0)
                return r;
        _cleanup_free_ struct image_catalog_entry *e = NULL;
        size_t n = 0;
        if ((r = image_catalog_load(s, url, &e, &n, err)) < 0)
                return r;
        out->catalog_url = strdup(url);
        out->entries = calloc(n ? n : 1, sizeof(*out->entries));
        if (!out->catalog_url || !out->entries)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                Banger__V1__ImageCatalogEntry *c = calloc(1, sizeof(*c));
                if (!c)
                        return bg_error_set(err, ENOMEM, "out of memory");
                banger__v1__image_catalog_entry__init(c);
                out->entries[out->n_entries++] = c;
                c->name = strdup(e[i].name);
                c->url = strdup(e[i].url);
                c->sha256 = strdup(e[i].sha256);
                c->description = strdup(e[i].description);
                c->size = e[i].size;
                if (!c->name || !c->url || !c->sha256 || !c->description)
                        return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}
