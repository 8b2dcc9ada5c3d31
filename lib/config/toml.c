/* TOML 1.0.0 parser: a recursive-descent reader over a byte buffer that
 * builds the DOM declared in toml.h. See https://toml.io/en/v1.0.0.
 *
 * This file holds the document: toml_parse(), [table] and [[array of
 * tables]] headers, key/value pairs with dotted keys, arrays and inline
 * tables, and the rules that decide which tables a later header or dotted
 * key may still extend (the flags below). The lexical layer is in
 * toml_lex.c, values and scalars in toml_value.c. */
#include "toml.h"

#include <string.h>

#include "toml_internal.h"

/* Table flags: how a table came to exist decides what may extend it later. */
enum {
        TF_IMPLICIT = 1u << 0, /* created as a parent by a [a.b.c] header */
        TF_EXPLICIT = 1u << 1, /* defined by its own [header] or [[header]] */
        TF_DOTTED = 1u << 2,   /* created by a dotted key (a.b = 1) */
        TF_SEALED = 1u << 3,   /* an inline table or inside one: immutable */
        AF_AOT = 1u << 4,      /* an array made by [[header]] (extensible) */
};

#define MAX_DEPTH 128

/* Insert (takes ownership of v on success; copies the key). */
static int table_insert(struct toml_value *t, const struct toml_keypart *k, struct toml_value *v)
{
        if (t->u.table.n == t->u.table.cap) {
                size_t cap = t->u.table.cap ? t->u.table.cap * 2 : 8;
                struct toml_keyval *np = realloc(t->u.table.items, cap * sizeof(*np));
                if (!np)
                        return -ENOMEM;
                t->u.table.items = np;
                t->u.table.cap = cap;
        }
        char *key = malloc(k->len + 1);
        if (!key)
                return -ENOMEM;
        memcpy(key, k->s, k->len);
        key[k->len] = '\0';
        t->u.table.items[t->u.table.n++] = (struct toml_keyval){
            .key = key,
            .key_len = k->len,
            .line = k->line,
            .col = k->col,
            .value = v,
        };
        return 0;
}

/* A new table (or array of tables) with flags, written at line:col and
 * inserted into t under k; NULL with err set when out of memory. */
static struct toml_value *add_child(struct toml_parser *p, struct toml_value *t,
                                    const struct toml_keypart *k, enum toml_type type,
                                    unsigned line, unsigned col, unsigned flags)
{
        struct toml_value *v = toml_value_new(type, line, col);
        if (!v) {
                toml_oom(p);
                return NULL;
        }
        v->flags = flags;
        if (table_insert(t, k, v) < 0) {
                toml_free(v);
                toml_oom(p);
                return NULL;
        }
        return v;
}

static int array_append(struct toml_value *a, struct toml_value *v)
{
        if (a->u.array.n == a->u.array.cap) {
                size_t cap = a->u.array.cap ? a->u.array.cap * 2 : 4;
                struct toml_value **np = realloc(a->u.array.items, cap * sizeof(*np));
                if (!np)
                        return -ENOMEM;
                a->u.array.items = np;
                a->u.array.cap = cap;
        }
        a->u.array.items[a->u.array.n++] = v;
        return 0;
}

/* ---- arrays, inline tables, key/values ------------------------------ */

static int parse_value(struct toml_parser *p, struct toml_value **ret);
static int parse_keyval(struct toml_parser *p, struct toml_value *table);

static void seal(struct toml_value *v)
{
        if (v->type == TOML_TABLE) {
                v->flags |= TF_SEALED;
                for (size_t i = 0; i < v->u.table.n; i++)
                        seal(v->u.table.items[i].value);
        } else if (v->type == TOML_ARRAY) {
                for (size_t i = 0; i < v->u.array.n; i++)
                        seal(v->u.array.items[i]);
        }
}

