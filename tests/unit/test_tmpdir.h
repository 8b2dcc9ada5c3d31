/* A private temporary directory for a unit test program, and paths in it. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/fs.h"

/* Makes "$TMPDIR/bg-<name>-XXXXXX" (/tmp without TMPDIR) into buf (at
 * least 64 bytes). 0 or -errno. */
static inline int test_tmpdir_make(char *buf, size_t len, const char *name)
{
        const char *base = getenv("TMPDIR");
        if (snprintf(buf, len, "%s/bg-%s-XXXXXX", base && base[0] ? base : "/tmp", name) >=
            (int)len)
                return -ENAMETOOLONG;
        return mkdtemp(buf) ? 0 : -errno;
}

/* Removes dir and everything below it. 0 or -errno. */
static inline int test_tmpdir_remove(const char *dir)
{
        struct bg_error err = {0};
        return rm_rf(dir, &err);
}

/* dir/name in one of four rotating buffers (a call may use up to four). */
static inline const char *test_path(const char *dir, const char *name)
{
        static char p[4][512];
        static int k;
        k = (k + 1) % 4;
        snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
        return p[k];
}

/* For cmocka tests (<cmocka.h> included first): a fresh "bg-<name>-XXXXXX"
 * temp directory, malloc'ed; the test fails if it cannot be made. */
static inline char *test_tmpdir_new(const char *name)
{
        char *d = malloc(64);
        assert_non_null(d);
        assert_int_equal(test_tmpdir_make(d, 64, name), 0);
        return d;
}

/* Removes test_tmpdir_new's dir and everything below it, and frees it. */
static inline void test_tmpdir_drop(char *dir)
{
        assert_int_equal(test_tmpdir_remove(dir), 0);
        free(dir);
}
