#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"

void bundle_process_free(struct bundle_process *p)
{
        if (!p)
                return;
        for (size_t i = 0; p->argv && i < p->argc; i++)
                free(p->argv[i]);
        free(p->argv);
        for (size_t i = 0; p->env && i < p->envc; i++)
                free(p->env[i]);
        free(p->env);
        free(p->cwd);
        free(p->root_path);
        free(p->container_type);
        free(p->sandbox_id);
        *p = (struct bundle_process){0};
}

/* A JSON array of at most max strings (each 1..BUNDLE_MAX_STR bytes, no NUL)
 * into a NULL-terminated vector. */
static int str_array(json_t *a, size_t max, const char *what, bool need_one, char ***ret,
                     size_t *ret_n, struct bg_error *err)
{
        if (!a) {
                if (need_one)
                        return bg_error_set(err, EINVAL,
                                            "config.json: %s must be a non-empty array of strings",
                                            what);
                *ret = calloc(1, sizeof(char *));
                *ret_n = 0;
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_is_array(a) || (need_one && json_array_size(a) == 0))
                return bg_error_set(err, EINVAL, "config.json: %s must be a%s array of strings",
                                    what, need_one ? " non-empty" : "n");
        size_t n = json_array_size(a);
        if (n > max)
                return bg_error_set(err, E2BIG, "config.json: %s has %zu entries (at most %zu)",
                                    what, n, max);
        char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(a, i);
                size_t l = json_is_string(s) ? json_string_length(s) : 0;
                if (!json_is_string(s) || l == 0 || l > BUNDLE_MAX_STR ||
                    memchr(json_string_value(s), '\0', l)) {
                        for (size_t k = 0; k < i; k++)
                                free(v[k]);
                        free(v);
                        return bg_error_set(err, EINVAL,
                                            "config.json: %s[%zu] must be a string of 1-%d bytes "
                                            "without NUL",
                                            what, i, BUNDLE_MAX_STR);
                }
                v[i] = strdup(json_string_value(s));
                if (!v[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(v[k]);
                        free(v);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* A JSON integer 0..2^32-2 (4294967295 is (uid_t)-1, "no change"). */
static bool id_value(json_t *v, uint32_t *ret)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t)UINT32_MAX)
                return false;
        *ret = (uint32_t)json_integer_value(v);
        return true;
}

/* process.user: {"uid": N, "gid": N, "additionalGids": [N, ...]}; names
 * ("username") are not resolved. */
static int parse_user(json_t *proc, struct bundle_process *p, struct bg_error *err)
{
        json_t *u = json_object_get(proc, "user");
        if (!u)
                return 0;
        if (!json_is_object(u))
                return bg_error_set(err, EINVAL, "config.json: process.user must be an object");
        json_t *v = json_object_get(u, "uid");
        if (v && !id_value(v, &p->uid))
                return bg_error_set(err, EINVAL,
                                    "config.json: process.user.uid must be an integer 0..%u",
                                    UINT32_MAX - 1);
        v = json_object_get(u, "gid");
        if (v && !id_value(v, &p->gid))
                return bg_error_set(err, EINVAL,
                                    "config.json: process.user.gid must be an integer 0..%u",
                                    UINT32_MAX - 1);
        json_t *g = json_object_get(u, "additionalGids");
        if (!g)
                return 0;
        if (!json_is_array(g) || json_array_size(g) > BUNDLE_MAX_GIDS)
                return bg_error_set(err, EINVAL,
                                    "config.json: process.user.additionalGids must be an array of "
                                    "at most %d gids",
                                    BUNDLE_MAX_GIDS);
        for (size_t i = 0; i < json_array_size(g); i++)
                if (!id_value(json_array_get(g, i), &p->gids[i]))
                        return bg_error_set(err, EINVAL,
                                            "config.json: process.user.additionalGids[%zu] must "
                                            "be an integer 0..%u",
                                            i, UINT32_MAX - 1);
        p->n_gids = json_array_size(g);
        return 0;
}

static bool id_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 1 || n > 76)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' ||
                      (s[i] == '.' && i > 0)))
                        return false;
        return true;
}

