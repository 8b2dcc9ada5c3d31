/* Parser edge cases beyond the toml-test suite: positions, DOM details,
 * error messages, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "config/toml.h"

static struct toml_value *parse_ok(const char *text)
{
        struct toml_value *root = NULL;
        struct bg_error err = {};
        int r = toml_parse(text, strlen(text), &root, &err);
        if (r < 0)
                fail_msg("parse failed: %s", err.msg);
        return root;
}

static void assert_parse_error(const char *text, size_t len, const char *want)
{
        struct toml_value *root = NULL;
        struct bg_error err = {};
        int r = toml_parse(text, len, &root, &err);
        assert_int_equal(r, -EINVAL);
        assert_null(root);
        if (!strstr(err.msg, want))
                fail_msg("error '%s' does not contain '%s'", err.msg, want);
}

#define PARSE_ERROR(text, want) assert_parse_error((text), strlen(text), (want))

static void test_positions(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root =
            parse_ok("# comment\n\n[server]\n  port = 8080\n  name.first = \"x\"\n"
                     "[[peer]]\n\thost = 'a'\n");
        const struct toml_keyval *kv = toml_table_find(root, "server");
        assert_non_null(kv);
        assert_int_equal(kv->line, 3);
        assert_int_equal(kv->col, 2);
        assert_int_equal(kv->value->line, 3);
        assert_int_equal(kv->value->col, 1);
        const struct toml_keyval *port = toml_table_find(kv->value, "port");
        assert_non_null(port);
        assert_int_equal(port->line, 4);
        assert_int_equal(port->col, 3);
        assert_int_equal(port->value->type, TOML_INTEGER);
        assert_int_equal(port->value->u.integer, 8080);
        assert_int_equal(port->value->line, 4);
        assert_int_equal(port->value->col, 10);
        const struct toml_value *name = toml_table_get(kv->value, "name");
        assert_non_null(name);
        assert_int_equal(name->type, TOML_TABLE);
        assert_int_equal(name->line, 5);
        const struct toml_value *peer = toml_table_get(root, "peer");
        assert_non_null(peer);
        assert_int_equal(peer->type, TOML_ARRAY);
        assert_int_equal(peer->u.array.n, 1);
        const struct toml_keyval *host = toml_table_find(peer->u.array.items[0], "host");
        assert_int_equal(host->line, 7);
        assert_int_equal(host->col, 2);
        assert_string_equal(host->value->u.str.ptr, "a");
}

static void test_columns_count_characters(void **state)
{
        /* "é" is two bytes but one column. */
        PARSE_ERROR("s = \"é\" x\n", "1:9: expected a newline after the value");
}

static void test_key_order_kept(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root = parse_ok("z = 1\na = 2\nm = 3\n");
        assert_int_equal(root->u.table.n, 3);
        assert_string_equal(root->u.table.items[0].key, "z");
        assert_string_equal(root->u.table.items[1].key, "a");
        assert_string_equal(root->u.table.items[2].key, "m");
}

static void test_strings(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root =
            parse_ok("a = \"tab\\there \\u00e9 \\U0001F600\"\n"
                     "b = \"\"\"\n  one \\\n    two\"\"\"\"\"\n"
                     "c = '''\r\nraw \\n'''\r\n"
                     "d = \"nul\\u0000byte\"\n");
        assert_string_equal(toml_table_get(root, "a")->u.str.ptr,
                            "tab\there \xc3\xa9 \xf0\x9f\x98\x80");
        assert_string_equal(toml_table_get(root, "b")->u.str.ptr, "  one two\"\"");
        assert_string_equal(toml_table_get(root, "c")->u.str.ptr, "raw \\n");
        const struct toml_value *d = toml_table_get(root, "d");
        assert_int_equal(d->u.str.len, 8);
        assert_memory_equal(d->u.str.ptr, "nul\0byte", 8);
}

