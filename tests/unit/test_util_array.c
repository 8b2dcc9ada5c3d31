/* lib/util/array: reserve grows by doubling from 16, keeps the contents,
 * does nothing when there is room, and refuses sizes that overflow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "util/array.h"

static void test_reserve(void **state)
{
        int *v = NULL;
        size_t cap = 0;
        assert_int_equal(ARRAY_RESERVE(v, cap, 1), 0);
        assert_int_equal(cap, 16);
        for (int i = 0; i < 16; i++)
                v[i] = i;
        int *before = v;
        assert_int_equal(ARRAY_RESERVE(v, cap, 16), 0); /* room: untouched */
        assert_ptr_equal(v, before);
        assert_int_equal(ARRAY_RESERVE(v, cap, 17), 0);
        assert_int_equal(cap, 32);
        assert_int_equal(ARRAY_RESERVE(v, cap, 100), 0);
        assert_int_equal(cap, 128);
        for (int i = 0; i < 16; i++)
                assert_int_equal(v[i], i);
        /* overflow: refused, the array kept */
        assert_int_equal(ARRAY_RESERVE(v, cap, SIZE_MAX / 2 + 2), -ENOMEM);
        assert_int_equal(cap, 128);
        assert_int_equal(v[15], 15);
        free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_reserve),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
