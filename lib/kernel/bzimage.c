#include "bzimage.h"

#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"
#include "util/strtable.h"

#define BZ_HEADER_END 0x250 /* everything we read of the setup header */
#define MAX_SCAN_TRIES 64
#define BANNER_PREFIX "Linux version "

static const char *const format_names[_KERNEL_FORMAT_MAX] = {
    [KERNEL_FORMAT_ELF] = "elf",
    [KERNEL_FORMAT_BZIMAGE] = "bzimage",
};

DEFINE_STRING_TABLE_LOOKUP(kernel_format, enum kernel_format, format_names)

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks the ELF identification and header of an x86-64 kernel. */
static int elf_check_header(const uint8_t *p, size_t len, struct bg_error *err)
{
        if (len < sizeof(Elf64_Ehdr) || memcmp(p, ELFMAG, SELFMAG) != 0)
                return bg_error_set(err, ENOEXEC, "not an ELF file");
        if (p[EI_CLASS] != ELFCLASS64 || p[EI_DATA] != ELFDATA2LSB)
                return bg_error_set(err, ENOEXEC,
                                    "ELF is not 64-bit little-endian (class %u, data %u)",
                                    p[EI_CLASS], p[EI_DATA]);
        Elf64_Ehdr eh;
        memcpy(&eh, p, sizeof(eh));
        if (eh.e_machine != EM_X86_64)
                return bg_error_set(err, ENOEXEC, "ELF machine is %u, not x86-64 (%u)",
                                    eh.e_machine, EM_X86_64);
        if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
                return bg_error_set(err, ENOEXEC, "ELF type %u is not an executable", eh.e_type);
        return 0;
}

/* Full check of a written vmlinux: header plus program headers in range and
 * at least one PT_LOAD segment inside the file. */
static int elf_check_file(int fd, uint64_t size, struct bg_error *err)
{
        uint8_t head[sizeof(Elf64_Ehdr)];
        int n = pread_full(fd, head, sizeof(head), 0);
        if (n < 0)
                return bg_error_errno(err, n, "read vmlinux");
        int r = elf_check_header(head, (size_t)n, err);
        if (r < 0)
                return r;
        Elf64_Ehdr eh;
        memcpy(&eh, head, sizeof(eh));
        if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > size ||
            (size - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)
                return bg_error_set(err, ENOEXEC,
                                    "ELF program headers are missing or out of range");
        unsigned loads = 0;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                n = pread_full(fd, &ph, sizeof(ph), eh.e_phoff + (uint64_t)i * sizeof(ph));
                if (n < 0)
                        return bg_error_errno(err, n, "read vmlinux");
                if ((size_t)n < sizeof(ph))
                        return bg_error_set(err, ENOEXEC, "ELF program header %u truncated", i);
                if (ph.p_type != PT_LOAD)
                        continue;
                if (ph.p_offset > size || size - ph.p_offset < ph.p_filesz)
                        return bg_error_set(err, ENOEXEC,
                                            "ELF segment %u lies beyond the end of the file", i);
                loads++;
        }
        if (loads == 0)
                return bg_error_set(err, ENOEXEC, "ELF has no loadable segment");
        return 0;
}

/* Finds the first "Linux version <release> ..." banner in a byte stream fed
 * in arbitrary chunks, with a carry-over window for matches split between
 * chunks. */
struct banner_scan {
        uint8_t carry[KERNEL_BANNER_MAX - 1];
        size_t carry_len;
        bool found;
        char version[KERNEL_VERSION_MAX];
        char banner[KERNEL_BANNER_MAX];
};

/* 1: parsed; 0: not a banner; -1: needs more bytes to decide. */
static int banner_parse(struct banner_scan *b, const uint8_t *p, size_t avail)
{
        size_t lim = avail < KERNEL_BANNER_MAX - 1 ? avail : KERNEL_BANNER_MAX - 1;
        size_t end = 0;
        while (end < lim && p[end] != '\n' && p[end] != '\0')
                end++;
        if (end == lim)
                return avail >= KERNEL_BANNER_MAX - 1 ? 0 : -1;
        for (size_t i = 0; i < end; i++)
                if (p[i] < 0x20 || p[i] > 0x7e)
                        return 0;
        const uint8_t *rel = p + strlen(BANNER_PREFIX);
        size_t rl = 0;
        while (rel + rl < p + end && rel[rl] != ' ')
                rl++;
        if (rl == 0 || rl >= KERNEL_VERSION_MAX || rel[0] < '0' || rel[0] > '9')
                return 0;
        memcpy(b->banner, p, end);
        b->banner[end] = '\0';
        memcpy(b->version, rel, rl);
        b->version[rl] = '\0';
        b->found = true;
        return 1;
}

