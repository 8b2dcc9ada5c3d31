#include "oci_flatten.h"

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

#include "oci_digest.h"

#define PATH_MAX_IMAGE 4095
#define NAME_MAX_IMAGE 255
#define SYMLINK_MAX 4095
#define XATTR_VALUE_MAX (64u << 10)
#define READ_CHUNK (256u << 10)
#define CANCEL_POLL_MS 200 /* how often a silent reader looks at the cancel flag */
#define DATA_CHUNK (1u << 20)
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

int oci_entry_path(const char *raw, char *out, size_t size, struct bg_error *err)
{
        if (!raw || !*raw)
                return bg_error_set(err, EINVAL, "empty entry name");
        if (raw[0] == '/')
                return bg_error_set(err, EINVAL, "entry '%.200s' has an absolute path", raw);
        if (strlen(raw) > PATH_MAX_IMAGE)
                return bg_error_set(err, ENAMETOOLONG,
                                    "entry '%.100s...' path is longer than %d "
                                    "bytes",
                                    raw, PATH_MAX_IMAGE);
        size_t o = 0;
        const char *p = raw;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 1 && p[0] == '.') {
                        p = e;
                        continue;
                }
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return bg_error_set(err, EINVAL, "entry '%.200s' has a '..' component",
                                            raw);
                if (n > NAME_MAX_IMAGE)
                        return bg_error_set(err, ENAMETOOLONG,
                                            "entry '%.100s...' has a name longer than %d bytes",
                                            raw, NAME_MAX_IMAGE);
                if (o + (o ? 1 : 0) + n + 1 > size)
                        return bg_error_set(err, ENAMETOOLONG, "entry '%.100s...' is too long",
                                            raw);
                if (o)
                        out[o++] = '/';
                memcpy(out + o, p, n);
                o += n;
                p = e;
        }
        out[o] = '\0';
        return 0;
}

/* ---- reading a layer ---------------------------------------------------- */

struct reader {
        int fd;
        struct oci_hasher *hasher; /* NULL: not verifying */
        uint64_t done, total;
        int pass;
        size_t layer;
        const struct oci_flatten_opts *opts;
        bool cancelled;
        int read_errno;
        unsigned char buf[READ_CHUNK];
};

static bool is_cancelled(const struct oci_flatten_opts *o)
{
        return o->cancel && atomic_load(o->cancel);
}

