/* cli/term.c: what a guest, an image or a registry can put in a string the
 * CLI prints is shown escaped, and nothing else changes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"

static void test_plain_unchanged(void **state)
{
        const char *s = "web-1 172.30.0.5 nginx: worker";
        assert_ptr_equal(cli_safe(s), s); /* no copy when nothing is escaped */
        const char *u = "Grüße, ☃, 日本語, emoji 🎉";
        assert_string_equal(cli_safe(u), u);
        assert_string_equal(cli_safe(NULL), "");
        const char *lines = "line 1\n\tline 2\n";
        assert_ptr_equal(cli_safe_text(lines), lines);
}

static void test_escapes(void **state)
{
        /* A title change, a screen clear and a bell in a guest hostname. */
        assert_string_equal(cli_safe("evil\033]0;pwned\007\033[2J"),
                            "evil\\x1b]0;pwned\\x07\\x1b[2J");
        assert_string_equal(cli_safe("a\nb\rc\td\x7f"), "a\\nb\\rc\\td\\x7f");
        assert_string_equal(cli_safe_text("a\nb\rc\td\x1b[31m"), "a\nb\\rc\td\\x1b[31m");
        assert_string_equal(cli_safe_text("line\r\nnext\r"), "line\nnext\\r");
        /* C1 controls (8-bit CSI as UTF-8), bidi overrides, separators. */
        assert_string_equal(cli_safe("x\xc2\x9b"
                                     "2Jy"),
                            "x\\u009b2Jy");
        assert_string_equal(cli_safe("abc\xe2\x80\xae"
                                     "cba"),
                            "abc\\u202ecba");
        assert_string_equal(cli_safe("a\xe2\x81\xa6"
                                     "b\xe2\x80\xa8"),
                            "a\\u2066b\\u2028");
        /* Not UTF-8: raw 8-bit CSI, a stray continuation, an overlong '/',
         * a surrogate, a cut sequence at the end. */
        assert_string_equal(cli_safe("\x9b"
                                     "2J"),
                            "\\x9b2J");
        assert_string_equal(cli_safe("a\x80"
                                     "b"),
                            "a\\x80b");
        assert_string_equal(cli_safe("\xc0\xaf"), "\\xc0\\xaf");
        assert_string_equal(cli_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");
        assert_string_equal(cli_safe("ok\xe2\x82"), "ok\\xe2\\x82");
        /* Results stay valid for the next calls. */
        const char *a = cli_safe("\x01"), *b = cli_safe("\x02");
        assert_string_equal(a, "\\x01");
        assert_string_equal(b, "\\x02");
}

static void test_utf8_for_json(void **state)
{
        const char *ok = "ctl\033[2J ☃";
        assert_ptr_equal(cli_utf8(ok), ok); /* exact: jansson escapes controls */
        assert_string_equal(cli_utf8("a\xff\xfe"
                                     "b"),
                            "a\xef\xbf\xbd\xef\xbf\xbd"
                            "b");
        assert_string_equal(cli_utf8("cut\xe2\x98"), "cut\xef\xbf\xbd\xef\xbf\xbd");
        assert_string_equal(cli_utf8(NULL), "");
}

static void test_stream(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        struct cli_safe_stream st = {0};
        /* "☃" (e2 98 83) cut across two writes, then ESC, a "\r\n" cut
         * between writes, then a cut end. */
        cli_safe_write(f, &st, "boot\n\xe2\x98", 7);
        cli_safe_write(f, &st, "\x83 \033[1mok\r", 9);
        cli_safe_write(f, &st, "\n\xf0\x9f", 3);
        cli_safe_flush(f, &st);
        fclose(f);
        assert_string_equal(buf, "boot\n☃ \\x1b[1mok\n\\xf0\\x9f");
        free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_unchanged),
            cmocka_unit_test(test_escapes),
            cmocka_unit_test(test_utf8_for_json),
            cmocka_unit_test(test_stream),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
