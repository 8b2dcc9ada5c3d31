/* TOML 1.0.0 parser: a recursive-descent reader over a byte buffer that
 * builds the DOM declared in toml.h. See https://toml.io/en/v1.0.0. */
#include "toml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Table flags: how a table came to exist decides what may extend it later. */
enum {
        TF_IMPLICIT = 1u << 0, /* created as a parent by a [a.b.c] header */
        TF_EXPLICIT = 1u << 1, /* defined by its own [header] or [[header]] */
        TF_DOTTED = 1u << 2,   /* created by a dotted key (a.b = 1) */
        TF_SEALED = 1u << 3,   /* an inline table or inside one: immutable */
        AF_AOT = 1u << 4,      /* an array made by [[header]] (extensible) */
};

#define MAX_DEPTH 128

struct parser {
        const char *s;
        size_t len, pos;
        unsigned line, col;
        unsigned depth;
        struct bg_error *err;
        struct toml_value *cur; /* table that key/values go into */
};

struct buf {
        char *p;
        size_t n, cap;
};

struct keypart {
        char *s;
        size_t len;
        unsigned line, col;
};

struct key {
        struct keypart *parts;
        size_t n, cap;
};

static void key_done(struct key *k)
{
        for (size_t i = 0; i < k->n; i++)
                free(k->parts[i].s);
        free(k->parts);
        k->parts = NULL;
        k->n = k->cap = 0;
}

static int perr_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
    _printf_(4, 5);
static int perr_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
        char msg[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return bg_error_set(p->err, EINVAL, "%u:%u: %s", line, col, msg);
}

#define perr(p, ...) perr_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int oom(struct parser *p)
{
        return bg_error_set(p->err, ENOMEM, "%u:%u: out of memory", p->line, p->col);
}

static bool eof(const struct parser *p)
{
        return p->pos >= p->len;
}

static int peek(const struct parser *p)
{
        return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t off)
{
        return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static void adv(struct parser *p)
{
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '\n') {
                p->line++;
                p->col = 1;
        } else if ((c & 0xC0) != 0x80) {
                p->col++;
        }
}

static void adv_n(struct parser *p, size_t n)
{
        while (n-- > 0)
                adv(p);
}