static la_ssize_t reader_read(struct archive *a, void *ud, const void **out)
{
        struct reader *r = ud;
        if (is_cancelled(r->opts)) {
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
                        if (is_cancelled(r->opts)) {
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

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

static struct archive *archive_for(enum oci_compression comp, bool detect)
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

struct strv {
        char **v;
        size_t n, cap;
};

static int strv_push(struct strv *s, const char *str)
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

static void strv_done(struct strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct strv){0};
}

struct layer_plan {
        struct strv whiteouts; /* paths to remove */
        struct strv opaques;   /* directories to empty */
};

struct ctx {
        struct ext4_fs *fs;
        const struct oci_flatten_opts *opts;
        struct oci_flatten_stats st;
        uint64_t max_entries;
        uint64_t stream_cap;   /* of the layer being scanned: its tar stream's bytes */
        uint64_t seen_entries; /* scan count */
        uint64_t inodes;
        const char *layer_name; /* for messages */
        int64_t layer_idx;      /* the layer being read */
        char parent_ok[PATH_MAX_IMAGE + 1];
        bool parent_ok_valid;
        char *data;
};

static int entry_error(struct ctx *x, struct bg_error *err, int code, const char *raw,
                       const char *fmt, ...) _printf_(5, 6);
static int entry_error(struct ctx *x, struct bg_error *err, int code, const char *raw,
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
static int whiteout_kind(struct ctx *x, const char *raw, const char *path, char *target,
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
                        return entry_error(x, err, EINVAL, raw, "%s",
                                           "opaque whiteout of the image root");
                return 2;
        }
        if (strncmp(base, WH_META, strlen(WH_META)) == 0)
                return 3;
        const char *name = base + strlen(WH_PREFIX);
        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return entry_error(x, err, EINVAL, raw, "%s",
                                   "whiteout reaches outside its "
                                   "directory");
        if (dirlen + 1 + strlen(name) + 1 > size)
                return entry_error(x, err, ENAMETOOLONG, raw, "%s", "path too long");
        if (dirlen)
                snprintf(target, size, "%.*s/%s", (int)dirlen, path, name);
        else
                snprintf(target, size, "%s", name);
        return 1;
}

static int check_ids(struct ctx *x, struct archive_entry *e, const char *raw, struct bg_error *err)
{
        la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
                return entry_error(x, err, EINVAL, raw, "%s", "uid/gid out of range");
        return 0;
}

static bool time_ok(time_t sec)
{
        return (int64_t)sec >= EXT4_TIME_MIN && (int64_t)sec <= EXT4_TIME_MAX;
}

/* Times an inode can hold, mode bits that mean something, sizes that are
 * sizes, device numbers ext4 can store. */
static int check_ranges(struct ctx *x, struct archive_entry *e, const char *raw,
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
                        return entry_error(x, err, EINVAL, raw,
                                           "%s %lld is outside what ext4 stores (%lld..%lld)",
                                           times[i].name, (long long)times[i].get(e),
                                           (long long)EXT4_TIME_MIN, (long long)EXT4_TIME_MAX);
        unsigned long mode = (unsigned long)archive_entry_mode(e);
        if (mode & ~(unsigned long)(AE_IFMT | 07777))
                return entry_error(x, err, EINVAL, raw, "mode %lo has bits beyond 07777", mode);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) < 0)
                return entry_error(x, err, EINVAL, raw, "size %lld is negative",
                                   (long long)archive_entry_size(e));
        mode_t type = archive_entry_filetype(e);
        if ((type == AE_IFCHR || type == AE_IFBLK) &&
            (archive_entry_rdevmajor(e) > 0xfff || archive_entry_rdevminor(e) > 0xfffff))
                return entry_error(x, err, EINVAL, raw,
                                   "device %lu:%lu is beyond what ext4 stores (4095:1048575)",
                                   (unsigned long)archive_entry_rdevmajor(e),
                                   (unsigned long)archive_entry_rdevminor(e));
        return 0;
}

/* Header-only validation of one entry (both passes share it). */
static int validate_entry(struct ctx *x, struct archive_entry *e, const char *raw, char *path,
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
                        return entry_error(x, err, -r, raw, "hardlink target: %s", sub.msg);
                if (!tgt[0])
                        return entry_error(x, err, EINVAL, raw, "%s", "hardlink to the root");
                return 0;
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFLNK) {
                const char *t = archive_entry_symlink(e);
                if (!t || !*t || strlen(t) > SYMLINK_MAX)
                        return entry_error(x, err, EINVAL, raw, "%s",
                                           "symlink target empty or over 4095 bytes");
        } else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFCHR && type != AE_IFBLK &&
                   type != AE_IFIFO && type != AE_IFSOCK)
                return entry_error(x, err, EINVAL, raw, "%s", "unknown entry type");
        if (!path[0] && type != AE_IFDIR)
                return entry_error(x, err, EINVAL, raw, "%s", "the root is not a directory");
        archive_entry_xattr_reset(e);
        const char *xn;
        const void *xv;
        size_t xs, total = 0;
        while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
                total += xs + strlen(xn);
                if (strlen(xn) > 255 || total > XATTR_VALUE_MAX)
                        return entry_error(x, err, EFBIG, raw, "%s",
                                           "extended attributes too "
                                           "large");
        }
        return 0;
}

static int archive_fail(struct ctx *x, struct archive *a, struct reader *rd, struct bg_error *err)
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

