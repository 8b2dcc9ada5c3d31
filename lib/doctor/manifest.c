#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toml.h"
#include "util/fileio.h"

static int list_add(char ***items, size_t *n, const char *s)
{
        char **p = realloc(*items, (*n + 1) * sizeof(char *));
        if (!p)
                return -ENOMEM;
        *items = p;
        p[*n] = strdup(s);
        if (!p[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

int manifest_add_file(struct install_manifest *m, const char *path)
{
        return list_add(&m->files, &m->n_files, path);
}

int manifest_add_dir(struct install_manifest *m, const char *path)
{
        return list_add(&m->dirs, &m->n_dirs, path);
}

void manifest_free(struct install_manifest *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_files; i++)
                free(m->files[i]);
        for (size_t i = 0; i < m->n_dirs; i++)
                free(m->dirs[i]);
        free(m->files);
        free(m->dirs);
        m->files = m->dirs = NULL;
        m->n_files = m->n_dirs = 0;
}

/* A TOML basic string. */
static void put_str(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void put_kv(FILE *f, const char *key, const char *val)
{
        fprintf(f, "%s = ", key);
        put_str(f, val);
        fputc('\n', f);
}

static void put_list(FILE *f, const char *key, char *const *items, size_t n)
{
        fprintf(f, "%s = [\n", key);
        for (size_t i = 0; i < n; i++) {
                fputs("  ", f);
                put_str(f, items[i]);
                fputs(",\n", f);
        }
        fputs("]\n", f);
}

int manifest_format(const struct install_manifest *m, char **ret, struct bg_error *err)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return bg_error_set(err, ENOMEM, "out of memory");
        fputs("# Written by `banger system install`. `banger system uninstall` removes\n"
              "# exactly the files listed here (and, with --purge, the directories).\n"
              "# banger runs in system mode while this file exists.\n",
              f);
        put_kv(f, "version", m->version);
        put_kv(f, "commit", m->commit);
        fprintf(f, "installed_unix = %lld\n", (long long)m->installed_unix);
        put_kv(f, "owner", m->owner);
        fprintf(f, "owner_uid = %u\n", (unsigned)m->owner_uid);
        put_kv(f, "group", m->group);
        fprintf(f, "owner_gid = %u\n", (unsigned)m->owner_gid);
        put_kv(f, "prefix", m->prefix);
        put_kv(f, "bindir", m->bindir);
        put_kv(f, "libexecdir", m->libexecdir);
        put_list(f, "files", m->files, m->n_files);
        put_list(f, "dirs", m->dirs, m->n_dirs);
        if (fclose(f) != 0) {
                free(text);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret = text;
        return 0;
}

static bool path_ok(const char *p)
{
        if (p[0] != '/' || strlen(p) >= PATH_MAX)
                return false;
        for (const char *s = p; *s;) {
                while (*s == '/')
                        s++;
                size_t n = strcspn(s, "/");
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += n;
        }
        return p[1] != '\0'; /* never "/" itself */
}

static int get_str(const char *name, const struct toml_value *root, const char *key, char *out,
                   size_t len, bool path, struct bg_error *err)
{
        const struct toml_value *v = toml_table_get(root, key);
        if (!v)
                return bg_error_set(err, EINVAL, "%s: missing key %s", name, key);
        if (v->type != TOML_STRING || strlen(v->u.str.ptr) != v->u.str.len || v->u.str.len >= len)
                return bg_error_set(err, EINVAL, "%s:%u: %s: expected a string", name, v->line,
                                    key);
        if (path && !path_ok(v->u.str.ptr))
                return bg_error_set(err, EINVAL, "%s:%u: %s: '%s' is not an absolute path", name,
                                    v->line, key, v->u.str.ptr);
        memcpy(out, v->u.str.ptr, v->u.str.len + 1);
        return 0;
}

static int get_int(const char *name, const struct toml_value *root, const char *key, int64_t min,
                   int64_t max, int64_t *out, struct bg_error *err)
{
        const struct toml_value *v = toml_table_get(root, key);
        if (!v)
                return bg_error_set(err, EINVAL, "%s: missing key %s", name, key);
        if (v->type != TOML_INTEGER || v->u.integer < min || v->u.integer > max)
                return bg_error_set(err, EINVAL, "%s:%u: %s: expected an integer", name, v->line,
                                    key);
        *out = v->u.integer;
        return 0;
}

static int get_paths(const char *name, const struct toml_value *root, const char *key,
                     char ***items, size_t *n, struct bg_error *err)
{
        const struct toml_value *v = toml_table_get(root, key);
        if (!v)
                return bg_error_set(err, EINVAL, "%s: missing key %s", name, key);
        if (v->type != TOML_ARRAY)
                return bg_error_set(err, EINVAL, "%s:%u: %s: expected an array of paths", name,
                                    v->line, key);
        for (size_t i = 0; i < v->u.array.n; i++) {
                const struct toml_value *e = v->u.array.items[i];
                if (e->type != TOML_STRING || strlen(e->u.str.ptr) != e->u.str.len ||
                    !path_ok(e->u.str.ptr))
                        return bg_error_set(err, EINVAL,
                                            "%s:%u: %s: every entry must be an absolute path "
                                            "without . or ..",
                                            name, e->line, key);
                if (list_add(items, n, e->u.str.ptr) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

int manifest_parse(const char *name, const char *text, size_t len, struct install_manifest *m,
                   struct bg_error *err)
{
        _cleanup_(toml_freep) struct toml_value *root = NULL;
        int r = toml_parse(text, len, &root, err);
        if (r < 0)
                return bg_error_prefix(err, "%s", name);
        struct install_manifest n = {0};
        int64_t uid = 0, gid = 0;
        if ((r = get_str(name, root, "version", n.version, sizeof(n.version), false, err)) < 0 ||
            (r = get_str(name, root, "commit", n.commit, sizeof(n.commit), false, err)) < 0 ||
            (r = get_int(name, root, "installed_unix", 0, INT64_MAX, &n.installed_unix, err)) < 0 ||
            (r = get_str(name, root, "owner", n.owner, sizeof(n.owner), false, err)) < 0 ||
            (r = get_int(name, root, "owner_uid", 0, UINT32_MAX - 1, &uid, err)) < 0 ||
            (r = get_str(name, root, "group", n.group, sizeof(n.group), false, err)) < 0 ||
            (r = get_int(name, root, "owner_gid", 0, UINT32_MAX - 1, &gid, err)) < 0 ||
            (r = get_str(name, root, "prefix", n.prefix, sizeof(n.prefix), true, err)) < 0 ||
            (r = get_str(name, root, "bindir", n.bindir, sizeof(n.bindir), true, err)) < 0 ||
            (r = get_str(name, root, "libexecdir", n.libexecdir, sizeof(n.libexecdir), true, err)) <
                0 ||
            (r = get_paths(name, root, "files", &n.files, &n.n_files, err)) < 0 ||
            (r = get_paths(name, root, "dirs", &n.dirs, &n.n_dirs, err)) < 0) {
                manifest_free(&n);
                return r;
        }
        n.owner_uid = (uint32_t)uid;
        n.owner_gid = (uint32_t)gid;
        *m = n;
        return 0;
}

int manifest_load(const char *root, struct install_manifest *m, struct bg_error *err)
{
        char path[PATH_MAX];
        const char *rt = root && root[0] && !streq(root, "/") ? root : "";
        snprintf(path, sizeof(path), "%s/%s", rt, MANIFEST_PATH);
        _cleanup_free_ char *buf = NULL;
        size_t got = 0;
        int r = read_file_capped(path, 1 << 20, READ_FILE_NOFOLLOW, &buf, &got, err);
        if (r == -EINVAL || r == -EFBIG)
                return bg_error_set(err, EINVAL, "%s is not a regular file under 1 MiB", path);
        if (r < 0)
                return r;
        return manifest_parse(path, buf, got, m, err);
}
