/* The TOML reader's lexical layer: error messages with line and column,
 * UTF-8 validation and encoding, whitespace, comments and newlines, the four
 * kinds of strings with their escapes (basic, literal, and their multi-line
 * forms), and keys (bare, quoted, dotted). Everything here reads through the
 * cursor in toml_internal.h and builds no tree. */
#include <stdarg.h>
#include <stdio.h>

#include "toml_internal.h"

void toml_key_done(struct toml_key *k)
{
        for (size_t i = 0; i < k->n; i++)
                free(k->parts[i].s);
        free(k->parts);
        k->parts = NULL;
        k->n = k->cap = 0;
}

int toml_perr_at(struct toml_parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
        char msg[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return bg_error_set(p->err, EINVAL, "%u:%u: %s", line, col, msg);
}

int toml_oom(struct toml_parser *p)
{
        return bg_error_set(p->err, ENOMEM, "%u:%u: out of memory", p->line, p->col);
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

/* Ensure a NUL-terminated (possibly empty) string. */
static int buf_finish(struct toml_buf *b)
{
        if (toml_buf_grow(b, 0) < 0)
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

int toml_check_utf8(struct toml_parser *p)
{
        const unsigned char *s = (const unsigned char *)p->s;
        unsigned line = 1, col = 1;
        size_t i = 0;
        while (i < p->len) {
                size_t l = utf8_seq_len(s + i, p->len - i);
                if (l == 0)
                        return toml_perr_at(p, line, col, "invalid UTF-8 byte 0x%02X", s[i]);
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

static int utf8_encode(struct toml_buf *b, uint32_t cp)
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
        return toml_buf_add(b, out, n);
}

/* ---- whitespace, comments, newlines --------------------------------- */

void toml_skip_ws(struct toml_parser *p)
{
        while (toml_peek(p) == ' ' || toml_peek(p) == '\t')
                toml_adv(p);
}

static int skip_comment(struct toml_parser *p)
{
        if (toml_peek(p) != '#')
                return 0;
        toml_adv(p);
        while (!toml_eof(p)) {
                int c = toml_peek(p);
                if (c == '\n')
                        break;
                if (c == '\r' && toml_peek_at(p, 1) == '\n')
                        break;
                if (is_control(c))
                        return toml_perr(p, "control character U+%04X is not allowed in a comment",
                                         (unsigned)c);
                toml_adv(p);
        }
        return 0;
}

/* At a newline (LF or CRLF)? Returns its length, 0 if not. */
size_t toml_at_newline(const struct toml_parser *p)
{
        if (toml_peek(p) == '\n')
                return 1;
        if (toml_peek(p) == '\r' && toml_peek_at(p, 1) == '\n')
                return 2;
        return 0;
}

/* Whitespace, comment, then a newline or the end of the input. */
int toml_expect_eol(struct toml_parser *p, const char *after)
{
        toml_skip_ws(p);
        int r = skip_comment(p);
        if (r < 0)
                return r;
        if (toml_eof(p))
                return 0;
        size_t nl = toml_at_newline(p);
        if (nl == 0) {
                if (toml_peek(p) == '\r')
                        return toml_perr(p, "carriage return not followed by a line feed");
                return toml_perr(p, "expected a newline after %s", after);
        }
        toml_adv_n(p, nl);
        return 0;
}

/* Whitespace, newlines and comments (inside arrays). */
int toml_skip_ws_nl_comments(struct toml_parser *p)
{
        for (;;) {
                toml_skip_ws(p);
                int r = skip_comment(p);
                if (r < 0)
                        return r;
                size_t nl = toml_at_newline(p);
                if (nl == 0) {
                        if (toml_peek(p) == '\r')
                                return toml_perr(p, "carriage return not followed by a line feed");
                        return 0;
                }
                toml_adv_n(p, nl);
        }
}

/* ---- strings -------------------------------------------------------- */

/* At a backslash inside a basic string. */
static int parse_escape(struct toml_parser *p, struct toml_buf *b, bool multiline)
{
        unsigned line = p->line, col = p->col;
        toml_adv(p); /* '\' */
        int c = toml_peek(p);
        if (multiline) {
                /* Line-ending backslash: '\', optional whitespace, newline,
                 * then all whitespace and newlines are trimmed. */
                size_t i = 0;
                while (toml_peek_at(p, i) == ' ' || toml_peek_at(p, i) == '\t')
                        i++;
                int d = toml_peek_at(p, i);
                if (d == '\n' || (d == '\r' && toml_peek_at(p, i + 1) == '\n')) {
                        for (;;) {
                                int e = toml_peek(p);
                                if (e == ' ' || e == '\t' || e == '\n')
                                        toml_adv(p);
                                else if (e == '\r' && toml_peek_at(p, 1) == '\n')
                                        toml_adv_n(p, 2);
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
                toml_adv(p);
                for (unsigned i = 0; i < ndig; i++) {
                        int h = toml_hexval(toml_peek(p));
                        if (h < 0)
                                return toml_perr_at(p, line, col,
                                                    "escape \\%c needs %u hexadecimal digits", c,
                                                    ndig);
                        if (cp > 0x10FFFF) /* keep shifting bounded */
                                cp = 0x110000;
                        else
                                cp = (cp << 4) | (uint32_t)h;
                        toml_adv(p);
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return toml_perr_at(p, line, col,
                                            "escape \\%c is not a Unicode scalar value", c);
                return utf8_encode(b, cp) < 0 ? toml_oom(p) : 0;
        }
        case -1:
                return toml_perr_at(p, line, col, "unterminated string");
        default:
                if (c < 0x20 || c >= 0x7f)
                        return toml_perr_at(p, line, col, "invalid escape sequence");
                return toml_perr_at(p, line, col, "invalid escape sequence \\%c", c);
        }
        toml_adv(p);
        return toml_buf_addc(b, out) < 0 ? toml_oom(p) : 0;
}

/* Parse any of the four string kinds at p; `allow_multi` is false for keys.
 * The result is NUL-terminated in b. */
int toml_parse_string(struct toml_parser *p, struct toml_buf *b, bool allow_multi)
{
        unsigned line = p->line, col = p->col;
        char q = (char)toml_peek(p);
        bool basic = q == '"';
        bool multi = toml_peek_at(p, 1) == q && toml_peek_at(p, 2) == q;
        int r;

        if (multi && !allow_multi)
                return toml_perr(p, "multi-line strings cannot be used as keys");
        if (multi) {
                toml_adv_n(p, 3);
                size_t nl = toml_at_newline(p); /* newline right after the opener is trimmed */
                toml_adv_n(p, nl);
        } else {
                toml_adv(p);
        }

        for (;;) {
                int c = toml_peek(p);
                if (c < 0)
                        return toml_perr_at(p, line, col, "unterminated string");
                if (c == q) {
                        if (!multi) {
                                toml_adv(p);
                                break;
                        }
                        size_t n = 0;
                        while (toml_peek_at(p, n) == q)
                                n++;
                        if (n >= 3) {
                                if (n > 5)
                                        return toml_perr(p, "too many quotes at the end of a "
                                                            "multi-line string");
                                for (size_t i = 0; i < n - 3; i++)
                                        if (toml_buf_addc(b, q) < 0)
                                                return toml_oom(p);
                                toml_adv_n(p, n);
                                break;
                        }
                        for (size_t i = 0; i < n; i++)
                                if (toml_buf_addc(b, q) < 0)
                                        return toml_oom(p);
                        toml_adv_n(p, n);
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
                                return toml_perr(p, "newline in a single-line string");
                        size_t nl = toml_at_newline(p);
                        if (nl == 0)
                                return toml_perr(p, "carriage return not followed by a line feed");
                        toml_adv_n(p, nl);
                        if (toml_buf_addc(b, '\n') < 0)
                                return toml_oom(p);
                        continue;
                }
                if (is_control(c))
                        return toml_perr(p, "control character U+%04X must be escaped in a string",
                                         (unsigned)c);
                /* Input is valid UTF-8 (checked up front): copy the byte. */
                if (toml_buf_addc(b, (char)c) < 0)
                        return toml_oom(p);
                toml_adv(p);
        }
        return buf_finish(b) < 0 ? toml_oom(p) : 0;
}

/* ---- keys ----------------------------------------------------------- */

static int parse_simple_key(struct toml_parser *p, struct toml_keypart *out)
{
        struct toml_buf b = {};
        unsigned line = p->line, col = p->col;
        int c = toml_peek(p);
        int r;

        if (c == '"' || c == '\'') {
                r = toml_parse_string(p, &b, false);
                if (r < 0) {
                        free(b.p);
                        return r;
                }
        } else if (is_bare_key_char(c)) {
                while (is_bare_key_char(toml_peek(p))) {
                        if (toml_buf_addc(&b, (char)toml_peek(p)) < 0) {
                                free(b.p);
                                return toml_oom(p);
                        }
                        toml_adv(p);
                }
        } else {
                if (c < 0)
                        return toml_perr(p, "expected a key, got the end of the input");
                if (c == '\n' || c == '\r')
                        return toml_perr(p, "expected a key, got a newline");
                if (c >= 0x20 && c < 0x7f)
                        return toml_perr(p, "expected a key, got '%c'", c);
                return toml_perr(p, "expected a key");
        }
        *out = (struct toml_keypart){.s = b.p, .len = b.n, .line = line, .col = col};
        return 0;
}

/* key = simple-key *( ws '.' ws simple-key ) */
int toml_parse_key(struct toml_parser *p, struct toml_key *k)
{
        for (;;) {
                toml_skip_ws(p);
                if (k->n == k->cap) {
                        size_t cap = k->cap ? k->cap * 2 : 4;
                        struct toml_keypart *np = realloc(k->parts, cap * sizeof(*np));
                        if (!np)
                                return toml_oom(p);
                        k->parts = np;
                        k->cap = cap;
                }
                int r = parse_simple_key(p, &k->parts[k->n]);
                if (r < 0)
                        return r;
                k->n++;
                toml_skip_ws(p);
                if (toml_peek(p) != '.')
                        return 0;
                toml_adv(p);
        }
}

/* Human-readable dotted name of parts[0..n) for messages. */
void toml_key_name(const struct toml_key *k, size_t n, char *out, size_t size)
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
