/* Test helper: build tar layers from small text specs and write an OCI image
 * layout (oci-layout, index.json, blobs) that skopeo can push and
 * oci_token_server can serve. No root needed: devices, owners and xattrs are
 * written into the tar by libarchive.
 *
 *   oci_layout_tool DIR TAG {--platform OS/ARCH[/VARIANT] {--layer SPEC[:gz|:zst|:tar]}...}...
 *
 * Spec lines (fields separated by single spaces; CONTENT is the rest of the line):
 *   dir PATH MODE UID GID          file PATH MODE UID GID CONTENT
 *   big PATH SIZE SEED             symlink PATH TARGET      hardlink PATH TARGET
 *   fill PATH SIZE BYTE  (SIZE bytes of BYTE, streamed: a compression bomb)
 *   chr|blk PATH MAJOR MINOR       fifo PATH
 *   xattr NAME VALUE   (on the entry before it)
 *   atime SECONDS      (on the entry before it; any 64-bit value, written as pax)
 *   tree HOSTDIR PREFIX  (a host directory, owners kept) */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "oci_digest.h"
#include "util/fileio.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "oci_layout_tool: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static char *outdir;

static void write_all(int fd, const void *buf, size_t n)
{
        int r = loop_write(fd, buf, n);
        if (r < 0)
                die("write: %s", strerror(-r));
}

/* Store a file's bytes as a blob; returns its digest and size. */
static void put_blob_file(const char *path, char digest[static OCI_DIGEST_LEN + 1], uint64_t *size)
{
        int in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                die("open %s", path);
        struct oci_hasher *h = oci_hasher_new();
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s/blobs/sha256/.tmp", outdir);
        int out = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
        if (out < 0)
                die("create %s", tmp);
        static char buf[1 << 20];
        ssize_t k;
        *size = 0;
        while ((k = read(in, buf, sizeof(buf))) > 0) {
                oci_hasher_update(h, buf, (size_t)k);
                write_all(out, buf, (size_t)k);
                *size += (uint64_t)k;
        }
        close(in);
        close(out);
        oci_hasher_final(h, digest);
        oci_hasher_free(h);
        char dst[4096];
        snprintf(dst, sizeof(dst), "%s/blobs/sha256/%s", outdir, digest + 7);
        if (rename(tmp, dst) < 0)
                die("rename %s", dst);
}

static void put_blob_json(json_t *j, char digest[static OCI_DIGEST_LEN + 1], uint64_t *size)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        oci_digest_buf(s, strlen(s), digest);
        *size = strlen(s);
        char dst[4096];
        snprintf(dst, sizeof(dst), "%s/blobs/sha256/%s", outdir, digest + 7);
        struct bg_error err = {0};
        if (write_file_atomic(dst, s, strlen(s), 0644, &err) < 0)
                die("%s", err.msg);
        free(s);
}

/* sha256 of the uncompressed tar */
static void diff_id(const char *path, char out[static OCI_DIGEST_LEN + 1])
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_raw(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
                die("read %s", path);
        struct archive_entry *e;
        if (archive_read_next_header(a, &e) != ARCHIVE_OK)
                die("read %s", path);
        struct oci_hasher *h = oci_hasher_new();
        static char buf[1 << 20];
        la_ssize_t k;
        while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
                oci_hasher_update(h, buf, (size_t)k);
        oci_hasher_final(h, out);
        oci_hasher_free(h);
        archive_read_free(a);
}

static struct archive_entry *pending;

static void flush(struct archive *a, const void *data, size_t len)
{
        if (!pending)
                return;
        if (archive_write_header(a, pending) != ARCHIVE_OK)
                die("tar header: %s", archive_error_string(a));
        if (len && archive_write_data(a, data, len) != (la_ssize_t)len)
                die("tar data: %s", archive_error_string(a));
        archive_entry_free(pending);
        pending = NULL;
}

static char *pending_data;
static size_t pending_len;

static void flush_pending(struct archive *a)
{
        flush(a, pending_data, pending_len);
        free(pending_data);
        pending_data = NULL;
        pending_len = 0;
}

