/* The default name `image pull` gives an image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "image_pull.h"

static const char *name_for(const char *ref_s, char *buf, size_t len)
{
        struct oci_ref ref = {0};
        struct bg_error err = {0};
        assert_int_equal(oci_ref_parse(ref_s, &ref, &err), 0);
        int r = image_default_name(&ref, buf, len, &err);
        oci_ref_done(&ref);
        return r == 0 ? buf : NULL;
}

static void test_default_names(void **state)
{
        char b[80];
        assert_string_equal(name_for("debian:bookworm", b, sizeof(b)), "debian-bookworm");
        assert_string_equal(name_for("debian", b, sizeof(b)), "debian-latest");
        assert_string_equal(name_for("localhost:5000/test/busy:v1", b, sizeof(b)), "busy-v1");
        assert_string_equal(name_for("ghcr.io/org/app:1.2_RC", b, sizeof(b)), "app-1.2_rc");
        assert_string_equal(
            name_for("127.0.0.1:5000/x/busy@sha256:"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     b, sizeof(b)),
            "busy-0123456789ab");
        /* long tags are cut to the name limit, never past it */
        assert_non_null(name_for("repo:" /* 128-character tag */
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-",
                                 b, sizeof(b)));
        assert_true(strlen(b) <= 64);
        assert_true(b[strlen(b) - 1] != '-');
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_default_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
