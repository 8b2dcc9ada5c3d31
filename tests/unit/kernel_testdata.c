#include "kernel_testdata.h"

#include <bzlib.h>
#include <elf.h>
#include <fcntl.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/fileio.h"

uint8_t *ktd_make_elf(uint16_t machine, uint16_t type, size_t size, size_t banner_at)
{
        uint8_t *p = calloc(1, size);
        uint32_t x = 12345;
        if (!p)
                return NULL;
        for (size_t i = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr); i < size; i++) {
                x = x * 1103515245u + 12345u;
                p[i] = (i / 64) % 3 == 0 ? (uint8_t)(x >> 24) : (uint8_t)(i & 0x0f);
        }
        Elf64_Ehdr eh = {0};
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = type;
        eh.e_machine = machine;
        eh.e_version = EV_CURRENT;
        eh.e_entry = 0x1000000;
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = 1;
        Elf64_Phdr ph = {
            .p_type = PT_LOAD,
            .p_flags = PF_R | PF_X,
            .p_offset = 0,
            .p_vaddr = 0xffffffff81000000ull,
            .p_paddr = 0x1000000,
            .p_filesz = size,
            .p_memsz = size,
            .p_align = 0x200000,
        };
        memcpy(p, &eh, sizeof(eh));
        memcpy(p + sizeof(eh), &ph, sizeof(ph));
        if (banner_at != SIZE_MAX)
                memcpy(p + banner_at, KTD_BANNER "\n", sizeof(KTD_BANNER "\n"));
        return p;
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

int ktd_compress(enum kernel_compression c, const uint8_t *in, size_t len, bool size_trailer,
                 uint8_t **ret, size_t *ret_len)
{
        size_t cap = len + len / 2 + 1024 * 1024, out_len = 0;
        uint8_t *out = malloc(cap);
        if (!out)
                return -1;
        switch (c) {
        case KERNEL_COMPRESSION_GZIP: {
                z_stream z = {0};
                if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
                        goto fail;
                z.next_in = (uint8_t *)in;
                z.avail_in = (uInt)len;
                z.next_out = out;
                z.avail_out = (uInt)cap;
                int r = deflate(&z, Z_FINISH);
                out_len = z.total_out;
                deflateEnd(&z);
                if (r != Z_STREAM_END)
                        goto fail;
                break;
        }
        case KERNEL_COMPRESSION_BZIP2: {
                unsigned ol = (unsigned)cap;
                if (BZ2_bzBuffToBuffCompress((char *)out, &ol, (char *)in, (unsigned)len, 9, 0,
                                             0) != BZ_OK)
                        goto fail;
                out_len = ol;
                break;
        }
        case KERNEL_COMPRESSION_LZMA: {
                lzma_stream s = LZMA_STREAM_INIT;
                lzma_options_lzma opt;
                lzma_lzma_preset(&opt, 6);
                if (lzma_alone_encoder(&s, &opt) != LZMA_OK)
                        goto fail;
                s.next_in = in;
                s.avail_in = len;
                s.next_out = out;
                s.avail_out = cap;
                lzma_ret r = lzma_code(&s, LZMA_FINISH);
                out_len = cap - s.avail_out;
                lzma_end(&s);
                if (r != LZMA_STREAM_END)
                        goto fail;
                break;
        }
        case KERNEL_COMPRESSION_XZ:
                if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, &out_len,
                                            cap) != LZMA_OK)
                        goto fail;
                break;
        case KERNEL_COMPRESSION_LZ4: {
                const size_t block = 8u * 1024 * 1024;
                put32(out, 0x184C2102u);
                out_len = 4;
                for (size_t off = 0; off < len; off += block) {
                        size_t n = len - off < block ? len - off : block;
                        int w =
                            LZ4_compress_default((const char *)in + off, (char *)out + out_len + 4,
                                                 (int)n, (int)(cap - out_len - 4));
                        if (w <= 0)
                                goto fail;
                        put32(out + out_len, (uint32_t)w);
                        out_len += 4 + (size_t)w;
                }
                break;
        }
        case KERNEL_COMPRESSION_ZSTD: {
                ZSTD_CCtx *cc = ZSTD_createCCtx();
                ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 19);
                ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
                size_t r = ZSTD_compress2(cc, out, cap, in, len);
                ZSTD_freeCCtx(cc);
                if (ZSTD_isError(r))
                        goto fail;
                out_len = r;
                break;
        }
        default:
                memcpy(out, in, len);
                out_len = len;
                break;
        }
        if (size_trailer) {
                put32(out + out_len, (uint32_t)len);
                out_len += 4;
        }
        *ret = out;
        *ret_len = out_len;
        return 0;
fail:
        free(out);
        return -1;
}

uint8_t *ktd_make_bzimage(const uint8_t *payload, size_t plen, const struct ktd_bzimage_opts *o,
                          size_t *ret_len, size_t *ret_payload_off)
{
        const size_t setup = 4 * 512, code = 600, tail = 333;
        size_t len = setup + code + plen + tail;
        uint8_t *p = malloc(len);
        if (!p)
                return NULL;
        memset(p, 0xcc, len); /* no compression magic starts with 0xcc */
        memset(p, 0, setup);
        p[0x1f1] = 3; /* setup_sects: (3 + 1) * 512 bytes of setup */
        put16(p + 0x1fe, 0xAA55);
        memcpy(p + 0x202, "HdrS", 4);
        put16(p + 0x206, o->payload_fields ? 0x020f : 0x0206);
        if (o->version) {
                put16(p + 0x20e, 0x400 - 0x200);
                memcpy(p + 0x400, o->version, strlen(o->version) + 1);
        }
        if (o->payload_fields) {
                put32(p + 0x248, (uint32_t)code);
                put32(p + 0x24c, (uint32_t)plen);
        }
        if (o->fake_magic) {
                static const uint8_t fake[] = {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03, 0x04};
                memcpy(p + setup + 100, fake, sizeof(fake));
                static const uint8_t fakexz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00, 0x04};
                memcpy(p + setup + 300, fakexz, sizeof(fakexz));
        }
        memcpy(p + setup + code, payload, plen);
        *ret_len = len;
        *ret_payload_off = setup + code;
        return p;
}

int ktd_write_file(const char *path, const void *buf, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        ssize_t w = write(fd, buf, len);
        close(fd);
        return w == (ssize_t)len ? 0 : -1;
}

uint8_t *ktd_read_file(const char *path, size_t *ret_len)
{
        char *buf = NULL;
        if (read_file_capped(path, 256u << 20, 0, &buf, ret_len, NULL) < 0)
                return NULL;
        return (uint8_t *)buf;
}