static int ratio_error(struct ctx *x, const char *raw, uint64_t blob, struct bg_error *err)
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
static int check_limits(struct ctx *x, struct archive *a, struct archive_entry *e, const char *raw,
                        off_t blob, struct bg_error *err)
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
static int scan_layer(struct ctx *x, const struct oci_flatten_layer *l, size_t idx,
                      struct layer_plan *plan, struct reader *rd, struct bg_error *err)
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
        *rd = (struct reader){
            .fd = fd, .hasher = h, .total = l->size, .pass = 1, .layer = idx, .opts = x->opts};
        _cleanup_(archive_read_freep) struct archive *a = archive_for(l->compression, false);
        if (!a)
                return -ENOMEM;
        if (archive_read_open(a, rd, NULL, reader_read, NULL) != ARCHIVE_OK)
                return archive_fail(x, a, rd, err);
        char path[PATH_MAX_IMAGE + 1], target[PATH_MAX_IMAGE + 1];
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return archive_fail(x, a, rd, err);
                const char *raw = archive_entry_pathname(e);
                if (!raw)
                        return bg_error_set(err, EINVAL, "%s: entry without a usable name",
                                            x->layer_name);
                if (++x->seen_entries > x->max_entries)
                        return bg_error_set(err, EFBIG,
                                            "%s: more than %llu entries in the image (at '%.120s')",
                                            x->layer_name, (unsigned long long)x->max_entries, raw);
                int r = validate_entry(x, e, raw, path, err);
                if (r < 0)
                        return r;
                /* Before its data is read: what this entry makes the layer
                 * and the image unpack to. */
                r = check_limits(x, a, e, raw, bst.st_size, err);
                if (r < 0)
                        return r;
                r = whiteout_kind(x, raw, path, target, sizeof(target), err);
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
                        return archive_fail(x, a, rd, err);
        }
        /* Padding and end blocks count too. */
        if ((uint64_t)archive_filter_bytes(a, 0) > x->stream_cap)
                return ratio_error(x, NULL, (uint64_t)bst.st_size, err);
        if (h) {
                /* libarchive stops at the end-of-archive blocks: hash the rest */
                const void *dummy;
                la_ssize_t k;
                while ((k = reader_read(a, rd, &dummy)) > 0)
                        ;
                if (k < 0)
                        return archive_fail(x, a, rd, err);
                char got[OCI_DIGEST_LEN + 1];
                oci_hasher_final(h, got);
                if (strcmp(got, l->digest) != 0)
                        return bg_error_set(err, EBADMSG,
                                            "%s: blob does not match its digest %s (got %s)",
                                            x->layer_name, l->digest, got);
        }
        return 0;
}

/* ---- pass 2: writing ------------------------------------------------------ */

static void meta_from_entry(struct archive_entry *e, struct ext4_meta *m)
{
        *m = (struct ext4_meta){0};
        m->mode = (uint32_t)archive_entry_mode(e);
        m->uid = (uint32_t)archive_entry_uid(e);
        m->gid = (uint32_t)archive_entry_gid(e);
        m->mtime.tv_sec = archive_entry_mtime(e);
        m->mtime.tv_nsec = archive_entry_mtime_nsec(e);
        m->atime = m->mtime;
        m->ctime = m->mtime;
        if (archive_entry_atime_is_set(e)) {
                m->atime.tv_sec = archive_entry_atime(e);
                m->atime.tv_nsec = archive_entry_atime_nsec(e);
        }
        if (archive_entry_ctime_is_set(e)) {
                m->ctime.tv_sec = archive_entry_ctime(e);
                m->ctime.tv_nsec = archive_entry_ctime_nsec(e);
        }
        if (m->mtime.tv_nsec < 0 || m->mtime.tv_nsec >= 1000000000)
                m->mtime.tv_nsec = 0;
        if (m->atime.tv_nsec < 0 || m->atime.tv_nsec >= 1000000000)
                m->atime.tv_nsec = 0;
        if (m->ctime.tv_nsec < 0 || m->ctime.tv_nsec >= 1000000000)
                m->ctime.tv_nsec = 0;
}

