/* What test_ext4.c and test_ext4_read.c share: a temporary image per test,
 * e2fsck after each scenario, reopening, and the OK()/FAILS() checks.
 * It includes cmocka and everything the tests use. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "ext4.h"
#include "test_tmpdir.h"
#include "util/fileio.h"
#include "util/run.h"
#include "skip.h"

static char tmpdir[256];
static char img[300];

static inline int setup(void **state)
{
        assert_int_equal(test_tmpdir_make(tmpdir, sizeof(tmpdir), "ext4"), 0);
        snprintf(img, sizeof(img), "%s/img.ext4", tmpdir);
        return 0;
}

static inline int teardown(void **state)
{
        test_tmpdir_remove(tmpdir);
        return 0;
}

/* Run argv with output to a log file; return the exit status, printing the
 * log when it is not 0. */
static inline int run(char *const argv[])
{
        char log[320];
        snprintf(log, sizeof(log), "%s/run.log", tmpdir);
        int fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        int code = bg_run_wait((const char *const *)argv, BG_RUN_INHERIT, fd, fd, NULL, NULL);
        close(fd);
        assert_true(code >= 0);
        if (code != 0) {
                char *buf = NULL;
                if (read_file_capped(log, 1u << 20, 0, &buf, NULL, NULL) == 0)
                        fprintf(stderr, "%s exited %d:\n%s\n", argv[0], code, buf);
                free(buf);
        }
        return code;
}

static inline void fsck(const char *path)
{
        char *argv[] = {"e2fsck", "-fn", (char *)path, NULL};
        assert_int_equal(run(argv), 0);
}

static inline void close_and_check(struct ext4_fs *fs, const char *path)
{
        struct bg_error err = {0};
        int r = ext4_close(fs, &err);
        if (r < 0)
                fprintf(stderr, "close: %s\n", err.msg);
        assert_int_equal(r, 0);
        fsck(path);
}

static inline struct ext4_meta meta(uint32_t mode, uint32_t uid, uint32_t gid)
{
        struct ext4_meta m = {.mode = mode, .uid = uid, .gid = gid};
        m.atime = (struct timespec){.tv_sec = 1700000000, .tv_nsec = 111};
        m.mtime = (struct timespec){.tv_sec = 1600000000, .tv_nsec = 123456789};
        m.ctime = (struct timespec){.tv_sec = 1700000001, .tv_nsec = 999999999};
        return m;
}

static inline struct ext4_fs *mk(uint64_t size, const struct ext4_create_opts *o)
{
        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        int r = ext4_create(img, size, o, &fs, &err);
        if (r < 0)
                fprintf(stderr, "create: %s\n", err.msg);
        assert_int_equal(r, 0);
        return fs;
}

static inline struct ext4_fs *reopen(void)
{
        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        int r = ext4_open(img, &fs, &err);
        if (r < 0)
                fprintf(stderr, "open: %s\n", err.msg);
        assert_int_equal(r, 0);
        return fs;
}

#define OK(expr)                                                                                   \
        do {                                                                                       \
                struct bg_error err_ = {0};                                                        \
                struct bg_error *err = &err_;                                                      \
                int r_ = (expr);                                                                   \
                if (r_ < 0)                                                                        \
                        fprintf(stderr, "%s: %s\n", #expr, err_.msg);                              \
                assert_true(r_ >= 0);                                                              \
        } while (0)

#define FAILS(ecode, expr)                                                                         \
        do {                                                                                       \
                struct bg_error err_ = {0};                                                        \
                struct bg_error *err = &err_;                                                      \
                int r_ = (expr);                                                                   \
                assert_int_equal(r_, -(ecode));                                                    \
                assert_int_equal(err_.code, (ecode));                                              \
                assert_true(err_.msg[0] != '\0');                                                  \
        } while (0)

static inline void expect_content(struct ext4_fs *fs, const char *path, const void *data,
                                  size_t len)
{
        void *got = NULL;
        size_t n = 0;
        OK(ext4_read_file(fs, path, &got, &n, err));
        assert_int_equal(n, len);
        assert_memory_equal(got, data, len);
        free(got);
}

static inline struct ext4_stat stat_of(struct ext4_fs *fs, const char *path)
{
        struct ext4_stat st;
        OK(ext4_lookup(fs, path, &st, err));
        return st;
}

/* A repeatable byte stream (set rng_state first). */
static uint64_t rng_state;
static inline uint8_t rnd(void)
{
        rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
        return (uint8_t)(rng_state >> 56);
}

static inline bool have(const char *tool)
{
        const char *argv[] = {tool, "-V", NULL};
        return bg_run_wait(argv, BG_RUN_NULL, BG_RUN_NULL, BG_RUN_NULL, NULL, NULL) >= 0;
}

/* The e2fsprogs tools the tests check images with are installed, or a
 * set-up failure said on stdout (false). */
static inline bool ext4_tools_ready(void)
{
        if (have("e2fsck") && have("debugfs") && have("mkfs.ext4"))
                return true;
        printf("FAIL: set-up: e2fsck, debugfs or mkfs.ext4 is not installed (package "
               "e2fsprogs; scripts/install-deps.sh installs it)\n");
        return false;
}
