#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "term.h"

/* "WorkDisk", "work_disk", "workdisk" all name the field work_disk. */
static bool field_name_eq(const char *want, size_t len, const char *name)
{
        size_t i = 0;
        for (const char *p = name; *p; p++) {
                if (*p == '_')
                        continue;
                while (i < len && want[i] == '_')
                        i++;
                if (i >= len || tolower((unsigned char)want[i]) != *p)
                        return false;
                i++;
        }
        while (i < len && want[i] == '_')
                i++;
        return i == len;
}

static int find_field(const char *want, size_t len, const struct cli_field *fields, size_t n,
                      size_t *ret, struct bg_error *err)
{
        for (size_t i = 0; i < n; i++)
                if (field_name_eq(want, len, fields[i].name)) {
                        *ret = i;
                        return 0;
                }
        char valid[512] = "";
        size_t o = 0;
        for (size_t i = 0; i < n && o < sizeof(valid); i++)
                o += (size_t)snprintf(valid + o, sizeof(valid) - o, "%s%s", i ? ", " : "",
                                      fields[i].name);
        return bg_error_set(err, EINVAL, "--format: unknown field '%.*s'; valid fields: %s",
                            (int)(len > 60 ? 60 : len), want, valid);
}

static int parse_columns(const char *spec, const struct cli_field *fields, size_t n_fields,
                         struct cli_format *f, struct bg_error *err)
{
        f->n_cols = 0;
        for (const char *p = spec; *p;) {
                while (*p == ',' || *p == ' ')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, ", ");
                if (f->n_cols == CLI_FORMAT_MAX_COLS)
                        return bg_error_set(err, EINVAL, "--format: more than %d columns",
                                            CLI_FORMAT_MAX_COLS);
                int r = find_field(p, len, fields, n_fields, &f->cols[f->n_cols], err);
                if (r < 0)
                        return r;
                f->n_cols++;
                p += len;
        }
        if (!f->n_cols)
                return bg_error_set(err, EINVAL, "--format: no columns given");
        return 0;
}

static int add_part(struct cli_format *f, char *text, size_t field, struct bg_error *err)
{
        struct cli_tmpl_part *np = realloc(f->parts, (f->n_parts + 1) * sizeof(*np));
        if (!np) {
                free(text);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        f->parts = np;
        f->parts[f->n_parts++] = (struct cli_tmpl_part){.text = text, .field = field};
        return 0;
}

/* Literal text with the escapes shells make awkward: \t, \n, \\. */
static char *unescape(const char *s, size_t len)
{
        char *out = malloc(len + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len && strchr("tn\\", s[i + 1])) {
                        i++;
                        *o++ = s[i] == 't' ? '\t' : s[i] == 'n' ? '\n' : '\\';
                } else {
                        *o++ = s[i];
                }
        }
        *o = '\0';
        return out;
}

static int parse_template(const char *spec, const struct cli_field *fields, size_t n_fields,
                          struct cli_format *f, struct bg_error *err)
{
        const char *p = spec;
        while (*p) {
                const char *open = strstr(p, "{{");
                size_t lit = open ? (size_t)(open - p) : strlen(p);
                if (lit) {
                        char *t = unescape(p, lit);
                        if (!t)
                                return bg_error_set(err, ENOMEM, "out of memory");
                        int r = add_part(f, t, 0, err);
                        if (r < 0)
                                return r;
                }
                if (!open)
                        break;
                const char *close = strstr(open + 2, "}}");
                if (!close)
                        return bg_error_set(err, EINVAL, "--format: '{{' without '}}'");
                const char *a = open + 2, *b = close;
                while (a < b && *a == ' ')
                        a++;
                while (b > a && b[-1] == ' ')
                        b--;
                if (a == b || *a != '.' || b - a < 2)
                        return bg_error_set(err, EINVAL,
                                            "--format: '{{%.*s}}' is not a field; write "
                                            "{{.Name}}",
                                            (int)(close - open - 2 > 60 ? 60 : close - open - 2),
                                            open + 2);
                for (const char *c = a + 1; c < b; c++)
                        if (!isalnum((unsigned char)*c) && *c != '_')
                                return bg_error_set(err, EINVAL,
                                                    "--format: '{{%.*s}}' is not a field; only "
                                                    "{{.Field}} is understood",
                                                    (int)(b - a > 60 ? 60 : b - a), a);
                size_t idx;
                int r = find_field(a + 1, (size_t)(b - a - 1), fields, n_fields, &idx, err);
                if (r >= 0)
                        r = add_part(f, NULL, idx, err);
                if (r < 0)
                        return r;
                p = close + 2;
        }
        return 0;
}

