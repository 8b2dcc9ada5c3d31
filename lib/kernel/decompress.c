#include "decompress.h"

#include <bzlib.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <lzma.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include "util/fileio.h"
#include "util/strtable.h"

#define CHUNK (128u * 1024u)
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u * 1024u * 1024u)

static const char *const compression_names[_KERNEL_COMPRESSION_MAX] = {
    [KERNEL_COMPRESSION_NONE] = "none",   [KERNEL_COMPRESSION_GZIP] = "gzip",
    [KERNEL_COMPRESSION_BZIP2] = "bzip2", [KERNEL_COMPRESSION_LZMA] = "lzma",
    [KERNEL_COMPRESSION_XZ] = "xz",       [KERNEL_COMPRESSION_LZ4] = "lz4",
    [KERNEL_COMPRESSION_ZSTD] = "zstd",
};

DEFINE_STRING_TABLE_LOOKUP(kernel_compression, enum kernel_compression, compression_names)

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum kernel_compression kernel_compression_detect(const void *buf, size_t len)
{
        const uint8_t *p = buf;
        static const uint8_t xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
        static const uint8_t bz_block[] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};

        if (len >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08)
                return KERNEL_COMPRESSION_GZIP;
        if (len >= sizeof(xz) && memcmp(p, xz, sizeof(xz)) == 0)
                return KERNEL_COMPRESSION_XZ;
        if (len >= 4 && le32(p) == LZ4_LEGACY_MAGIC)
                return KERNEL_COMPRESSION_LZ4;
        if (len >= 4 && le32(p) == 0xFD2FB528u)
                return KERNEL_COMPRESSION_ZSTD;
        if (len >= 10 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9' &&
            memcmp(p + 4, bz_block, sizeof(bz_block)) == 0)
                return KERNEL_COMPRESSION_BZIP2;
        /* .lzma ("lzma_alone"): properties byte 0x5d (lc=3 lp=0 pb=2, what
         * every lzma tool writes by default), a little-endian dictionary size
         * that is a multiple of 64 KiB, then the uncompressed size: unknown
         * (all ones) or plausible (below 4 GiB). */
        if (len >= 13 && p[0] == 0x5d && p[1] == 0x00 && p[2] == 0x00) {
                bool unknown = true;
                for (int i = 5; i < 13; i++)
                        unknown = unknown && p[i] == 0xff;
                if (unknown || (p[10] == 0 && p[11] == 0 && p[12] == 0 && p[9] == 0))
                        return KERNEL_COMPRESSION_LZMA;
        }
        return KERNEL_COMPRESSION_NONE;
}

/* A byte range of a file, read sequentially with pread. */
struct src {
        int fd;
        uint64_t pos;
        uint64_t end;
};

static ssize_t src_read(struct src *s, void *buf, size_t n)
{
        if (s->end != UINT64_MAX && s->end - s->pos < n)
                n = (size_t)(s->end - s->pos);
        ssize_t done = pread_full(s->fd, buf, n, s->pos);
        if (done > 0)
                s->pos += (uint64_t)done;
        return done;
}

struct out {
        kernel_sink_fn fn;
        void *userdata;
        uint64_t total;
        uint64_t max;
        const char *name;
};

static int out_emit(struct out *o, const void *buf, size_t n, struct bg_error *err)
{
        if (n == 0)
                return 0;
        if (o->total + n > o->max)
                return bg_error_set(err, EFBIG,
                                    "%s data decompresses to more than %" PRIu64 " bytes", o->name,
                                    o->max);
        o->total += n;
        return o->fn(o->userdata, buf, n, err);
}

static int read_error(struct bg_error *err, ssize_t r, const char *name)
{
        return bg_error_errno(err, (int)r, "read %s data", name);
}

static int truncated(struct bg_error *err, const char *name)
{
        return bg_error_set(err, EBADMSG, "%s data truncated: stream ends before its end marker",
                            name);
}

