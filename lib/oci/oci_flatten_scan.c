/* Pass 1 of the flattener: reading a layer's tar stream (decompressed,
 * hashed, cancellable) and checking every entry before anything is
 * written: paths, names, ids, times, sizes, the entry count and the
 * compression ratio, whiteouts. See oci_flatten_internal.h. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci_flatten_internal.h"

/* ---- reading a layer ---------------------------------------------------- */

bool flat_is_cancelled(const struct oci_flatten_opts *o)
{
        return o->cancel && atomic_load(o->cancel);
}

la_ssize_t flat_reader_read(struct archive *a, void *ud, const void **out)
{
        struct flat_reader *r = ud;
        if (flat_is_cancelled(r->opts)) {
                r->cancelled = true;
                archive_set_error(a, ECANCELED, "cancelled");
                return -1;
        }
        ssize_t k;
        /* A writer may be silent for minutes (mmdebstrap bootstraps before it
         * writes its tar): wait in slices so a cancel is seen meanwhile. */
        for (;;) {
                if (r->opts->cancel) {
                        struct pollfd p = {.fd = r->fd, .events = POLLIN};
                        int n = poll(&p, 1, CANCEL_POLL_MS);
                        if (n < 0 && errno != EINTR) {
                                r->read_errno = errno;
                                archive_set_error(a, errno, "poll error");
                                return -1;
                        }
                        if (flat_is_cancelled(r->opts)) {
                                r->cancelled = true;
                                archive_set_error(a, ECANCELED, "cancelled");
                                return -1;
                        }
                        if (n <= 0)
                                continue;
                }
                k = read(r->fd, r->buf, sizeof(r->buf));
                if (k >= 0 || errno != EINTR)
                        break;
        }
        if (k < 0) {
                r->read_errno = errno;
                archive_set_error(a, errno, "read error");
                return -1;
        }
        if (r->hasher)
                oci_hasher_update(r->hasher, r->buf, (size_t)k);
        r->done += (uint64_t)k;
        if (r->opts->progress && k > 0)
                r->opts->progress(r->opts->userdata, r->pass, r->layer, r->done, r->total);
        *out = r->buf;
        return k;
}

struct archive *flat_archive_for(enum oci_compression comp, bool detect)
{
        struct archive *a = archive_read_new();
        if (!a)
                return NULL;
        archive_read_support_format_tar(a);
        archive_read_support_format_empty(a);
        if (detect || comp == OCI_COMPRESSION_GZIP)
                archive_read_support_filter_gzip(a);
        if (detect || comp == OCI_COMPRESSION_ZSTD)
                archive_read_support_filter_zstd(a);
        return a;
}

/* ---- per-layer scan results ---------------------------------------------- */

static int strv_push(struct flat_strv *s, const char *str)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                char **v = realloc(s->v, cap * sizeof(char *));
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n] = strdup(str);
        if (!s->v[s->n])
                return -ENOMEM;
        s->n++;
        return 0;
}

void flat_strv_done(struct flat_strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct flat_strv){0};
}

int flat_entry_error(struct flat_ctx *x, struct bg_error *err, int code, const char *raw,
                     const char *fmt, ...)
{
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return bg_error_set(err, code, "%s: entry '%.120s': %s", x->layer_name, raw, what);
}

/* Whiteout kind of normalised path's last component: 0 none, 1 file, 2 opaque,
 * 3 other metadata to ignore. For 1, *target is the path it removes. */
