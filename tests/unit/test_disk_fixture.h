/* Shared by lib/disk's tests (unit/test_disk.c, root/test_disk_reflink.c):
 * a holey source file and the check that a clone of it kept its bytes and
 * its holes. Include after <cmocka.h>. */
#pragma once

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A 64 MiB file at path with three 4 KiB data blocks 20 MiB apart, each
 * `skew` bytes past a 20 MiB boundary (0: block-aligned, as a reflink's
 * shared extents want); the rest is holes. Synced to disk. */
static inline void make_holey(const char *path, off_t skew)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 64 << 20), 0);
        char block[4096];
        for (int k = 0; k < 3; k++) {
                memset(block, 'a' + k, sizeof(block));
                off_t at = (off_t)k * (20 << 20) + skew;
                assert_int_equal(pwrite(fd, block, sizeof(block), at), (ssize_t)sizeof(block));
        }
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

/* Same size, same bytes, and dst sparse (an eighth of its size at most). */
static inline void assert_same_and_sparse(const char *src, const char *dst)
{
        struct stat a, b;
        assert_int_equal(stat(src, &a), 0);
        assert_int_equal(stat(dst, &b), 0);
        assert_int_equal(a.st_size, b.st_size);
        assert_true((off_t)b.st_blocks * 512 < a.st_size / 8);
        int fa = open(src, O_RDONLY | O_CLOEXEC), fb = open(dst, O_RDONLY | O_CLOEXEC);
        static char x[65536], y[65536];
        for (off_t off = 0; off < a.st_size; off += sizeof(x)) {
                assert_int_equal(pread(fa, x, sizeof(x), off), (ssize_t)sizeof(x));
                assert_int_equal(pread(fb, y, sizeof(y), off), (ssize_t)sizeof(y));
                assert_memory_equal(x, y, sizeof(x));
        }
        close(fa);
        close(fb);
}