static int copy_plain(struct src *s, struct out *o, uint64_t *ret_in, struct bg_error *err)
{
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        uint64_t start = s->pos;
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (;;) {
                ssize_t n = src_read(s, buf, CHUNK);
                if (n < 0)
                        return read_error(err, n, o->name);
                if (n == 0)
                        break;
                int r = out_emit(o, buf, (size_t)n, err);
                if (r < 0)
                        return r;
        }
        *ret_in = s->pos - start;
        return 0;
}

static void inflate_endp(z_stream **z)
{
        inflateEnd(*z);
}

static int do_gzip(struct src *s, struct out *o, uint64_t *ret_in, struct bg_error *err)
{
        _cleanup_free_ uint8_t *in = malloc(CHUNK);
        _cleanup_free_ uint8_t *outbuf = malloc(CHUNK);
        uint64_t start = s->pos;
        if (!in || !outbuf)
                return bg_error_set(err, ENOMEM, "out of memory");
        z_stream z = {0};
        if (inflateInit2(&z, 15 + 16) != Z_OK)
                return bg_error_set(err, ENOMEM, "gzip: cannot initialise zlib");
        _cleanup_(inflate_endp) z_stream *zp = &z; /* inflateEnd on every return */
        bool eof = false;
        for (;;) {
                if (z.avail_in == 0 && !eof) {
                        ssize_t n = src_read(s, in, CHUNK);
                        if (n < 0)
                                return read_error(err, n, o->name);
                        eof = n == 0;
                        z.next_in = in;
                        z.avail_in = (uInt)n;
                }
                z.next_out = outbuf;
                z.avail_out = CHUNK;
                int ret = inflate(zp, Z_NO_FLUSH);
                size_t produced = CHUNK - z.avail_out;
                int r = out_emit(o, outbuf, produced, err);
                if (r < 0)
                        return r;
                if (ret == Z_STREAM_END)
                        break;
                if (ret != Z_OK && ret != Z_BUF_ERROR)
                        return bg_error_set(err, EBADMSG, "gzip data corrupt: %s",
                                            z.msg ? z.msg : "inflate failed");
                if (eof && z.avail_in == 0 && produced == 0)
                        return truncated(err, o->name);
        }
        *ret_in = s->pos - start - z.avail_in;
        return 0;
}

static const char *lzma_strerror(lzma_ret ret)
{
        switch (ret) {
        case LZMA_MEM_ERROR:
                return "out of memory";
        case LZMA_MEMLIMIT_ERROR:
                return "memory limit reached";
        case LZMA_FORMAT_ERROR:
                return "not in the expected format";
        case LZMA_OPTIONS_ERROR:
                return "unsupported options";
        case LZMA_DATA_ERROR:
                return "data is corrupt";
        case LZMA_BUF_ERROR:
                return "unexpected end of input";
        case LZMA_UNSUPPORTED_CHECK:
                return "unsupported integrity check";
        default:
                return "decoder error";
        }
}

