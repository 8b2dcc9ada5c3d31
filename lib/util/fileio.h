/* Whole-file reads with a size cap, and writes that replace a file
 * atomically (temporary file in the same directory + rename). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* read_file_capped flags */
#define READ_FILE_NOFOLLOW (1u << 0) /* a symlink as the last component is refused */

/* Reads the regular file dfd/name (dfd may be AT_FDCWD; name absolute or
 * relative to it) into a malloc'ed, NUL-terminated buffer. The open is
 * O_CLOEXEC and non-blocking (a FIFO is refused, never waited on); anything
 * but a regular file is -EINVAL, a symlink with READ_FILE_NOFOLLOW -ELOOP,
 * more than max bytes -EFBIG. At most max + 1 bytes are allocated, whatever
 * the file claims or grows to. *ret_len may be NULL; out-parameters are
 * written only on success. err names the file. */
int read_file_capped_at(int dfd, const char *name, size_t max, unsigned flags, char **ret_buf,
                        size_t *ret_len, struct bg_error *err);
int read_file_capped(const char *path, size_t max, unsigned flags, char **ret_buf, size_t *ret_len,
                     struct bg_error *err);

/* Reads fd (a file, pipe or socket) from its current offset to EOF, with the
 * same cap and buffer as read_file_capped; what names it in messages. */
int read_fd_capped(int fd, const char *what, size_t max, char **ret_buf, size_t *ret_len,
                   struct bg_error *err);

/* Writes all len bytes of buf to fd, across short writes and EINTR.
 * 0 or -errno. */
int loop_write(int fd, const void *buf, size_t len);
/* Reads n bytes of fd at offset off, across short reads and EINTR: the count
 * read (less than n only at the end of the file), or -errno. */
ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Walks the first size bytes of fd in chunks of at most chunk bytes, read
 * into buf (chunk bytes), skipping holes (SEEK_DATA/SEEK_HOLE; a file system
 * without them is read whole): fn gets each chunk's offset and length, and
 * its bytes, or NULL when the chunk read as all zeros (nothing to send; it
 * still counts for progress). fn returns < 0 to stop, and that is returned.
 * A read error is -errno, a file that shrank under the walk -ENODATA. */
typedef int (*data_chunk_fn)(void *ud, uint64_t off, const uint8_t *data, size_t n);
int for_each_data_chunk(int fd, uint64_t size, uint8_t *buf, size_t chunk, data_chunk_fn fn,
                        void *ud);

/* A file written under a temporary name beside its target and published by
 * rename, so readers see the old contents or the new, never a part.
 *
 *   struct atomic_file f;
 *   r = atomic_file_open(path, &f, err);        // f.fd is the new file
 *   ... write f.fd ...
 *   r = atomic_file_commit(&f, 0644, err);      // or atomic_file_abort(&f)
 *
 * The temporary file ".<name>.<random>" is created O_CREAT|O_EXCL|O_NOFOLLOW
 * |O_CLOEXEC, mode 0600, in the target's directory. Commit fsyncs it, sets
 * mode (exactly: no umask), renames it over the target (a symlink there is
 * replaced, not followed) and fsyncs the directory. On any failure of
 * commit, and on abort, the temporary file is removed. */
struct atomic_file {
        int fd;           /* the new contents (open read-write); -1 once committed/aborted */
        int dir_fd;       /* the target's directory (owned) */
        char tmp[256];    /* its name in dir_fd while it is temporary */
        char *path;       /* the target as given (owned), for messages */
        const char *base; /* the target's name in dir_fd (inside path) */
        bool nosync;      /* set after open: commit renames without fsync (atomic, not durable) */
};

/* Opens a new temporary file for the target dfd/name (dfd may be AT_FDCWD;
 * name may contain '/': the directory part is opened, following symlinks).
 * On failure f is left inert (atomic_file_abort on it is a no-op). */
int atomic_file_open_at(int dfd, const char *name, struct atomic_file *f, struct bg_error *err);
int atomic_file_open(const char *path, struct atomic_file *f, struct bg_error *err);
int atomic_file_commit(struct atomic_file *f, mode_t mode, struct bg_error *err);
/* Removes the temporary file and frees f's resources; does nothing after a
 * commit, so it serves as the cleanup of every path:
 * `_cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;` */
void atomic_file_abort(struct atomic_file *f);
#define ATOMIC_FILE_INIT                                                                           \
        {                                                                                          \
                .fd = -1, .dir_fd = -1                                                             \
        }

/* The whole file at once: data (len bytes) becomes dfd/name with mode. */
#define WRITE_FILE_NOSYNC (1u << 0) /* atomic but not durable: no fsync of file or directory */
int write_file_atomic_flags(const char *path, const void *data, size_t len, mode_t mode,
                            unsigned flags, struct bg_error *err);
int write_file_atomic_at(int dfd, const char *name, const void *data, size_t len, mode_t mode,
                         struct bg_error *err);
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct bg_error *err);
