/* TOML values: creating and freeing them, type names, table lookup and the
 * accessors of toml.h, and the scalars that are not strings: integers
 * (decimal, hexadecimal, octal, binary, with '_' separators), floats
 * (including inf and nan) and the four date-time types, each checked against
 * the TOML 1.0.0 grammar and ranges. */
#include "toml.h"

#include <math.h>
#include <stdio.h>

#include "toml_internal.h"

/* ---- values --------------------------------------------------------- */

struct toml_value *toml_value_new(enum toml_type t, unsigned line, unsigned col)
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

struct toml_keyval *toml_table_lookup(const struct toml_value *t, const char *key, size_t len)
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
        return toml_table_lookup(table, key, strlen(key));
}

const struct toml_value *toml_table_get(const struct toml_value *table, const char *key)
{
        const struct toml_keyval *kv = toml_table_find(table, key);
        return kv ? kv->value : NULL;
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

const char *toml_article(enum toml_type t)
{
        return t == TOML_ARRAY || t == TOML_INTEGER || t == TOML_DATETIME ? "an" : "a";
}

/* ---- numbers and date-times ----------------------------------------- */

/* Check a digit run with '_' only between digits; copy digits to out. */
static bool digits_us(const char *s, size_t n, int (*valid)(int), struct toml_buf *out)
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
                if (out && toml_buf_addc(out, s[i]) < 0)
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
        return toml_hexval(c) >= 0;
}
static int isoct(int c)
{
        return c >= '0' && c <= '7';
}
static int isbin(int c)
{
        return c == '0' || c == '1';
}

static int parse_number(struct toml_parser *p, const char *tok, size_t n, unsigned line,
                        unsigned col, struct toml_value **ret)
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
                struct toml_value *v = toml_value_new(TOML_FLOAT, line, col);
                if (!v)
                        return toml_oom(p);
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
                struct toml_buf d = {};
                if (signed_)
                        return toml_perr_at(p, line, col,
                                            "a sign is not allowed on hexadecimal, octal or binary "
                                            "integers");
                if (!digits_us(s + 2, n - 2, valid, &d)) {
                        free(d.p);
                        return toml_perr_at(p, line, col, "invalid %s integer '%.*s'",
                                            base == 16  ? "hexadecimal"
                                            : base == 8 ? "octal"
                                                        : "binary",
                                            (int)(n > 64 ? 64 : n), s);
                }
                uint64_t val = 0;
                bool over = false;
                for (size_t i = 0; i < d.n; i++) {
                        uint64_t dv = (uint64_t)toml_hexval((unsigned char)d.p[i]);
                        if (val > ((uint64_t)INT64_MAX - dv) / (uint64_t)base)
                                over = true;
                        else
                                val = val * (uint64_t)base + dv;
                }
                free(d.p);
                if (over)
                        return toml_perr_at(p, line, col, "integer does not fit in 64 bits");
                struct toml_value *v = toml_value_new(TOML_INTEGER, line, col);
                if (!v)
                        return toml_oom(p);
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
                return toml_perr_at(p, line, col, "invalid number '%.*s'", shown, tok);

        struct toml_buf clean = {};
        if (neg && toml_buf_addc(&clean, '-') < 0)
                return toml_oom(p);
        if (!digits_us(s, int_end, isdec, &clean))
                goto bad;
        if (s[0] == '0' && int_end > 1) {
                free(clean.p);
                return toml_perr_at(p, line, col, "leading zeros are not allowed in '%.*s'", shown,
                                    tok);
        }
        if (has_frac) {
                if (toml_buf_addc(&clean, '.') < 0 ||
                    !digits_us(s + frac_start, frac_end - frac_start, isdec, &clean))
                        goto bad;
        }
        if (has_exp) {
                const char *e = s + exp_start;
                size_t en = n - exp_start;
                if (toml_buf_addc(&clean, 'e') < 0)
                        goto bad;
                if (en > 0 && (e[0] == '+' || e[0] == '-')) {
                        if (toml_buf_addc(&clean, e[0]) < 0)
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
                        return toml_perr_at(p, line, col, "float '%.*s' is out of range", shown,
                                            tok);
                }
                v = toml_value_new(TOML_FLOAT, line, col);
                if (!v) {
                        free(clean.p);
                        return toml_oom(p);
                }
                v->u.fp = d;
        } else {
                uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
                uint64_t val = 0;
                for (const char *c = clean.p + (neg ? 1 : 0); *c; c++) {
                        uint64_t dv = (uint64_t)(*c - '0');
                        if (val > (limit - dv) / 10) {
                                free(clean.p);
                                return toml_perr_at(p, line, col,
                                                    "integer '%.*s' does not fit in 64 bits", shown,
                                                    tok);
                        }
                        val = val * 10 + dv;
                }
                v = toml_value_new(TOML_INTEGER, line, col);
                if (!v) {
                        free(clean.p);
                        return toml_oom(p);
                }
                v->u.integer = neg ? (int64_t)(0 - val) : (int64_t)val;
        }
        free(clean.p);
        *ret = v;
        return 0;