/* Is every component of dir a real directory? Creates missing ones. */
static int check_parent(struct ctx *x, const char *raw, const char *path,
                        const struct ext4_meta *implicit, struct bg_error *err)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                return 0;
        size_t n = (size_t)(slash - path);
        char dir[PATH_MAX_IMAGE + 1];
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (x->parent_ok_valid && strcmp(dir, x->parent_ok) == 0)
                return 0;
        struct ext4_stat st;
        struct bg_error sub = {0};
        int r = ext4_lookup(x->fs, dir, &st, &sub);
        if (r == -ENOENT) {
                r = ext4_mkdir_p(x->fs, dir, implicit, &sub);
                if (r >= 0)
                        r = ext4_lookup(x->fs, dir, &st, &sub);
        }
        if (r == -ELOOP)
                return entry_error(x, err, ELOOP, raw, "path goes through a symlink (%.100s)",
                                   sub.msg);
        if (r == -ENOTDIR)
                return entry_error(x, err, ENOTDIR, raw,
                                   "path goes through a non-directory "
                                   "(%.100s)",
                                   sub.msg);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        if (S_ISLNK(st.mode))
                return entry_error(x, err, ELOOP, raw, "parent '%.100s' is a symlink", dir);
        if (!S_ISDIR(st.mode))
                return entry_error(x, err, ENOTDIR, raw, "parent '%.100s' is not a directory", dir);
        memcpy(x->parent_ok, dir, n + 1);
        x->parent_ok_valid = true;
        return 0;
}

/* Forget the validated parent if path replaced it or something above it. */
static void parent_invalidate(struct ctx *x, const char *path)
{
        if (!x->parent_ok_valid)
                return;
        size_t n = strlen(path);
        if (strncmp(x->parent_ok, path, n) == 0 &&
            (x->parent_ok[n] == '\0' || x->parent_ok[n] == '/'))
                x->parent_ok_valid = false;
}

static bool xattr_storable(const char *name)
{
        return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
               strncmp(name, "security.", 9) == 0 || strcmp(name, "system.posix_acl_access") == 0 ||
               strcmp(name, "system.posix_acl_default") == 0;
}

static int apply_xattrs(struct ctx *x, struct archive_entry *e, const char *raw, const char *path,
                        struct bg_error *err)
{
        archive_entry_xattr_reset(e);
        const char *name;
        const void *val;
        size_t size;
        /* pax headers may carry an attribute twice (SCHILY.xattr and
         * LIBARCHIVE.xattr): set each name once */
        const char *seen[64];
        size_t n_seen = 0;
        while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
                bool dup = false;
                for (size_t i = 0; i < n_seen && !dup; i++)
                        dup = strcmp(seen[i], name) == 0;
                if (dup)
                        continue;
                if (n_seen < ELEMENTSOF(seen))
                        seen[n_seen++] = name;
                if (!xattr_storable(name)) {
                        x->st.xattrs_skipped++;
                        continue;
                }
                struct bg_error sub = {0};
                int r = ext4_set_xattr(x->fs, path[0] ? path : "/", name, val, size, &sub);
                if (r < 0)
                        return bg_error_set(err, -r, "%s: entry '%.100s': xattr '%.60s': %s",
                                            x->layer_name, raw, name, sub.msg);
                x->st.xattrs++;
        }
        return 0;
}

static int write_regular(struct ctx *x, struct archive *a, struct archive_entry *e, const char *raw,
                         const char *path, const struct ext4_meta *m, struct reader *rd,
                         struct bg_error *err)
{
        struct ext4_file *f = NULL;
        struct bg_error sub = {0};
        int r = ext4_file_create(x->fs, path, m, &f, &sub);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        for (;;) {
                la_ssize_t k = archive_read_data(a, x->data, DATA_CHUNK);
                if (k == 0)
                        break;
                if (k < 0) {
                        ext4_file_close(f, NULL);
                        return archive_fail(x, a, rd, err);
                }
                r = ext4_file_write(f, x->data, (size_t)k, &sub);
                if (r < 0) {
                        ext4_file_close(f, NULL);
                        return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw,
                                            sub.msg);
                }
        }
        r = ext4_file_close(f, &sub);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        return 0;
}

