/* lib/util/strtable: names round-trip, out-of-range values and unknown or
 * NULL names are refused, and gaps in a table never match. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/strtable.h"

enum color { RED, GREEN, BLUE, _COLOR_MAX };

static const char *const color_names[_COLOR_MAX] = {
    [RED] = "red", [BLUE] = "blue", /* GREEN left out: a gap */
};

const char *color_to_string(enum color c);
int color_from_string(const char *s);
DEFINE_STRING_TABLE_LOOKUP(color, enum color, color_names)

static void test_round_trip_and_refusals(void **state)
{
        for (int c = 0; c < _COLOR_MAX; c++) {
                const char *s = color_to_string((enum color)c);
                if (c == GREEN) {
                        assert_null(s);
                        continue;
                }
                assert_int_equal(color_from_string(s), c);
        }
        assert_string_equal(color_to_string(BLUE), "blue");
        assert_null(color_to_string(_COLOR_MAX));
        assert_null(color_to_string((enum color) - 1));
        assert_int_equal(color_from_string("green"), -EINVAL);
        assert_int_equal(color_from_string("Red"), -EINVAL);
        assert_int_equal(color_from_string(""), -EINVAL);
        assert_int_equal(color_from_string(NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip_and_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