bad:
        free(clean.p);
        return toml_perr_at(p, line, col, "invalid number '%.*s'", shown, tok);
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

static int parse_datetime(struct toml_parser *p, const char *tok, size_t n, unsigned line,
                          unsigned col, struct toml_value **ret)
{
        struct toml_datetime dt = {};
        struct toml_buf text = {};
        bool has_date = false, has_time = false, has_off = false;
        size_t i = 0;
        int shown = (int)(n > 64 ? 64 : n);

        if (n >= 5 && tok[4] == '-') {
                if (!fixed_digits(tok, n, 4, &dt.year) || n < 10 || tok[7] != '-' ||
                    !fixed_digits(tok + 5, n - 5, 2, &dt.month) ||
                    !fixed_digits(tok + 8, n - 8, 2, &dt.day))
                        goto bad;
                if (dt.month < 1 || dt.month > 12)
                        return toml_perr_at(p, line, col, "invalid month in date '%.*s'", shown,
                                            tok);
                if (dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
                        return toml_perr_at(p, line, col, "invalid day of month in date '%.*s'",
                                            shown, tok);
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
                        return toml_perr_at(p, line, col, "invalid time of day in '%.*s'", shown,
                                            tok);
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
                                        return toml_perr_at(p, line, col,
                                                            "invalid time zone offset in '%.*s'",
                                                            shown, tok);
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
        if (has_date && toml_buf_add(&text, tok, 10) < 0)
                goto nomem;
        if (has_date && has_time && toml_buf_addc(&text, 'T') < 0)
                goto nomem;
        if (has_time) {
                size_t ts = has_date ? 11 : 0;
                size_t te = ts + 8;
                while (te < n && (tok[te] == '.' || isdec((unsigned char)tok[te])))
                        te++;
                if (toml_buf_add(&text, tok + ts, te - ts) < 0)
                        goto nomem;
                if (has_off) {
                        if (tok[te] == 'Z' || tok[te] == 'z') {
                                if (toml_buf_addc(&text, 'Z') < 0)
                                        goto nomem;
                        } else if (toml_buf_add(&text, tok + te, n - te) < 0) {
                                goto nomem;
                        }
                }
        }

        enum toml_type type = has_date && has_time ? (has_off ? TOML_DATETIME : TOML_DATETIME_LOCAL)
                              : has_date           ? TOML_DATE_LOCAL
                                                   : TOML_TIME_LOCAL;
        struct toml_value *v = toml_value_new(type, line, col);
        if (!v)
                goto nomem;
        v->u.datetime.text = text.p;
        v->u.datetime.dt = dt;
        *ret = v;
        return 0;
nomem:
        free(text.p);
        return toml_oom(p);
bad:
        free(text.p);
        return toml_perr_at(p, line, col, "invalid date-time or number '%.*s'", shown, tok);
}

int toml_parse_number_or_datetime(struct toml_parser *p, struct toml_value **ret)
{
        unsigned line = p->line, col = p->col;
        size_t start = p->pos;
        while (toml_is_token_char(toml_peek(p)))
                toml_adv(p);
        /* A space may separate date and time: "1979-05-27 07:32:00". */
        size_t n = p->pos - start;
        const char *tok = p->s + start;
        if (n == 10 && tok[4] == '-' && tok[7] == '-' && toml_peek(p) == ' ' &&
            toml_is_digit(toml_peek_at(p, 1)) && toml_is_digit(toml_peek_at(p, 2)) &&
            toml_peek_at(p, 3) == ':') {
                toml_adv(p);
                while (toml_is_token_char(toml_peek(p)))
                        toml_adv(p);
                n = p->pos - start;
        }
        if (n == 0) {
                int c = toml_peek(p);
                if (c >= 0x20 && c < 0x7f)
                        return toml_perr(p, "expected a value, got '%c'", c);
                return toml_perr(p, "expected a value");
        }
        bool dtlike = memchr(tok, ':', n) != NULL ||
                      (n >= 5 && tok[4] == '-' && isdec((unsigned char)tok[0]) &&
                       isdec((unsigned char)tok[1]) && isdec((unsigned char)tok[2]) &&
                       isdec((unsigned char)tok[3]));
        if (dtlike)
                return parse_datetime(p, tok, n, line, col, ret);
        return parse_number(p, tok, n, line, col, ret);
}
