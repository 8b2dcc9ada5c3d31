/* Shared between the files of the TOML reader, not part of its API (toml.h):
 * toml_lex.c (the cursor, errors, UTF-8, whitespace and comments, strings
 * and keys), toml_value.c (value objects, type names, table lookup, numbers
 * and date-times) and toml.c (the document: tables, arrays of tables, dotted
 * keys, arrays, inline tables and the rules for extending them).
 *
 * The cursor and byte-string helpers are inline here: they run for every
 * byte of the input. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"

/* The reader's cursor over the input; every error goes to err with the
 * line and column it happened at. */
struct toml_parser {
        const char *s;
        size_t len, pos;
        unsigned line, col;
        unsigned depth;
        struct bg_error *err;
        struct toml_value *cur; /* table that key/values go into */
};

/* A growing NUL-terminated byte string (strings, keys, number digits). */
struct toml_buf {
        char *p;
        size_t n, cap;
};

/* One part of a dotted key, with where it was written. */
struct toml_keypart {
        char *s;
        size_t len;
        unsigned line, col;
};

/* A dotted key: a.b."c" is three parts. Release with toml_key_done(). */
struct toml_key {
        struct toml_keypart *parts;
        size_t n, cap;
};

/* ---- the cursor: input bytes and positions (columns count characters) -- */

static inline bool toml_eof(const struct toml_parser *p)
{
        return p->pos >= p->len;
}

static inline int toml_peek(const struct toml_parser *p)
{
        return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static inline int toml_peek_at(const struct toml_parser *p, size_t off)
{
        return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static inline void toml_adv(struct toml_parser *p)
{
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '\n') {
                p->line++;
                p->col = 1;
        } else if ((c & 0xC0) != 0x80) {
                p->col++;
        }
}

static inline void toml_adv_n(struct toml_parser *p, size_t n)
{
        while (n-- > 0)
                toml_adv(p);
}

static inline bool toml_is_digit(int c)
{
        return c >= '0' && c <= '9';
}

/* ---- byte strings --------------------------------------------------- */

static inline int toml_buf_grow(struct toml_buf *b, size_t more)
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

static inline int toml_buf_add(struct toml_buf *b, const char *s, size_t n)
{
        if (toml_buf_grow(b, n) < 0)
                return -ENOMEM;
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        return 0;
}

static inline int toml_buf_addc(struct toml_buf *b, char c)
{
        return toml_buf_add(b, &c, 1);
}

/* ---- characters ----------------------------------------------------- */

static inline int toml_hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Characters of a bare value token (numbers, date-times, true/false). */
static inline bool toml_is_token_char(int c)
{
        return toml_is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
               c == '+' || c == '-' || c == '.' || c == ':';
}

/* ---- toml_lex.c ------------------------------------------------------ */

/* Set err to "LINE:COL: message" (EINVAL) and return -EINVAL. */
int toml_perr_at(struct toml_parser *p, unsigned line, unsigned col, const char *fmt, ...)
    _printf_(4, 5);
#define toml_perr(p, ...) toml_perr_at((p), (p)->line, (p)->col, __VA_ARGS__)
/* Set err to "LINE:COL: out of memory" and return -ENOMEM. */
int toml_oom(struct toml_parser *p);

/* The whole input is valid UTF-8 (checked once, before parsing). */
int toml_check_utf8(struct toml_parser *p);

/* Spaces and tabs. */
void toml_skip_ws(struct toml_parser *p);
/* At a newline (LF or CRLF)? Returns its length, 0 if not. */
size_t toml_at_newline(const struct toml_parser *p);
/* Whitespace, comment, then a newline or the end of the input. */
int toml_expect_eol(struct toml_parser *p, const char *after);
/* Whitespace, newlines and comments (inside arrays). */
int toml_skip_ws_nl_comments(struct toml_parser *p);

/* Any of the four string kinds at p; allow_multi is false for keys. The
 * result is NUL-terminated in b (which the caller frees, also on failure). */
int toml_parse_string(struct toml_parser *p, struct toml_buf *b, bool allow_multi);

/* key = simple-key *( ws '.' ws simple-key ) */
int toml_parse_key(struct toml_parser *p, struct toml_key *k);
void toml_key_done(struct toml_key *k);
/* Human-readable dotted name of parts[0..n) for messages. */
void toml_key_name(const struct toml_key *k, size_t n, char *out, size_t size);

/* ---- toml_value.c ---------------------------------------------------- */

/* A new value of type t written at line:col, or NULL. */
struct toml_value *toml_value_new(enum toml_type t, unsigned line, unsigned col);
/* The entry for key (len bytes, may hold NULs) in table t, or NULL. */
struct toml_keyval *toml_table_lookup(const struct toml_value *t, const char *key, size_t len);
/* "a" or "an", for "key 'x' is already an integer". */
const char *toml_article(enum toml_type t);
/* A number (integer or float, any base, inf, nan) or a date-time at p. */
int toml_parse_number_or_datetime(struct toml_parser *p, struct toml_value **ret);
