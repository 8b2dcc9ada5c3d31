/* Fuzz target "oci_flatten": image layers (tar streams from a registry)
 * through the real flatten path into ext4 (lib/oci/oci_flatten.c over
 * lib/ext4): whiteouts and opaque directories, PAX headers, GNU long names,
 * hard links, sparse files and huge sizes, devices, xattrs.
 *
 * Input: one flags byte, then the layers, separated by "=BGLAYER=".
 *   bit 0   one stream into an open image (oci_flatten_tar_fd, whiteouts as
 *           met, compression detected: the mmdebstrap path) instead of
 *           oci_flatten over the layers
 *   bit 1   pass each layer's real sha256, so the digest check runs
 *   bits 2-3 the layers' compression: none, gzip, zstd, none
 *
 * The harness bounds what it writes the way image.max_unpacked_size and
 * image.max_layer_ratio do in banger: at most FUZZ_MAX_CONTENT bytes of
 * files and FUZZ_MAX_ENTRIES entries, so an entry that lies about its size
 * must be refused, not written; the image is sized from the scan
 * (oci_flatten) or fixed (tar_fd).
 *
 * Checks beyond "no crash": a failure is -errno with a message; a success
 * stays within the caps, and its image opens again (ext4_open), lists and
 * reads back (every directory, file and symlink) and can be inspected
 * (oci_rootfs_inspect). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext4.h"
#include "check.h"
#include "fuzz.h"
#include "fuzz_scratch.h"
#include "oci_digest.h"
#include "oci_flatten.h"
#include "oci_rootfs.h"

#define SEP "=BGLAYER="
#define MAX_LAYERS 8
#define FUZZ_MAX_CONTENT (8ull << 20)
#define FUZZ_MAX_ENTRIES 1024
#define FUZZ_STREAM_IMAGE (16ull << 20)
#define FUZZ_MAX_IMAGE (64ull << 20)

struct walk {
        struct ext4_fs *fs;
        unsigned entries;
        int depth;
        char path[4200];
};

static int walk_entry(void *ud, const char *name, const struct ext4_stat *st)
{
        struct walk *w = ud;
        CHECK(name[0] && !strchr(name, '/'));
        if (++w->entries > 4 * FUZZ_MAX_ENTRIES)
                return -E2BIG;
        size_t len = strlen(w->path);
        int n = snprintf(w->path + len, sizeof(w->path) - len, "/%s", name);
        CHECK(n > 0 && (size_t)n < sizeof(w->path) - len);
        struct bg_error err = {0};
        int r = 0;
        if (S_ISDIR(st->mode)) {
                CHECK(w->depth < 2100);
                w->depth++;
                r = ext4_readdir(w->fs, w->path, walk_entry, w, &err);
                w->depth--;
                CHECK(r >= 0 || r == -E2BIG);
        } else if (S_ISREG(st->mode)) {
                CHECK(st->size <= FUZZ_MAX_CONTENT);
                void *buf = NULL;
                size_t got = 0;
                r = ext4_read_file(w->fs, w->path, &buf, &got, &err);
                if (r < 0) {
                        fprintf(stderr, "read back '%s': %s\n", w->path, err.msg);
                        abort();
                }
                CHECK(got == st->size);
                free(buf);
        } else if (S_ISLNK(st->mode)) {
                char *target = NULL;
                r = ext4_readlink(w->fs, w->path, &target, &err);
                CHECK(r >= 0 && target && target[0] && strlen(target) == st->size);
                free(target);
        }
        w->path[len] = '\0';
        return r == -E2BIG ? r : 0;
}

/* A flattened image must open, list and read back. */
static void check_image(const char *img)
{
        struct stat sb;
        CHECK(stat(img, &sb) == 0 && (uint64_t)sb.st_size <= FUZZ_MAX_IMAGE);
        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        if (ext4_open(img, &fs, &err) < 0) {
                fprintf(stderr, "flattened image does not open: %s\n", err.msg);
                abort();
        }
        struct walk w = {.fs = fs};
        int r = ext4_readdir(fs, "/", walk_entry, &w, &err);
        CHECK(r >= 0 || r == -E2BIG);
        struct oci_rootfs_info info;
        struct bg_error ierr = {0};
        (void)oci_rootfs_inspect(fs, &info, &ierr);
        ext4_free(fs);
}