int flat_whiteout_kind(struct flat_ctx *x, const char *raw, const char *path, char *target,
                       size_t size, struct bg_error *err)
{
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        size_t dirlen = slash ? (size_t)(slash - path) : 0;
        if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) != 0)
                return 0;
        if (strcmp(base, WH_OPAQUE) == 0) {
                memcpy(target, path, dirlen);
                target[dirlen] = '\0';
                if (dirlen == 0)
                        return flat_entry_error(x, err, EINVAL, raw, "%s",
                                                "opaque whiteout of the image root");
                return 2;
        }
        if (strncmp(base, WH_META, strlen(WH_META)) == 0)
                return 3;
        const char *name = base + strlen(WH_PREFIX);
        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return flat_entry_error(x, err, EINVAL, raw, "%s",
                                        "whiteout reaches outside its "
                                        "directory");
        if (dirlen + 1 + strlen(name) + 1 > size)
                return flat_entry_error(x, err, ENAMETOOLONG, raw, "%s", "path too long");
        if (dirlen)
                snprintf(target, size, "%.*s/%s", (int)dirlen, path, name);
        else
                snprintf(target, size, "%s", name);
        return 1;
}

static int check_ids(struct flat_ctx *x, struct archive_entry *e, const char *raw,
                     struct bg_error *err)
{
        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
                return flat_entry_error(x, err, EINVAL, raw, "%s", "uid/gid out of range");
        return 0;
}

static bool time_ok(time_t sec)
{
        return (int64_t)sec >= EXT4_TIME_MIN && (int64_t)sec <= EXT4_TIME_MAX;
}

/* Times an inode can hold, mode bits that mean something, sizes that are
 * sizes, device numbers ext4 can store. */
static int check_ranges(struct flat_ctx *x, struct archive_entry *e, const char *raw,
                        struct bg_error *err)
{
        static const struct {
                const char *name;
                time_t (*get)(struct archive_entry *);
                int (*is_set)(struct archive_entry *);
        } times[] = {
            {"mtime", archive_entry_mtime, archive_entry_mtime_is_set},
            {"atime", archive_entry_atime, archive_entry_atime_is_set},
            {"ctime", archive_entry_ctime, archive_entry_ctime_is_set},
        };
        for (size_t i = 0; i < ELEMENTSOF(times); i++)
                if (times[i].is_set(e) && !time_ok(times[i].get(e)))
                        return flat_entry_error(x, err, EINVAL, raw,
                                                "%s %lld is outside what ext4 stores (%lld..%lld)",
                                                times[i].name, (long long)times[i].get(e),
                                                (long long)EXT4_TIME_MIN, (long long)EXT4_TIME_MAX);
        unsigned long mode = (unsigned long)archive_entry_mode(e);
        if (mode & ~(unsigned long)(AE_IFMT | 07777))
                return flat_entry_error(x, err, EINVAL, raw, "mode %lo has bits beyond 07777",
                                        mode);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) < 0)
                return flat_entry_error(x, err, EINVAL, raw, "size %lld is negative",
                                        (long long)archive_entry_size(e));
        mode_t type = archive_entry_filetype(e);
        if ((type == AE_IFCHR || type == AE_IFBLK) &&
            (archive_entry_rdevmajor(e) > 0xfff || archive_entry_rdevminor(e) > 0xfffff))
                return flat_entry_error(x, err, EINVAL, raw,
                                        "device %lu:%lu is beyond what ext4 stores (4095:1048575)",
                                        (unsigned long)archive_entry_rdevmajor(e),
                                        (unsigned long)archive_entry_rdevminor(e));
        return 0;
}

