#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "image_internal.h"
#include "util/fileio.h"
#include "util/macro.h"

#define TAR_BLOCK 512
#define IO_CHUNK (1u << 20)
#define HOLE_BLOCK 4096

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_DCtx *, ZSTD_freeDCtx);
DEFINE_TRIVIAL_CLEANUP_FUNC(ZSTD_CCtx *, ZSTD_freeCCtx);

static const char *const known_files[] = {BUNDLE_ROOTFS};

static bool known_file(const char *p)
{
        for (size_t i = 0; i < ELEMENTSOF(known_files); i++)
                if (streq(p, known_files[i]))
                        return true;
        return false;
}

static bool cancelled(const struct bundle_io *io)
{
        return io && io->cancel && atomic_load(io->cancel);
}

static void progress(const struct bundle_io *io, uint64_t done, uint64_t total)
{
        if (io && io->progress)
                io->progress(io->userdata, done, total);
}

static void to_hex(const unsigned char *md, char hex[65])
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < 32; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 0xf];
        }
        hex[64] = '\0';
}

static bool hex64(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (size_t i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* ---- manifest ---- */

static int opt_string(json_t *o, const char *key, char *buf, size_t len, struct bg_error *err)
{
        json_t *v = json_object_get(o, key);
        buf[0] = '\0';
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return bg_error_set(err, EBADMSG, "bundle manifest: \"%s\" is not a string", key);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= len || strlen(s) != n)
                return bg_error_set(err, EBADMSG, "bundle manifest: \"%s\" is too long", key);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return bg_error_set(err, EBADMSG,
                                            "bundle manifest: \"%s\" has control characters", key);
        memcpy(buf, s, n + 1);
        return 0;
}

int bundle_manifest_parse(const char *text, size_t len, uint64_t max_unpacked,
                          struct bundle_manifest *ret, struct bg_error *err)
{
        struct bundle_manifest m;
        memset(&m, 0, sizeof(m));
        if (len > BUNDLE_MANIFEST_MAX)
                return bg_error_set(err, EBADMSG, "bundle manifest is larger than %u bytes",
                                    BUNDLE_MANIFEST_MAX);
        json_error_t je;
        _cleanup_(json_decrefp) json_t *root =
            json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return bg_error_set(err, EBADMSG, "bundle manifest is not JSON: %s (line %d)",
                                    je.text, je.line);
        if (!json_is_object(root))
                return bg_error_set(err, EBADMSG, "bundle manifest is not a JSON object");
        json_t *fmt = json_object_get(root, "format");
        if (!json_is_string(fmt) || !streq(json_string_value(fmt), BUNDLE_FORMAT))
                return bg_error_set(err, EBADMSG,
                                    "not a banger image bundle (manifest format is not \"%s\")",
                                    BUNDLE_FORMAT);
        json_t *ver = json_object_get(root, "version");
        if (!json_is_integer(ver))
                return bg_error_set(err, EBADMSG, "bundle manifest has no version");
        if (json_integer_value(ver) != BUNDLE_VERSION)
                return bg_error_set(err, EPROTONOSUPPORT,
                                    "bundle format version %lld is not supported (this banger "
                                    "reads version %d)",
                                    (long long)json_integer_value(ver), BUNDLE_VERSION);
        int r = opt_string(root, "name", m.name, sizeof(m.name), err);
        if (r >= 0)
                r = opt_string(root, "ref", m.ref, sizeof(m.ref), err);
        if (r >= 0)
                r = opt_string(root, "kernel", m.kernel, sizeof(m.kernel), err);
        if (r < 0)
                return r;
        if (!image_name_valid(m.name))
                return bg_error_set(err, EBADMSG, "bundle manifest: name '%.80s' is not a valid "
                                                  "image name",
                                    m.name);
        if (m.kernel[0] && !image_name_valid(m.kernel))
                return bg_error_set(err, EBADMSG,
                                    "bundle manifest: kernel '%.80s' is not a valid name",
                                    m.kernel);
        json_t *files = json_object_get(root, "files");
        if (!json_is_array(files) || json_array_size(files) == 0)
                return bg_error_set(err, EBADMSG, "bundle manifest has no files");
        if (json_array_size(files) > BUNDLE_MAX_FILES)
                return bg_error_set(err, EBADMSG, "bundle manifest lists more than %d files",
                                    BUNDLE_MAX_FILES);
        uint64_t total = 0;
        bool rootfs = false;
        for (size_t i = 0; i < json_array_size(files); i++) {
                json_t *f = json_array_get(files, i);
                struct bundle_file *bf = &m.files[i];
                if (!json_is_object(f))
                        return bg_error_set(err, EBADMSG, "bundle manifest: file %zu is not an "
                                                          "object",
                                            i);
                if ((r = opt_string(f, "path", bf->path, sizeof(bf->path), err)) < 0 ||
                    (r = opt_string(f, "sha256", bf->sha256, sizeof(bf->sha256), err)) < 0)
                        return r;
                if (!known_file(bf->path))
                        return bg_error_set(err, EBADMSG,
                                            "bundle manifest: file '%.80s' is not one a bundle "
                                            "may hold (%s)",
                                            bf->path, BUNDLE_ROOTFS);
                for (size_t k = 0; k < i; k++)
                        if (streq(m.files[k].path, bf->path))
                                return bg_error_set(err, EBADMSG,
                                                    "bundle manifest lists %s twice", bf->path);
                if (!hex64(bf->sha256))
                        return bg_error_set(err, EBADMSG,
                                            "bundle manifest: %s has no valid sha256 (64 "
                                            "lowercase hex digits)",
                                            bf->path);
                json_t *sz = json_object_get(f, "size");
                if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                        return bg_error_set(err, EBADMSG,
                                            "bundle manifest: %s has no valid size", bf->path);
                bf->size = (uint64_t)json_integer_value(sz);
                if (bf->size > UINT64_MAX - total)
                        return bg_error_set(err, EFBIG, "bundle manifest: sizes overflow");
                total += bf->size;
                if (streq(bf->path, BUNDLE_ROOTFS))
                        rootfs = true;
                m.n_files++;
        }
        if (!rootfs)
                return bg_error_set(err, EBADMSG, "bundle manifest has no %s", BUNDLE_ROOTFS);
        if (max_unpacked && total > max_unpacked)
                return bg_error_set(err, EFBIG,
                                    "bundle declares %llu bytes of files, more than "
                                    "image.max_unpacked_size (%llu)",
                                    (unsigned long long)total, (unsigned long long)max_unpacked);
        *ret = m;
        return 0;
}

char *bundle_manifest_format(const struct bundle_manifest *m)
{
        _cleanup_(json_decrefp) json_t *files = json_array();
        if (!files)
                return NULL;
        for (size_t i = 0; i < m->n_files; i++)
                if (json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "path",
                                                           m->files[i].path, "size",
                                                           (json_int_t)m->files[i].size,
                                                           "sha256", m->files[i].sha256)) < 0)
                        return NULL;
        _cleanup_(json_decrefp) json_t *root =
            json_pack("{s:s,s:i,s:s,s:s,s:O}", "format", BUNDLE_FORMAT, "version",
                      BUNDLE_VERSION, "name", m->name, "ref", m->ref, "files", files);
        if (!root)
                return NULL;
        if (m->kernel[0] && json_object_set_new(root, "kernel", json_string(m->kernel)) < 0)
                return NULL;
        return json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* ---- tar ---- */

