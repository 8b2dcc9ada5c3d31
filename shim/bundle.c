#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
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

int bundle_parse(const char *text, size_t len, struct bundle_process *ret, struct bg_error *err)
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
        return bundle_parse(buf, got, ret, err);
}
