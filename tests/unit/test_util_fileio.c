/* lib/util/fileio: capped reads refuse what is too big, not regular or a
 * symlink when asked; atomic writes publish whole files with the mode asked
 * for and leave no temporary file behind, whatever fails. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fileio.h"
#include "util/fs.h"
#include "util/macro.h"

#include "test_tmpdir.h"

static char dir[256];

static int setup(void **state)
{
        return test_tmpdir_make(dir, sizeof(dir), "fileio");
}

static int teardown(void **state)
{
        (void)chmod(dir, 0700);
        return test_tmpdir_remove(dir);
}

static const char *at(const char *name)
{
        return test_path(dir, name);
}

static void put(const char *name, const char *text)
{
        FILE *f = fopen(at(name), "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Entries of dir other than . and .. */
static int count_entries(void)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_read_whole_and_cap(void **state)
{
        struct bg_error err = {0};
        char *buf = NULL;
        size_t len = 0;
        put("a", "hello\n");
        assert_int_equal(read_file_capped(at("a"), 6, 0, &buf, &len, &err), 0);
        assert_int_equal(len, 6);
        assert_string_equal(buf, "hello\n");
        free(buf);

        buf = NULL;
        assert_int_equal(read_file_capped(at("a"), 5, 0, &buf, &len, &err), -EFBIG);
        assert_null(buf);
        assert_int_equal(err.code, EFBIG);
        assert_non_null(strstr(err.msg, "larger than 5 bytes"));
        assert_non_null(strstr(err.msg, at("a")));

        /* empty file: "" */
        put("e", "");
        assert_int_equal(read_file_capped(at("e"), 0, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "");
        free(buf);
}

/* A file whose size says 0 (like /proc) is read to its end, and the cap
 * holds even though the size gave no warning. */
static void test_read_proc_style(void **state)
{
        struct bg_error err = {0};
        char *buf = NULL;
        size_t len = 0;
        assert_int_equal(read_file_capped("/proc/self/status", 1 << 20, 0, &buf, &len, &err), 0);
        assert_true(len > 0);
        assert_non_null(strstr(buf, "Pid:"));
        assert_int_equal(strlen(buf), len);
        free(buf);
        buf = NULL;
        assert_int_equal(read_file_capped("/proc/self/status", 10, 0, &buf, &len, &err), -EFBIG);
        assert_null(buf);
}

static void test_read_refuses(void **state)
{
        struct bg_error err = {0};
        char *buf = NULL;
        put("t", "target");
        assert_int_equal(symlink(at("t"), at("l")), 0);
        /* followed by default, refused with NOFOLLOW */
        assert_int_equal(read_file_capped(at("l"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "target");
        free(buf);
        buf = NULL;
        assert_int_equal(read_file_capped(at("l"), 100, READ_FILE_NOFOLLOW, &buf, NULL, &err),
                         -ELOOP);
        assert_non_null(strstr(err.msg, "symbolic link"));
        assert_null(buf);

        /* a directory, and a FIFO (which must not block the open) */
        assert_int_equal(read_file_capped(dir, 100, 0, &buf, NULL, &err), -EINVAL);
        assert_int_equal(mkfifo(at("fifo"), 0600), 0);
        assert_int_equal(read_file_capped(at("fifo"), 100, 0, &buf, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not a regular file"));
        assert_int_equal(read_file_capped(at("missing"), 100, 0, &buf, NULL, &err), -ENOENT);
        assert_null(buf);
}

static void test_read_at_dirfd(void **state)
{
        struct bg_error err = {0};
        char *buf = NULL;
        size_t len;
        put("x", "via dirfd");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(read_file_capped_at(dfd, "x", 64, READ_FILE_NOFOLLOW, &buf, &len, &err),
                         0);
        assert_string_equal(buf, "via dirfd");
        free(buf);
        close(dfd);
}

static void test_read_fd_pipe(void **state)
{
        struct bg_error err = {0};
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], "0123456789", 10), 10);
        close(p[1]);
        char *buf = NULL;
        size_t len;
        assert_int_equal(read_fd_capped(p[0], "the pipe", 9, &buf, &len, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "the pipe is larger than 9 bytes"));
        close(p[0]);

        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], "0123456789", 10), 10);
        close(p[1]);
        assert_int_equal(read_fd_capped(p[0], "the pipe", 10, &buf, &len, &err), 0);
        assert_int_equal(len, 10);
        assert_string_equal(buf, "0123456789");
        free(buf);
        close(p[0]);
}