int cli_format_parse(const char *spec, bool names_only, const struct cli_field *fields,
                     size_t n_fields, const char *default_cols, struct cli_format *ret,
                     struct bg_error *err)
{
        struct cli_format f = {.kind = CLI_FORMAT_TABLE, .state_col = -1};
        int r;
        for (size_t i = 0; i < n_fields; i++)
                if (strcmp(fields[i].name, "state") == 0)
                        f.state_col = (int)i;
        f.color = cli_color(stdout);
        if (names_only) {
                if (spec)
                        return bg_error_set(err, EINVAL, "-q and --format exclude each other");
                f.kind = CLI_FORMAT_NAMES;
                *ret = f;
                return 0;
        }
        if (!spec || !spec[0] || strcmp(spec, "table") == 0) {
                r = parse_columns(default_cols, fields, n_fields, &f, err);
        } else if (strncmp(spec, "table ", 6) == 0) {
                /* The fields of the template, as columns with headers. */
                r = parse_template(spec + 6, fields, n_fields, &f, err);
                for (size_t i = 0; r >= 0 && i < f.n_parts; i++) {
                        if (f.parts[i].text)
                                continue;
                        if (f.n_cols == CLI_FORMAT_MAX_COLS) {
                                r = bg_error_set(err, EINVAL, "--format: more than %d columns",
                                                 CLI_FORMAT_MAX_COLS);
                                break;
                        }
                        f.cols[f.n_cols++] = f.parts[i].field;
                }
                if (r >= 0 && !f.n_cols)
                        r = bg_error_set(err, EINVAL, "--format: 'table' needs {{.Field}}s");
        } else if (strstr(spec, "{{")) {
                f.kind = CLI_FORMAT_TEMPLATE;
                r = parse_template(spec, fields, n_fields, &f, err);
        } else {
                r = parse_columns(spec, fields, n_fields, &f, err);
        }
        if (r < 0) {
                cli_format_done(&f);
                return r;
        }
        if (f.kind == CLI_FORMAT_TABLE)
                cli_format_done(&f); /* a 'table' template only named the columns */
        if (f.kind == CLI_FORMAT_TEMPLATE)
                f.color = false;
        *ret = f;
        return 0;
}

void cli_format_done(struct cli_format *f)
{
        for (size_t i = 0; i < f->n_parts; i++)
                free(f->parts[i].text);
        free(f->parts);
        f->parts = NULL;
        f->n_parts = 0;
}

/* Columns on a terminal: code points, not bytes. */
static size_t display_width(const char *s)
{
        size_t w = 0;
        for (; *s; s++)
                w += ((unsigned char)*s & 0xc0) != 0x80;
        return w;
}

static const char *cell(const char *const *row, size_t i)
{
        return row[i] && row[i][0] ? row[i] : "-";
}

void cli_format_print(const struct cli_format *f, const struct cli_field *fields, size_t n_fields,
                      const char *const *const *rows, size_t n_rows, FILE *out)
{
        size_t name = 0;
        for (size_t i = 0; i < n_fields; i++)
                if (strcmp(fields[i].name, "name") == 0)
                        name = i;
        if (f->kind == CLI_FORMAT_NAMES) {
                for (size_t r = 0; r < n_rows; r++)
                        fprintf(out, "%s\n", cli_safe(cell(rows[r], name)));
                return;
        }
        if (f->kind == CLI_FORMAT_TEMPLATE) {
                for (size_t r = 0; r < n_rows; r++) {
                        for (size_t p = 0; p < f->n_parts; p++)
                                fputs(f->parts[p].text ? f->parts[p].text
                                                       : cli_safe(cell(rows[r], f->parts[p].field)),
                                      out);
                        fputc('\n', out);
                }
                return;
        }
        size_t width[CLI_FORMAT_MAX_COLS];
        for (size_t c = 0; c < f->n_cols; c++) {
                width[c] = display_width(fields[f->cols[c]].header);
                for (size_t r = 0; r < n_rows; r++) {
                        size_t w = display_width(cli_safe(cell(rows[r], f->cols[c])));
                        if (w > width[c])
                                width[c] = w;
                }
        }
        for (size_t r = 0; r <= n_rows; r++) {
                for (size_t c = 0; c < f->n_cols; c++) {
                        size_t fi = f->cols[c];
                        const char *s =
                            r == 0 ? fields[fi].header : cli_safe(cell(rows[r - 1], fi));
                        size_t pad = width[c] - display_width(s);
                        bool last = c + 1 == f->n_cols;
                        const char *sgr =
                            r > 0 && f->color && (int)fi == f->state_col ? cli_state_sgr(s) : "";
                        if (c)
                                fputs("  ", out);
                        if (fields[fi].right)
                                fprintf(out, "%*s", (int)pad, "");
                        fprintf(out, "%s%s%s", sgr, s, sgr[0] ? CLI_SGR_RESET : "");
                        if (!fields[fi].right && !last)
                                fprintf(out, "%*s", (int)pad, "");
                }
                fputc('\n', out);
        }
}

int cli_filter_labels(struct cli_filter *f, const char *const *labels, size_t n,
                      struct bg_error *err)
{
        f->keys = calloc(n ? n : 1, sizeof(char *));
        f->values = calloc(n ? n : 1, sizeof(char *));
        if (!f->keys || !f->values)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(labels[i], '=');
                if (eq == labels[i] || !labels[i][0])
                        return bg_error_set(err, EINVAL,
                                            "--label '%.80s': give KEY=VALUE, or KEY for any value",
                                            labels[i]);
                f->keys[i] = eq ? strndup(labels[i], (size_t)(eq - labels[i])) : strdup(labels[i]);
                f->values[i] = eq ? strdup(eq + 1) : NULL;
                f->n_labels = i + 1;
                if (!f->keys[i] || (eq && !f->values[i]))
                        return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

void cli_filter_done(struct cli_filter *f)
{
        for (size_t i = 0; i < f->n_labels; i++) {
                free(f->keys[i]);
                free(f->values[i]);
        }
        free(f->keys);
        free(f->values);
        f->keys = f->values = NULL;
        f->n_labels = 0;
}

bool cli_filter_match(const struct cli_filter *f, const char *state, const char *image,
                      const char *const *keys, const char *const *values, size_t n)
{
        if (f->state && (!state || strcmp(f->state, state) != 0))
                return false;
        if (f->image && (!image || strcmp(f->image, image) != 0))
                return false;
        for (size_t i = 0; i < f->n_labels; i++) {
                bool found = false;
                for (size_t k = 0; k < n && !found; k++)
                        found = strcmp(keys[k], f->keys[i]) == 0 &&
                                (!f->values[i] || strcmp(values[k], f->values[i]) == 0);
                if (!found)
                        return false;
        }
        return true;
}