static struct archive_entry *new_entry(const char *path, mode_t type, mode_t perm)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, 1700000000, 0);
        return e;
}

static void add_tree(struct archive *a, const char *host, const char *prefix)
{
        struct archive *d = archive_read_disk_new();
        archive_read_disk_set_standard_lookup(d);
        archive_read_disk_set_behavior(d, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
        if (archive_read_disk_open(d, host) != ARCHIVE_OK)
                die("tree %s", host);
        static char buf[1 << 20];
        struct archive_entry *e;
        size_t hl = strlen(host);
        while (archive_read_next_header2(d, e = archive_entry_new()) == ARCHIVE_OK) {
                archive_read_disk_descend(d);
                const char *src = archive_entry_sourcepath(e);
                char name[8192];
                snprintf(name, sizeof(name), "%s%s", prefix, src + hl);
                archive_entry_set_pathname(e, name);
                archive_entry_set_uname(e, NULL);
                archive_entry_set_gname(e, NULL);
                if (archive_write_header(a, e) != ARCHIVE_OK)
                        die("tar: %s", archive_error_string(a));
                if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
                        int fd = open(src, O_RDONLY | O_CLOEXEC);
                        ssize_t k;
                        while (fd >= 0 && (k = read(fd, buf, sizeof(buf))) > 0)
                                archive_write_data(a, buf, (size_t)k);
                        if (fd >= 0)
                                close(fd);
                }
                archive_entry_free(e);
        }
        archive_entry_free(e);
        archive_read_free(d);
}

/* Build a tar from spec into path with compression ("gz", "zst", "tar"). */
static void build_layer(const char *spec, const char *comp, const char *path)
{
        FILE *f = fopen(spec, "r");
        if (!f)
                die("open spec %s", spec);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax(a);
        if (strcmp(comp, "gz") == 0)
                archive_write_add_filter_gzip(a);
        else if (strcmp(comp, "zst") == 0)
                archive_write_add_filter_zstd(a);
        if (archive_write_open_filename(a, path) != ARCHIVE_OK)
                die("create %s", path);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
                if (line[n - 1] == '\n')
                        line[--n] = '\0';
                if (!*line || line[0] == '#')
                        continue;
                char kind[16], p1[4096], p2[4096];
                unsigned mode, uid, gid, maj, min;
                unsigned long long size, seed;
                int off = 0;
                long long secs;
                if (sscanf(line, "atime %lld", &secs) == 1) {
                        if (!pending)
                                die("atime without an entry: %s", line);
                        archive_entry_set_atime(pending, (time_t)secs, 0);
                        continue;
                }
                if (sscanf(line, "xattr %4095s %n", p1, &off) == 1) {
                        if (!pending)
                                die("xattr without an entry: %s", line);
                        archive_entry_xattr_add_entry(pending, p1, line + off, strlen(line + off));
                        continue;
                }
                flush_pending(a);
                if (sscanf(line, "%15s", kind) != 1)
                        die("bad line: %s", line);
                if (strcmp(kind, "dir") == 0 &&
                    sscanf(line, "dir %4095s %o %u %u", p1, &mode, &uid, &gid) == 4) {
                        pending = new_entry(p1, AE_IFDIR, mode);
                        archive_entry_set_uid(pending, uid);
                        archive_entry_set_gid(pending, gid);
                } else if (strcmp(kind, "file") == 0 && sscanf(line, "file %4095s %o %u %u %n", p1,
                                                               &mode, &uid, &gid, &off) == 4) {
                        pending = new_entry(p1, AE_IFREG, mode);
                        archive_entry_set_uid(pending, uid);
                        archive_entry_set_gid(pending, gid);
                        pending_data = strdup(off ? line + off : "");
                        pending_len = strlen(pending_data);
                        archive_entry_set_size(pending, (la_int64_t)pending_len);
                } else if (strcmp(kind, "big") == 0 &&
                           sscanf(line, "big %4095s %llu %llu", p1, &size, &seed) == 3) {
                        pending = new_entry(p1, AE_IFREG, 0644);
                        pending_data = malloc(size ? size : 1);
                        uint64_t x = seed * 2654435761u + 1;
                        for (unsigned long long i = 0; i < size; i++) {
                                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                                pending_data[i] = (char)(x & 0x3f); /* compressible-ish */
                        }
                        pending_len = size;
                        archive_entry_set_size(pending, (la_int64_t)size);
                } else if (strcmp(kind, "fill") == 0 &&
                           sscanf(line, "fill %4095s %llu %llu", p1, &size, &seed) == 3) {
                        struct archive_entry *e = new_entry(p1, AE_IFREG, 0644);
                        archive_entry_set_size(e, (la_int64_t)size);
                        if (archive_write_header(a, e) != ARCHIVE_OK)
                                die("tar: %s", archive_error_string(a));
                        static char chunk[1 << 20];
                        memset(chunk, (int)seed, sizeof(chunk));
                        for (unsigned long long left = size; left > 0;) {
                                size_t k = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
                                if (archive_write_data(a, chunk, k) != (la_ssize_t)k)
                                        die("tar: %s", archive_error_string(a));
                                left -= k;
                        }
                        archive_entry_free(e);
                } else if (strcmp(kind, "symlink") == 0 &&
                           sscanf(line, "symlink %4095s %4095s", p1, p2) == 2) {
                        pending = new_entry(p1, AE_IFLNK, 0777);
                        archive_entry_set_symlink(pending, p2);
                } else if (strcmp(kind, "hardlink") == 0 &&
                           sscanf(line, "hardlink %4095s %4095s", p1, p2) == 2) {
                        pending = new_entry(p1, AE_IFREG, 0644);
                        archive_entry_set_hardlink(pending, p2);
                } else if ((strcmp(kind, "chr") == 0 || strcmp(kind, "blk") == 0) &&
                           sscanf(line, "%*s %4095s %u %u", p1, &maj, &min) == 3) {
                        pending = new_entry(p1, kind[0] == 'c' ? AE_IFCHR : AE_IFBLK, 0660);
                        archive_entry_set_rdev(pending, makedev(maj, min));
                } else if (strcmp(kind, "fifo") == 0 && sscanf(line, "fifo %4095s", p1) == 1) {
                        pending = new_entry(p1, AE_IFIFO, 0644);
                } else if (strcmp(kind, "tree") == 0 &&
                           sscanf(line, "tree %4095s %4095s", p1, p2) == 2) {
                        add_tree(a, p1, p2);
                } else
                        die("bad spec line: %s", line);
        }
        flush_pending(a);
        free(line);
        fclose(f);
        if (archive_write_close(a) != ARCHIVE_OK)
                die("close %s", path);
        archive_write_free(a);
}