static int apply_hardlink(struct ctx *x, const char *raw, const char *path, const char *hl,
                          struct bg_error *err)
{
        char tgt[PATH_MAX_IMAGE + 1];
        struct bg_error sub = {0};
        int r = oci_entry_path(hl, tgt, sizeof(tgt), &sub);
        if (r < 0)
                return entry_error(x, err, -r, raw, "hardlink target: %.140s", sub.msg);
        if (strcmp(tgt, path) == 0)
                return 0;
        struct ext4_stat st;
        r = ext4_lookup(x->fs, tgt, &st, &sub);
        if (r == -ENOENT || r == -ENOTDIR)
                return entry_error(x, err, EINVAL, raw, "hardlink to missing target '%.100s'", hl);
        if (r == -ELOOP)
                return entry_error(x, err, ELOOP, raw,
                                   "hardlink target '%.100s' goes through a symlink", hl);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        if (S_ISDIR(st.mode))
                return entry_error(x, err, EINVAL, raw, "hardlink to directory '%.100s'", hl);
        r = ext4_hardlink(x->fs, path, tgt, &sub);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        return 0;
}

static int apply_whiteout(struct ctx *x, const char *target, bool opaque, struct bg_error *err)
{
        struct ext4_stat st;
        struct bg_error sub = {0};
        int r = ext4_lookup(x->fs, target, &st, &sub);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0; /* nothing below to hide */
        if (r == -ELOOP)
                return bg_error_set(err, ELOOP, "%s: whiteout of '%.120s' goes through a symlink",
                                    x->layer_name, target);
        if (r < 0)
                return bg_error_set(err, -r, "%s: whiteout of '%.120s': %s", x->layer_name, target,
                                    sub.msg);
        x->parent_ok_valid = false;
        x->st.whiteouts++;
        if (opaque && !S_ISDIR(st.mode))
                return 0;
        r = ext4_remove_tree(x->fs, target, &sub);
        if (r >= 0 && opaque) {
                struct ext4_meta m = {.mode = st.mode,
                                      .uid = st.uid,
                                      .gid = st.gid,
                                      .atime = st.atime,
                                      .mtime = st.mtime,
                                      .ctime = st.ctime};
                r = ext4_mkdir(x->fs, target, &m, &sub);
        }
        if (r < 0)
                return bg_error_set(err, -r, "%s: whiteout of '%.120s': %s", x->layer_name, target,
                                    sub.msg);
        return 0;
}

/* Write one entry of pass 2. immediate_whiteouts: apply whiteouts as met
 * (single streams); otherwise they were applied at layer start. */
static int apply_entry(struct ctx *x, struct archive *a, struct archive_entry *e, struct reader *rd,
                       bool immediate_whiteouts, struct bg_error *err)
{
        const char *raw = archive_entry_pathname(e);
        if (!raw)
                return bg_error_set(err, EINVAL, "%s: entry without a usable name", x->layer_name);
        char path[PATH_MAX_IMAGE + 1], target[PATH_MAX_IMAGE + 1];
        int r = validate_entry(x, e, raw, path, err);
        if (r < 0)
                return r;
        r = whiteout_kind(x, raw, path, target, sizeof(target), err);
        if (r < 0)
                return r;
        if (r > 0) {
                if (r == 3 || !immediate_whiteouts)
                        return 0;
                return apply_whiteout(x, target, r == 2, err);
        }

        struct ext4_meta m;
        meta_from_entry(e, &m);
        struct ext4_meta implicit = {
            .mode = S_IFDIR | 0755, .atime = m.mtime, .mtime = m.mtime, .ctime = m.mtime};
        struct bg_error sub = {0};
        mode_t type = archive_entry_filetype(e);
        const char *hl = archive_entry_hardlink(e);
        x->st.entries++;

        if (!path[0]) { /* "./": the root directory's metadata */
                r = ext4_mkdir(x->fs, "/", &m, &sub);
                if (r < 0)
                        return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw,
                                            sub.msg);
                return apply_xattrs(x, e, raw, path, err);
        }
        r = check_parent(x, raw, path, &implicit, err);
        if (r < 0)
                return r;
        if (hl) {
                parent_invalidate(x, path);
                return apply_hardlink(x, raw, path, hl, err);
        }
        if (type != AE_IFDIR)
                parent_invalidate(x, path);
        switch (type) {
        case AE_IFREG:
                r = write_regular(x, a, e, raw, path, &m, rd, err);
                if (r < 0)
                        return r;
                break;
        case AE_IFDIR:
                r = ext4_mkdir(x->fs, path, &m, &sub);
                break;
        case AE_IFLNK:
                r = ext4_symlink(x->fs, path, archive_entry_symlink(e), &m, &sub);
                break;
        default: /* devices, fifos, sockets (validated) */
                r = ext4_mknod(x->fs, path, &m, archive_entry_rdev(e), &sub);
                break;
        }
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        return apply_xattrs(x, e, raw, path, err);
}

