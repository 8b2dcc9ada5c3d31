#include "sha256.h"

#include <ctype.h>
#include <fcntl.h>
#include <openssl/evp.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static void to_hex(const unsigned char *md, char *hex)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < 32; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 0xf];
        }
        hex[SHA256_HEX_LEN] = '\0';
}

int sha256_fd_hex(int fd, char hex[static SHA256_HEX_LEN + 1], uint64_t *ret_size,
                  struct bg_error *err)
{
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ unsigned char *buf = malloc(256 * 1024);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        uint64_t off = 0;

        if (!ctx || !buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return bg_error_set(err, EIO, "sha256: cannot initialise digest");
        for (;;) {
                ssize_t n = pread(fd, buf, 256 * 1024, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return bg_error_errno(err, -errno, "sha256: read");
                }
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
                        return bg_error_set(err, EIO, "sha256: digest update failed");
                off += (uint64_t)n;
        }
        if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
                return bg_error_set(err, EIO, "sha256: digest final failed");
        to_hex(md, hex);
        if (ret_size)
                *ret_size = off;
        return 0;
}

int sha256_file_hex(const char *path, char hex[static SHA256_HEX_LEN + 1], uint64_t *ret_size,
                    struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open '%s'", path);
        int r = sha256_fd_hex(fd, hex, ret_size, err);
        if (r < 0)
                return bg_error_prefix(err, "%s", path);
        return 0;
}

void sha256_buf_hex(const void *buf, size_t len, char hex[static SHA256_HEX_LEN + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
        to_hex(md, hex);
}

bool sha256_hex_valid(const char *s)
{
        size_t i = 0;
        if (!s)
                return false;
        for (; s[i]; i++)
                if (!isxdigit((unsigned char)s[i]))
                        return false;
        return i == SHA256_HEX_LEN;
}
