/* A TOML 1.0.0 reader that builds a small DOM.
 *
 * toml_parse() checks the whole document against the TOML 1.0.0 rules (UTF-8,
 * control characters, string escapes, number and date-time forms, table and
 * array-of-tables definition rules) and returns the root table. Every value
 * and every key remembers where it was written (1-based line and column,
 * columns counted in characters), so callers can point at the offending line
 * when a value is well-formed TOML but wrong for them.
 *
 * Ownership: the tree returned by toml_parse() belongs to the caller and is
 * released with toml_free(); every pointer inside it lives as long as the
 * tree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum toml_type {
        TOML_TABLE,
        TOML_ARRAY,
        TOML_STRING,
        TOML_INTEGER,
        TOML_FLOAT,
        TOML_BOOL,
        TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
        TOML_DATETIME_LOCAL, /* local date-time: 1979-05-27T07:32:00 */
        TOML_DATE_LOCAL,     /* local date: 1979-05-27 */
        TOML_TIME_LOCAL,     /* local time: 07:32:00.999 */
        _TOML_TYPE_MAX,
};

/* The parsed fields of a date-time value. Fields the type does not carry
 * (the time of a local date, the date of a local time, the offset of local
 * values) are zero. */
struct toml_datetime {
        int year, month, day;
        int hour, minute, second;
        uint32_t nanosecond; /* fraction of a second, truncated to 9 digits */
        int offset_minutes;  /* TOML_DATETIME only: Z is 0, -07:00 is -420 */
};

struct toml_value;

struct toml_keyval {
        char *key; /* NUL-terminated; may also hold NULs (key_len is exact) */
        size_t key_len;
        unsigned line, col; /* where the key was written */
        struct toml_value *value;
};

struct toml_value {
        enum toml_type type;
        unsigned line, col; /* where the value (or the [table] header) starts */
        unsigned flags;     /* parser bookkeeping, see toml.c */
        union {
                struct {
                        struct toml_keyval *items; /* in document order */
                        size_t n, cap;
                } table;
                struct {
                        struct toml_value **items;
                        size_t n, cap;
                } array;
                struct {
                        char *ptr; /* NUL-terminated UTF-8; may hold NULs (len is exact) */
                        size_t len;
                } str;
                int64_t integer;
                double fp;
                bool boolean;
                struct {
                        /* The text as written, normalised so equal values
                         * compare equal more often: 'T' between date and
                         * time, 'Z' upper case. Fraction digits are kept. */
                        char *text;
                        struct toml_datetime dt;
                } datetime;
        } u;
};

/* Parse len bytes of TOML (a leading UTF-8 BOM is skipped). On success
 * *ret_root receives a TOML_TABLE owned by the caller. On failure returns
 * -EINVAL with err->msg "LINE:COL: what went wrong" (or -ENOMEM). */
int toml_parse(const char *text, size_t len, struct toml_value **ret_root, struct bg_error *err);

/* Free a tree returned by toml_parse(); accepts NULL, returns NULL. */
struct toml_value *toml_free(struct toml_value *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct toml_value *, toml_free);

/* The entry for key in table (NUL-terminated key), or NULL if absent or if
 * table is not a table. */
const struct toml_keyval *toml_table_find(const struct toml_value *table, const char *key);

/* toml_table_find()'s value, or NULL. */
const struct toml_value *toml_table_get(const struct toml_value *table, const char *key);

/* "table", "array", "string", "integer", "float", "boolean", "offset
 * date-time", "local date-time", "local date", "local time". */
const char *toml_type_to_string(enum toml_type t);