static int apply_stream(struct ctx *x, struct archive *a, struct reader *rd,
                        bool immediate_whiteouts, struct bg_error *err)
{
        for (;;) {
                if (is_cancelled(x->opts))
                        return bg_error_set(err, ECANCELED, "cancelled");
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        return 0;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return archive_fail(x, a, rd, err);
                if (immediate_whiteouts && ++x->seen_entries > x->max_entries)
                        return bg_error_set(err, EFBIG, "%s: more than %llu entries", x->layer_name,
                                            (unsigned long long)x->max_entries);
                int r = apply_entry(x, a, e, rd, immediate_whiteouts, err);
                if (r < 0)
                        return r;
        }
}

static int apply_layer(struct ctx *x, const struct oci_flatten_layer *l, size_t idx,
                       const struct layer_plan *plan, struct reader *rd, struct bg_error *err)
{
        for (size_t i = 0; i < plan->opaques.n; i++) {
                int r = apply_whiteout(x, plan->opaques.v[i], true, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < plan->whiteouts.n; i++) {
                int r = apply_whiteout(x, plan->whiteouts.v[i], false, err);
                if (r < 0)
                        return r;
        }
        _cleanup_close_ int fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open layer '%s'", l->path);
        *rd = (struct reader){.fd = fd, .total = l->size, .pass = 2, .layer = idx, .opts = x->opts};
        _cleanup_(archive_read_freep) struct archive *a = archive_for(l->compression, false);
        if (!a)
                return -ENOMEM;
        if (archive_read_open(a, rd, NULL, reader_read, NULL) != ARCHIVE_OK)
                return archive_fail(x, a, rd, err);
        x->parent_ok_valid = false;
        return apply_stream(x, a, rd, false, err);
}

static void ctx_init(struct ctx *x, const struct oci_flatten_opts *opts)
{
        x->opts = opts;
        x->max_entries = opts->max_entries ? opts->max_entries : OCI_FLATTEN_MAX_ENTRIES_DEFAULT;
        x->stream_cap = UINT64_MAX; /* a stream without a blob has no ratio */
        x->layer_idx = -1;
        x->st.over_limit = -1;
}

/* "layer 2 (sha256:0123456789ab)" */
static void layer_name(char *buf, size_t len, size_t i, const struct oci_flatten_layer *l)
{
        if (l->digest && strlen(l->digest) > 19)
                snprintf(buf, len, "layer %zu (%.19s)", i, l->digest);
        else
                snprintf(buf, len, "layer %zu", i);
}

int oci_flatten(const struct oci_flatten_layer *layers, size_t n, const char *ext4_path,
                const struct oci_flatten_opts *opts_in, struct oci_flatten_stats *stats,
                struct bg_error *err)
{
        const struct oci_flatten_opts defaults = {0};
        const struct oci_flatten_opts *opts = opts_in ? opts_in : &defaults;
        struct ctx x = {0};
        ctx_init(&x, opts);
        _cleanup_free_ struct layer_plan *plans = calloc(n ? n : 1, sizeof(*plans));
        _cleanup_free_ struct reader *rd = malloc(sizeof(*rd));
        x.data = malloc(DATA_CHUNK);
        int r = (!plans || !rd || !x.data) ? -ENOMEM : 0;
        char name[64];

        for (size_t i = 0; r >= 0 && i < n; i++) {
                layer_name(name, sizeof(name), i, &layers[i]);
                x.layer_name = name;
                x.layer_idx = (int64_t)i;
                r = scan_layer(&x, &layers[i], i, &plans[i], rd, err);
        }
        if (r >= 0) {
                uint64_t size = opts->size_bytes;
                if (!size) {
                        uint64_t free_b =
                            opts->free_bytes ? opts->free_bytes : OCI_FLATTEN_FREE_DEFAULT;
                        size = ext4_estimate_size(x.st.content_bytes, x.inodes + 16) + free_b;
                        size = (size + (1u << 20) - 1) / (1u << 20) * (1u << 20);
                }
                struct ext4_create_opts co = {
                    .label = opts->label, .root_uid = opts->root_uid, .root_gid = opts->root_gid};
                r = ext4_create(ext4_path, size, &co, &x.fs, err);
                x.st.image_bytes = size;
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                layer_name(name, sizeof(name), i, &layers[i]);
                x.layer_name = name;
                x.layer_idx = (int64_t)i;
                r = apply_layer(&x, &layers[i], i, &plans[i], rd, err);
        }
        if (r >= 0) {
                r = ext4_close(TAKE_PTR(x.fs), err);
        }
        if (x.fs)
                ext4_free(x.fs);
        for (size_t i = 0; plans && i < n; i++) {
                strv_done(&plans[i].whiteouts);
                strv_done(&plans[i].opaques);
        }
        free(x.data);
        if (r == -ENOMEM && err && !err->code)
                bg_error_set(err, ENOMEM, "out of memory");
        if (r == -ENOSPC)
                bg_error_prefix(err, "image of %llu bytes is too small",
                                (unsigned long long)x.st.image_bytes);
        if (stats)
                *stats = x.st;
        return r < 0 ? r : 0;
}

int oci_flatten_image(const struct oci_image *img, const char *ext4_path,
                      const struct oci_flatten_opts *opts, struct oci_flatten_stats *stats,
                      struct bg_error *err)
{
        _cleanup_free_ struct oci_flatten_layer *ls =
            calloc(img->n_layers ? img->n_layers : 1, sizeof(*ls));
        if (!ls)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < img->n_layers; i++)
                ls[i] = (struct oci_flatten_layer){.path = img->layers[i].path,
                                                   .digest = img->layers[i].digest,
                                                   .compression = img->layers[i].compression,
                                                   .size = img->layers[i].size};
        return oci_flatten(ls, img->n_layers, ext4_path, opts, stats, err);
}

int oci_flatten_tar_fd(struct ext4_fs *fs, int fd, const char *name,
                       const struct oci_flatten_opts *opts_in, struct oci_flatten_stats *stats,
                       struct bg_error *err)
{
        const struct oci_flatten_opts defaults = {0};
        const struct oci_flatten_opts *opts = opts_in ? opts_in : &defaults;
        struct ctx x = {.fs = fs};
        ctx_init(&x, opts);
        x.layer_name = name ? name : "tar stream";
        _cleanup_free_ struct reader *rd = malloc(sizeof(*rd));
        _cleanup_free_ char *data = malloc(DATA_CHUNK);
        if (!rd || !data)
                return bg_error_set(err, ENOMEM, "out of memory");
        x.data = data;
        *rd = (struct reader){.fd = fd, .pass = 2, .opts = opts};
        _cleanup_(archive_read_freep) struct archive *a = archive_for(OCI_COMPRESSION_NONE, true);
        if (!a)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r;
        if (archive_read_open(a, rd, NULL, reader_read, NULL) != ARCHIVE_OK)
                r = archive_fail(&x, a, rd, err);
        else
                r = apply_stream(&x, a, rd, true, err);
        if (stats)
                *stats = x.st;
        return r < 0 ? r : 0;
}