static void test_string_errors(void **state)
{
        PARSE_ERROR("a = \"\\uD800\"\n", "1:6: escape \\u is not a Unicode scalar value");
        PARSE_ERROR("a = \"\\U00110000\"\n", "1:6: escape \\U is not a Unicode scalar value");
        PARSE_ERROR("a = \"\\u12\"\n", "1:6: escape \\u needs 4 hexadecimal digits");
        PARSE_ERROR("a = \"\\x41\"\n", "1:6: invalid escape sequence \\x");
        PARSE_ERROR("a = 1\nb = \"open\n", "2:10: newline in a single-line string");
        PARSE_ERROR("a = \"\"\"abc", "1:5: unterminated string");
        PARSE_ERROR("a = \"a\x01\"\n", "control character U+0001 must be escaped");
        PARSE_ERROR("a = '''x''''''\n", "too many quotes");
        PARSE_ERROR("\"\"\"k\"\"\" = 1\n", "multi-line strings cannot be used as keys");
}

static void test_numbers(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root =
            parse_ok("max = 9223372036854775807\nmin = -9223372036854775808\n"
                     "hex = 0xdead_BEEF\noct = 0o755\nbin = 0b1010\n"
                     "f = -1_000.5e-1_0\ni = -inf\nn = nan\nz = -0.0\n");
        assert_true(toml_table_get(root, "max")->u.integer == INT64_MAX);
        assert_true(toml_table_get(root, "min")->u.integer == INT64_MIN);
        assert_int_equal(toml_table_get(root, "hex")->u.integer, 0xdeadbeef);
        assert_int_equal(toml_table_get(root, "oct")->u.integer, 0755);
        assert_int_equal(toml_table_get(root, "bin")->u.integer, 10);
        assert_true(toml_table_get(root, "f")->u.fp == -1000.5e-10);
        assert_true(isinf(toml_table_get(root, "i")->u.fp) && toml_table_get(root, "i")->u.fp < 0);
        assert_true(isnan(toml_table_get(root, "n")->u.fp));
        assert_true(signbit(toml_table_get(root, "z")->u.fp));
}

static void test_number_errors(void **state)
{
        PARSE_ERROR("a = 9223372036854775808\n", "1:5: integer '9223372036854775808' does not fit");
        PARSE_ERROR("a = -9223372036854775809\n", "does not fit in 64 bits");
        PARSE_ERROR("a = 0x8000000000000000\n", "integer does not fit in 64 bits");
        PARSE_ERROR("a = 012\n", "1:5: leading zeros are not allowed in '012'");
        PARSE_ERROR("a = 1__2\n", "invalid number '1__2'");
        PARSE_ERROR("a = +0x10\n", "a sign is not allowed");
        PARSE_ERROR("a = 0X10\n", "invalid number");
        PARSE_ERROR("a = 1e400\n", "float '1e400' is out of range");
        PARSE_ERROR("a = .5\n", "expected a value, got '.'");
}

static void test_datetimes(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root =
            parse_ok("a = 1979-05-27 07:32:00.123456789999z\nb = 2000-02-29t00:00:00-07:30\n"
                     "c = 2024-12-31\nd = 23:59:60\n");
        const struct toml_value *a = toml_table_get(root, "a");
        assert_int_equal(a->type, TOML_DATETIME);
        assert_string_equal(a->u.datetime.text, "1979-05-27T07:32:00.123456789999Z");
        assert_int_equal(a->u.datetime.dt.year, 1979);
        assert_int_equal(a->u.datetime.dt.nanosecond, 123456789);
        const struct toml_value *b = toml_table_get(root, "b");
        assert_int_equal(b->type, TOML_DATETIME);
        assert_string_equal(b->u.datetime.text, "2000-02-29T00:00:00-07:30");
        assert_int_equal(b->u.datetime.dt.offset_minutes, -450);
        assert_int_equal(toml_table_get(root, "c")->type, TOML_DATE_LOCAL);
        assert_int_equal(toml_table_get(root, "d")->type, TOML_TIME_LOCAL);
        assert_string_equal(toml_table_get(root, "d")->u.datetime.text, "23:59:60");

        PARSE_ERROR("a = 1900-02-29\n", "invalid day of month");
        PARSE_ERROR("a = 2023-13-01\n", "invalid month");
        PARSE_ERROR("a = 24:00:00\n", "invalid time of day");
        PARSE_ERROR("a = 2023-01-01T00:00:00+24:00\n", "invalid time zone offset");
        PARSE_ERROR("a = 2023-01-01T00:00\n", "invalid date-time");
}

