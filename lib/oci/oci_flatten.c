#include "oci_flatten.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci_flatten_internal.h"

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
static int check_parent(struct flat_ctx *x, const char *raw, const char *path,
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
                return flat_entry_error(x, err, ELOOP, raw, "path goes through a symlink (%.100s)",
                                        sub.msg);
        if (r == -ENOTDIR)
                return flat_entry_error(x, err, ENOTDIR, raw,
                                        "path goes through a non-directory "
                                        "(%.100s)",
                                        sub.msg);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        if (S_ISLNK(st.mode))
                return flat_entry_error(x, err, ELOOP, raw, "parent '%.100s' is a symlink", dir);
        if (!S_ISDIR(st.mode))
                return flat_entry_error(x, err, ENOTDIR, raw, "parent '%.100s' is not a directory",
                                        dir);
        memcpy(x->parent_ok, dir, n + 1);
        x->parent_ok_valid = true;
        return 0;
}

/* Forget the validated parent if path replaced it or something above it. */
static void parent_invalidate(struct flat_ctx *x, const char *path)
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

static int apply_xattrs(struct flat_ctx *x, struct archive_entry *e, const char *raw,
                        const char *path, struct bg_error *err)
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

static int write_regular(struct flat_ctx *x, struct archive *a, struct archive_entry *e,
                         const char *raw, const char *path, const struct ext4_meta *m,
                         struct flat_reader *rd, struct bg_error *err)
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
                        return flat_archive_fail(x, a, rd, err);
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

static int apply_hardlink(struct flat_ctx *x, const char *raw, const char *path, const char *hl,
                          struct bg_error *err)
{
        char tgt[PATH_MAX_IMAGE + 1];
        struct bg_error sub = {0};
        int r = oci_entry_path(hl, tgt, sizeof(tgt), &sub);
        if (r < 0)
                return flat_entry_error(x, err, -r, raw, "hardlink target: %.140s", sub.msg);
        if (strcmp(tgt, path) == 0)
                return 0;
        struct ext4_stat st;
        r = ext4_lookup(x->fs, tgt, &st, &sub);
        if (r == -ENOENT || r == -ENOTDIR)
                return flat_entry_error(x, err, EINVAL, raw, "hardlink to missing target '%.100s'",
                                        hl);
        if (r == -ELOOP)
                return flat_entry_error(x, err, ELOOP, raw,
                                        "hardlink target '%.100s' goes through a symlink", hl);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        if (S_ISDIR(st.mode))
                return flat_entry_error(x, err, EINVAL, raw, "hardlink to directory '%.100s'", hl);
        r = ext4_hardlink(x->fs, path, tgt, &sub);
        if (r < 0)
                return bg_error_set(err, -r, "%s: entry '%.120s': %s", x->layer_name, raw, sub.msg);
        return 0;
}

static int apply_whiteout(struct flat_ctx *x, const char *target, bool opaque, struct bg_error *err)
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
static int apply_entry(struct flat_ctx *x, struct archive *a, struct archive_entry *e,
                       struct flat_reader *rd, bool immediate_whiteouts, struct bg_error *err)
{
        const char *raw = archive_entry_pathname(e);
        if (!raw)
                return bg_error_set(err, EINVAL, "%s: entry without a usable name", x->layer_name);
        char path[PATH_MAX_IMAGE + 1], target[PATH_MAX_IMAGE + 1];
        int r = flat_validate_entry(x, e, raw, path, err);
        if (r < 0)
                return r;
        r = flat_whiteout_kind(x, raw, path, target, sizeof(target), err);
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

static int apply_stream(struct flat_ctx *x, struct archive *a, struct flat_reader *rd,
                        bool immediate_whiteouts, struct bg_error *err)
{
        for (;;) {
                if (flat_is_cancelled(x->opts))
                        return bg_error_set(err, ECANCELED, "cancelled");
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        return 0;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return flat_archive_fail(x, a, rd, err);
                if (immediate_whiteouts) {
                        /* No scan before a single stream: its limits are
                         * checked here, before the entry's data is read. */
                        if (++x->seen_entries > x->max_entries)
                                return bg_error_set(err, EFBIG, "%s: more than %llu entries",
                                                    x->layer_name,
                                                    (unsigned long long)x->max_entries);
                        const char *raw = archive_entry_pathname(e);
                        int r = flat_check_limits(x, a, e, raw ? raw : "", 0, err);
                        if (r < 0)
                                return r;
                        if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
                            archive_entry_size(e) > 0)
                                x->st.content_bytes += (uint64_t)archive_entry_size(e);
                }
                int r = apply_entry(x, a, e, rd, immediate_whiteouts, err);
                if (r < 0)
                        return r;
        }
}

static int apply_layer(struct flat_ctx *x, const struct oci_flatten_layer *l, size_t idx,
                       const struct flat_plan *plan, struct flat_reader *rd, struct bg_error *err)
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
        *rd = (struct flat_reader){
            .fd = fd, .total = l->size, .pass = 2, .layer = idx, .opts = x->opts};
        _cleanup_(archive_read_freep) struct archive *a = flat_archive_for(l->compression, false);
        if (!a)
                return -ENOMEM;
        if (archive_read_open(a, rd, NULL, flat_reader_read, NULL) != ARCHIVE_OK)
                return flat_archive_fail(x, a, rd, err);
        x->parent_ok_valid = false;
        return apply_stream(x, a, rd, false, err);
}

static void ctx_init(struct flat_ctx *x, const struct oci_flatten_opts *opts)
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
        struct flat_ctx x = {0};
        ctx_init(&x, opts);
        _cleanup_free_ struct flat_plan *plans = calloc(n ? n : 1, sizeof(*plans));
        _cleanup_free_ struct flat_reader *rd = malloc(sizeof(*rd));
        x.data = malloc(DATA_CHUNK);
        int r = (!plans || !rd || !x.data) ? -ENOMEM : 0;
        char name[64];

        for (size_t i = 0; r >= 0 && i < n; i++) {
                layer_name(name, sizeof(name), i, &layers[i]);
                x.layer_name = name;
                x.layer_idx = (int64_t)i;
                r = flat_scan_layer(&x, &layers[i], i, &plans[i], rd, err);
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
                flat_strv_done(&plans[i].whiteouts);
                flat_strv_done(&plans[i].opaques);
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
        struct flat_ctx x = {.fs = fs};
        ctx_init(&x, opts);
        x.layer_name = name ? name : "tar stream";
        _cleanup_free_ struct flat_reader *rd = malloc(sizeof(*rd));
        _cleanup_free_ char *data = malloc(DATA_CHUNK);
        if (!rd || !data)
                return bg_error_set(err, ENOMEM, "out of memory");
        x.data = data;
        *rd = (struct flat_reader){.fd = fd, .pass = 2, .opts = opts};
        _cleanup_(archive_read_freep) struct archive *a =
            flat_archive_for(OCI_COMPRESSION_NONE, true);
        if (!a)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r;
        if (archive_read_open(a, rd, NULL, flat_reader_read, NULL) != ARCHIVE_OK)
                r = flat_archive_fail(&x, a, rd, err);
        else
                r = apply_stream(&x, a, rd, true, err);
        if (stats)
                *stats = x.st;
        return r < 0 ? r : 0;
}