static const char *layer_type(const char *comp)
{
        if (strcmp(comp, "gz") == 0)
                return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (strcmp(comp, "zst") == 0)
                return "application/vnd.oci.image.layer.v1.tar+zstd";
        return "application/vnd.oci.image.layer.v1.tar";
}

struct image {
        char os[32], arch[32], variant[32];
        json_t *layers, *diff_ids;
};

static json_t *finish_image(struct image *im)
{
        json_t *cfg = json_pack("{s:s, s:s, s:{s:[s], s:[s], s:{s:s}}, s:{s:s, s:O}}", "os", im->os,
                                "architecture", im->arch, "config", "Env", "PATH=/usr/bin:/bin",
                                "Cmd", "/bin/sh", "Labels", "banger.test", "yes", "rootfs", "type",
                                "layers", "diff_ids", im->diff_ids);
        if (im->variant[0])
                json_object_set_new(cfg, "variant", json_string(im->variant));
        char dg[OCI_DIGEST_LEN + 1];
        uint64_t size;
        put_blob_json(cfg, dg, &size);
        json_decref(cfg);
        json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
                              "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                              "application/vnd.oci.image.config.v1+json", "digest", dg, "size",
                              (json_int_t)size, "layers", im->layers);
        put_blob_json(m, dg, &size);
        json_decref(m);
        json_t *desc =
            json_pack("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType",
                      "application/vnd.oci.image.manifest.v1+json", "digest", dg, "size",
                      (json_int_t)size, "platform", "os", im->os, "architecture", im->arch);
        if (im->variant[0])
                json_object_set_new(json_object_get(desc, "platform"), "variant",
                                    json_string(im->variant));
        json_decref(im->layers);
        json_decref(im->diff_ids);
        return desc;
}

