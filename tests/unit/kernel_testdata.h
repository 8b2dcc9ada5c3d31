/* Test data for the kernel tests: tiny ELF images, kernel-style compressed
 * payloads (with the 4-byte size trailer the kernel build appends) and fake
 * bzImages around them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decompress.h"

#define KTD_RELEASE "6.1.0-99-test"
#define KTD_BANNER "Linux version " KTD_RELEASE " (builder@test) #1 SMP PREEMPT_DYNAMIC Debian"

/* An ELF64 image for `machine` (62 = x86-64) and `type` (2 = ET_EXEC, 1 =
 * ET_REL) with one PT_LOAD over the file, the banner at banner_at (or none
 * when banner_at == SIZE_MAX), `size` bytes in all of mildly compressible
 * filler. Caller frees. */
uint8_t *ktd_make_elf(uint16_t machine, uint16_t type, size_t size, size_t banner_at);

/* Compress like the kernel build does (gzip -9 without trailer; the others
 * with the le32 size trailer). Caller frees *ret. Returns 0 or -1. */
int ktd_compress(enum kernel_compression c, const uint8_t *in, size_t len, bool size_trailer,
                 uint8_t **ret, size_t *ret_len);

struct ktd_bzimage_opts {
        const char *version; /* header kernel_version string, NULL for none */
        bool payload_fields; /* protocol 2.15 with payload_offset/length, else 2.06 */
        bool fake_magic;     /* put a false gzip magic in the code before the payload */
};

/* Wrap a payload in a fake bzImage; *ret_payload_off gets its file offset. */
uint8_t *ktd_make_bzimage(const uint8_t *payload, size_t plen, const struct ktd_bzimage_opts *o,
                          size_t *ret_len, size_t *ret_payload_off);

int ktd_write_file(const char *path, const void *buf, size_t len);
/* Read a whole file (caller frees), NULL on error. */
uint8_t *ktd_read_file(const char *path, size_t *ret_len);