static int do_lzma(struct src *s, struct out *o, bool xz, uint64_t *ret_in, struct bg_error *err)
{
        _cleanup_free_ uint8_t *in = malloc(CHUNK);
        _cleanup_free_ uint8_t *outbuf = malloc(CHUNK);
        uint64_t start = s->pos;
        if (!in || !outbuf)
                return bg_error_set(err, ENOMEM, "out of memory");
        lzma_stream ls = LZMA_STREAM_INIT;
        lzma_ret ret =
            xz ? lzma_stream_decoder(&ls, KERNEL_DECODER_MEMLIMIT, 0)
               : lzma_alone_decoder(&ls, KERNEL_DECODER_MEMLIMIT);
        if (ret != LZMA_OK)
                return bg_error_set(err, ENOMEM, "%s: cannot initialise decoder: %s", o->name,
                                    lzma_strerror(ret));
        bool eof = false;
        int r = 0;
        for (;;) {
                if (ls.avail_in == 0 && !eof) {
                        ssize_t n = src_read(s, in, CHUNK);
                        if (n < 0) {
                                r = read_error(err, n, o->name);
                                break;
                        }
                        eof = n == 0;
                        ls.next_in = in;
                        ls.avail_in = (size_t)n;
                }
                ls.next_out = outbuf;
                ls.avail_out = CHUNK;
                ret = lzma_code(&ls, eof ? LZMA_FINISH : LZMA_RUN);
                r = out_emit(o, outbuf, CHUNK - ls.avail_out, err);
                if (r < 0)
                        break;
                if (ret == LZMA_STREAM_END)
                        break;
                if (ret == LZMA_BUF_ERROR && eof) {
                        r = truncated(err, o->name);
                        break;
                }
                if (ret == LZMA_MEMLIMIT_ERROR) {
                        /* The header asks for a dictionary larger than any
                         * kernel or module uses: refuse before allocating it. */
                        r = bg_error_set(err, EFBIG,
                                         "%s stream needs more than %llu MiB of memory to "
                                         "decompress (dictionary size in its header)",
                                         o->name, KERNEL_DECODER_MEMLIMIT >> 20);
                        break;
                }
                if (ret != LZMA_OK) {
                        r = bg_error_set(err, EBADMSG, "%s data corrupt: %s", o->name,
                                         lzma_strerror(ret));
                        break;
                }
        }
        size_t left = ls.avail_in;
        lzma_end(&ls);
        if (r < 0)
                return r;
        *ret_in = s->pos - start - left;
        return 0;
}

static int do_bzip2(struct src *s, struct out *o, uint64_t *ret_in, struct bg_error *err)
{
        _cleanup_free_ uint8_t *in = malloc(CHUNK);
        _cleanup_free_ uint8_t *outbuf = malloc(CHUNK);
        uint64_t start = s->pos;
        if (!in || !outbuf)
                return bg_error_set(err, ENOMEM, "out of memory");
        bz_stream bz = {0};
        if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK)
                return bg_error_set(err, ENOMEM, "bzip2: cannot initialise decoder");
        bool eof = false;
        int r = 0;
        for (;;) {
                if (bz.avail_in == 0 && !eof) {
                        ssize_t n = src_read(s, in, CHUNK);
                        if (n < 0) {
                                r = read_error(err, n, o->name);
                                break;
                        }
                        eof = n == 0;
                        bz.next_in = (char *)in;
                        bz.avail_in = (unsigned)n;
                }
                bz.next_out = (char *)outbuf;
                bz.avail_out = CHUNK;
                int ret = BZ2_bzDecompress(&bz);
                size_t produced = CHUNK - bz.avail_out;
                r = out_emit(o, outbuf, produced, err);
                if (r < 0)
                        break;
                if (ret == BZ_STREAM_END)
                        break;
                if (ret != BZ_OK) {
                        r = bg_error_set(err, EBADMSG, "bzip2 data corrupt (error %d)", ret);
                        break;
                }
                if (eof && bz.avail_in == 0 && produced == 0) {
                        r = truncated(err, o->name);
                        break;
                }
        }
        unsigned left = bz.avail_in;
        BZ2_bzDecompressEnd(&bz);
        if (r < 0)
                return r;
        *ret_in = s->pos - start - left;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_DCtx *, ZSTD_freeDCtx);

static int do_zstd(struct src *s, struct out *o, uint64_t *ret_in, struct bg_error *err)
{
        _cleanup_free_ uint8_t *in = malloc(CHUNK);
        _cleanup_free_ uint8_t *outbuf = malloc(CHUNK);
        _cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *dctx = ZSTD_createDCtx();
        uint64_t start = s->pos;
        if (!in || !outbuf || !dctx)
                return bg_error_set(err, ENOMEM, "out of memory");
        ZSTD_inBuffer ib = {in, 0, 0};
        bool eof = false;
        for (;;) {
                if (ib.pos == ib.size && !eof) {
                        ssize_t n = src_read(s, in, CHUNK);
                        if (n < 0)
                                return read_error(err, n, o->name);
                        eof = n == 0;
                        ib.size = (size_t)n;
                        ib.pos = 0;
                }
                ZSTD_outBuffer ob = {outbuf, CHUNK, 0};
                size_t ret = ZSTD_decompressStream(dctx, &ob, &ib);
                if (ZSTD_isError(ret))
                        return bg_error_set(err, EBADMSG, "zstd data corrupt: %s",
                                            ZSTD_getErrorName(ret));
                int r = out_emit(o, outbuf, ob.pos, err);
                if (r < 0)
                        return r;
                if (ret == 0)
                        break;
                if (eof && ib.pos == ib.size && ob.pos < ob.size)
                        return truncated(err, o->name);
        }
        *ret_in = s->pos - start - (ib.size - ib.pos);
        return 0;
}