int main(int argc, char **argv)
{
        if (argc < 5)
                die("%s",
                    "usage: oci_layout_tool DIR TAG --platform P --layer SPEC[:gz|:zst|:tar]...");
        outdir = argv[1];
        const char *tag = argv[2];
        char p[4096];
        mkdir(outdir, 0755);
        snprintf(p, sizeof(p), "%s/blobs", outdir);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/blobs/sha256", outdir);
        mkdir(p, 0755);
        json_t *manifests = json_array();
        struct image im = {0};
        bool open_image = false;
        int n_layer = 0;
        for (int i = 3; i < argc; i++) {
                if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) {
                        if (open_image)
                                json_array_append_new(manifests, finish_image(&im));
                        memset(&im, 0, sizeof(im));
                        char buf[96];
                        snprintf(buf, sizeof(buf), "%s", argv[++i]);
                        char *os = strtok(buf, "/"), *arch = strtok(NULL, "/"),
                             *var = strtok(NULL, "/");
                        snprintf(im.os, sizeof(im.os), "%s", os ? os : "linux");
                        snprintf(im.arch, sizeof(im.arch), "%s", arch ? arch : "amd64");
                        snprintf(im.variant, sizeof(im.variant), "%s", var ? var : "");
                        im.layers = json_array();
                        im.diff_ids = json_array();
                        open_image = true;
                } else if (strcmp(argv[i], "--layer") == 0 && i + 1 < argc && open_image) {
                        char spec[4096];
                        snprintf(spec, sizeof(spec), "%s", argv[++i]);
                        char *colon = strrchr(spec, ':');
                        const char *comp = "gz";
                        if (colon) {
                                *colon = '\0';
                                comp = colon + 1;
                        }
                        char tarpath[4096];
                        snprintf(tarpath, sizeof(tarpath), "%s/layer-%d.tmp", outdir, n_layer++);
                        build_layer(spec, comp, tarpath);
                        char dg[OCI_DIGEST_LEN + 1], did[OCI_DIGEST_LEN + 1];
                        uint64_t size;
                        diff_id(tarpath, did);
                        put_blob_file(tarpath, dg, &size);
                        unlink(tarpath);
                        json_array_append_new(im.layers, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                                   layer_type(comp), "digest", dg,
                                                                   "size", (json_int_t)size));
                        json_array_append_new(im.diff_ids, json_string(did));
                } else
                        die("bad argument %s", argv[i]);
        }
        if (!open_image)
                die("%s", "no --platform");
        json_array_append_new(manifests, finish_image(&im));
        json_t *top;
        if (json_array_size(manifests) == 1) {
                top = json_incref(json_array_get(manifests, 0));
        } else {
                json_t *idx =
                    json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
                              "application/vnd.oci.image.index.v1+json", "manifests", manifests);
                char dg[OCI_DIGEST_LEN + 1];
                uint64_t size;
                put_blob_json(idx, dg, &size);
                json_decref(idx);
                top = json_pack("{s:s, s:s, s:I}", "mediaType",
                                "application/vnd.oci.image.index.v1+json", "digest", dg, "size",
                                (json_int_t)size);
        }
        json_object_set_new(top, "annotations",
                            json_pack("{s:s}", "org.opencontainers.image.ref.name", tag));
        json_t *index = json_pack("{s:i, s:[O]}", "schemaVersion", 2, "manifests", top);
        snprintf(p, sizeof(p), "%s/index.json", outdir);
        if (json_dump_file(index, p, JSON_COMPACT) < 0)
                die("write %s", p);
        snprintf(p, sizeof(p), "%s/oci-layout", outdir);
        FILE *f = fopen(p, "w");
        fputs("{\"imageLayoutVersion\":\"1.0.0\"}", f);
        fclose(f);
        json_decref(index);
        json_decref(top);
        json_decref(manifests);
        return 0;
}