static void check_failure(int r, const struct bg_error *err)
{
        CHECK(r < 0);
        CHECK(r == -ENOMEM || err->msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > (4u << 20))
                return 0;
        uint8_t flags = data[0];
        const uint8_t *p = data + 1, *end = data + size;
        static const enum oci_compression comps[] = {OCI_COMPRESSION_NONE, OCI_COMPRESSION_GZIP,
                                                     OCI_COMPRESSION_ZSTD, OCI_COMPRESSION_NONE};
        char img[512], paths[MAX_LAYERS][512], digests[MAX_LAYERS][OCI_DIGEST_LEN + 1];
        struct oci_flatten_layer layers[MAX_LAYERS];
        size_t n = 0;
        if (!fuzz_scratch_path("image.ext4", img, sizeof(img)))
                abort();
        while (n < MAX_LAYERS) {
                const uint8_t *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
                const uint8_t *stop = sep ? sep : end;
                char name[32];
                snprintf(name, sizeof(name), "layer%zu", n);
                if (!fuzz_scratch_path(name, paths[n], sizeof(paths[n])) ||
                    fuzz_scratch_write(paths[n], p, (size_t)(stop - p)) < 0)
                        abort();
                layers[n] = (struct oci_flatten_layer){.path = paths[n],
                                                       .compression = comps[(flags >> 2) & 3],
                                                       .size = (uint64_t)(stop - p)};
                if (flags & 2) {
                        struct oci_hasher *h = oci_hasher_new();
                        CHECK(h);
                        oci_hasher_update(h, p, (size_t)(stop - p));
                        oci_hasher_final(h, digests[n]);
                        oci_hasher_free(h);
                        layers[n].digest = digests[n];
                }
                n++;
                if (!sep)
                        break;
                p = sep + strlen(SEP);
        }

        struct oci_flatten_opts opts = {
            .free_bytes = 1u << 20,
            .max_entries = FUZZ_MAX_ENTRIES,
            .max_content_bytes = FUZZ_MAX_CONTENT,
            .max_ratio = 100,
            .label = "fuzz",
        };
        struct oci_flatten_stats st;
        struct bg_error err = {0};
        int r;
        if (flags & 1) {
                struct ext4_fs *fs = NULL;
                CHECK(ext4_create(img, FUZZ_STREAM_IMAGE, NULL, &fs, &err) == 0);
                FILE *f = fopen(paths[0], "re");
                CHECK(f);
                r = oci_flatten_tar_fd(fs, fileno(f), "stream", &opts, &st, &err);
                fclose(f);
                if (r >= 0) {
                        CHECK(st.entries <= FUZZ_MAX_ENTRIES);
                        struct bg_error cerr = {0};
                        r = ext4_close(fs, &cerr);
                        if (r < 0) {
                                fprintf(stderr, "close after a good stream: %s\n", cerr.msg);
                                abort();
                        }
                        check_image(img);
                } else {
                        check_failure(r, &err);
                        ext4_free(fs);
                }
        } else {
                r = oci_flatten(layers, n, img, &opts, &st, &err);
                if (r >= 0) {
                        CHECK(st.content_bytes <= FUZZ_MAX_CONTENT);
                        CHECK(st.entries <= FUZZ_MAX_ENTRIES);
                        CHECK(st.image_bytes <= FUZZ_MAX_IMAGE);
                        check_image(img);
                } else
                        check_failure(r, &err);
        }
        if (getenv("BANGER_FUZZ_VERBOSE"))
                fprintf(stderr, "oci_flatten: %s\n", r < 0 ? err.msg : "ok");
        unlink(img);
        for (size_t i = 0; i < n; i++)
                unlink(paths[i]);
        return 0;
}
