/* A scratch directory for harnesses that need files (layer blobs, ext4
 * images): made once per process on tmpfs (/dev/shm) when there is one,
 * else in $TMPDIR or /tmp, and removed with what is in it at exit. */
#pragma once

#include <stddef.h>

/* The directory's path, or NULL when it cannot be made. */
const char *fuzz_scratch_dir(void);

/* "<dir>/<name>" into buf; false when it does not fit or there is no dir. */
int fuzz_scratch_path(const char *name, char *buf, size_t size);

/* Replace the file at path with the len bytes at data (0 or -errno). */
int fuzz_scratch_write(const char *path, const void *data, size_t len);
