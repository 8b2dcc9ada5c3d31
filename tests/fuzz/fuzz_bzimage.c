/* Fuzz target "bzimage": a kernel image as `banger kernel import` or a
 * kernel pull hands it over (lib/kernel/bzimage.c): kernel_image_inspect
 * (ELF or bzImage, boot header, version string, banner in the payload) and
 * kernel_extract_vmlinux (payload located by the header fields or by a magic
 * scan, decompressed with gzip/bzip2/lzma/xz/lz4/zstd, size trailer and ELF
 * checks). The input lives in a memfd; the vmlinux goes to a tmpfs dir and
 * must be an x86-64 ELF when extraction succeeds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "check.h"
#include "fuzz.h"

static char dir[64];
static char out_path[128];

static void cleanup(void)
{
        if (out_path[0])
                unlink(out_path);
        if (dir[0])
                rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof(dir), "%s/fuzz-bzimage-XXXXXX", base);
        CHECK(mkdtemp(dir));
        snprintf(out_path, sizeof(out_path), "%s/vmlinux", dir);
        atexit(cleanup);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!dir[0])
                LLVMFuzzerInitialize(NULL, NULL);
        int fd = memfd_create("fuzz-bzimage", MFD_CLOEXEC);
        CHECK(fd >= 0);
        size_t off = 0;
        while (off < size) {
                ssize_t k = write(fd, data + off, size - off);
                CHECK(k > 0);
                off += (size_t)k;
        }
        char in_path[64];
        snprintf(in_path, sizeof(in_path), "/proc/self/fd/%d", fd);

        struct kernel_image_info info;
        struct bg_error err = {0};
        int r = kernel_image_inspect(in_path, &info, &err);
        if (r >= 0) {
                CHECK(info.size == size);
                CHECK(info.format == KERNEL_FORMAT_ELF || info.format == KERNEL_FORMAT_BZIMAGE);
                CHECK(strnlen(info.version, sizeof(info.version)) < sizeof(info.version));
                CHECK(strnlen(info.banner, sizeof(info.banner)) < sizeof(info.banner));
        } else {
                CHECK(err.msg[0]);
        }

        struct kernel_extract_info xi;
        err = (struct bg_error){0};
        r = kernel_extract_vmlinux(in_path, out_path, &xi, &err);
        if (r >= 0) {
                struct stat st;
                CHECK(stat(out_path, &st) == 0 && (uint64_t)st.st_size == xi.vmlinux_size);
                CHECK(xi.vmlinux_size <= KERNEL_VMLINUX_MAX);
                struct kernel_image_info vi;
                struct bg_error e2 = {0};
                CHECK(kernel_image_inspect(out_path, &vi, &e2) >= 0); /* an ELF we accept */
                CHECK(vi.format == KERNEL_FORMAT_ELF);
                unlink(out_path);
        } else {
                CHECK(err.msg[0]);
                CHECK(access(out_path, F_OK) != 0); /* nothing left behind */
        }
        close(fd);
        return 0;
}
