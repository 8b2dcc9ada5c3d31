/* lib/util/labels.c: what a VM label may be (the service stores what RPC
 * clients send), and the caps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/labels.h"

static void test_keys(void **state)
{
        struct bg_error err = {0};
        assert_int_equal(bg_label_check("team", "infra", 256, &err), 0);
        assert_int_equal(bg_label_check("com.example/owner_1-x", "", 256, &err), 0);
        assert_int_equal(bg_label_check("9lives", "x", 256, &err), 0);
        assert_int_equal(bg_label_check("", "x", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("-x", "x", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check(".x", "x", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("a b", "x", 256, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "' ' at position 2"));
        assert_int_equal(bg_label_check("a=b", "x", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("a\nb", "x", 256, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "'?'"));
        char key[80];
        memset(key, 'k', sizeof(key));
        key[BG_LABEL_KEY_MAX] = '\0';
        assert_int_equal(bg_label_check(key, "x", 256, &err), 0);
        key[BG_LABEL_KEY_MAX] = 'k';
        key[BG_LABEL_KEY_MAX + 1] = '\0';
        assert_int_equal(bg_label_check(key, "x", 256, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "at most 63"));
}

static void test_values(void **state)
{
        struct bg_error err = {0};
        assert_int_equal(bg_label_check("k", "any printable: ~!@#$%^&*()=,;", 256, &err), 0);
        assert_int_equal(bg_label_check("k", NULL, 256, &err), 0);
        /* Control characters (a terminal escape, a newline that would split
         * the stored form) and non-ASCII bytes are refused. */
        assert_int_equal(bg_label_check("k", "a\033[2J", 256, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "0x1b at position 2"));
        assert_int_equal(bg_label_check("k", "a\nb=c", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("k", "caf\xc3\xa9", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("k", "\x7f", 256, &err), -EINVAL);
        assert_int_equal(bg_label_check("k", "12345", 5, &err), 0);
        assert_int_equal(bg_label_check("k", "123456", 5, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "vm.max_label_value"));
}

static void test_sets(void **state)
{
        struct bg_error err = {0};
        const char *k[] = {"a", "b", "a"}, *v[] = {"1", "2", "3"};
        assert_int_equal(bg_labels_check(k, v, 2, 32, 256, &err), 0);
        assert_int_equal(bg_labels_check(k, v, 3, 32, 256, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "label a is given twice"));
        assert_int_equal(bg_labels_check(k, v, 2, 1, 256, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "vm.max_labels"));
        assert_int_equal(bg_labels_check(k, v, 0, 0, 256, &err), 0);
}

static void test_split(void **state)
{
        struct bg_error err = {0};
        char *k = NULL, *v = NULL;
        assert_int_equal(bg_label_split("a=b=c", &k, &v, &err), 0);
        assert_string_equal(k, "a");
        assert_string_equal(v, "b=c");
        free(k);
        free(v);
        assert_int_equal(bg_label_split("a=", &k, &v, &err), 0);
        assert_string_equal(v, "");
        free(k);
        free(v);
        assert_int_equal(bg_label_split("novalue", &k, &v, &err), -EINVAL);
        assert_int_equal(bg_label_split("=v", &k, &v, &err), -EINVAL);
}

/* The filter vmsvc applies to ListVmsRequest.labels. */
static void test_selectors(void **state)
{
        const char *k[] = {"team", "env", "t"}, *v[] = {"infra", "", "x=y"};
        assert_true(bg_label_selector_match("team=infra", k, v, 3));
        assert_true(bg_label_selector_match("team", k, v, 3));
        assert_true(bg_label_selector_match("env=", k, v, 3));  /* empty value */
        assert_true(bg_label_selector_match("env", k, v, 3));
        assert_true(bg_label_selector_match("t=x=y", k, v, 3)); /* first '=' splits */
        assert_false(bg_label_selector_match("team=web", k, v, 3));
        assert_false(bg_label_selector_match("tea", k, v, 3)); /* a prefix is not the key */
        assert_false(bg_label_selector_match("teams", k, v, 3));
        assert_false(bg_label_selector_match("team=infr", k, v, 3));
        assert_false(bg_label_selector_match("team", k, v, 0));
        struct bg_error err = {0};
        assert_int_equal(bg_label_selector_check("team=infra", &err), 0);
        assert_int_equal(bg_label_selector_check("any thing", &err), 0); /* matches nothing */
        assert_int_equal(bg_label_selector_check("", &err), -EINVAL);
        assert_int_equal(bg_label_selector_check("=v", &err), -EINVAL);
        assert_non_null(strstr(err.msg, "give KEY=VALUE"));
        char *big = malloc(BG_LABEL_SELECTOR_MAX + 2);
        memset(big, 'k', BG_LABEL_SELECTOR_MAX + 1);
        big[BG_LABEL_SELECTOR_MAX + 1] = '\0';
        assert_int_equal(bg_label_selector_check(big, &err), -EINVAL);
        big[BG_LABEL_SELECTOR_MAX] = '\0';
        assert_int_equal(bg_label_selector_check(big, &err), 0);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_keys),
            cmocka_unit_test(test_values),
            cmocka_unit_test(test_sets),
            cmocka_unit_test(test_split),
            cmocka_unit_test(test_selectors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