static int parse_array(struct toml_parser *p, struct toml_value **ret)
{
        _cleanup_(toml_freep) struct toml_value *a = toml_value_new(TOML_ARRAY, p->line, p->col);
        if (!a)
                return toml_oom(p);
        toml_adv(p); /* '[' */
        for (;;) {
                int r = toml_skip_ws_nl_comments(p);
                if (r < 0)
                        return r;
                if (toml_peek(p) == ']') {
                        toml_adv(p);
                        break;
                }
                struct toml_value *v = NULL;
                r = parse_value(p, &v);
                if (r < 0)
                        return r;
                if (array_append(a, v) < 0) {
                        toml_free(v);
                        return toml_oom(p);
                }
                r = toml_skip_ws_nl_comments(p);
                if (r < 0)
                        return r;
                if (toml_peek(p) == ',') {
                        toml_adv(p);
                        continue;
                }
                if (toml_peek(p) == ']') {
                        toml_adv(p);
                        break;
                }
                if (toml_eof(p))
                        return toml_perr_at(p, a->line, a->col, "unterminated array");
                return toml_perr(p, "expected ',' or ']' in an array");
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int parse_inline_table(struct toml_parser *p, struct toml_value **ret)
{
        _cleanup_(toml_freep) struct toml_value *t = toml_value_new(TOML_TABLE, p->line, p->col);
        if (!t)
                return toml_oom(p);
        toml_adv(p); /* '{' */
        toml_skip_ws(p);
        if (toml_peek(p) == '}') {
                toml_adv(p);
        } else {
                for (;;) {
                        if (toml_at_newline(p) || toml_peek(p) == '\r')
                                return toml_perr(p, "newlines are not allowed in inline tables");
                        if (toml_peek(p) == '}')
                                return toml_perr(p, "trailing comma in an inline table");
                        int r = parse_keyval(p, t);
                        if (r < 0)
                                return r;
                        toml_skip_ws(p);
                        if (toml_peek(p) == ',') {
                                toml_adv(p);
                                toml_skip_ws(p);
                                continue;
                        }
                        if (toml_peek(p) == '}') {
                                toml_adv(p);
                                break;
                        }
                        if (toml_eof(p))
                                return toml_perr_at(p, t->line, t->col,
                                                    "unterminated inline table");
                        if (toml_at_newline(p) || toml_peek(p) == '\r')
                                return toml_perr(p, "newlines are not allowed in inline tables");
                        return toml_perr(p, "expected ',' or '}' in an inline table");
                }
        }
        seal(t);
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_value(struct toml_parser *p, struct toml_value **ret)
{
        int c = toml_peek(p);
        int r;

        if (c == '"' || c == '\'') {
                struct toml_buf b = {};
                unsigned line = p->line, col = p->col;
                r = toml_parse_string(p, &b, true);
                if (r < 0) {
                        free(b.p);
                        return r;
                }
                struct toml_value *v = toml_value_new(TOML_STRING, line, col);
                if (!v) {
                        free(b.p);
                        return toml_oom(p);
                }
                v->u.str.ptr = b.p;
                v->u.str.len = b.n;
                *ret = v;
                return 0;
        }
        if (c == '[' || c == '{') {
                if (p->depth >= MAX_DEPTH)
                        return toml_perr(p, "arrays and inline tables nested too deeply");
                p->depth++;
                r = c == '[' ? parse_array(p, ret) : parse_inline_table(p, ret);
                p->depth--;
                return r;
        }
        if (c == 't' || c == 'f') {
                const char *word = c == 't' ? "true" : "false";
                size_t wl = strlen(word);
                if (p->len - p->pos >= wl && memcmp(p->s + p->pos, word, wl) == 0 &&
                    !toml_is_token_char(toml_peek_at(p, wl))) {
                        struct toml_value *v = toml_value_new(TOML_BOOL, p->line, p->col);
                        if (!v)
                                return toml_oom(p);
                        v->u.boolean = c == 't';
                        toml_adv_n(p, wl);
                        *ret = v;
                        return 0;
                }
                return toml_perr(p, "expected a value (true, false, a number, a string, ...)");
        }
        if (toml_is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n')
                return toml_parse_number_or_datetime(p, ret);
        if (c < 0)
                return toml_perr(p, "expected a value, got the end of the input");
        if (c == '\n' || c == '\r')
                return toml_perr(p, "expected a value, got a newline");
        if (c >= 0x20 && c < 0x7f)
                return toml_perr(p, "expected a value, got '%c'", c);
        return toml_perr(p, "expected a value");
}

/* key = value, stored into table (walking/creating dotted parents). */
static int parse_keyval(struct toml_parser *p, struct toml_value *table)
{
        _cleanup_(toml_key_done) struct toml_key k = {};
        char name[128];
        int r = toml_parse_key(p, &k);
        if (r < 0)
                return r;
        if (toml_peek(p) != '=') {
                if (toml_eof(p) || toml_at_newline(p))
                        return toml_perr(p, "expected '=' after the key");
                return toml_perr(p, "expected '=' after the key, got '%c'",
                                 toml_peek(p) >= 0x20 && toml_peek(p) < 0x7f ? toml_peek(p) : '?');
        }
        toml_adv(p);
        toml_skip_ws(p);

        struct toml_value *t = table;
        for (size_t i = 0; i + 1 < k.n; i++) {
                struct toml_keyval *kv = toml_table_lookup(t, k.parts[i].s, k.parts[i].len);
                if (!kv) {
                        t = add_child(p, t, &k.parts[i], TOML_TABLE, k.parts[i].line,
                                      k.parts[i].col, TF_DOTTED);
                        if (!t)
                                return -ENOMEM;
                        continue;
                }
                struct toml_value *v = kv->value;
                if (v->type != TOML_TABLE || !(v->flags & TF_DOTTED) || (v->flags & TF_SEALED)) {
                        toml_key_name(&k, i + 1, name, sizeof(name));
                        if (v->type != TOML_TABLE)
                                return toml_perr_at(
                                    p, k.parts[i].line, k.parts[i].col,
                                    "key '%s' is already %s %s (line %u), not a table", name,
                                    toml_article(v->type), toml_type_to_string(v->type), kv->line);
                        return toml_perr_at(p, k.parts[i].line, k.parts[i].col,
                                            "cannot add keys to table '%s' defined at line %u with "
                                            "dotted keys",
                                            name, kv->line);
                }
                t = v;
        }

        struct toml_keypart *last = &k.parts[k.n - 1];
        struct toml_keyval *dup = toml_table_lookup(t, last->s, last->len);
        if (dup) {
                toml_key_name(&k, k.n, name, sizeof(name));
                return toml_perr_at(p, last->line, last->col,
                                    "key '%s' defined twice (first at line %u)", name, dup->line);
        }
        struct toml_value *v = NULL;
        r = parse_value(p, &v);
        if (r < 0)
                return r;
        if (table_insert(t, last, v) < 0) {
                toml_free(v);
                return toml_oom(p);
        }
        return 0;
}

/* [a.b.c] or [[a.b.c]] */
static int parse_header(struct toml_parser *p, struct toml_value *root)
{
        _cleanup_(toml_key_done) struct toml_key k = {};
        char name[128];
        unsigned line = p->line, col = p->col;
        bool aot = toml_peek_at(p, 1) == '[';
        toml_adv_n(p, aot ? 2 : 1);
        int r = toml_parse_key(p, &k);
        if (r < 0)
                return r;
        if (toml_peek(p) != ']' || (aot && toml_peek_at(p, 1) != ']'))
                return toml_perr(p, aot ? "expected ']]' to close the array-of-tables header"
                                        : "expected ']' to close the table header");
        toml_adv_n(p, aot ? 2 : 1);

        struct toml_value *t = root;
        for (size_t i = 0; i + 1 < k.n; i++) {
                struct toml_keyval *kv = toml_table_lookup(t, k.parts[i].s, k.parts[i].len);
                toml_key_name(&k, i + 1, name, sizeof(name));
                if (!kv) {
                        t = add_child(p, t, &k.parts[i], TOML_TABLE, line, col, TF_IMPLICIT);
                        if (!t)
                                return -ENOMEM;
                        continue;
                }
                struct toml_value *v = kv->value;
                if (v->type == TOML_ARRAY && (v->flags & AF_AOT)) {
                        t = v->u.array.items[v->u.array.n - 1];
                        continue;
                }
                if (v->type == TOML_TABLE && !(v->flags & TF_SEALED)) {
                        t = v;
                        continue;
                }
                if (v->type == TOML_TABLE)
                        return toml_perr_at(p, k.parts[i].line, k.parts[i].col,
                                            "cannot extend inline table '%s' (line %u)", name,
                                            kv->line);
                return toml_perr_at(p, k.parts[i].line, k.parts[i].col,
                                    "key '%s' is already %s %s (line %u), not a table", name,
                                    toml_article(v->type), toml_type_to_string(v->type), kv->line);
        }

        struct toml_keypart *last = &k.parts[k.n - 1];
        struct toml_keyval *kv = toml_table_lookup(t, last->s, last->len);
        toml_key_name(&k, k.n, name, sizeof(name));
        if (aot) {
                struct toml_value *arr;
                if (!kv) {
                        arr = add_child(p, t, last, TOML_ARRAY, line, col, AF_AOT);
                        if (!arr)
                                return -ENOMEM;
                } else if (kv->value->type == TOML_ARRAY && (kv->value->flags & AF_AOT)) {
                        arr = kv->value;
                } else {
                        return toml_perr_at(p, last->line, last->col,
                                            "cannot define array of tables [[%s]]: key already "
                                            "defined as %s %s at line %u",
                                            name, toml_article(kv->value->type),
                                            toml_type_to_string(kv->value->type), kv->line);
                }
                struct toml_value *nt = toml_value_new(TOML_TABLE, line, col);
                if (!nt)
                        return toml_oom(p);
                nt->flags = TF_EXPLICIT;
                if (array_append(arr, nt) < 0) {
                        toml_free(nt);
                        return toml_oom(p);
                }
                p->cur = nt;
                return 0;
        }

        if (!kv) {
                struct toml_value *nt = add_child(p, t, last, TOML_TABLE, line, col, TF_EXPLICIT);
                if (!nt)
                        return -ENOMEM;
                p->cur = nt;
                return 0;
        }
        struct toml_value *v = kv->value;
        if (v->type != TOML_TABLE)
                return toml_perr_at(
                    p, last->line, last->col,
                    "cannot define table [%s]: key already defined as %s %s at line %u", name,
                    toml_article(v->type), toml_type_to_string(v->type), kv->line);
        if (v->flags & TF_SEALED)
                return toml_perr_at(p, last->line, last->col,
                                    "cannot define table [%s]: it is an inline table (line %u)",
                                    name, kv->line);
        if (v->flags & TF_DOTTED)
                return toml_perr_at(p, last->line, last->col,
                                    "cannot define table [%s]: already defined with dotted keys at "
                                    "line %u",
                                    name, kv->line);
        if (v->flags & TF_EXPLICIT)
                return toml_perr_at(p, last->line, last->col,
                                    "table [%s] defined twice (first at line %u)", name, v->line);
        v->flags = (v->flags & ~TF_IMPLICIT) | TF_EXPLICIT;
        v->line = line;
        v->col = col;
        p->cur = v;
        return 0;
}

int toml_parse(const char *text, size_t len, struct toml_value **ret_root, struct bg_error *err)
{
        struct toml_parser p = {.s = text, .len = len, .line = 1, .col = 1, .err = err};
        int r;

        if (!text && len > 0)
                return bg_error_set(err, EINVAL, "1:1: no input");
        if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
                p.pos = 3;
        r = toml_check_utf8(&p);
        if (r < 0)
                return r;

        _cleanup_(toml_freep) struct toml_value *root = toml_value_new(TOML_TABLE, 1, 1);
        if (!root)
                return toml_oom(&p);
        root->flags = TF_EXPLICIT;
        p.cur = root;

        while (!toml_eof(&p)) {
                toml_skip_ws(&p);
                int c = toml_peek(&p);
                if (c == '#' || c == '\n' || c == '\r' || c < 0) {
                        r = toml_expect_eol(&p, "a comment");
                } else if (c == '[') {
                        r = parse_header(&p, root);
                        if (r >= 0)
                                r = toml_expect_eol(&p, "the table header");
                } else {
                        r = parse_keyval(&p, p.cur);
                        if (r >= 0)
                                r = toml_expect_eol(&p, "the value");
                }
                if (r < 0)
                        return r;
        }
        *ret_root = TAKE_PTR(root);
        return 0;
}