/* Search buf[0..len) for banners starting before `starts_before`. */
static void banner_search(struct banner_scan *b, const uint8_t *buf, size_t len,
                          size_t starts_before)
{
        const size_t pl = strlen(BANNER_PREFIX);
        size_t i = 0;
        while (!b->found && i < starts_before && i < len) {
                const uint8_t *m = memmem(buf + i, len - i, BANNER_PREFIX, pl);
                if (!m || (size_t)(m - buf) >= starts_before)
                        return;
                if (banner_parse(b, m, len - (size_t)(m - buf)) < 0)
                        return; /* incomplete: it is in the carry for next time */
                i = (size_t)(m - buf) + 1;
        }
}

static void banner_feed(struct banner_scan *b, const uint8_t *p, size_t n)
{
        const size_t cmax = sizeof(b->carry);
        if (b->found || n == 0)
                return;
        if (b->carry_len > 0) {
                uint8_t win[2 * sizeof(b->carry)];
                size_t k = n < cmax ? n : cmax;
                memcpy(win, b->carry, b->carry_len);
                memcpy(win + b->carry_len, p, k);
                banner_search(b, win, b->carry_len + k, b->carry_len);
        }
        banner_search(b, p, n, n);
        if (n >= cmax) {
                memcpy(b->carry, p + n - cmax, cmax);
                b->carry_len = cmax;
        } else {
                size_t keep = b->carry_len + n > cmax ? cmax - n : b->carry_len;
                memmove(b->carry, b->carry + b->carry_len - keep, keep);
                memcpy(b->carry + keep, p, n);
                b->carry_len = keep + n;
        }
}

/* The sink used while extracting: checks the ELF header as soon as it has
 * arrived (so a false candidate is abandoned early), scans for the banner,
 * and writes to the output file. */
struct vmlinux_sink {
        int fd;
        uint8_t head[sizeof(Elf64_Ehdr)];
        size_t head_len;
        bool checked;
        struct banner_scan banner;
};

static int vmlinux_sink(void *userdata, const void *buf, size_t len, struct bg_error *err)
{
        struct vmlinux_sink *s = userdata;
        if (!s->checked) {
                size_t k = sizeof(s->head) - s->head_len;
                if (k > len)
                        k = len;
                memcpy(s->head + s->head_len, buf, k);
                s->head_len += k;
                if (s->head_len == sizeof(s->head)) {
                        int r = elf_check_header(s->head, s->head_len, err);
                        if (r < 0)
                                return bg_error_prefix(err, "decompressed payload");
                        s->checked = true;
                }
        }
        banner_feed(&s->banner, buf, len);
        return kernel_sink_fd(&s->fd, buf, len, err);
}

/* Sink for inspecting: only looks for the banner, stops once found. */
static int banner_sink(void *userdata, const void *buf, size_t len, struct bg_error *err)
{
        struct banner_scan *b = userdata;
        banner_feed(b, buf, len);
        return b->found ? -ECANCELED : 0;
}

struct bz_header {
        uint16_t protocol;
        uint64_t setup_size;
        bool has_payload;
        uint64_t payload_offset; /* absolute file offset */
        uint64_t payload_length;
        char banner[KERNEL_BANNER_MAX];
        char version[KERNEL_VERSION_MAX];
};

/* Returns 1 and fills *h when head (the first bytes of a file of size
 * file_size) is a bzImage, 0 when it is not. */
