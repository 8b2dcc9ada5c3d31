/* SHA-256 of files and buffers (OpenSSL libcrypto EVP), as lowercase hex. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define SHA256_HEX_LEN 64

/* Hash everything readable from fd starting at offset 0 (pread; the file
 * offset is untouched). hex must hold SHA256_HEX_LEN + 1 bytes. Writes the
 * byte count to *ret_size when not NULL. */
int sha256_fd_hex(int fd, char hex[static SHA256_HEX_LEN + 1], uint64_t *ret_size,
                  struct bg_error *err);
int sha256_file_hex(const char *path, char hex[static SHA256_HEX_LEN + 1], uint64_t *ret_size,
                    struct bg_error *err);
void sha256_buf_hex(const void *buf, size_t len, char hex[static SHA256_HEX_LEN + 1]);

/* True when s is exactly 64 hex digits (either case). */
bool sha256_hex_valid(const char *s);
