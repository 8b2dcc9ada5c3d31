#include "modules_dep.h"

#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "util/array.h"
#include "util/fileio.h"

struct mod {
        char *path;
        char name[128];
        size_t *deps; /* indices into modules_dep.mods, in the order listed */
        size_t n_deps;
        unsigned line;
};

struct modules_dep {
        struct mod *mods; /* in file order */
        size_t n;
        size_t *by_path; /* indices sorted by path */
        size_t *by_name; /* indices sorted by name, then file order */
        char **builtin;  /* normalised names, sorted */
        size_t n_builtin;
};

int modules_name_normalize(const char *path_or_name, char *buf, size_t size)
{
        static const char *const suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
        const char *base = strrchr(path_or_name, '/');
        base = base ? base + 1 : path_or_name;
        size_t len = strlen(base);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t sl = strlen(suffixes[i]);
                if (len > sl && streq(base + len - sl, suffixes[i])) {
                        len -= sl;
                        break;
                }
        }
        if (len == 0)
                return -EINVAL;
        if (len >= size)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < len; i++)
                buf[i] = base[i] == '-' ? '_' : base[i];
        buf[len] = '\0';
        return 0;
}

struct modules_dep *modules_dep_free(struct modules_dep *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n; i++) {
                free(d->mods[i].path);
                free(d->mods[i].deps);
        }
        for (size_t i = 0; i < d->n_builtin; i++)
                free(d->builtin[i]);
        free(d->mods);
        free(d->by_path);
        free(d->by_name);
        free(d->builtin);
        free(d);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct modules_dep *, modules_dep_free);

/* qsort_r comparators over index arrays. */
static int cmp_path(const void *a, const void *b, void *ud)
{
        const struct modules_dep *d = ud;
        return strcmp(d->mods[*(const size_t *)a].path, d->mods[*(const size_t *)b].path);
}