struct tar_hdr {
        char path[257];
        char type;
        uint64_t size;
};

/* Octal (NUL/space terminated) or GNU base-256 number of a header field. */
static int tar_number(const unsigned char *f, size_t len, uint64_t *ret)
{
        uint64_t v = 0;
        if (f[0] & 0x80) {
                if (f[0] != 0x80)
                        return -EBADMSG; /* negative or > 2^(8*(len-1)) */
                for (size_t i = 1; i < len; i++) {
                        if (v >> 56)
                                return -EBADMSG;
                        v = (v << 8) | f[i];
                }
                *ret = v;
                return 0;
        }
        size_t i = 0;
        while (i < len && f[i] == ' ')
                i++;
        bool any = false;
        for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 61)
                        return -EBADMSG;
                v = v * 8 + (uint64_t)(f[i] - '0');
                any = true;
        }
        for (; i < len; i++)
                if (f[i] != ' ' && f[i] != '\0')
                        return -EBADMSG;
        if (!any)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static bool all_zero(const void *p, size_t n)
{
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

static int tar_parse(const unsigned char *b, struct tar_hdr *h, struct bg_error *err)
{
        uint64_t sum = 0, want;
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += (i >= 148 && i < 156) ? ' ' : b[i];
        if (tar_number(b + 148, 8, &want) < 0 || want != sum)
                return bg_error_set(err, EBADMSG, "bundle: a tar header's checksum is wrong");
        if (memcmp(b + 257, "ustar", 5) != 0)
                return bg_error_set(err, EBADMSG, "bundle: not a ustar archive");
        char name[101], prefix[156];
        memcpy(name, b, 100);
        name[100] = '\0';
        memcpy(prefix, b + 345, 155);
        prefix[155] = '\0';
        if (prefix[0])
                snprintf(h->path, sizeof(h->path), "%s/%s", prefix, name);
        else
                snprintf(h->path, sizeof(h->path), "%s", name);
        for (char *p = h->path; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        h->type = (char)b[156];
        if (tar_number(b + 124, 12, &h->size) < 0)
                return bg_error_set(err, EBADMSG, "bundle: entry '%.80s' has a bad size",
                                    h->path);
        if (h->path[0] == '/' || strstr(h->path, "..") || strchr(h->path, '/'))
                return bg_error_set(err, EBADMSG,
                                    "bundle: entry '%.80s' is a path outside the bundle's top "
                                    "level (path traversal refused)",
                                    h->path);
        if (h->type != '0' && h->type != '\0')
                return bg_error_set(err, EBADMSG,
                                    "bundle: entry '%.80s' is not a regular file (type '%c'); a "
                                    "bundle holds regular files only",
                                    h->path, h->type >= 0x20 && h->type < 0x7f ? h->type : '?');
        return 0;
}

static void tar_header(unsigned char b[TAR_BLOCK], const char *name, uint64_t size)
{
        memset(b, 0, TAR_BLOCK);
        snprintf((char *)b, 100, "%s", name);
        memcpy(b + 100, "0000644", 7);
        memcpy(b + 108, "0000000", 7);
        memcpy(b + 116, "0000000", 7);
        if (size < (1ull << 33)) {
                snprintf((char *)b + 124, 12, "%011llo", (unsigned long long)size);
        } else {
                b[124] = 0x80;
                for (int i = 11; i >= 4; i--, size >>= 8)
                        b[124 + i] = (unsigned char)(size & 0xff);
        }
        memcpy(b + 136, "00000000000", 11);
        b[156] = '0';
        memcpy(b + 257, "ustar", 6);
        memcpy(b + 263, "00", 2);
        memset(b + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += b[i];
        snprintf((char *)b + 148, 8, "%06o", sum);
        b[155] = ' ';
}

/* ---- zstd source ---- */

struct zsrc {
        int fd;
        ZSTD_DCtx *d;
        unsigned char *in;
        ZSTD_inBuffer ib;
        bool eof;
};

/* Exactly n decompressed bytes into buf. */
static int zsrc_read(struct zsrc *z, void *buf, size_t n, struct bg_error *err)
{
        ZSTD_outBuffer ob = {buf, n, 0};
        while (ob.pos < ob.size) {
                size_t before = ob.pos, consumed = z->ib.pos;
                size_t rc = ZSTD_decompressStream(z->d, &ob, &z->ib);
                if (ZSTD_isError(rc))
                        return bg_error_set(err, EBADMSG, "bundle: not zstd or corrupt: %s",
                                            ZSTD_getErrorName(rc));
                if (ob.pos > before || z->ib.pos > consumed)
                        continue;
                if (z->eof)
                        return bg_error_set(err, EBADMSG, "bundle: truncated");
                ssize_t got = read(z->fd, z->in, IO_CHUNK);
                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "bundle: read");
                }
                if (got == 0)
                        z->eof = true;
                z->ib = (ZSTD_inBuffer){z->in, (size_t)got, 0};
        }
        return 0;
}

static int skip_padding(struct zsrc *z, uint64_t size, struct bg_error *err)
{
        unsigned char pad[TAR_BLOCK];
        size_t n = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
        return n ? zsrc_read(z, pad, n, err) : 0;
}

/* Writes buf at off of fd, leaving all-zero HOLE_BLOCKs as holes. */
static int write_sparse(int fd, const unsigned char *buf, size_t n, uint64_t off,
                        struct bg_error *err)
{
        size_t i = 0;
        while (i < n) {
                size_t len = n - i < HOLE_BLOCK ? n - i : HOLE_BLOCK;
                if (!all_zero(buf + i, len)) {
                        /* Extend over the following non-zero blocks. */
                        size_t end = i + len;
                        while (end < n) {
                                size_t l2 = n - end < HOLE_BLOCK ? n - end : HOLE_BLOCK;
                                if (all_zero(buf + end, l2))
                                        break;
                                end += l2;
                        }
                        size_t done = 0;
                        while (done < end - i) {
                                ssize_t w = pwrite(fd, buf + i + done, end - i - done,
                                                   (off_t)(off + i + done));
                                if (w < 0) {
                                        if (errno == EINTR)
                                                continue;
                                        return bg_error_errno(err, -errno, "bundle: write");
                                }
                                done += (size_t)w;
                        }
                        i = end;
                } else {
                        i += len;
                }
        }
        return 0;
}

static int read_entry(struct zsrc *z, int dir_fd, const struct bundle_file *f,
                      const struct bundle_io *io, uint64_t *done, uint64_t total,
                      unsigned char *buf, struct bg_error *err)
{
        _cleanup_close_ int fd =
            openat(dir_fd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return bg_error_errno(err, -errno, "bundle: create %s", f->path);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return bg_error_set(err, ENOMEM, "sha256: cannot initialise digest");
        uint64_t off = 0;
        while (off < f->size) {
                if (cancelled(io))
                        return bg_error_set(err, ECANCELED, "cancelled");
                size_t n = f->size - off < IO_CHUNK ? (size_t)(f->size - off) : IO_CHUNK;
                int r = zsrc_read(z, buf, n, err);
                if (r < 0)
                        return r;
                EVP_DigestUpdate(md, buf, n);
                if ((r = write_sparse(fd, buf, n, off, err)) < 0)
                        return r;
                off += n;
                *done += n;
                progress(io, *done, total);
        }
        if (ftruncate(fd, (off_t)f->size) < 0)
                return bg_error_errno(err, -errno, "bundle: size %s", f->path);
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned dl = 0;
        char hex[65];
        EVP_DigestFinal_ex(md, d, &dl);
        to_hex(d, hex);
        if (!streq(hex, f->sha256))
                return bg_error_set(err, EBADMSG,
                                    "bundle: %s sha256 mismatch: the manifest says %s, the data "
                                    "is %s",
                                    f->path, f->sha256, hex);
        if (fsync(fd) < 0)
                return bg_error_errno(err, -errno, "bundle: sync %s", f->path);
        return skip_padding(z, f->size, err);
}

int bundle_read(int in_fd, int out_dir_fd, const struct bundle_io *io,
                struct bundle_manifest *ret, struct bg_error *err)
{
        _cleanup_(ZSTD_freeDCtxp) ZSTD_DCtx *d = ZSTD_createDCtx();
        _cleanup_free_ unsigned char *in = malloc(IO_CHUNK);
        _cleanup_free_ unsigned char *buf = malloc(IO_CHUNK);
        if (!d || !in || !buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        /* At most 128 MiB of window, whatever the frame asks for. */
        ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
        struct zsrc z = {.fd = in_fd, .d = d, .in = in};
        unsigned char b[TAR_BLOCK];
        struct tar_hdr h;
        struct bundle_manifest m;

        int r = zsrc_read(&z, b, TAR_BLOCK, err);
        if (r < 0)
                return r;
        if (all_zero(b, TAR_BLOCK))
                return bg_error_set(err, EBADMSG, "bundle: empty archive (no %s)",
                                    BUNDLE_MANIFEST);
        if ((r = tar_parse(b, &h, err)) < 0)
                return r;
        if (!streq(h.path, BUNDLE_MANIFEST))
                return bg_error_set(err, EBADMSG,
                                    "bundle: the first entry is '%.80s', not %s",
                                    h.path, BUNDLE_MANIFEST);
        if (h.size > BUNDLE_MANIFEST_MAX)
                return bg_error_set(err, EBADMSG, "bundle: %s is larger than %u bytes",
                                    BUNDLE_MANIFEST, BUNDLE_MANIFEST_MAX);
        _cleanup_free_ char *text = malloc(h.size + 1);
        if (!text)
                return bg_error_set(err, ENOMEM, "out of memory");
        if ((r = zsrc_read(&z, text, (size_t)h.size, err)) < 0 ||
            (r = skip_padding(&z, h.size, err)) < 0)
                return r;
        r = bundle_manifest_parse(text, (size_t)h.size, io ? io->max_unpacked : 0, &m, err);
        if (r < 0)
                return r;
        uint64_t total = 0, done = 0;
        for (size_t i = 0; i < m.n_files; i++)
                total += m.files[i].size;
        bool seen[BUNDLE_MAX_FILES] = {false};
        for (;;) {
                if ((r = zsrc_read(&z, b, TAR_BLOCK, err)) < 0)
                        return r;
                if (all_zero(b, TAR_BLOCK))
                        break; /* end of archive: nothing after it is read */
                if ((r = tar_parse(b, &h, err)) < 0)
                        return r;
                size_t k = 0;
                while (k < m.n_files && !streq(m.files[k].path, h.path))
                        k++;
                if (k == m.n_files)
                        return bg_error_set(err, EBADMSG,
                                            "bundle: entry '%.80s' is not in its manifest",
                                            h.path);
                if (seen[k])
                        return bg_error_set(err, EBADMSG, "bundle: %s appears twice", h.path);
                if (h.size != m.files[k].size)
                        return bg_error_set(err, EBADMSG,
                                            "bundle: %s is %llu bytes in the archive but the "
                                            "manifest says %llu",
                                            h.path, (unsigned long long)h.size,
                                            (unsigned long long)m.files[k].size);
                seen[k] = true;
                if ((r = read_entry(&z, out_dir_fd, &m.files[k], io, &done, total, buf, err)) <
                    0)
                        return r;
        }
        for (size_t k = 0; k < m.n_files; k++)
                if (!seen[k])
                        return bg_error_set(err, EBADMSG,
                                            "bundle: %s is in the manifest but not in the "
                                            "archive",
                                            m.files[k].path);
        *ret = m;
        return 0;
}

/* ---- writer ---- */

struct zsink {
        int fd;
        ZSTD_CCtx *c;
        unsigned char *out;
};

static int zsink_flush(struct zsink *s, ZSTD_outBuffer *ob, struct bg_error *err)
{
        int r = ob->pos ? loop_write(s->fd, ob->dst, ob->pos) : 0;
        if (r < 0)
                return bg_error_errno(err, r, "bundle: write");
        ob->pos = 0;
        return 0;
}

static int zsink_write(struct zsink *s, const void *buf, size_t n, ZSTD_EndDirective mode,
                       struct bg_error *err)
{
        ZSTD_inBuffer ib = {buf, n, 0};
        for (;;) {
                ZSTD_outBuffer ob = {s->out, IO_CHUNK, 0};
                size_t rem = ZSTD_compressStream2(s->c, &ob, &ib, mode);
                if (ZSTD_isError(rem))
                        return bg_error_set(err, EIO, "zstd: %s", ZSTD_getErrorName(rem));
                int r = zsink_flush(s, &ob, err);
                if (r < 0)
                        return r;
                if (mode == ZSTD_e_continue ? ib.pos == ib.size : rem == 0)
                        return 0;
        }
}
/* The next chunk of the root file system (at most IO_CHUNK bytes at off of
 * size) into buf: its length in *ret_n, or cancelled, or a read error. */
static int read_rootfs_chunk(const struct bundle_io *io, int fd, unsigned char *buf, uint64_t off,
                             uint64_t size, size_t *ret_n, struct bg_error *err)
{
        if (cancelled(io))
                return bg_error_set(err, ECANCELED, "cancelled");
        size_t n = size - off < IO_CHUNK ? (size_t)(size - off) : IO_CHUNK;
        ssize_t got = pread_full(fd, buf, n, off);
        if (got < 0)
                return bg_error_errno(err, (int)got, "bundle: read the root file system");
        if ((size_t)got != n)
                return bg_error_set(err, EIO, "the root file system shrank while read");
        *ret_n = n;
        return 0;
}


int bundle_write(int out_fd, struct bundle_manifest *m, int rootfs_fd, const struct bundle_io *io,
                 struct bg_error *err)
{
        struct stat st;
        if (fstat(rootfs_fd, &st) < 0)
                return bg_error_errno(err, -errno, "bundle: stat the root file system");
        uint64_t size = (uint64_t)st.st_size;
        _cleanup_free_ unsigned char *buf = malloc(IO_CHUNK);
        _cleanup_free_ unsigned char *out = malloc(IO_CHUNK);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_(ZSTD_freeCCtxp) ZSTD_CCtx *c = ZSTD_createCCtx();
        if (!buf || !out || !md || !c || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return bg_error_set(err, ENOMEM, "out of memory");
        /* Pass 1: the checksum the manifest (written first) carries. */
        for (uint64_t off = 0; off < size;) {
                size_t n;
                int rr = read_rootfs_chunk(io, rootfs_fd, buf, off, size, &n, err);
                if (rr < 0)
                        return rr;
                EVP_DigestUpdate(md, buf, n);
                off += n;
                progress(io, off, 2 * size);
        }
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        m->n_files = 1;
        snprintf(m->files[0].path, sizeof(m->files[0].path), "%s", BUNDLE_ROOTFS);
        m->files[0].size = size;
        to_hex(d, m->files[0].sha256);
        _cleanup_free_ char *json = bundle_manifest_format(m);
        if (!json)
                return bg_error_set(err, ENOMEM, "out of memory");

        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel,
                               io && io->zstd_level ? io->zstd_level : 3);
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        struct zsink s = {.fd = out_fd, .c = c, .out = out};
        unsigned char b[TAR_BLOCK], zero[TAR_BLOCK] = {0};
        size_t jl = strlen(json);
        tar_header(b, BUNDLE_MANIFEST, jl);
        int r = zsink_write(&s, b, TAR_BLOCK, ZSTD_e_continue, err);
        if (r >= 0)
                r = zsink_write(&s, json, jl, ZSTD_e_continue, err);
        if (r >= 0 && jl % TAR_BLOCK)
                r = zsink_write(&s, zero, TAR_BLOCK - jl % TAR_BLOCK, ZSTD_e_continue, err);
        tar_header(b, BUNDLE_ROOTFS, size);
        if (r >= 0)
                r = zsink_write(&s, b, TAR_BLOCK, ZSTD_e_continue, err);
        for (uint64_t off = 0; r >= 0 && off < size;) {
                size_t n;
                int rr = read_rootfs_chunk(io, rootfs_fd, buf, off, size, &n, err);
                if (rr < 0)
                        return rr;
                r = zsink_write(&s, buf, n, ZSTD_e_continue, err);
                off += n;
                progress(io, size + off, 2 * size);
        }
        if (r >= 0 && size % TAR_BLOCK)
                r = zsink_write(&s, zero, TAR_BLOCK - size % TAR_BLOCK, ZSTD_e_continue, err);
        if (r >= 0)
                r = zsink_write(&s, zero, TAR_BLOCK, ZSTD_e_continue, err);
        if (r >= 0)
                r = zsink_write(&s, zero, TAR_BLOCK, ZSTD_e_end, err);
        return r;
}