/* root.path (default "rootfs") and the CRI annotations into p. */
static int parse_root_and_sandbox(const char *dir, json_t *root, struct bundle_process *p,
                                  struct bg_error *err)
{
        json_t *r = json_object_get(root, "root");
        json_t *rp = json_is_object(r) ? json_object_get(r, "path") : NULL;
        if ((r && !json_is_object(r)) ||
            (rp && (!json_is_string(rp) || json_string_length(rp) == 0 ||
                    json_string_length(rp) > BUNDLE_MAX_STR)))
                return bg_error_set(err, EINVAL,
                                    "config.json: root.path must be a non-empty string");
        const char *path = rp ? json_string_value(rp) : "rootfs";
        if (path[0] == '/' || !dir)
                p->root_path = strdup(path);
        else if (asprintf(&p->root_path, "%s/%s", dir, path) < 0)
                p->root_path = NULL;
        json_t *an = json_object_get(root, "annotations");
        if (an && !json_is_object(an))
                return bg_error_set(err, EINVAL, "config.json: annotations must be an object");
        json_t *ty = json_object_get(an, "io.kubernetes.cri.container-type");
        json_t *sb = json_object_get(an, "io.kubernetes.cri.sandbox-id");
        if (ty && (!json_is_string(ty) || (strcmp(json_string_value(ty), "sandbox") != 0 &&
                                           strcmp(json_string_value(ty), "container") != 0)))
                return bg_error_set(err, EINVAL,
                                    "config.json: annotation io.kubernetes.cri.container-type "
                                    "must be \"sandbox\" or \"container\"");
        if (sb && (!json_is_string(sb) || !id_valid(json_string_value(sb))))
                return bg_error_set(err, EINVAL,
                                    "config.json: annotation io.kubernetes.cri.sandbox-id must be "
                                    "1-76 characters of A-Z a-z 0-9 . _ -");
        if (ty && strcmp(json_string_value(ty), "container") == 0 && !sb)
                return bg_error_set(err, EINVAL,
                                    "config.json: a container of type \"container\" needs the "
                                    "annotation io.kubernetes.cri.sandbox-id");
        p->container_type = strdup(ty ? json_string_value(ty) : "");
        p->sandbox_id = strdup(sb ? json_string_value(sb) : "");
        if (!p->root_path || !p->container_type || !p->sandbox_id)
                return bg_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int bundle_parse(const char *text, size_t len, struct bundle_process *ret, struct bg_error *err)
{
        return bundle_parse_in(NULL, text, len, ret, err);
}

int bundle_parse_in(const char *dir, const char *text, size_t len, struct bundle_process *ret,
                    struct bg_error *err)
{
        json_error_t je;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return bg_error_set(err, EINVAL, "config.json: line %d: %s", je.line, je.text);
        struct bundle_process p = {0};
        int r;
        json_t *proc = json_object_get(root, "process");
        if (!json_is_object(proc)) {
                r = bg_error_set(err, EINVAL, "config.json: process must be an object");
                goto out;
        }
        r = str_array(json_object_get(proc, "args"), BUNDLE_MAX_ARGS, "process.args", true, &p.argv,
                      &p.argc, err);
        if (r < 0)
                goto out;
        r = str_array(json_object_get(proc, "env"), BUNDLE_MAX_ENV, "process.env", false, &p.env,
                      &p.envc, err);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < p.envc; i++) {
                const char *eq = strchr(p.env[i], '=');
                if (!eq || eq == p.env[i]) {
                        r = bg_error_set(err, EINVAL,
                                         "config.json: process.env[%zu] must be KEY=VALUE", i);
                        goto out;
                }
        }
        json_t *cwd = json_object_get(proc, "cwd");
        if (cwd && (!json_is_string(cwd) || json_string_length(cwd) > BUNDLE_MAX_STR ||
                    (json_string_length(cwd) > 0 && json_string_value(cwd)[0] != '/'))) {
                r = bg_error_set(err, EINVAL, "config.json: process.cwd must be an absolute path");
                goto out;
        }
        p.cwd = strdup(cwd ? json_string_value(cwd) : "");
        if (!p.cwd) {
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        json_t *term = json_object_get(proc, "terminal");
        if (term && !json_is_boolean(term)) {
                r = bg_error_set(err, EINVAL, "config.json: process.terminal must be a boolean");
                goto out;
        }
        p.terminal = term && json_is_true(term);
        json_t *nnp = json_object_get(proc, "noNewPrivileges");
        if (nnp && !json_is_boolean(nnp)) {
                r = bg_error_set(err, EINVAL,
                                 "config.json: process.noNewPrivileges must be a boolean");
                goto out;
        }
        p.no_new_privs = nnp && json_is_true(nnp);
        r = parse_user(proc, &p, err);
        if (r < 0)
                goto out;
        r = parse_root_and_sandbox(dir, root, &p, err);
        if (r < 0)
                goto out;
        *ret = p;
        p = (struct bundle_process){0};
        r = 0;
out:
        bundle_process_free(&p);
        json_decref(root);
        return r;
}

int bundle_load(const char *dir, struct bundle_process *ret, struct bg_error *err)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return bg_error_errno(err, -errno, "open bundle %s", dir);
        _cleanup_free_ char *buf = NULL;
        size_t got = 0;
        int r = read_file_capped_at(dfd, "config.json", BUNDLE_MAX_CONFIG, READ_FILE_NOFOLLOW, &buf,
                                    &got, err);
        if (r == -EINVAL || r == -EFBIG)
                return bg_error_set(err, EFBIG,
                                    "%s/config.json must be a regular file of at most %u bytes",
                                    dir, BUNDLE_MAX_CONFIG);
        if (r < 0)
                return bg_error_errno(err, r, "open %s/config.json", dir);
        return bundle_parse_in(dir, buf, got, ret, err);
}