static int cmp_name(const void *a, const void *b, void *ud)
{
        const struct modules_dep *d = ud;
        size_t x = *(const size_t *)a, y = *(const size_t *)b;
        int c = strcmp(d->mods[x].name, d->mods[y].name);
        if (c != 0)
                return c;
        return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static ssize_t find_path(const struct modules_dep *d, const char *path, size_t len)
{
        size_t lo = 0, hi = d->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                const char *p = d->mods[d->by_path[mid]].path;
                int c = strncmp(p, path, len);
                if (c == 0 && p[len] != '\0')
                        c = 1;
                if (c == 0)
                        return (ssize_t)d->by_path[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

static ssize_t find_name(const struct modules_dep *d, const char *name)
{
        size_t lo = 0, hi = d->n;
        while (lo < hi) { /* lower bound: the first entry in file order wins */
                size_t mid = (lo + hi) / 2;
                if (strcmp(d->mods[d->by_name[mid]].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < d->n && streq(d->mods[d->by_name[lo]].name, name))
                return (ssize_t)d->by_name[lo];
        return -1;
}

static bool is_builtin(const struct modules_dep *d, const char *name)
{
        return d->n_builtin > 0 &&
               bsearch(&name, d->builtin, d->n_builtin, sizeof(char *), cmp_str) != NULL;
}

/* Iterate the lines of buf[0..len): sets line and line_len, advances pos. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *line_len)
{
        if (*pos >= len)
                return false;
        const char *s = buf + *pos;
        const char *nl = memchr(s, '\n', len - *pos);
        size_t l = nl ? (size_t)(nl - s) : len - *pos;
        *line = s;
        *line_len = l;
        *pos += l + (nl ? 1 : 0);
        return true;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

static int parse_builtin(struct modules_dep *d, const char *buf, size_t len, struct bg_error *err)
{
        size_t pos = 0, cap = 0, l;
        const char *line;
        while (next_line(buf, len, &pos, &line, &l)) {
                while (l > 0 && is_blank(line[l - 1]))
                        l--;
                while (l > 0 && is_blank(*line))
                        line++, l--;
                if (l == 0 || line[0] == '#')
                        continue;
                char path[1024], name[128];
                if (l >= sizeof(path))
                        return bg_error_set(err, EINVAL, "modules.builtin: line too long");
                memcpy(path, line, l);
                path[l] = '\0';
                if (modules_name_normalize(path, name, sizeof(name)) < 0)
                        return bg_error_set(err, EINVAL, "modules.builtin: bad entry '%s'", path);
                if (ARRAY_RESERVE(d->builtin, cap, d->n_builtin + 1) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                d->builtin[d->n_builtin] = strdup(name);
                if (!d->builtin[d->n_builtin])
                        return bg_error_set(err, ENOMEM, "out of memory");
                d->n_builtin++;
        }
        if (d->n_builtin > 0)
                qsort(d->builtin, d->n_builtin, sizeof(char *), cmp_str);
        return 0;
}

int modules_dep_parse(const char *dep, size_t dep_len, const char *builtin, size_t builtin_len,
                      struct modules_dep **ret, struct bg_error *err)
{
        _cleanup_(modules_dep_freep) struct modules_dep *d = calloc(1, sizeof(*d));
        size_t pos = 0, cap = 0, l;
        const char *line;
        unsigned lineno = 0;

        if (!d)
                return bg_error_set(err, ENOMEM, "out of memory");
        /* Pass 1: the modules (keys). */
        while (next_line(dep, dep_len, &pos, &line, &l)) {
                lineno++;
                while (l > 0 && is_blank(*line))
                        line++, l--;
                if (l == 0 || line[0] == '#')
                        continue;
                const char *colon = memchr(line, ':', l);
                if (!colon || colon == line)
                        return bg_error_set(
                            err, EINVAL, "modules.dep line %u: expected 'module: deps...'", lineno);
                if (ARRAY_RESERVE(d->mods, cap, d->n + 1) < 0)
                        return bg_error_set(err, ENOMEM, "out of memory");
                struct mod *m = &d->mods[d->n];
                *m = (struct mod){.line = lineno};
                m->path = strndup(line, (size_t)(colon - line));
                if (!m->path)
                        return bg_error_set(err, ENOMEM, "out of memory");
                d->n++;
                if (modules_name_normalize(m->path, m->name, sizeof(m->name)) < 0)
                        return bg_error_set(err, EINVAL, "modules.dep line %u: bad module '%s'",
                                            lineno, m->path);
        }
        d->by_path = calloc(d->n ? d->n : 1, sizeof(size_t));
        d->by_name = calloc(d->n ? d->n : 1, sizeof(size_t));
        if (!d->by_path || !d->by_name)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < d->n; i++)
                d->by_path[i] = d->by_name[i] = i;
        qsort_r(d->by_path, d->n, sizeof(size_t), cmp_path, d);
        qsort_r(d->by_name, d->n, sizeof(size_t), cmp_name, d);
        for (size_t i = 1; i < d->n; i++)
                if (streq(d->mods[d->by_path[i]].path, d->mods[d->by_path[i - 1]].path))
                        return bg_error_set(err, EINVAL, "modules.dep line %u: '%s' listed twice",
                                            d->mods[d->by_path[i]].line,
                                            d->mods[d->by_path[i]].path);

        /* Pass 2: the dependencies, as indices. */
        pos = 0;
        size_t k = 0;
        while (next_line(dep, dep_len, &pos, &line, &l)) {
                while (l > 0 && is_blank(*line))
                        line++, l--;
                if (l == 0 || line[0] == '#')
                        continue;
                struct mod *m = &d->mods[k++];
                const char *p = memchr(line, ':', l) + 1, *end = line + l;
                size_t dcap = 0;
                while (p < end) {
                        while (p < end && is_blank(*p))
                                p++;
                        const char *s = p;
                        while (p < end && !is_blank(*p))
                                p++;
                        if (p == s)
                                break;
                        ssize_t idx = find_path(d, s, (size_t)(p - s));
                        if (idx < 0)
                                return bg_error_set(err, EINVAL,
                                                    "modules.dep line %u: dependency '%.*s' of "
                                                    "'%s' has no entry of its own",
                                                    m->line, (int)(p - s), s, m->path);
                        if (ARRAY_RESERVE(m->deps, dcap, m->n_deps + 1) < 0)
                                return bg_error_set(err, ENOMEM, "out of memory");
                        m->deps[m->n_deps++] = (size_t)idx;
                }
        }
        if (builtin) {
                int r = parse_builtin(d, builtin, builtin_len, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int modules_dep_load(const char *dep_path, const char *builtin_path, struct modules_dep **ret,
                     struct bg_error *err)
{
        _cleanup_free_ uint8_t *dep = NULL, *bi = NULL;
        size_t dep_len = 0, bi_len = 0;
        struct bg_error e = {0};
        int r;

        r = kernel_decompress_file_to_memory(dep_path, 256ull * 1024 * 1024, &dep, &dep_len, NULL,
                                             err);
        if (r < 0)
                return bg_error_prefix(err, "read modules.dep");
        if (builtin_path) {
                r = kernel_decompress_file_to_memory(builtin_path, 64ull * 1024 * 1024, &bi,
                                                     &bi_len, NULL, &e);
                if (r < 0 && r != -ENOENT) {
                        *err = e;
                        return bg_error_prefix(err, "read modules.builtin");
                }
        }
        r = modules_dep_parse((const char *)dep, dep_len, (const char *)bi, bi_len, ret, err);
        if (r < 0)
                return bg_error_prefix(err, "%s", dep_path);
        return 0;
}

void modules_resolution_done(struct modules_resolution *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_files; i++)
                free(r->files[i]);
        for (size_t i = 0; i < r->n_builtin; i++)
                free(r->builtin[i]);
        for (size_t i = 0; i < r->n_missing; i++)
                free(r->missing[i]);
        free(r->files);
        free(r->builtin);
        free(r->missing);
        *r = (struct modules_resolution){0};
}

static int strv_push_unique(char ***v, size_t *n, const char *s)
{
        for (size_t i = 0; i < *n; i++)
                if (streq((*v)[i], s))
                        return 0;
        char **nv = reallocarray(*v, *n + 1, sizeof(char *));
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

enum { UNSEEN, VISITING, DONE };

static int visit(const struct modules_dep *d, size_t i, uint8_t *state, size_t *order,
                 size_t *n_order, struct bg_error *err)
{
        if (state[i] == DONE)
                return 0;
        if (state[i] == VISITING)
                return bg_error_set(err, ELOOP, "modules.dep has a dependency cycle through '%s'",
                                    d->mods[i].path);
        state[i] = VISITING;
        /* modprobe loads a module's listed dependencies from last to first. */
        for (size_t k = d->mods[i].n_deps; k > 0; k--) {
                int r = visit(d, d->mods[i].deps[k - 1], state, order, n_order, err);
                if (r < 0)
                        return r;
        }
        state[i] = DONE;
        order[(*n_order)++] = i;
        return 0;
}

int modules_dep_resolve(const struct modules_dep *d, const char *const *wanted, size_t n,
                        struct modules_resolution *ret, struct bg_error *err)
{
        _cleanup_free_ uint8_t *state = calloc(d->n ? d->n : 1, 1);
        _cleanup_free_ size_t *order = calloc(d->n ? d->n : 1, sizeof(size_t));
        _cleanup_(modules_resolution_done) struct modules_resolution res = {0};
        size_t n_order = 0;
        int r;

        if (!state || !order)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t w = 0; w < n; w++) {
                char name[128];
                r = modules_name_normalize(wanted[w] ? wanted[w] : "", name, sizeof(name));
                if (r < 0)
                        return bg_error_set(err, EINVAL, "invalid module name '%s'",
                                            wanted[w] ? wanted[w] : "");
                ssize_t i = find_name(d, name);
                if (i >= 0) {
                        r = visit(d, (size_t)i, state, order, &n_order, err);
                        if (r < 0)
                                return r;
                } else if (is_builtin(d, name)) {
                        if (strv_push_unique(&res.builtin, &res.n_builtin, name) < 0)
                                return bg_error_set(err, ENOMEM, "out of memory");
                } else if (strv_push_unique(&res.missing, &res.n_missing, name) < 0) {
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        }
        res.files = calloc(n_order ? n_order : 1, sizeof(char *));
        if (!res.files)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t k = 0; k < n_order; k++) {
                res.files[k] = strdup(d->mods[order[k]].path);
                if (!res.files[k])
                        return bg_error_set(err, ENOMEM, "out of memory");
                res.n_files++;
        }
        *ret = res;
        res = (struct modules_resolution){0};
        return 0;
}

static int check_elf(const uint8_t *p, size_t len, const char *path, struct bg_error *err)
{
        if (len < SELFMAG || memcmp(p, ELFMAG, SELFMAG) != 0)
                return bg_error_set(err, ENOEXEC, "module '%s' is not an ELF file", path);
        return 0;
}

int module_file_read(const char *path, uint8_t **ret_buf, size_t *ret_len, struct bg_error *err)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int r = kernel_decompress_file_to_memory(path, MODULE_FILE_MAX, &buf, &len, NULL, err);
        if (r < 0)
                return bg_error_prefix(err, "read module");
        r = check_elf(buf, len, path, err);
        if (r < 0)
                return r;
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

struct module_sink {
        int fd;
        uint8_t head[SELFMAG];
        size_t head_len;
};

static int module_sink(void *userdata, const void *buf, size_t len, struct bg_error *err)
{
        struct module_sink *s = userdata;
        size_t k = SELFMAG - s->head_len;
        if (k > len)
                k = len;
        memcpy(s->head + s->head_len, buf, k);
        s->head_len += k;
        return kernel_sink_fd(&s->fd, buf, len, err);
}

int module_file_decompress(const char *path, const char *out_path, struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        uint8_t head[16];

        if (fd < 0)
                return bg_error_errno(err, -errno, "open module '%s'", path);
        ssize_t n = pread(fd, head, sizeof(head), 0);
        if (n < 0)
                return bg_error_errno(err, -errno, "read module '%s'", path);
        enum kernel_compression c = kernel_compression_detect(head, (size_t)n);
        int r = atomic_file_open(out_path, &out, err);
        if (r < 0)
                return r;
        struct module_sink s = {.fd = out.fd};
        r = kernel_decompress_fd(c, fd, 0, UINT64_MAX, MODULE_FILE_MAX, module_sink, &s, NULL, NULL,
                                 err);
        if (r < 0)
                return bg_error_prefix(err, "module '%s'", path);
        r = check_elf(s.head, s.head_len, path, err);
        if (r < 0)
                return r;
        return atomic_file_commit(&out, 0644, err);
}