/* The legacy lz4 frame (lz4 -l): magic, then blocks of <le32 compressed size>
 * <data>, each decompressing to 8 MiB except the last. The kernel build
 * appends the le32 uncompressed size; it is recognised and checked. */
static int do_lz4(struct src *s, struct out *o, uint64_t *ret_in, struct bg_error *err)
{
        const int bound = LZ4_compressBound(LZ4_LEGACY_BLOCK);
        _cleanup_free_ uint8_t *in = malloc((size_t)bound);
        _cleanup_free_ uint8_t *outbuf = malloc(LZ4_LEGACY_BLOCK);
        uint64_t start = s->pos;
        uint8_t hdr[4];
        bool last_short = false;
        uint64_t blocks = 0;

        if (!in || !outbuf)
                return bg_error_set(err, ENOMEM, "out of memory");
        ssize_t n = src_read(s, hdr, 4);
        if (n < 0)
                return read_error(err, n, o->name);
        if (n < 4 || le32(hdr) != LZ4_LEGACY_MAGIC)
                return bg_error_set(err, EBADMSG, "lz4 data has no legacy frame magic");
        for (;;) {
                uint64_t here = s->pos;
                n = src_read(s, hdr, 4);
                if (n < 0)
                        return read_error(err, n, o->name);
                if (n < 4) {
                        s->pos = here;
                        break;
                }
                uint32_t v = le32(hdr);
                bool at_end = s->end != UINT64_MAX && s->pos == s->end;
                if (v == LZ4_LEGACY_MAGIC) {
                        last_short = false;
                        continue;
                }
                if (blocks > 0 && v == (uint32_t)o->total)
                        break; /* the kernel's size trailer */
                if (last_short) {
                        if (at_end)
                                return bg_error_set(err, EBADMSG,
                                                    "lz4 size trailer says %" PRIu32
                                                    " bytes but the data decompressed to %" PRIu64,
                                                    v, o->total);
                        s->pos = here; /* whatever follows is not ours */
                        break;
                }
                if (v == 0 || v > (uint32_t)bound) {
                        if (blocks > 0 && at_end)
                                return bg_error_set(err, EBADMSG,
                                                    "lz4 size trailer says %" PRIu32
                                                    " bytes but the data decompressed to %" PRIu64,
                                                    v, o->total);
                        return bg_error_set(
                            err, EBADMSG, "lz4 data corrupt: block size %" PRIu32 " is invalid", v);
                }
                n = src_read(s, in, v);
                if (n < 0)
                        return read_error(err, n, o->name);
                if ((uint32_t)n < v)
                        return truncated(err, o->name);
                int dn =
                    LZ4_decompress_safe((const char *)in, (char *)outbuf, (int)v, LZ4_LEGACY_BLOCK);
                if (dn < 0)
                        return bg_error_set(err, EBADMSG, "lz4 data corrupt in block %" PRIu64,
                                            blocks);
                int r = out_emit(o, outbuf, (size_t)dn, err);
                if (r < 0)
                        return r;
                blocks++;
                if ((uint32_t)dn < LZ4_LEGACY_BLOCK)
                        last_short = true;
        }
        if (blocks == 0)
                return truncated(err, o->name);
        *ret_in = s->pos - start;
        return 0;
}