static int bz_parse(int fd, const uint8_t *head, size_t len, uint64_t file_size,
                    struct bz_header *h)
{
        if (len < BZ_HEADER_END || memcmp(head + 0x202, "HdrS", 4) != 0)
                return 0;
        *h = (struct bz_header){0};
        unsigned sects = head[0x1f1] ? head[0x1f1] : 4;
        h->setup_size = (uint64_t)(sects + 1) * 512;
        h->protocol = get16(head + 0x206);
        if (h->protocol >= 0x0208) {
                uint64_t off = h->setup_size + get32(head + 0x248);
                uint64_t plen = get32(head + 0x24c);
                if (plen > 0 && off < file_size && plen <= file_size - off) {
                        h->has_payload = true;
                        h->payload_offset = off;
                        h->payload_length = plen;
                }
        }
        uint16_t kv = get16(head + 0x20e);
        if (kv != 0) {
                uint64_t at = (uint64_t)kv + 0x200;
                char s[KERNEL_BANNER_MAX];
                int n = at < h->setup_size ? pread_full(fd, s, sizeof(s) - 1, at) : 0;
                if (n > 0) {
                        s[n] = '\0';
                        size_t l = strnlen(s, (size_t)n);
                        bool ok = l > 0 && l < (size_t)n;
                        for (size_t i = 0; ok && i < l; i++)
                                ok = s[i] >= 0x20 && s[i] <= 0x7e;
                        size_t vl = strcspn(s, " ");
                        if (ok && s[0] >= '0' && s[0] <= '9' && vl < KERNEL_VERSION_MAX) {
                                memcpy(h->banner, s, l + 1);
                                memcpy(h->version, s, vl);
                                h->version[vl] = '\0';
                        }
                }
        }
        return 1;
}

static enum kernel_compression detect_at(int fd, uint64_t off)
{
        uint8_t m[16];
        int n = pread_full(fd, m, sizeof(m), off);
        if (n <= 0)
                return KERNEL_COMPRESSION_NONE;
        return kernel_compression_detect(m, (size_t)n);
}