/* Header-only validation of one entry (both passes share it). */
int flat_validate_entry(struct flat_ctx *x, struct archive_entry *e, const char *raw, char *path,
                        struct bg_error *err)
{
        struct bg_error sub = {0};
        int r = oci_entry_path(raw, path, PATH_MAX_IMAGE + 1, &sub);
        if (r < 0)
                return bg_error_set(err, -r, "%s: %s", x->layer_name, sub.msg);
        r = check_ids(x, e, raw, err);
        if (r < 0)
                return r;
        r = check_ranges(x, e, raw, err);
        if (r < 0)
                return r;
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
                char tgt[PATH_MAX_IMAGE + 1];
                r = oci_entry_path(hl, tgt, sizeof(tgt), &sub);
                if (r < 0)
                        return flat_entry_error(x, err, -r, raw, "hardlink target: %s", sub.msg);
                if (!tgt[0])
                        return flat_entry_error(x, err, EINVAL, raw, "%s", "hardlink to the root");
                return 0;
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFLNK) {
                const char *t = archive_entry_symlink(e);
                if (!t || !*t || strlen(t) > SYMLINK_MAX)
                        return flat_entry_error(x, err, EINVAL, raw, "%s",
                                                "symlink target empty or over 4095 bytes");
        } else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFCHR && type != AE_IFBLK &&
                   type != AE_IFIFO && type != AE_IFSOCK)
                return flat_entry_error(x, err, EINVAL, raw, "%s", "unknown entry type");
        if (!path[0] && type != AE_IFDIR)
                return flat_entry_error(x, err, EINVAL, raw, "%s", "the root is not a directory");
        archive_entry_xattr_reset(e);
        const char *xn;
        const void *xv;
        size_t xs, total = 0;
        while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
                total += xs + strlen(xn);
                if (strlen(xn) > 255 || total > XATTR_VALUE_MAX)
                        return flat_entry_error(x, err, EFBIG, raw, "%s",
                                                "extended attributes too "
                                                "large");
        }
        return 0;
}

int flat_archive_fail(struct flat_ctx *x, struct archive *a, struct flat_reader *rd,
                      struct bg_error *err)
{
        if (rd && rd->cancelled)
                return bg_error_set(err, ECANCELED, "cancelled");
        if (rd && rd->read_errno)
                return bg_error_errno(err, -rd->read_errno, "%s: read", x->layer_name);
        return bg_error_set(err, EINVAL, "%s: not a valid tar layer: %s", x->layer_name,
                            archive_error_string(a) ? archive_error_string(a) : "read error");
}

/* What one layer's tar stream may unpack to: max_ratio times its blob, and
 * never less than the floor. */
static uint64_t stream_cap(const struct oci_flatten_opts *o, uint64_t blob)
{
        if (!o->max_ratio)
                return UINT64_MAX;
        uint64_t cap = blob > UINT64_MAX / o->max_ratio ? UINT64_MAX : blob * o->max_ratio;
        return cap < OCI_FLATTEN_RATIO_FLOOR ? OCI_FLATTEN_RATIO_FLOOR : cap;
}

static int ratio_error(struct flat_ctx *x, const char *raw, uint64_t blob, struct bg_error *err)
{
        x->st.over_limit = x->layer_idx;
        char what[200];
        if (raw)
                snprintf(what, sizeof(what), "entry '%.120s' makes the layer unpack", raw);
        else
                snprintf(what, sizeof(what), "the layer unpacks");
        return bg_error_set(err, EFBIG,
                            "%s: %s to more than %u times its %llu-byte blob "
                            "(image.max_layer_ratio; layers under %llu MiB are not held to it)",
                            x->layer_name, what, x->opts->max_ratio, (unsigned long long)blob,
                            (unsigned long long)(OCI_FLATTEN_RATIO_FLOOR >> 20));
}

/* The entry just read (its header): the layer's stream up to the end of its
 * data, and the image's file bytes with it, within the limits. */
int flat_check_limits(struct flat_ctx *x, struct archive *a, struct archive_entry *e,
                      const char *raw, off_t blob, struct bg_error *err)
{
        la_int64_t sz = archive_entry_size(e);
        uint64_t size = sz > 0 ? (uint64_t)sz : 0;
        uint64_t pos = (uint64_t)archive_filter_bytes(a, 0);
        if (size > x->stream_cap || pos > x->stream_cap - size)
                return ratio_error(x, raw, (uint64_t)blob, err);
        uint64_t max = x->opts->max_content_bytes;
        if (max && archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
            (size > max || x->st.content_bytes > max - size)) {
                x->st.over_limit = x->layer_idx;
                return bg_error_set(err, EFBIG,
                                    "%s: entry '%.120s' (%llu bytes) takes the image's files "
                                    "past %llu bytes (image.max_unpacked_size)",
                                    x->layer_name, raw, (unsigned long long)size,
                                    (unsigned long long)max);
        }
        return 0;
}