static bool is_control(int c)
{
        /* Control characters other than tab are not allowed in strings and
         * comments (newlines are handled by the callers). */
        return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_bare_key_char(int c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

static bool is_digit(int c)
{
        return c >= '0' && c <= '9';
}

static int buf_grow(struct buf *b, size_t more)
{
        if (b->n + more + 1 <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->n + more + 1)
                cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
                return -ENOMEM;
        b->p = np;
        b->cap = cap;
        return 0;
}

static int buf_add(struct buf *b, const char *s, size_t n)
{
        if (buf_grow(b, n) < 0)
                return -ENOMEM;
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        return 0;
}

static int buf_addc(struct buf *b, char c)
{
        return buf_add(b, &c, 1);
}

/* Ensure a NUL-terminated (possibly empty) string. */
static int buf_finish(struct buf *b)
{
        if (buf_grow(b, 0) < 0)
                return -ENOMEM;
        b->p[b->n] = '\0';
        return 0;
}

/* ---- UTF-8 ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 if invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
                len = 2;
                cp = c & 0x1F;
                min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
                len = 3;
                cp = c & 0x0F;
                min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
                len = 4;
                cp = c & 0x07;
                min = 0x10000;
        } else {
                return 0;
        }
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
}

static int check_utf8(struct parser *p)
{
        const unsigned char *s = (const unsigned char *)p->s;
        unsigned line = 1, col = 1;
        size_t i = 0;
        while (i < p->len) {
                size_t l = utf8_seq_len(s + i, p->len - i);
                if (l == 0)
                        return perr_at(p, line, col, "invalid UTF-8 byte 0x%02X", s[i]);
                if (s[i] == '\n') {
                        line++;
                        col = 1;
                } else {
                        col++;
                }
                i += l;
        }
        return 0;
}

static int utf8_encode(struct buf *b, uint32_t cp)
{
        char out[4];
        size_t n;
        if (cp < 0x80) {
                out[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                out[0] = (char)(0xC0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
        } else if (cp < 0x10000) {
                out[0] = (char)(0xE0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
        } else {
                out[0] = (char)(0xF0 | (cp >> 18));
                out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
        }
        return buf_add(b, out, n);
}

/* ---- values --------------------------------------------------------- */

static struct toml_value *value_new(enum toml_type t, unsigned line, unsigned col)
{
        struct toml_value *v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        v->type = t;
        v->line = line;
        v->col = col;
        return v;
}

struct toml_value *toml_free(struct toml_value *v)
{
        if (!v)
                return NULL;
        switch (v->type) {
        case TOML_TABLE:
                for (size_t i = 0; i < v->u.table.n; i++) {
                        free(v->u.table.items[i].key);
                        toml_free(v->u.table.items[i].value);
                }
                free(v->u.table.items);
                break;
        case TOML_ARRAY:
                for (size_t i = 0; i < v->u.array.n; i++)
                        toml_free(v->u.array.items[i]);
                free(v->u.array.items);
                break;
        case TOML_STRING:
                free(v->u.str.ptr);
                break;
        case TOML_DATETIME:
        case TOML_DATETIME_LOCAL:
        case TOML_DATE_LOCAL:
        case TOML_TIME_LOCAL:
                free(v->u.datetime.text);
                break;
        default:
                break;
        }
        free(v);
        return NULL;
}

static struct toml_keyval *table_lookup(const struct toml_value *t, const char *key, size_t len)
{
        for (size_t i = 0; i < t->u.table.n; i++) {
                struct toml_keyval *kv = &t->u.table.items[i];
                if (kv->key_len == len && memcmp(kv->key, key, len) == 0)
                        return kv;
        }
        return NULL;
}

const struct toml_keyval *toml_table_find(const struct toml_value *table, const char *key)
{
        if (!table || table->type != TOML_TABLE || !key)
                return NULL;
        return table_lookup(table, key, strlen(key));
}

const struct toml_value *toml_table_get(const struct toml_value *table, const char *key)
{
        const struct toml_keyval *kv = toml_table_find(table, key);
        return kv ? kv->value : NULL;
}

/* Insert (takes ownership of v on success; copies the key). */
static int table_insert(struct toml_value *t, const struct keypart *k, struct toml_value *v)
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

const char *toml_type_to_string(enum toml_type t)
{
        static const char *const names[_TOML_TYPE_MAX] = {
            [TOML_TABLE] = "table",
            [TOML_ARRAY] = "array",
            [TOML_STRING] = "string",
            [TOML_INTEGER] = "integer",
            [TOML_FLOAT] = "float",
            [TOML_BOOL] = "boolean",
            [TOML_DATETIME] = "offset date-time",
            [TOML_DATETIME_LOCAL] = "local date-time",
            [TOML_DATE_LOCAL] = "local date",
            [TOML_TIME_LOCAL] = "local time",
        };
        if ((unsigned)t >= _TOML_TYPE_MAX)
                return "unknown";
        return names[t];
}

static const char *article(enum toml_type t)
{
        return t == TOML_ARRAY || t == TOML_INTEGER || t == TOML_DATETIME ? "an" : "a";
}

/* ---- whitespace, comments, newlines --------------------------------- */

static void skip_ws(struct parser *p)
{
        while (peek(p) == ' ' || peek(p) == '\t')
                adv(p);
}

static int skip_comment(struct parser *p)
{
        if (peek(p) != '#')
                return 0;
        adv(p);
        while (!eof(p)) {
                int c = peek(p);
                if (c == '\n')
                        break;
                if (c == '\r' && peek_at(p, 1) == '\n')
                        break;
                if (is_control(c))
                        return perr(p, "control character U+%04X is not allowed in a comment",
                                    (unsigned)c);
                adv(p);
        }
        return 0;
}

/* At a newline (LF or CRLF)? Returns its length, 0 if not. */
static size_t at_newline(const struct parser *p)
{
        if (peek(p) == '\n')
                return 1;
        if (peek(p) == '\r' && peek_at(p, 1) == '\n')
                return 2;
        return 0;
}

/* Whitespace, comment, then a newline or the end of the input. */
static int expect_eol(struct parser *p, const char *after)
{
        skip_ws(p);
        int r = skip_comment(p);
        if (r < 0)
                return r;
        if (eof(p))
                return 0;
        size_t nl = at_newline(p);
        if (nl == 0) {
                if (peek(p) == '\r')
                        return perr(p, "carriage return not followed by a line feed");
                return perr(p, "expected a newline after %s", after);
        }
        adv_n(p, nl);
        return 0;
}

/* Whitespace, newlines and comments (inside arrays). */
static int skip_ws_nl_comments(struct parser *p)
{
        for (;;) {
                skip_ws(p);
                int r = skip_comment(p);
                if (r < 0)
                        return r;
                size_t nl = at_newline(p);
                if (nl == 0) {
                        if (peek(p) == '\r')
                                return perr(p, "carriage return not followed by a line feed");
                        return 0;
                }
                adv_n(p, nl);
        }
}

/* ---- strings -------------------------------------------------------- */

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* At a backslash inside a basic string. */
static int parse_escape(struct parser *p, struct buf *b, bool multiline)
{
        unsigned line = p->line, col = p->col;
        adv(p); /* '\' */
        int c = peek(p);
        if (multiline) {
                /* Line-ending backslash: '\', optional whitespace, newline,
                 * then all whitespace and newlines are trimmed. */
                size_t i = 0;
                while (peek_at(p, i) == ' ' || peek_at(p, i) == '\t')
                        i++;
                int d = peek_at(p, i);
                if (d == '\n' || (d == '\r' && peek_at(p, i + 1) == '\n')) {
                        for (;;) {
                                int e = peek(p);
                                if (e == ' ' || e == '\t' || e == '\n')
                                        adv(p);
                                else if (e == '\r' && peek_at(p, 1) == '\n')
                                        adv_n(p, 2);
                                else
                                        break;
                        }
                        return 0;
                }
        }
        char out;
        switch (c) {
        case 'b':
                out = '\b';
                break;
        case 't':
                out = '\t';
                break;
        case 'n':
                out = '\n';
                break;
        case 'f':
                out = '\f';
                break;
        case 'r':
                out = '\r';
                break;
        case '"':
                out = '"';
                break;
        case '\\':
                out = '\\';
                break;
        case 'u':
        case 'U': {
                unsigned ndig = c == 'u' ? 4 : 8;
                uint32_t cp = 0;
                adv(p);
                for (unsigned i = 0; i < ndig; i++) {
                        int h = hexval(peek(p));
                        if (h < 0)
                                return perr_at(p, line, col,
                                               "escape \\%c needs %u hexadecimal digits", c, ndig);
                        if (cp > 0x10FFFF) /* keep shifting bounded */
                                cp = 0x110000;
                        else
                                cp = (cp << 4) | (uint32_t)h;
                        adv(p);
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return perr_at(p, line, col, "escape \\%c is not a Unicode scalar value",
                                       c);
                return utf8_encode(b, cp) < 0 ? oom(p) : 0;
        }
        case -1:
                return perr_at(p, line, col, "unterminated string");
        default:
                if (c < 0x20 || c >= 0x7f)
                        return perr_at(p, line, col, "invalid escape sequence");
                return perr_at(p, line, col, "invalid escape sequence \\%c", c);
        }
        adv(p);
        return buf_addc(b, out) < 0 ? oom(p) : 0;
}

/* Parse any of the four string kinds at p; `allow_multi` is false for keys.
 * The result is NUL-terminated in b. */
static int parse_string(struct parser *p, struct buf *b, bool allow_multi)
{
        unsigned line = p->line, col = p->col;
        char q = (char)peek(p);
        bool basic = q == '"';
        bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
        int r;

        if (multi && !allow_multi)
                return perr(p, "multi-line strings cannot be used as keys");
        if (multi) {
                adv_n(p, 3);
                size_t nl = at_newline(p); /* newline right after the opener is trimmed */
                adv_n(p, nl);
        } else {
                adv(p);
        }

        for (;;) {
                int c = peek(p);
                if (c < 0)
                        return perr_at(p, line, col, "unterminated string");
                if (c == q) {
                        if (!multi) {
                                adv(p);
                                break;
                        }
                        size_t n = 0;
                        while (peek_at(p, n) == q)
                                n++;
                        if (n >= 3) {
                                if (n > 5)
                                        return perr(p, "too many quotes at the end of a "
                                                       "multi-line string");
                                for (size_t i = 0; i < n - 3; i++)
                                        if (buf_addc(b, q) < 0)
                                                return oom(p);
                                adv_n(p, n);
                                break;
                        }
                        for (size_t i = 0; i < n; i++)
                                if (buf_addc(b, q) < 0)
                                        return oom(p);
                        adv_n(p, n);
                        continue;
                }
                if (c == '\\' && basic) {
                        r = parse_escape(p, b, multi);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (c == '\n' || c == '\r') {
                        if (!multi)
                                return perr(p, "newline in a single-line string");
                        size_t nl = at_newline(p);
                        if (nl == 0)
                                return perr(p, "carriage return not followed by a line feed");
                        adv_n(p, nl);
                        if (buf_addc(b, '\n') < 0)
                                return oom(p);
                        continue;
                }
                if (is_control(c))
                        return perr(p, "control character U+%04X must be escaped in a string",
                                    (unsigned)c);
                /* Input is valid UTF-8 (checked up front): copy the byte. */
                if (buf_addc(b, (char)c) < 0)
                        return oom(p);
                adv(p);
        }
        return buf_finish(b) < 0 ? oom(p) : 0;
}

/* ---- keys ----------------------------------------------------------- */

static int parse_simple_key(struct parser *p, struct keypart *out)
{
        struct buf b = {};
        unsigned line = p->line, col = p->col;
        int c = peek(p);
        int r;

        if (c == '"' || c == '\'') {
                r = parse_string(p, &b, false);
                if (r < 0) {
                        free(b.p);
                        return r;
                }
        } else if (is_bare_key_char(c)) {
                while (is_bare_key_char(peek(p))) {
                        if (buf_addc(&b, (char)peek(p)) < 0) {
                                free(b.p);
                                return oom(p);
                        }
                        adv(p);
                }
        } else {
                if (c < 0)
                        return perr(p, "expected a key, got the end of the input");
                if (c == '\n' || c == '\r')
                        return perr(p, "expected a key, got a newline");
                if (c >= 0x20 && c < 0x7f)
                        return perr(p, "expected a key, got '%c'", c);
                return perr(p, "expected a key");
        }
        *out = (struct keypart){.s = b.p, .len = b.n, .line = line, .col = col};
        return 0;
}

/* key = simple-key *( ws '.' ws simple-key ) */
static int parse_key(struct parser *p, struct key *k)
{
        for (;;) {
                skip_ws(p);
                if (k->n == k->cap) {
                        size_t cap = k->cap ? k->cap * 2 : 4;
                        struct keypart *np = realloc(k->parts, cap * sizeof(*np));
                        if (!np)
                                return oom(p);
                        k->parts = np;
                        k->cap = cap;
                }
                int r = parse_simple_key(p, &k->parts[k->n]);
                if (r < 0)
                        return r;
                k->n++;
                skip_ws(p);
                if (peek(p) != '.')
                        return 0;
                adv(p);
        }
}

/* Human-readable dotted name of parts[0..n) for messages. */
static void key_name(const struct key *k, size_t n, char *out, size_t size)
{
        size_t o = 0;
        out[0] = '\0';
        for (size_t i = 0; i < n && o + 1 < size; i++) {
                if (i > 0)
                        out[o++] = '.';
                for (size_t j = 0; j < k->parts[i].len && o + 1 < size; j++) {
                        char c = k->parts[i].s[j];
                        out[o++] = c == '\0' ? '?' : c;
                }
        }
        out[o < size ? o : size - 1] = '\0';
}

/* ---- numbers and date-times ----------------------------------------- */

static bool is_token_char(int c)
{
        return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
               c == '+' || c == '-' || c == '.' || c == ':';
}

/* Check a digit run with '_' only between digits; copy digits to out. */
static bool digits_us(const char *s, size_t n, int (*valid)(int), struct buf *out)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '_') {
                        if (i == 0 || i + 1 == n || !valid((unsigned char)s[i - 1]) ||
                            !valid((unsigned char)s[i + 1]))
                                return false;
                        continue;
                }
                if (!valid((unsigned char)s[i]))
                        return false;
                if (out && buf_addc(out, s[i]) < 0)
                        return false;
        }
        return true;
}

static int isdec(int c)
{
        return c >= '0' && c <= '9';
}
static int ishex(int c)
{
        return hexval(c) >= 0;
}
static int isoct(int c)
{
        return c >= '0' && c <= '7';
}
static int isbin(int c)
{
        return c == '0' || c == '1';
}

static int parse_number(struct parser *p, const char *tok, size_t n, unsigned line, unsigned col,
                        struct toml_value **ret)
{
        const char *s = tok;
        bool neg = false, signed_ = false;
        if (n > 0 && (s[0] == '+' || s[0] == '-')) {
                neg = s[0] == '-';
                signed_ = true;
                s++;
                n--;
        }

        if ((n == 3 && memcmp(s, "inf", 3) == 0) || (n == 3 && memcmp(s, "nan", 3) == 0)) {
                struct toml_value *v = value_new(TOML_FLOAT, line, col);
                if (!v)
                        return oom(p);
                if (s[0] == 'i')
                        v->u.fp = neg ? -INFINITY : INFINITY;
                else
                        v->u.fp = neg ? -NAN : NAN;
                *ret = v;
                return 0;
        }

        if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
                int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
                int (*valid)(int) = base == 16 ? ishex : base == 8 ? isoct : isbin;
                struct buf d = {};
                if (signed_)
                        return perr_at(p, line, col,
                                       "a sign is not allowed on hexadecimal, octal or binary "
                                       "integers");
                if (!digits_us(s + 2, n - 2, valid, &d)) {
                        free(d.p);
                        return perr_at(p, line, col, "invalid %s integer '%.*s'",
                                       base == 16  ? "hexadecimal"
                                       : base == 8 ? "octal"
                                                   : "binary",
                                       (int)(n + 2 > 64 ? 64 : n), s);
                }
                uint64_t val = 0;
                bool over = false;
                for (size_t i = 0; i < d.n; i++) {
                        uint64_t dv = (uint64_t)hexval((unsigned char)d.p[i]);
                        if (val > ((uint64_t)INT64_MAX - dv) / (uint64_t)base)
                                over = true;
                        else
                                val = val * (uint64_t)base + dv;
                }
                free(d.p);
                if (over)
                        return perr_at(p, line, col, "integer does not fit in 64 bits");
                struct toml_value *v = value_new(TOML_INTEGER, line, col);
                if (!v)
                        return oom(p);
                v->u.integer = (int64_t)val;
                *ret = v;
                return 0;
        }

        /* Decimal integer or float: int-part [ '.' frac ] [ e|E [sign] exp ]. */
        size_t i = 0;
        while (i < n && (isdec((unsigned char)s[i]) || s[i] == '_'))
                i++;
        size_t int_end = i;
        size_t frac_start = 0, frac_end = 0, exp_start = 0;
        bool has_frac = false, has_exp = false;
        if (i < n && s[i] == '.') {
                has_frac = true;
                frac_start = ++i;
                while (i < n && (isdec((unsigned char)s[i]) || s[i] == '_'))
                        i++;
                frac_end = i;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
                has_exp = true;
                i++;
                exp_start = i;
                if (i < n && (s[i] == '+' || s[i] == '-'))
                        i++;
                while (i < n && (isdec((unsigned char)s[i]) || s[i] == '_'))
                        i++;
        }
        int shown = (int)(n + (signed_ ? 1 : 0) > 64 ? 64 : n + (signed_ ? 1 : 0));
        if (i != n || int_end == 0)
                return perr_at(p, line, col, "invalid number '%.*s'", shown, tok);

        struct buf clean = {};
        if (neg && buf_addc(&clean, '-') < 0)
                return oom(p);
        if (!digits_us(s, int_end, isdec, &clean))
                goto bad;
        if (s[0] == '0' && int_end > 1) {
                free(clean.p);
                return perr_at(p, line, col, "leading zeros are not allowed in '%.*s'", shown, tok);
        }
        if (has_frac) {
                if (buf_addc(&clean, '.') < 0 ||
                    !digits_us(s + frac_start, frac_end - frac_start, isdec, &clean))
                        goto bad;
        }
        if (has_exp) {
                const char *e = s + exp_start;
                size_t en = n - exp_start;
                if (buf_addc(&clean, 'e') < 0)
                        goto bad;
                if (en > 0 && (e[0] == '+' || e[0] == '-')) {
                        if (buf_addc(&clean, e[0]) < 0)
                                goto bad;
                        e++;
                        en--;
                }
                if (!digits_us(e, en, isdec, &clean))
                        goto bad;
        }
        if (!clean.p)
                goto bad;

        struct toml_value *v;
        if (has_frac || has_exp) {
                char *end;
                errno = 0;
                double d = strtod(clean.p, &end);
                if (*end != '\0')
                        goto bad;
                if (isinf(d)) {
                        free(clean.p);
                        return perr_at(p, line, col, "float '%.*s' is out of range", shown, tok);
                }
                v = value_new(TOML_FLOAT, line, col);
                if (!v) {
                        free(clean.p);
                        return oom(p);
                }
                v->u.fp = d;
        } else {
                uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
                uint64_t val = 0;
                for (const char *c = clean.p + (neg ? 1 : 0); *c; c++) {
                        uint64_t dv = (uint64_t)(*c - '0');
                        if (val > (limit - dv) / 10) {
                                free(clean.p);
                                return perr_at(p, line, col,
                                               "integer '%.*s' does not fit in 64 bits", shown,
                                               tok);
                        }
                        val = val * 10 + dv;
                }
                v = value_new(TOML_INTEGER, line, col);
                if (!v) {
                        free(clean.p);
                        return oom(p);
                }
                v->u.integer = neg ? (int64_t)(0 - val) : (int64_t)val;
        }
        free(clean.p);
        *ret = v;
        return 0;
bad:
        free(clean.p);
        return perr_at(p, line, col, "invalid number '%.*s'", shown, tok);
}