static void test_table_rules(void **state)
{
        PARSE_ERROR("[a]\nx = 1\n[a]\n", "3:2: table [a] defined twice (first at line 1)");
        PARSE_ERROR("a = 1\na = 2\n", "2:1: key 'a' defined twice (first at line 1)");
        PARSE_ERROR("[t]\na.b = 1\n[t.a]\n", "3:4: cannot define table [t.a]: already defined "
                                             "with dotted keys");
        PARSE_ERROR("a = {b = 1}\na.c = 2\n", "2:1: cannot add keys to table 'a'");
        PARSE_ERROR("a = {b = 1}\n[a.c]\n", "cannot extend inline table 'a'");
        PARSE_ERROR("a = [1]\n[[a]]\n", "cannot define array of tables [[a]]");
        PARSE_ERROR("[[a]]\n[a]\n", "key already defined as an array");
        PARSE_ERROR("a = {b = 1,}\n", "trailing comma in an inline table");
        PARSE_ERROR("a = {b = 1,\nc = 2}\n", "newlines are not allowed in inline tables");

        /* Allowed: implicit table defined later, sub-tables of dotted tables,
         * tables inside the last array-of-tables element. */
        _cleanup_(toml_freep) struct toml_value *root =
            parse_ok("[x.y.z]\n[x]\nk = 1\n[f]\na.b = 1\n[f.a.c]\nd = 2\n"
                     "[[p]]\n[p.q]\nr = 3\n[[p]]\n");
        assert_int_equal(toml_table_get(toml_table_get(root, "x"), "k")->u.integer, 1);
        const struct toml_value *p = toml_table_get(root, "p");
        assert_int_equal(p->u.array.n, 2);
        assert_int_equal(toml_table_get(toml_table_get(p->u.array.items[0], "q"), "r")->u.integer,
                         3);
}

static void test_encoding(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root = parse_ok("\xEF\xBB\xBF"
                                                                 "a = 1\r\nb = 2\r\n");
        assert_int_equal(toml_table_get(root, "b")->u.integer, 2);

        assert_parse_error("a = 1\nb = \"x\0\"\n", 13, "2:7: control character U+0000");
        PARSE_ERROR("a = \"\xC0\xAF\"\n", "1:6: invalid UTF-8 byte 0xC0");
        PARSE_ERROR("a = \"\xED\xA0\x80\"\n", "invalid UTF-8");
        PARSE_ERROR("a = 1\rb = 2\n", "carriage return not followed by a line feed");
        PARSE_ERROR("# c\x7f\n", "control character U+007F is not allowed in a comment");
}

static void test_nesting_limit(void **state)
{
        char text[1024] = "a = ";
        for (int i = 0; i < 200; i++)
                strcat(text, "[");
        PARSE_ERROR(text, "nested too deeply");
        strcpy(text, "a = ");
        for (int i = 0; i < 100; i++)
                strcat(text, "[");
        for (int i = 0; i < 100; i++)
                strcat(text, "]");
        _cleanup_(toml_freep) struct toml_value *root = parse_ok(text);
        assert_int_equal(toml_table_get(root, "a")->type, TOML_ARRAY);
}

static void test_empty_and_lookup(void **state)
{
        _cleanup_(toml_freep) struct toml_value *root = parse_ok("");
        assert_int_equal(root->type, TOML_TABLE);
        assert_int_equal(root->u.table.n, 0);
        assert_null(toml_table_get(root, "x"));
        assert_null(toml_table_get(NULL, "x"));
        assert_null(toml_free(NULL));
        assert_string_equal(toml_type_to_string(TOML_DATETIME_LOCAL), "local date-time");
        PARSE_ERROR("= 1\n", "1:1: expected a key, got '='");
        PARSE_ERROR("a = \n", "1:5: expected a value, got a newline");
        PARSE_ERROR("a = 1 2\n", "1:7: expected a newline after the value");
        PARSE_ERROR("[a\n", "1:3: expected ']' to close the table header");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_positions),      cmocka_unit_test(test_columns_count_characters),
            cmocka_unit_test(test_key_order_kept), cmocka_unit_test(test_strings),
            cmocka_unit_test(test_string_errors),  cmocka_unit_test(test_numbers),
            cmocka_unit_test(test_number_errors),  cmocka_unit_test(test_datetimes),
            cmocka_unit_test(test_table_rules),    cmocka_unit_test(test_encoding),
            cmocka_unit_test(test_nesting_limit),  cmocka_unit_test(test_empty_and_lookup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
