/* Test-data helper for the kernel integration tests:
 *   test_kernel_mkimage bzimage OUT [SIZE_KIB]   tiny bzImage (gzip payload) of
 *                                                release 6.1.0-99-test
 *   test_kernel_mkimage elf OUT                  tiny ELF vmlinux
 *   test_kernel_mkimage modules DIR              DIR/lib/modules/6.1.0-99-test with
 *                                                virtio/vsock modules and modules.dep */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_testdata.h"

static int mkdirs(const char *path)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s", path);
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        mkdir(p, 0755);
                        *s = '/';
                }
        return mkdir(p, 0755) == 0 || access(p, F_OK) == 0 ? 0 : -1;
}

static int write_module(const char *root, const char *rel)
{
        char p[PATH_MAX], d[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        snprintf(d, sizeof(d), "%s", p);
        *strrchr(d, '/') = '\0';
        if (mkdirs(d) < 0)
                return -1;
        uint8_t *elf = ktd_make_elf(62, 1, 8192, SIZE_MAX);
        uint8_t *c = NULL;
        size_t clen = 0;
        if (!elf || ktd_compress(KERNEL_COMPRESSION_XZ, elf, 8192, false, &c, &clen) < 0)
                return -1;
        int r = ktd_write_file(p, c, clen);
        free(elf);
        free(c);
        return r;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "bzimage") == 0) {
                size_t size = argc >= 4 ? (size_t)strtoul(argv[3], NULL, 10) * 1024 : 256 * 1024;
                uint8_t *elf = ktd_make_elf(62, 2, size, 4096);
                uint8_t *pl = NULL;
                size_t plen = 0, len = 0, off = 0;
                if (!elf || ktd_compress(KERNEL_COMPRESSION_GZIP, elf, size, false, &pl, &plen) < 0)
                        return 1;
                struct ktd_bzimage_opts o = {.version = KTD_RELEASE " (builder@test) #1",
                                             .payload_fields = true};
                uint8_t *bz = ktd_make_bzimage(pl, plen, &o, &len, &off);
                int r = bz && ktd_write_file(argv[2], bz, len) == 0 ? 0 : 1;
                free(elf);
                free(pl);
                free(bz);
                return r;
        }
        if (argc == 3 && strcmp(argv[1], "elf") == 0) {
                uint8_t *elf = ktd_make_elf(62, 2, 64 * 1024, 4096);
                int r = elf && ktd_write_file(argv[2], elf, 64 * 1024) == 0 ? 0 : 1;
                free(elf);
                return r;
        }
        if (argc == 3 && strcmp(argv[1], "modules") == 0) {
                char root[PATH_MAX];
                snprintf(root, sizeof(root), "%s/lib/modules/" KTD_RELEASE, argv[2]);
                static const char *const mods[] = {
                    "kernel/drivers/virtio/virtio.ko.xz",
                    "kernel/drivers/virtio/virtio_ring.ko.xz",
                    "kernel/drivers/virtio/virtio_mmio.ko.xz",
                    "kernel/drivers/block/virtio_blk.ko.xz",
                    "kernel/drivers/net/virtio_net.ko.xz",
                    "kernel/drivers/char/virtio_console.ko.xz",
                    "kernel/net/vmw_vsock/vsock.ko.xz",
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz",
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz",
                    "kernel/fs/ext4/ext4.ko.xz",
                    "kernel/fs/jbd2/jbd2.ko.xz",
                    "kernel/lib/crc16.ko.xz",
                    "kernel/sound/unrelated.ko.xz",
                };
                for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
                        if (write_module(root, mods[i]) < 0)
                                return 1;
                static const char dep[] =
                    "kernel/drivers/virtio/virtio.ko.xz:\n"
                    "kernel/drivers/virtio/virtio_ring.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/drivers/virtio/virtio_mmio.ko.xz: "
                    "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/drivers/block/virtio_blk.ko.xz: "
                    "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz "
                    "kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/drivers/char/virtio_console.ko.xz: "
                    "kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/net/vmw_vsock/vsock.ko.xz:\n"
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: "
                    "kernel/net/vmw_vsock/vsock.ko.xz\n"
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: "
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz "
                    "kernel/net/vmw_vsock/vsock.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz "
                    "kernel/drivers/virtio/virtio.ko.xz\n"
                    "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz\n"
                    "kernel/fs/jbd2/jbd2.ko.xz:\n"
                    "kernel/lib/crc16.ko.xz:\n"
                    "kernel/sound/unrelated.ko.xz:\n";
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "%s/modules.dep", root);
                if (ktd_write_file(p, dep, strlen(dep)) < 0)
                        return 1;
                snprintf(p, sizeof(p), "%s/modules.builtin", root);
                return ktd_write_file(p, "kernel/fs/mbcache.ko\n", 20) == 0 ? 0 : 1;
        }
        fprintf(stderr, "usage: %s bzimage OUT [SIZE_KIB] | elf OUT | modules DIR\n", argv[0]);
        return 2;
}