static bool is_elf_at(int fd, uint64_t off)
{
        uint8_t m[SELFMAG];
        return pread_full(fd, m, SELFMAG, off) == SELFMAG && memcmp(m, ELFMAG, SELFMAG) == 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

/* One pass over an ELF file: sha256 and banner. */
static int inspect_elf(int fd, struct kernel_image_info *info, struct bg_error *err)
{
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(256 * 1024);
        _cleanup_free_ struct banner_scan *b = calloc(1, sizeof(*b));
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        uint64_t off = 0;

        if (!ctx || !buf || !b)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return bg_error_set(err, EIO, "sha256: cannot initialise digest");
        for (;;) {
                int n = pread_full(fd, buf, 256 * 1024, off);
                if (n < 0)
                        return bg_error_errno(err, n, "read");
                if (n == 0)
                        break;
                EVP_DigestUpdate(ctx, buf, (size_t)n);
                banner_feed(b, buf, (size_t)n);
                off += (uint64_t)n;
        }
        if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
                return bg_error_set(err, EIO, "sha256: digest final failed");
        for (unsigned i = 0; i < mdlen && i < 32; i++)
                snprintf(info->sha256 + 2 * i, 3, "%02x", md[i]);
        if (b->found) {
                memcpy(info->version, b->version, sizeof(info->version));
                memcpy(info->banner, b->banner, sizeof(info->banner));
        }
        return 0;
}

int kernel_image_inspect(const char *path, struct kernel_image_info *ret, struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct kernel_image_info info = {0};
        uint8_t head[BZ_HEADER_END];
        struct stat st;
        int r;

        if (fd < 0)
                return bg_error_errno(err, -errno, "open kernel '%s'", path);
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat kernel '%s'", path);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "kernel '%s' is not a regular file", path);
        info.size = (uint64_t)st.st_size;
        int n = pread_full(fd, head, sizeof(head), 0);
        if (n < 0)
                return bg_error_errno(err, n, "read kernel '%s'", path);

        if ((size_t)n >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0) {
                r = elf_check_header(head, (size_t)n, err);
                if (r < 0)
                        return bg_error_prefix(err, "kernel '%s'", path);
                info.format = KERNEL_FORMAT_ELF;
                info.compression = KERNEL_COMPRESSION_NONE;
                r = inspect_elf(fd, &info, err);
                if (r < 0)
                        return bg_error_prefix(err, "kernel '%s'", path);
                *ret = info;
                return 0;
        }

        struct bz_header h;
        if (!bz_parse(fd, head, (size_t)n, info.size, &h))
                return bg_error_set(err, EINVAL,
                                    "kernel '%s' is neither an ELF vmlinux nor a bzImage "
                                    "(no ELF magic, no HdrS boot header)",
                                    path);
        info.format = KERNEL_FORMAT_BZIMAGE;
        info.boot_protocol = h.protocol;
        r = sha256_fd_hex(fd, info.sha256, NULL, err);
        if (r < 0)
                return bg_error_prefix(err, "kernel '%s'", path);
        if (h.has_payload)
                info.compression = detect_at(fd, h.payload_offset);
        memcpy(info.version, h.version, sizeof(info.version));
        memcpy(info.banner, h.banner, sizeof(info.banner));
        if (!info.version[0] && h.has_payload &&
            (info.compression != KERNEL_COMPRESSION_NONE || is_elf_at(fd, h.payload_offset))) {
                /* No header string: look for the banner in the payload. */
                _cleanup_free_ struct banner_scan *b = calloc(1, sizeof(*b));
                struct bg_error ignored = {0};
                if (!b)
                        return bg_error_set(err, ENOMEM, "out of memory");
                (void)kernel_decompress_fd(info.compression, fd, h.payload_offset, h.payload_length,
                                           KERNEL_VMLINUX_MAX, banner_sink, b, NULL, NULL,
                                           &ignored);
                if (b->found) {
                        memcpy(info.version, b->version, sizeof(info.version));
                        memcpy(info.banner, b->banner, sizeof(info.banner));
                }
        }
        *ret = info;
        return 0;
}

/* Try one candidate payload; on failure the output file is emptied again. */
static int try_candidate(int in_fd, int out_fd, enum kernel_compression c, uint64_t off,
                         uint64_t len, struct vmlinux_sink *sink, uint64_t *ret_size,
                         struct bg_error *err)
{
        *sink = (struct vmlinux_sink){.fd = out_fd};
        uint64_t produced = 0, used = 0;
        int r = kernel_decompress_fd(c, in_fd, off, len, KERNEL_VMLINUX_MAX, vmlinux_sink, sink,
                                     &used, &produced, err);
        if (r >= 0 && len != UINT64_MAX && used + 4 == len) {
                /* The kernel build's size trailer follows the stream: check it
                 * (lzma and lz4 carry no checksum of their own). */
                uint8_t t[4];
                if (pread_full(in_fd, t, 4, off + used) == 4 && get32(t) != (uint32_t)produced)
                        r = bg_error_set(err, EBADMSG,
                                         "size trailer says %" PRIu32
                                         " bytes but the payload decompressed to %" PRIu64,
                                         get32(t), produced);
        }
        if (r >= 0 && !sink->checked)
                r = bg_error_set(err, ENOEXEC, "decompressed payload is too short to be an ELF");
        if (r >= 0)
                r = elf_check_file(out_fd, produced, err);
        if (r < 0) {
                if (ftruncate(out_fd, 0) < 0 || lseek(out_fd, 0, SEEK_SET) < 0)
                        return bg_error_errno(err, -errno, "truncate output");
                return r;
        }
        *ret_size = produced;
        return 0;
}

int kernel_extract_vmlinux(const char *bzimage_path, const char *out_path,
                           struct kernel_extract_info *ret, struct bg_error *err)
{
        _cleanup_close_ int fd = open(bzimage_path, O_RDONLY | O_CLOEXEC);
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        _cleanup_free_ struct vmlinux_sink *sink = calloc(1, sizeof(*sink));
        _cleanup_free_ uint8_t *buf = NULL;
        struct kernel_extract_info info = {0};
        struct bg_error first = {0};
        uint8_t head[BZ_HEADER_END];
        struct bz_header h;
        struct stat st;
        bool ok = false;
        int r;

        if (!sink)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (fd < 0)
                return bg_error_errno(err, -errno, "open bzImage '%s'", bzimage_path);
        if (fstat(fd, &st) < 0)
                return bg_error_errno(err, -errno, "stat bzImage '%s'", bzimage_path);
        int n = pread_full(fd, head, sizeof(head), 0);
        if (n < 0)
                return bg_error_errno(err, n, "read bzImage '%s'", bzimage_path);
        if ((size_t)n >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0)
                return bg_error_set(err, EINVAL,
                                    "'%s' is already an ELF vmlinux, not a bzImage to extract",
                                    bzimage_path);
        if (!bz_parse(fd, head, (size_t)n, (uint64_t)st.st_size, &h))
                return bg_error_set(err, EINVAL, "'%s' is not a bzImage (no HdrS boot header)",
                                    bzimage_path);

        r = atomic_file_open(out_path, &out, err);
        if (r < 0)
                return r;

        if (h.has_payload) {
                enum kernel_compression c = detect_at(fd, h.payload_offset);
                if (c != KERNEL_COMPRESSION_NONE || is_elf_at(fd, h.payload_offset)) {
                        r = try_candidate(fd, out.fd, c, h.payload_offset, h.payload_length, sink,
                                          &info.vmlinux_size, &first);
                        if (r >= 0) {
                                ok = true;
                                info.compression = c;
                                info.payload_offset = h.payload_offset;
                        } else if (r == -ENOSPC || r == -EIO) {
                                *err = first;
                                return -first.code;
                        } else {
                                bg_error_prefix(
                                    &first, "payload at offset %" PRIu64 " (from the boot header)",
                                    h.payload_offset);
                        }
                } else {
                        bg_error_set(&first, EBADMSG,
                                     "payload at offset %" PRIu64
                                     " (from the boot header) has no known compression magic",
                                     h.payload_offset);
                }
        }

        /* Fallback: scan the file for compression magics, in file order. */
        const size_t chunk = 1024 * 1024, overlap = 16;
        unsigned tries = 0;
        buf = malloc(chunk + overlap);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (uint64_t base = 0; !ok && base < (uint64_t)st.st_size && tries < MAX_SCAN_TRIES;
             base += chunk) {
                n = pread_full(fd, buf, chunk + overlap, base);
                if (n < 0)
                        return bg_error_errno(err, n, "read bzImage '%s'", bzimage_path);
                size_t lim = (size_t)n < chunk ? (size_t)n : chunk;
                for (size_t i = 0; i < lim && !ok && tries < MAX_SCAN_TRIES; i++) {
                        uint8_t b0 = buf[i];
                        if (b0 != 0x1f && b0 != 0xfd && b0 != 0x02 && b0 != 0x28 && b0 != 'B' &&
                            b0 != 0x5d)
                                continue;
                        enum kernel_compression c =
                            kernel_compression_detect(buf + i, (size_t)n - i);
                        uint64_t off = base + i;
                        if (c == KERNEL_COMPRESSION_NONE ||
                            (h.has_payload && off == h.payload_offset))
                                continue;
                        tries++;
                        struct bg_error e = {0};
                        r = try_candidate(fd, out.fd, c, off, UINT64_MAX, sink, &info.vmlinux_size,
                                          &e);
                        if (r >= 0) {
                                ok = true;
                                info.compression = c;
                                info.payload_offset = off;
                                info.found_by_scan = true;
                        } else if (r == -ENOSPC || r == -EIO) {
                                *err = e;
                                return r;
                        } else if (!first.code) {
                                first = e;
                                bg_error_prefix(&first, "%s payload found at offset %" PRIu64,
                                                kernel_compression_to_string(c), off);
                        }
                }
        }
        if (!ok) {
                if (first.code)
                        return bg_error_set(err, first.code, "cannot extract vmlinux from '%s': %s",
                                            bzimage_path, first.msg);
                return bg_error_set(err, ENOEXEC,
                                    "cannot extract vmlinux from '%s': no compressed kernel "
                                    "payload found",
                                    bzimage_path);
        }

        r = atomic_file_commit(&out, 0644, err);
        if (r < 0)
                return r;
        if (sink->banner.found)
                memcpy(info.version, sink->banner.version, sizeof(info.version));
        if (ret)
                *ret = info;
        return 0;
}