int kernel_decompress_fd(enum kernel_compression c, int fd, uint64_t offset, uint64_t length,
                         uint64_t max_out, kernel_sink_fn sink, void *userdata, uint64_t *ret_in,
                         uint64_t *ret_out, struct bg_error *err)
{
        struct src s = {
            .fd = fd,
            .pos = offset,
            .end =
                length == UINT64_MAX || UINT64_MAX - offset < length ? UINT64_MAX : offset + length,
        };
        struct out o = {.fn = sink, .userdata = userdata, .max = max_out};
        uint64_t in_used = 0;
        int r;

        if ((unsigned)c >= _KERNEL_COMPRESSION_MAX || !sink)
                return bg_error_set(err, EINVAL, "invalid decompression request");
        o.name = compression_names[c];
        switch (c) {
        case KERNEL_COMPRESSION_NONE:
                r = copy_plain(&s, &o, &in_used, err);
                break;
        case KERNEL_COMPRESSION_GZIP:
                r = do_gzip(&s, &o, &in_used, err);
                break;
        case KERNEL_COMPRESSION_BZIP2:
                r = do_bzip2(&s, &o, &in_used, err);
                break;
        case KERNEL_COMPRESSION_LZMA:
                r = do_lzma(&s, &o, false, &in_used, err);
                break;
        case KERNEL_COMPRESSION_XZ:
                r = do_lzma(&s, &o, true, &in_used, err);
                break;
        case KERNEL_COMPRESSION_LZ4:
                r = do_lz4(&s, &o, &in_used, err);
                break;
        case KERNEL_COMPRESSION_ZSTD:
                r = do_zstd(&s, &o, &in_used, err);
                break;
        default:
                r = bg_error_set(err, EINVAL, "invalid compression");
                break;
        }
        if (r < 0)
                return r;
        if (ret_in)
                *ret_in = in_used;
        if (ret_out)
                *ret_out = o.total;
        return 0;
}

int kernel_sink_fd(void *userdata, const void *buf, size_t len, struct bg_error *err)
{
        int fd = *(int *)userdata;
        const uint8_t *p = buf;
        while (len > 0) {
                ssize_t w = write(fd, p, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "write decompressed data");
                }
                p += w;
                len -= (size_t)w;
        }
        return 0;
}

int kernel_sink_membuf(void *userdata, const void *buf, size_t len, struct bg_error *err)
{
        struct kernel_membuf *m = userdata;
        if (m->len + len + 1 > m->cap) {
                size_t cap = m->cap ? m->cap : 4096;
                while (cap < m->len + len + 1)
                        cap *= 2;
                uint8_t *d = realloc(m->data, cap);
                if (!d)
                        return bg_error_set(err, ENOMEM, "out of memory");
                m->data = d;
                m->cap = cap;
        }
        memcpy(m->data + m->len, buf, len);
        m->len += len;
        m->data[m->len] = '\0';
        return 0;
}

int kernel_decompress_file_to_memory(const char *path, uint64_t max_out, uint8_t **ret_buf,
                                     size_t *ret_len, enum kernel_compression *ret_comp,
                                     struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open '%s'", path);
        uint8_t head[16];
        ssize_t n = pread(fd, head, sizeof(head), 0);
        if (n < 0)
                return bg_error_errno(err, -errno, "read '%s'", path);
        enum kernel_compression c = kernel_compression_detect(head, (size_t)n);
        struct kernel_membuf m = {0};
        int r = kernel_decompress_fd(c, fd, 0, UINT64_MAX, max_out, kernel_sink_membuf, &m, NULL,
                                     NULL, err);
        if (r >= 0 && !m.data)
                r = kernel_sink_membuf(&m, "", 0, err); /* empty file: still a valid buffer */
        if (r < 0) {
                free(m.data);
                return bg_error_prefix(err, "%s", path);
        }
        *ret_buf = m.data;
        *ret_len = m.len;
        if (ret_comp)
                *ret_comp = c;
        return 0;
}
