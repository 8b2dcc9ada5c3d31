/* Streaming decompression of the formats Linux uses for its images and
 * modules: gzip, bzip2, lzma, xz, lz4 (the legacy frame the kernel build
 * writes) and zstd.
 *
 * Input is a byte range of a file descriptor, read with pread, so the caller's
 * file offset is untouched. Output goes to a sink callback in bounded chunks;
 * memory use does not depend on the size of the data (lz4 legacy needs its
 * fixed 8 MiB block buffer). Decoders stop at the end of the first stream and
 * ignore what follows (the kernel appends a 4-byte size trailer; the lz4
 * decoder checks it when it is there). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum kernel_compression {
        KERNEL_COMPRESSION_NONE,
        KERNEL_COMPRESSION_GZIP,
        KERNEL_COMPRESSION_BZIP2,
        KERNEL_COMPRESSION_LZMA,
        KERNEL_COMPRESSION_XZ,
        KERNEL_COMPRESSION_LZ4,
        KERNEL_COMPRESSION_ZSTD,
        _KERNEL_COMPRESSION_MAX,
};

const char *kernel_compression_to_string(enum kernel_compression c);
/* Returns the enum value, or -EINVAL for an unknown name. */
int kernel_compression_from_string(const char *s);

/* Identify a compressed stream by its leading magic bytes. Returns
 * KERNEL_COMPRESSION_NONE when no known magic matches (including when len is
 * too short to tell). */
enum kernel_compression kernel_compression_detect(const void *buf, size_t len);

/* Receives decompressed bytes. Return >= 0 to continue, -errno to stop the
 * decompression (that value is returned by kernel_decompress_fd, and the sink
 * should have filled err if it wants a specific message). */
typedef int (*kernel_sink_fn)(void *userdata, const void *buf, size_t len, struct bg_error *err);

/* Most memory a decoder may take for its window: an xz or lzma header names
 * its dictionary size (up to 4 GiB) and the decoder allocates it. Kernel
 * builds use 32 MiB (xz) or 64 MiB (lzma -9); modules 1-2 MiB. A stream that
 * needs more fails with -EFBIG ("... needs more than 256 MiB ..."). */
#define KERNEL_DECODER_MEMLIMIT (256ull * 1024 * 1024)

/* Decompress the stream of format `c` that starts at `offset` in `fd`,
 * reading at most `length` bytes (UINT64_MAX: up to end of file). Stops with
 * -EFBIG once more than `max_out` bytes would be produced. On success writes
 * the number of input bytes the stream used (*ret_in, may be NULL) and bytes
 * produced (*ret_out, may be NULL). KERNEL_COMPRESSION_NONE copies the range
 * as is. Errors: -EBADMSG corrupt or truncated data (err says which format
 * and what), -EFBIG (output over max_out, or a decoder window over
 * KERNEL_DECODER_MEMLIMIT), -EIO/-errno on read, or whatever the sink
 * returned. */
int kernel_decompress_fd(enum kernel_compression c, int fd, uint64_t offset, uint64_t length,
                         uint64_t max_out, kernel_sink_fn sink, void *userdata, uint64_t *ret_in,
                         uint64_t *ret_out, struct bg_error *err);

/* A sink that writes to a file descriptor (userdata: int *fd). */
int kernel_sink_fd(void *userdata, const void *buf, size_t len, struct bg_error *err);

/* A growable memory buffer and the sink that appends to it (userdata: the
 * struct). The owner frees data with free(). */
struct kernel_membuf {
        uint8_t *data;
        size_t len;
        size_t cap;
};
int kernel_sink_membuf(void *userdata, const void *buf, size_t len, struct bg_error *err);

/* Decompress a whole file (format detected by magic; uncompressed files are
 * read as they are) into a newly allocated buffer, NUL-terminated for
 * convenience (not counted in *ret_len). Caller owns *ret_buf. */
int kernel_decompress_file_to_memory(const char *path, uint64_t max_out, uint8_t **ret_buf,
                                     size_t *ret_len, enum kernel_compression *ret_comp,
                                     struct bg_error *err);