static void test_atomic_write_replaces(void **state)
{
        struct bg_error err = {0};
        struct stat st;
        put("f", "old contents that are longer");
        assert_int_equal(write_file_atomic(at("f"), "new", 3, 0640, &err), 0);
        char *buf;
        assert_int_equal(read_file_capped(at("f"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "new");
        free(buf);
        assert_int_equal(stat(at("f"), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640); /* exact, whatever the umask */
        assert_int_equal(count_entries(), 1);       /* no temporary file left */

        /* a symlink at the target is replaced, its target untouched */
        put("victim", "keep me");
        assert_int_equal(symlink(at("victim"), at("link")), 0);
        assert_int_equal(write_file_atomic(at("link"), "file", 4, 0600, &err), 0);
        assert_int_equal(lstat(at("link"), &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(read_file_capped(at("victim"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "keep me");
        free(buf);
}

static void test_atomic_write_at_and_relative(void **state)
{
        struct bg_error err = {0};
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkdir(at("sub"), 0700), 0);
        assert_int_equal(write_file_atomic_at(dfd, "sub/g", "x", 1, 0644, &err), 0);
        assert_int_equal(write_file_atomic_at(dfd, "h", "y", 1, 0644, &err), 0);
        close(dfd);
        assert_int_equal(access(at("sub/g"), F_OK), 0);
        assert_int_equal(access(at("h"), F_OK), 0);
        assert_int_equal(write_file_atomic_at(AT_FDCWD, "/", "x", 1, 0644, &err), -EISDIR);
}

/* Failures leave neither the target changed nor a temporary file. */
static void test_atomic_write_failures_clean_up(void **state)
{
        struct bg_error err = {0};
        /* the target is a directory: rename fails after the data is written */
        assert_int_equal(mkdir(at("d"), 0700), 0);
        put("d/inside", "x");
        assert_true(write_file_atomic(at("d"), "data", 4, 0644, &err) < 0);
        assert_non_null(strstr(err.msg, at("d")));
        assert_int_equal(count_entries(), 1);

        /* abort after writing */
        struct atomic_file f = ATOMIC_FILE_INIT;
        assert_int_equal(atomic_file_open(at("g"), &f, &err), 0);
        assert_int_equal(loop_write(f.fd, "partial", 7), 0);
        assert_int_equal(count_entries(), 2); /* the temporary file, hidden */
        atomic_file_abort(&f);
        atomic_file_abort(&f); /* twice is harmless */
        assert_int_equal(count_entries(), 1);
        assert_int_equal(access(at("g"), F_OK), -1);

        /* a directory we cannot write: nothing created, a clear error */
        if (geteuid() != 0) {
                assert_int_equal(chmod(at("d"), 0500), 0);
                assert_int_equal(write_file_atomic(at("d/new"), "x", 1, 0644, &err), -EACCES);
                assert_int_equal(chmod(at("d"), 0700), 0);
        }
        /* no such directory */
        assert_int_equal(write_file_atomic(at("nodir/x"), "x", 1, 0644, &err), -ENOENT);
}

static void test_atomic_file_commit_cleanup(void **state)
{
        struct bg_error err = {0};
        {
                _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
                assert_int_equal(atomic_file_open(at("s"), &f, &err), 0);
                assert_int_equal(loop_write(f.fd, "streamed", 8), 0);
                assert_int_equal(atomic_file_commit(&f, 0600, &err), 0);
                assert_int_equal(f.fd, -1);
        }
        {
                /* leaving the scope without commit removes the temporary file */
                _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
                assert_int_equal(atomic_file_open(at("s"), &f, &err), 0);
                assert_int_equal(loop_write(f.fd, "never", 5), 0);
        }
        assert_int_equal(count_entries(), 1);
        char *buf;
        assert_int_equal(read_file_capped(at("s"), 100, 0, &buf, NULL, &err), 0);
        assert_string_equal(buf, "streamed");
        free(buf);
}

static void test_pread_full(void **state)
{
        put("p", "0123456789");
        int fd = open(at("p"), O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        char buf[16] = "";
        assert_int_equal(pread_full(fd, buf, 4, 3), 4);
        assert_memory_equal(buf, "3456", 4);
        /* short only at the end of the file */
        assert_int_equal(pread_full(fd, buf, 16, 8), 2);
        assert_memory_equal(buf, "89", 2);
        assert_int_equal(pread_full(fd, buf, 4, 100), 0);
        close(fd);
        assert_int_equal(pread_full(-1, buf, 4, 0), -EBADF);
}

struct chunks {
        uint64_t off[16];
        size_t n[16];
        bool zero[16];
        int count, stop_at;
};

static int record(void *ud, uint64_t off, const uint8_t *data, size_t n)
{
        struct chunks *c = ud;
        if (c->count == c->stop_at)
                return -ECANCELED;
        c->off[c->count] = off;
        c->n[c->count] = n;
        c->zero[c->count] = data == NULL;
        c->count++;
        return 0;
}

/* Data at 0 and at 1 MiB of a 3 MiB sparse file, 64 KiB chunks: the holes
 * are never passed to fn, a written chunk of zeros is passed as NULL, fn's
 * error stops the walk, and a size past the end reads nothing more. */
static void test_for_each_data_chunk(void **state)
{
        int fd = open(at("s"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        static uint8_t block[4096], zeros[4096];
        memset(block, 'x', sizeof(block));
        assert_int_equal(pwrite(fd, block, sizeof(block), 0), (ssize_t)sizeof(block));
        assert_int_equal(pwrite(fd, zeros, sizeof(zeros), 1 << 20), (ssize_t)sizeof(zeros));
        assert_int_equal(ftruncate(fd, 3 << 20), 0);
        static uint8_t buf[65536];
        struct chunks c = {.stop_at = -1};
        assert_int_equal(for_each_data_chunk(fd, 3 << 20, buf, sizeof(buf), record, &c), 0);
        /* tmpfs and ext4 report holes by page or block: the first chunk
         * starts at 0 and holds the data; the zeros at 1 MiB, if passed, come
         * as NULL; no chunk starts in the big holes between. */
        assert_true(c.count >= 2);
        assert_int_equal(c.off[0], 0);
        assert_false(c.zero[0]);
        for (int i = 1; i < c.count; i++) {
                assert_true(c.off[i] >= (1u << 20) || c.off[i] < 65536);
                if (c.off[i] >= (1u << 20))
                        assert_true(c.zero[i]);
        }
        struct chunks all = c;
        c = (struct chunks){.stop_at = 0};
        assert_int_equal(for_each_data_chunk(fd, 3 << 20, buf, sizeof(buf), record, &c),
                         -ECANCELED);
        /* A size past the end: the end is a hole, nothing more is read. */
        struct chunks d = {.stop_at = -1};
        assert_int_equal(for_each_data_chunk(fd, 4 << 20, buf, sizeof(buf), record, &d), 0);
        assert_int_equal(d.count, all.count);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_read_whole_and_cap, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_proc_style, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_refuses, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_at_dirfd, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_fd_pipe, setup, teardown),
            cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup, teardown),
            cmocka_unit_test_setup_teardown(test_atomic_write_at_and_relative, setup, teardown),
            cmocka_unit_test_setup_teardown(test_atomic_write_failures_clean_up, setup, teardown),
            cmocka_unit_test_setup_teardown(test_atomic_file_commit_cleanup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pread_full, setup, teardown),
            cmocka_unit_test_setup_teardown(test_for_each_data_chunk, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
