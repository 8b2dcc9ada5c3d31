/* x86-64 kernel images: tell an ELF vmlinux from a bzImage, read the kernel
 * version, and extract the ELF vmlinux that Firecracker boots from a bzImage.
 *
 * bzImage layout (Documentation/arch/x86/boot.rst): the real-mode setup is
 * (setup_sects + 1) * 512 bytes (setup_sects 0 means 4); the setup header has
 * "HdrS" at 0x202, the boot protocol version at 0x206, a pointer to the
 * kernel version string (minus 0x200) at 0x20e, and since protocol 2.08 the
 * compressed payload's offset (from the protected-mode code) and length at
 * 0x248/0x24c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "decompress.h"
#include "sha256.h"
#include "util/error.h"

/* Refuse to write a vmlinux larger than this (decompression bomb guard). */
#define KERNEL_VMLINUX_MAX (1024ull * 1024 * 1024)
#define KERNEL_VERSION_MAX 128
#define KERNEL_BANNER_MAX 256

enum kernel_format {
        KERNEL_FORMAT_ELF,
        KERNEL_FORMAT_BZIMAGE,
        _KERNEL_FORMAT_MAX,
};

const char *kernel_format_to_string(enum kernel_format f);
int kernel_format_from_string(const char *s); /* -EINVAL if unknown */

struct kernel_image_info {
        enum kernel_format format;
        enum kernel_compression compression; /* bzImage payload; NONE for an ELF */
        uint16_t boot_protocol;              /* bzImage, e.g. 0x020f; 0 for an ELF */
        uint64_t size;                       /* file size in bytes */
        char sha256[SHA256_HEX_LEN + 1];     /* of the whole file, lowercase hex */
        /* Kernel release ("6.1.0-18-cloud-amd64") and the whole version string
         * it came from; both "" when the image carries none. */
        char version[KERNEL_VERSION_MAX];
        char banner[KERNEL_BANNER_MAX];
};

/* Identify the image at path and fill *ret. An ELF must be ELF64
 * little-endian for EM_X86_64; its version comes from the "Linux version"
 * banner. A bzImage's version comes from its header string, or, when that is
 * absent, from the banner inside the decompressed payload. Errors: -EINVAL
 * (with a message) for anything else, -errno for I/O. */
int kernel_image_inspect(const char *path, struct kernel_image_info *ret, struct bg_error *err);

struct kernel_extract_info {
        enum kernel_compression compression;
        uint64_t payload_offset; /* file offset where the compressed payload starts */
        bool found_by_scan;      /* header fields did not lead to it; magic scan did */
        uint64_t vmlinux_size;
        char version[KERNEL_VERSION_MAX]; /* from the banner in the vmlinux, "" if none */
};

/* Extract the ELF vmlinux from the bzImage at bzimage_path into out_path
 * (written to a temporary file beside it and renamed into place, mode 0644).
 * The payload is located by the header fields, falling back to a scan for
 * compression magics; the result must be a well-formed x86-64 ELF executable
 * with loadable segments. Memory use is bounded. ret may be NULL. */
int kernel_extract_vmlinux(const char *bzimage_path, const char *out_path,
                           struct kernel_extract_info *ret, struct bg_error *err);
