/* imagesvc's Debian kernel catalog (kernel_debian_catalog): which
 * linux-image-* packages of a Packages index become `kernel pull` names, how
 * flavours resolve through their metapackage, and the order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernel_pull.h"
#include "packages.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define STANZA(pkg, ver, dep)                                                                      \
        "Package: " pkg "\nVersion: " ver "\nArchitecture: amd64\n" dep                            \
        "Filename: pool/main/l/linux/" pkg "_" ver "_amd64.deb\nSize: 1000\nSHA256: " SHA "\n\n"

static const char index_text[] = STANZA("linux-image-cloud-amd64", "6.1.119-1",
                                        "Depends: linux-image-6.1.0-28-cloud-amd64 (= 6.1.119-1)\n")
    STANZA("linux-image-amd64", "6.1.119-1", "Depends: linux-image-6.1.0-28-amd64 (= 6.1.119-1)\n")
        STANZA("linux-image-rt-amd64", "6.1.119-1",
               "Depends: linux-image-6.1.0-28-rt-amd64 (= 6.1.119-1)\n")
            STANZA("linux-image-6.1.0-28-cloud-amd64", "6.1.119-1", "")
                STANZA("linux-image-6.1.0-28-amd64", "6.1.119-1", "")
                    STANZA("linux-image-6.1.0-28-rt-amd64", "6.1.119-1", "")
                        STANZA("linux-image-6.1.0-27-cloud-amd64", "6.1.115-1", "")
    /* listed twice: one entry, the higher version */
    STANZA("linux-image-6.1.0-27-cloud-amd64", "6.1.115-1~bpo", "")
    /* not offered */
    STANZA("linux-image-6.1.0-28-cloud-amd64-unsigned", "6.1.119-1", "")
        STANZA("linux-image-6.1.0-28-cloud-amd64-dbg", "6.1.119-1", "")
            STANZA("linux-image-cloud-amd64-dbg", "6.1.119-1",
                   "Depends: linux-image-6.1.0-28-cloud-amd64-dbg (= 6.1.119-1)\n")
                STANZA("linux-image-amd64-signed-template", "6.1.119-1", "Depends: dpkg-dev\n")
    /* a metapackage whose image is missing from the index: left out */
    STANZA("linux-image-broken-amd64", "1.0", "Depends: linux-image-9.9.9-1-broken-amd64\n")
        STANZA("linux-headers-amd64", "6.1.119-1", "Depends: linux-headers-6.1.0-28-amd64\n")
            STANZA("bash", "5.2.15-2", "");

static void test_catalog_entries(void **state)
{
        struct debrepo_packages *pk = NULL;
        struct bg_error err = {0};
        assert_int_equal(debrepo_packages_from_text(index_text, strlen(index_text), &pk, &err), 0);
        struct kernel_debian_entry *v = NULL;
        size_t n = 0;
        assert_int_equal(kernel_debian_catalog(pk, &v, &n, &err), 0);
        static const char *const want[] = {
            "debian-amd64",
            "debian-cloud-amd64",
            "debian-rt-amd64",
            "debian-6.1.0-28-amd64",
            "debian-6.1.0-28-cloud-amd64",
            "debian-6.1.0-28-rt-amd64",
            "debian-6.1.0-27-cloud-amd64",
        };
        for (size_t i = 0; i < n; i++)
                printf("  %s %s %s %s\n", v[i].name, v[i].release, v[i].version,
                       v[i].tracks_latest ? "latest" : "fixed");
        assert_int_equal(n, sizeof(want) / sizeof(*want));
        for (size_t i = 0; i < n; i++)
                assert_string_equal(v[i].name, want[i]);
        /* A flavour resolves through its metapackage. */
        assert_true(v[1].tracks_latest);
        assert_string_equal(v[1].package, "linux-image-cloud-amd64");
        assert_string_equal(v[1].image_package, "linux-image-6.1.0-28-cloud-amd64");
        assert_string_equal(v[1].release, "6.1.0-28-cloud-amd64");
        assert_string_equal(v[1].version, "6.1.119-1");
        assert_int_equal(v[1].size, 1000);
        /* A release is its own package, at its highest version. */
        assert_false(v[6].tracks_latest);
        assert_string_equal(v[6].image_package, "linux-image-6.1.0-27-cloud-amd64");
        assert_string_equal(v[6].version, "6.1.115-1");
        kernel_debian_entries_free(v, n);
        debrepo_packages_free(pk);
}

static void test_catalog_names(void **state)
{
        assert_true(kernel_debian_name("debian-cloud-amd64"));
        assert_true(kernel_debian_name("debian-6.1.0-28-cloud-amd64"));
        assert_false(kernel_debian_name("debian-"));
        assert_false(kernel_debian_name("debian-6.1.0-28-cloud-amd64-dbg"));
        assert_false(kernel_debian_name("debian-6.1.0-28-cloud-amd64-unsigned"));
        assert_false(kernel_debian_name("debian-amd64-signed-template"));
        assert_false(kernel_debian_name("debian-../x"));
        assert_false(kernel_debian_name("debian-Cloud"));
        assert_false(kernel_debian_name("cloud-amd64"));
        assert_false(kernel_debian_name("nosuch"));
        assert_false(kernel_debian_name(NULL));
}

static void test_catalog_empty_index(void **state)
{
        static const char text[] = STANZA("bash", "5.2.15-2", "");
        struct debrepo_packages *pk = NULL;
        struct bg_error err = {0};
        assert_int_equal(debrepo_packages_from_text(text, strlen(text), &pk, &err), 0);
        struct kernel_debian_entry *v = NULL;
        size_t n = 7;
        assert_int_equal(kernel_debian_catalog(pk, &v, &n, &err), 0);
        assert_int_equal(n, 0);
        kernel_debian_entries_free(v, n);
        debrepo_packages_free(pk);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_catalog_entries),
            cmocka_unit_test(test_catalog_names),
            cmocka_unit_test(test_catalog_empty_index),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
