/* Fuzz target "image_bundle": what `image import` and a catalog pull read
 * (services/imagesvc/bundle.c, image_catalog_parse in image_catalog.c).
 *
 * Input: one mode byte, then the payload.
 *   mode % 4 == 0: the payload is a manifest (bundle_manifest_parse, with a
 *                  64 MiB limit); what parses formats and parses back equal.
 *   mode % 4 == 1: the payload is an uncompressed tar stream; the harness
 *                  compresses it with zstd and reads it as a bundle.
 *   mode % 4 == 2: the payload is the bundle file itself (zstd or not).
 *   mode % 4 == 3: the payload is an image catalog (file URLs allowed when
 *                  mode & 4).
 *
 * Checks beyond "no crash": a failure is -errno with a message; a bundle
 * that reads has every listed file, of its declared size, under the limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "bundle.h"
#include "check.h"
#include "fuzz.h"
#include "fuzz_scratch.h"
#include "image_bundle.h"
#include "util/fs.h"

#define LIMIT (64ull << 20)

static void check_failure(int r, const struct bg_error *err)
{
        CHECK(r < 0);
        CHECK(err->msg[0] != '\0');
}

static void read_bundle(const void *data, size_t len)
{
        char path[512], out[512];
        if (!fuzz_scratch_path("bundle.tar.zst", path, sizeof(path)) ||
            !fuzz_scratch_path("out", out, sizeof(out)))
                return;
        struct bg_error e = {0};
        rm_rf(out, &e);
        if (fuzz_scratch_write(path, data, len) < 0 || mkdir(out, 0700) < 0)
                return;
        int in = open(path, O_RDONLY | O_CLOEXEC);
        int dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (in >= 0 && dfd >= 0) {
                struct bundle_io io = {.max_unpacked = LIMIT};
                struct bundle_manifest m;
                struct bg_error err = {0};
                int r = bundle_read(in, dfd, &io, &m, &err);
                if (r < 0) {
                        check_failure(r, &err);
                } else {
                        uint64_t total = 0;
                        for (size_t i = 0; i < m.n_files; i++) {
                                struct stat st;
                                CHECK(fstatat(dfd, m.files[i].path, &st, AT_SYMLINK_NOFOLLOW) ==
                                      0);
                                CHECK(S_ISREG(st.st_mode));
                                CHECK((uint64_t)st.st_size == m.files[i].size);
                                total += m.files[i].size;
                        }
                        CHECK(total <= LIMIT);
                }
        }
        if (in >= 0)
                close(in);
        if (dfd >= 0)
                close(dfd);
        rm_rf(out, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        data++;
        size--;
        struct bg_error err = {0};
        switch (mode % 4) {
        case 0: {
                struct bundle_manifest m;
                int r = bundle_manifest_parse((const char *)data, size, LIMIT, &m, &err);
                if (r < 0) {
                        check_failure(r, &err);
                        break;
                }
                char *text = bundle_manifest_format(&m);
                CHECK(text);
                struct bundle_manifest m2;
                CHECK(bundle_manifest_parse(text, strlen(text), LIMIT, &m2, &err) == 0);
                CHECK(memcmp(&m, &m2, sizeof(m)) == 0);
                free(text);
                break;
        }
        case 1: {
                size_t cap = ZSTD_compressBound(size);
                void *z = malloc(cap ? cap : 1);
                if (!z)
                        break;
                size_t n = ZSTD_compress(z, cap, data, size, 1);
                if (!ZSTD_isError(n))
                        read_bundle(z, n);
                free(z);
                break;
        }
        case 2:
                read_bundle(data, size);
                break;
        case 3: {
                struct image_catalog_entry *e = NULL;
                size_t n = 0;
                int r = image_catalog_parse((const char *)data, size, (mode & 4) != 0, &e, &n,
                                            &err);
                if (r < 0)
                        check_failure(r, &err);
                else
                        CHECK(n <= 1024);
                free(e);
                break;
        }
        }
        return 0;
}