/* Pass 1 over one layer. */
int flat_scan_layer(struct flat_ctx *x, const struct oci_flatten_layer *l, size_t idx,
                    struct flat_plan *plan, struct flat_reader *rd, struct bg_error *err)
{
        _cleanup_close_ int fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open layer '%s'", l->path);
        struct stat bst;
        if (fstat(fd, &bst) < 0)
                return bg_error_errno(err, -errno, "stat layer '%s'", l->path);
        x->stream_cap = stream_cap(x->opts, (uint64_t)bst.st_size);
        _cleanup_(oci_hasher_freep) struct oci_hasher *h = l->digest ? oci_hasher_new() : NULL;
        if (l->digest && !h)
                return -ENOMEM;
        *rd = (struct flat_reader){
            .fd = fd, .hasher = h, .total = l->size, .pass = 1, .layer = idx, .opts = x->opts};
        _cleanup_(archive_read_freep) struct archive *a = flat_archive_for(l->compression, false);
        if (!a)
                return -ENOMEM;
        if (archive_read_open(a, rd, NULL, flat_reader_read, NULL) != ARCHIVE_OK)
                return flat_archive_fail(x, a, rd, err);
        char path[PATH_MAX_IMAGE + 1], target[PATH_MAX_IMAGE + 1];
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return flat_archive_fail(x, a, rd, err);
                const char *raw = archive_entry_pathname(e);
                if (!raw)
                        return bg_error_set(err, EINVAL, "%s: entry without a usable name",
                                            x->layer_name);
                if (++x->seen_entries > x->max_entries)
                        return bg_error_set(err, EFBIG,
                                            "%s: more than %llu entries in the image (at '%.120s')",
                                            x->layer_name, (unsigned long long)x->max_entries, raw);
                int r = flat_validate_entry(x, e, raw, path, err);
                if (r < 0)
                        return r;
                /* Before its data is read: what this entry makes the layer
                 * and the image unpack to. */
                r = flat_check_limits(x, a, e, raw, bst.st_size, err);
                if (r < 0)
                        return r;
                r = flat_whiteout_kind(x, raw, path, target, sizeof(target), err);
                if (r < 0)
                        return r;
                if (r == 1)
                        r = strv_push(&plan->whiteouts, target);
                else if (r == 2)
                        r = strv_push(&plan->opaques, target);
                else if (r == 0) {
                        x->inodes++;
                        if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e)) {
                                la_int64_t sz = archive_entry_size(e);
                                if (sz > 0) {
                                        x->st.content_bytes += (uint64_t)sz;
                                        x->inodes += (uint64_t)sz / (16ull << 20); /* extents */
                                }
                        }
                }
                if (r < 0)
                        return r;
                if (archive_read_data_skip(a) != ARCHIVE_OK)
                        return flat_archive_fail(x, a, rd, err);
        }
        /* Padding and end blocks count too. */
        if ((uint64_t)archive_filter_bytes(a, 0) > x->stream_cap)
                return ratio_error(x, NULL, (uint64_t)bst.st_size, err);
        if (h) {
                /* libarchive stops at the end-of-archive blocks: hash the rest */
                const void *dummy;
                la_ssize_t k;
                while ((k = flat_reader_read(a, rd, &dummy)) > 0)
                        ;
                if (k < 0)
                        return flat_archive_fail(x, a, rd, err);
                char got[OCI_DIGEST_LEN + 1];
                oci_hasher_final(h, got);
                if (strcmp(got, l->digest) != 0)
                        return bg_error_set(err, EBADMSG,
                                            "%s: blob does not match its digest %s (got %s)",
                                            x->layer_name, l->digest, got);
        }
        return 0;
}
