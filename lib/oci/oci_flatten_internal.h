/* Private to the flattener: oci_flatten_scan.c reads and checks a layer
 * (pass 1: every entry validated, the layer's whiteouts and opaque
 * directories collected, nothing written); oci_flatten.c writes the checked
 * entries into the ext4 image (pass 2) and drives both passes. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci_digest.h"
#include "oci_flatten.h"
#include "util/error.h"
#include "util/macro.h"

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

struct flat_reader {
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

struct flat_strv {
        char **v;
        size_t n, cap;
};

struct flat_plan {
        struct flat_strv whiteouts; /* paths to remove */
        struct flat_strv opaques;   /* directories to empty */
};

struct flat_ctx {
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

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

/* err = "LAYER: entry 'RAW': what" with code. */
int flat_entry_error(struct flat_ctx *x, struct bg_error *err, int code, const char *raw,
                     const char *fmt, ...) _printf_(5, 6);

/* The caller asked to stop (opts->cancel). */
bool flat_is_cancelled(const struct oci_flatten_opts *o);

/* libarchive read callback over a struct flat_reader: hashes and reports
 * progress as it reads; fails once cancelled. */
la_ssize_t flat_reader_read(struct archive *a, void *ud, const void **out);

/* A tar reader for comp (detect: gzip and zstd both allowed). */
struct archive *flat_archive_for(enum oci_compression comp, bool detect);

/* Frees the strings and the array; *s is empty again. */
void flat_strv_done(struct flat_strv *s);

/* Whiteout kind of normalised path's last component: 0 none, 1 file, 2 opaque,
 * 3 other metadata to ignore. For 1, *target is the path it removes. */
int flat_whiteout_kind(struct flat_ctx *x, const char *raw, const char *path, char *target,
                       size_t size, struct bg_error *err);

/* Header-only validation of one entry (both passes share it). */
int flat_validate_entry(struct flat_ctx *x, struct archive_entry *e, const char *raw, char *path,
                        struct bg_error *err);

/* The error of a failed archive read: cancelled, a read error of the
 * blob, or libarchive's message, naming the layer. */
int flat_archive_fail(struct flat_ctx *x, struct archive *a, struct flat_reader *rd,
                      struct bg_error *err);

/* The entry just read (its header): the layer's stream up to the end of its
 * data, and the image's file bytes with it, within the limits (blob: the
 * compressed size the ratio is held to; 0 for a single stream). */
int flat_check_limits(struct flat_ctx *x, struct archive *a, struct archive_entry *e,
                      const char *raw, off_t blob, struct bg_error *err);

/* Pass 1 over one layer. */
int flat_scan_layer(struct flat_ctx *x, const struct oci_flatten_layer *l, size_t idx,
                    struct flat_plan *plan, struct flat_reader *rd, struct bg_error *err);