/* Exactly n decimal digits at s. */
static bool fixed_digits(const char *s, size_t avail, size_t n, int *out)
{
        if (avail < n)
                return false;
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!isdec((unsigned char)s[i]))
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return true;
}

static int days_in_month(int year, int month)
{
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
                return 29;
        return days[month - 1];
}

static int parse_datetime(struct parser *p, const char *tok, size_t n, unsigned line, unsigned col,
                          struct toml_value **ret)
{
        struct toml_datetime dt = {};
        struct buf text = {};
        bool has_date = false, has_time = false, has_off = false;
        size_t i = 0;
        int shown = (int)(n > 64 ? 64 : n);

        if (n >= 5 && tok[4] == '-') {
                if (!fixed_digits(tok, n, 4, &dt.year) || n < 10 || tok[7] != '-' ||
                    !fixed_digits(tok + 5, n - 5, 2, &dt.month) ||
                    !fixed_digits(tok + 8, n - 8, 2, &dt.day))
                        goto bad;
                if (dt.month < 1 || dt.month > 12)
                        return perr_at(p, line, col, "invalid month in date '%.*s'", shown, tok);
                if (dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
                        return perr_at(p, line, col, "invalid day of month in date '%.*s'", shown,
                                       tok);
                has_date = true;
                i = 10;
                if (i < n) {
                        if (tok[i] != 'T' && tok[i] != 't' && tok[i] != ' ')
                                goto bad;
                        i++;
                        if (i >= n)
                                goto bad;
                }
        }
        if (i < n) {
                const char *t = tok + i;
                size_t tn = n - i;
                if (!fixed_digits(t, tn, 2, &dt.hour) || tn < 8 || t[2] != ':' ||
                    !fixed_digits(t + 3, tn - 3, 2, &dt.minute) || t[5] != ':' ||
                    !fixed_digits(t + 6, tn - 6, 2, &dt.second))
                        goto bad;
                if (dt.hour > 23 || dt.minute > 59 || dt.second > 60)
                        return perr_at(p, line, col, "invalid time of day in '%.*s'", shown, tok);
                has_time = true;
                i += 8;
                if (i < n && tok[i] == '.') {
                        size_t f = ++i;
                        while (i < n && isdec((unsigned char)tok[i])) {
                                if (i - f < 9)
                                        dt.nanosecond =
                                            dt.nanosecond * 10 + (uint32_t)(tok[i] - '0');
                                i++;
                        }
                        if (i == f)
                                goto bad;
                        for (size_t k = i - f; k < 9; k++)
                                dt.nanosecond *= 10;
                }
                if (i < n && has_date) {
                        if (tok[i] == 'Z' || tok[i] == 'z') {
                                i++;
                        } else if (tok[i] == '+' || tok[i] == '-') {
                                int oh, om;
                                const char *o = tok + i + 1;
                                size_t on = n - i - 1;
                                if (on != 5 || !fixed_digits(o, on, 2, &oh) || o[2] != ':' ||
                                    !fixed_digits(o + 3, on - 3, 2, &om))
                                        goto bad;
                                if (oh > 23 || om > 59)
                                        return perr_at(p, line, col,
                                                       "invalid time zone offset in '%.*s'", shown,
                                                       tok);
                                dt.offset_minutes = (tok[i] == '-' ? -1 : 1) * (oh * 60 + om);
                                i = n;
                        } else {
                                goto bad;
                        }
                        has_off = true;
                }
        }
        if (i != n || (!has_date && !has_time))
                goto bad;

        /* Normalised text: date, 'T', time as written, 'Z' upper case. */
        if (has_date && buf_add(&text, tok, 10) < 0)
                goto nomem;
        if (has_date && has_time && buf_addc(&text, 'T') < 0)
                goto nomem;
        if (has_time) {
                size_t ts = has_date ? 11 : 0;
                size_t te = ts + 8;
                while (te < n && (tok[te] == '.' || isdec((unsigned char)tok[te])))
                        te++;
                if (buf_add(&text, tok + ts, te - ts) < 0)
                        goto nomem;
                if (has_off) {
                        if (tok[te] == 'Z' || tok[te] == 'z') {
                                if (buf_addc(&text, 'Z') < 0)
                                        goto nomem;
                        } else if (buf_add(&text, tok + te, n - te) < 0) {
                                goto nomem;
                        }
                }
        }

        enum toml_type type = has_date && has_time ? (has_off ? TOML_DATETIME : TOML_DATETIME_LOCAL)
                              : has_date           ? TOML_DATE_LOCAL
                                                   : TOML_TIME_LOCAL;
        struct toml_value *v = value_new(type, line, col);
        if (!v)
                goto nomem;
        v->u.datetime.text = text.p;
        v->u.datetime.dt = dt;
        *ret = v;
        return 0;
nomem:
        free(text.p);
        return oom(p);
bad:
        free(text.p);
        return perr_at(p, line, col, "invalid date-time or number '%.*s'", shown, tok);
}

static int parse_number_or_datetime(struct parser *p, struct toml_value **ret)
{
        unsigned line = p->line, col = p->col;
        size_t start = p->pos;
        while (is_token_char(peek(p)))
                adv(p);
        /* A space may separate date and time: "1979-05-27 07:32:00". */
        size_t n = p->pos - start;
        const char *tok = p->s + start;
        if (n == 10 && tok[4] == '-' && tok[7] == '-' && peek(p) == ' ' &&
            is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':') {
                adv(p);
                while (is_token_char(peek(p)))
                        adv(p);
                n = p->pos - start;
        }
        if (n == 0) {
                int c = peek(p);
                if (c >= 0x20 && c < 0x7f)
                        return perr(p, "expected a value, got '%c'", c);
                return perr(p, "expected a value");
        }
        bool dtlike = memchr(tok, ':', n) != NULL ||
                      (n >= 5 && tok[4] == '-' && isdec((unsigned char)tok[0]) &&
                       isdec((unsigned char)tok[1]) && isdec((unsigned char)tok[2]) &&
                       isdec((unsigned char)tok[3]));
        if (dtlike)
                return parse_datetime(p, tok, n, line, col, ret);
        return parse_number(p, tok, n, line, col, ret);
}

/* ---- arrays, inline tables, key/values ------------------------------ */

static int parse_value(struct parser *p, struct toml_value **ret);
static int parse_keyval(struct parser *p, struct toml_value *table);

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

static int parse_array(struct parser *p, struct toml_value **ret)
{
        _cleanup_(toml_freep) struct toml_value *a = value_new(TOML_ARRAY, p->line, p->col);
        if (!a)
                return oom(p);
        adv(p); /* '[' */
        for (;;) {
                int r = skip_ws_nl_comments(p);
                if (r < 0)
                        return r;
                if (peek(p) == ']') {
                        adv(p);
                        break;
                }
                struct toml_value *v = NULL;
                r = parse_value(p, &v);
                if (r < 0)
                        return r;
                if (array_append(a, v) < 0) {
                        toml_free(v);
                        return oom(p);
                }
                r = skip_ws_nl_comments(p);
                if (r < 0)
                        return r;
                if (peek(p) == ',') {
                        adv(p);
                        continue;
                }
                if (peek(p) == ']') {
                        adv(p);
                        break;
                }
                if (eof(p))
                        return perr_at(p, a->line, a->col, "unterminated array");
                return perr(p, "expected ',' or ']' in an array");
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int parse_inline_table(struct parser *p, struct toml_value **ret)
{
        _cleanup_(toml_freep) struct toml_value *t = value_new(TOML_TABLE, p->line, p->col);
        if (!t)
                return oom(p);
        adv(p); /* '{' */
        skip_ws(p);
        if (peek(p) == '}') {
                adv(p);
        } else {
                for (;;) {
                        if (at_newline(p) || peek(p) == '\r')
                                return perr(p, "newlines are not allowed in inline tables");
                        if (peek(p) == '}')
                                return perr(p, "trailing comma in an inline table");
                        int r = parse_keyval(p, t);
                        if (r < 0)
                                return r;
                        skip_ws(p);
                        if (peek(p) == ',') {
                                adv(p);
                                skip_ws(p);
                                continue;
                        }
                        if (peek(p) == '}') {
                                adv(p);
                                break;
                        }
                        if (eof(p))
                                return perr_at(p, t->line, t->col, "unterminated inline table");
                        if (at_newline(p) || peek(p) == '\r')
                                return perr(p, "newlines are not allowed in inline tables");
                        return perr(p, "expected ',' or '}' in an inline table");
                }
        }
        seal(t);
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_value(struct parser *p, struct toml_value **ret)
{
        int c = peek(p);
        int r;

        if (c == '"' || c == '\'') {
                struct buf b = {};
                unsigned line = p->line, col = p->col;
                r = parse_string(p, &b, true);
                if (r < 0) {
                        free(b.p);
                        return r;
                }
                struct toml_value *v = value_new(TOML_STRING, line, col);
                if (!v) {
                        free(b.p);
                        return oom(p);
                }
                v->u.str.ptr = b.p;
                v->u.str.len = b.n;
                *ret = v;
                return 0;
        }
        if (c == '[' || c == '{') {
                if (p->depth >= MAX_DEPTH)
                        return perr(p, "arrays and inline tables nested too deeply");
                p->depth++;
                r = c == '[' ? parse_array(p, ret) : parse_inline_table(p, ret);
                p->depth--;
                return r;
        }
        if (c == 't' || c == 'f') {
                const char *word = c == 't' ? "true" : "false";
                size_t wl = strlen(word);
                if (p->len - p->pos >= wl && memcmp(p->s + p->pos, word, wl) == 0 &&
                    !is_token_char(peek_at(p, wl))) {
                        struct toml_value *v = value_new(TOML_BOOL, p->line, p->col);
                        if (!v)
                                return oom(p);
                        v->u.boolean = c == 't';
                        adv_n(p, wl);
                        *ret = v;
                        return 0;
                }
                return perr(p, "expected a value (true, false, a number, a string, ...)");
        }
        if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n')
                return parse_number_or_datetime(p, ret);
        if (c < 0)
                return perr(p, "expected a value, got the end of the input");
        if (c == '\n' || c == '\r')
                return perr(p, "expected a value, got a newline");
        if (c >= 0x20 && c < 0x7f)
                return perr(p, "expected a value, got '%c'", c);
        return perr(p, "expected a value");
}

/* key = value, stored into table (walking/creating dotted parents). */
static int parse_keyval(struct parser *p, struct toml_value *table)
{
        _cleanup_(key_done) struct key k = {};
        char name[128];
        int r = parse_key(p, &k);
        if (r < 0)
                return r;
        if (peek(p) != '=') {
                if (eof(p) || at_newline(p))
                        return perr(p, "expected '=' after the key");
                return perr(p, "expected '=' after the key, got '%c'",
                            peek(p) >= 0x20 && peek(p) < 0x7f ? peek(p) : '?');
        }
        adv(p);
        skip_ws(p);

        struct toml_value *t = table;
        for (size_t i = 0; i + 1 < k.n; i++) {
                struct toml_keyval *kv = table_lookup(t, k.parts[i].s, k.parts[i].len);
                if (!kv) {
                        struct toml_value *nt =
                            value_new(TOML_TABLE, k.parts[i].line, k.parts[i].col);
                        if (!nt)
                                return oom(p);
                        nt->flags = TF_DOTTED;
                        if (table_insert(t, &k.parts[i], nt) < 0) {
                                toml_free(nt);
                                return oom(p);
                        }
                        t = nt;
                        continue;
                }
                struct toml_value *v = kv->value;
                if (v->type != TOML_TABLE || !(v->flags & TF_DOTTED) || (v->flags & TF_SEALED)) {
                        key_name(&k, i + 1, name, sizeof(name));
                        if (v->type != TOML_TABLE)
                                return perr_at(p, k.parts[i].line, k.parts[i].col,
                                               "key '%s' is already %s %s (line %u), not a table",
                                               name, article(v->type), toml_type_to_string(v->type),
                                               kv->line);
                        return perr_at(p, k.parts[i].line, k.parts[i].col,
                                       "cannot add keys to table '%s' defined at line %u with "
                                       "dotted keys",
                                       name, kv->line);
                }
                t = v;
        }

        struct keypart *last = &k.parts[k.n - 1];
        struct toml_keyval *dup = table_lookup(t, last->s, last->len);
        if (dup) {
                key_name(&k, k.n, name, sizeof(name));
                return perr_at(p, last->line, last->col,
                               "key '%s' defined twice (first at line %u)", name, dup->line);
        }
        struct toml_value *v = NULL;
        r = parse_value(p, &v);
        if (r < 0)
                return r;
        if (table_insert(t, last, v) < 0) {
                toml_free(v);
                return oom(p);
        }
        return 0;
}

/* [a.b.c] or [[a.b.c]] */
static int parse_header(struct parser *p, struct toml_value *root)
{
        _cleanup_(key_done) struct key k = {};
        char name[128];
        unsigned line = p->line, col = p->col;
        bool aot = peek_at(p, 1) == '[';
        adv_n(p, aot ? 2 : 1);
        int r = parse_key(p, &k);
        if (r < 0)
                return r;
        if (peek(p) != ']' || (aot && peek_at(p, 1) != ']'))
                return perr(p, aot ? "expected ']]' to close the array-of-tables header"
                                   : "expected ']' to close the table header");
        adv_n(p, aot ? 2 : 1);

        struct toml_value *t = root;
        for (size_t i = 0; i + 1 < k.n; i++) {
                struct toml_keyval *kv = table_lookup(t, k.parts[i].s, k.parts[i].len);
                key_name(&k, i + 1, name, sizeof(name));
                if (!kv) {
                        struct toml_value *nt = value_new(TOML_TABLE, line, col);
                        if (!nt)
                                return oom(p);
                        nt->flags = TF_IMPLICIT;
                        if (table_insert(t, &k.parts[i], nt) < 0) {
                                toml_free(nt);
                                return oom(p);
                        }
                        t = nt;
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
                        return perr_at(p, k.parts[i].line, k.parts[i].col,
                                       "cannot extend inline table '%s' (line %u)", name, kv->line);
                return perr_at(p, k.parts[i].line, k.parts[i].col,
                               "key '%s' is already %s %s (line %u), not a table", name,
                               article(v->type), toml_type_to_string(v->type), kv->line);
        }

        struct keypart *last = &k.parts[k.n - 1];
        struct toml_keyval *kv = table_lookup(t, last->s, last->len);
        key_name(&k, k.n, name, sizeof(name));
        if (aot) {
                struct toml_value *arr;
                if (!kv) {
                        arr = value_new(TOML_ARRAY, line, col);
                        if (!arr)
                                return oom(p);
                        arr->flags = AF_AOT;
                        if (table_insert(t, last, arr) < 0) {
                                toml_free(arr);
                                return oom(p);
                        }
                } else if (kv->value->type == TOML_ARRAY && (kv->value->flags & AF_AOT)) {
                        arr = kv->value;
                } else {
                        return perr_at(p, last->line, last->col,
                                       "cannot define array of tables [[%s]]: key already "
                                       "defined as %s %s at line %u",
                                       name, article(kv->value->type),
                                       toml_type_to_string(kv->value->type), kv->line);
                }
                struct toml_value *nt = value_new(TOML_TABLE, line, col);
                if (!nt)
                        return oom(p);
                nt->flags = TF_EXPLICIT;
                if (array_append(arr, nt) < 0) {
                        toml_free(nt);
                        return oom(p);
                }
                p->cur = nt;
                return 0;
        }

        if (!kv) {
                struct toml_value *nt = value_new(TOML_TABLE, line, col);
                if (!nt)
                        return oom(p);
                nt->flags = TF_EXPLICIT;
                if (table_insert(t, last, nt) < 0) {
                        toml_free(nt);
                        return oom(p);
                }
                p->cur = nt;
                return 0;
        }
        struct toml_value *v = kv->value;
        if (v->type != TOML_TABLE)
                return perr_at(p, last->line, last->col,
                               "cannot define table [%s]: key already defined as %s %s at line %u",
                               name, article(v->type), toml_type_to_string(v->type), kv->line);
        if (v->flags & TF_SEALED)
                return perr_at(p, last->line, last->col,
                               "cannot define table [%s]: it is an inline table (line %u)", name,
                               kv->line);
        if (v->flags & TF_DOTTED)
                return perr_at(p, last->line, last->col,
                               "cannot define table [%s]: already defined with dotted keys at "
                               "line %u",
                               name, kv->line);
        if (v->flags & TF_EXPLICIT)
                return perr_at(p, last->line, last->col,
                               "table [%s] defined twice (first at line %u)", name, v->line);
        v->flags = (v->flags & ~TF_IMPLICIT) | TF_EXPLICIT;
        v->line = line;
        v->col = col;
        p->cur = v;
        return 0;
}

int toml_parse(const char *text, size_t len, struct toml_value **ret_root, struct bg_error *err)
{
        struct parser p = {.s = text, .len = len, .line = 1, .col = 1, .err = err};
        int r;

        if (!text && len > 0)
                return bg_error_set(err, EINVAL, "1:1: no input");
        if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
                p.pos = 3;
        r = check_utf8(&p);
        if (r < 0)
                return r;

        _cleanup_(toml_freep) struct toml_value *root = value_new(TOML_TABLE, 1, 1);
        if (!root)
                return oom(&p);
        root->flags = TF_EXPLICIT;
        p.cur = root;

        while (!eof(&p)) {
                skip_ws(&p);
                int c = peek(&p);
                if (c == '#' || c == '\n' || c == '\r' || c < 0) {
                        r = expect_eol(&p, "a comment");
                } else if (c == '[') {
                        r = parse_header(&p, root);
                        if (r >= 0)
                                r = expect_eol(&p, "the table header");
                } else {
                        r = parse_keyval(&p, p.cur);
                        if (r >= 0)
                                r = expect_eol(&p, "the value");
                }
                if (r < 0)
                        return r;
        }
        *ret_root = TAKE_PTR(root);
        return 0;
}
