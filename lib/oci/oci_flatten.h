/* Flatten image layers (tar, tar+gzip, tar+zstd; read with libarchive,
 * streaming, bounded memory) into one ext4 image through lib/ext4: no host
 * directory, no mount, no root.
 *
 * Two passes over each layer: a header-only pass validates every entry (and
 * the blob's digest), counts bytes and inodes for sizing and collects the
 * layer's whiteouts; then, layer by layer, the whiteouts are applied to what
 * lower layers wrote and the entries are written. OCI whiteouts: ".wh.NAME"
 * removes NAME, ".wh..wh..opq" empties its directory (lower-layer content
 * only, as the spec says; the directory keeps its owner, mode and times).
 *
 * Hostile input is refused with -EINVAL (-ENAMETOOLONG, -EFBIG, -EBADMSG,
 * -ELOOP where it fits) and a message naming the layer and entry: absolute
 * paths, ".." components, names over 255 bytes, paths over 4095 bytes,
 * entries whose parent is (or goes through) a symlink or a non-directory,
 * hardlinks to missing, escaping or directory targets, whiteouts of ".",
 * "..", the root or through symlinks, more entries than the cap, uid/gid
 * beyond 32 bits, oversize xattrs, a blob that does not match its digest,
 * times an ext4 inode cannot hold (before 1901, after 2446), mode bits
 * beyond the type and 07777, negative sizes, device numbers ext4 cannot
 * store.
 *
 * Limits on what a layer may cost (both from the scan, so nothing is written
 * before they are checked; -EFBIG naming the layer, the entry and the config
 * key): the files of all layers add up to at most max_content_bytes
 * (image.max_unpacked_size), and a layer's tar stream is at most max_ratio
 * times its blob once it is past OCI_FLATTEN_RATIO_FLOOR
 * (image.max_layer_ratio): a 3 MB gzip layer may not inflate to 3 GiB.
 * The caller writes to a temporary path and deletes it on failure. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ext4.h"
#include "oci_manifest.h"
#include "oci_registry.h"
#include "util/error.h"

#define OCI_FLATTEN_MAX_ENTRIES_DEFAULT 2000000
#define OCI_FLATTEN_FREE_DEFAULT (256ull << 20)
#define OCI_FLATTEN_RATIO_FLOOR                                                                    \
        (64ull << 20) /* a layer unpacking to less is never refused                                \
                          for its compression ratio */

/* Progress of the flatten: compressed bytes of layer `layer` read so far in
 * pass `pass` (1 = scan, 2 = write). */
typedef void (*oci_flatten_progress_fn)(void *userdata, int pass, size_t layer, uint64_t done,
                                        uint64_t total);

struct oci_flatten_opts {
        uint64_t size_bytes;         /* image size; 0 = computed from the content + free_bytes */
        uint64_t free_bytes;         /* free space on top of the estimate; 0 = 256 MiB */
        uint64_t max_entries;        /* tar entries over all layers; 0 = 2,000,000 */
        uint64_t max_content_bytes;  /* file bytes over all layers; 0 = no cap */
        uint32_t max_ratio;          /* tar stream / blob bytes of one layer; 0 = no cap */
        const char *label;           /* ext4 volume label or NULL */
        uint32_t root_uid, root_gid; /* owner of "/" unless a layer sets it */
        oci_flatten_progress_fn progress;
        void *userdata;
        const atomic_bool *cancel; /* checked between entries and blocks, and every 200 ms
                                    * while the input is silent: -ECANCELED */
};

struct oci_flatten_layer {
        const char *path;   /* the layer blob */
        const char *digest; /* sha256 of the blob, checked during the scan; NULL = not checked */
        enum oci_compression compression;
        uint64_t size; /* blob size for progress; 0 = unknown */
};

struct oci_flatten_stats {
        uint64_t entries;        /* tar entries written */
        uint64_t whiteouts;      /* whiteouts and opaque markers applied */
        uint64_t content_bytes;  /* regular file bytes over all layers */
        uint64_t xattrs;         /* extended attributes written */
        uint64_t xattrs_skipped; /* in namespaces ext4 cannot store */
        uint64_t image_bytes;    /* size of the ext4 file */
        int64_t over_limit;      /* the layer refused for a limit (-EFBIG), else -1 */
};

/* Create the ext4 file `ext4_path` (must not exist or is truncated) and apply
 * the n layers in order. stats may be NULL. On failure the file is left for
 * the caller to delete. */
int oci_flatten(const struct oci_flatten_layer *layers, size_t n, const char *ext4_path,
                const struct oci_flatten_opts *opts, struct oci_flatten_stats *stats,
                struct bg_error *err);

/* oci_flatten over the layers of a pulled image. */
int oci_flatten_image(const struct oci_image *img, const char *ext4_path,
                      const struct oci_flatten_opts *opts, struct oci_flatten_stats *stats,
                      struct bg_error *err);

/* Apply one tar stream read from fd (any of the supported compressions,
 * detected) to an open image, with the same validation. Whiteouts take
 * effect when they are met. For streams made on the fly (mmdebstrap); the
 * caller sized the image. */
int oci_flatten_tar_fd(struct ext4_fs *fs, int fd, const char *name,
                       const struct oci_flatten_opts *opts, struct oci_flatten_stats *stats,
                       struct bg_error *err);

/* Normalise a tar entry name to an image path without leading "./" or "/"
 * ("" is the root): refuses absolute paths, ".." components, components over
 * 255 bytes and paths over 4095 bytes. out holds at least 4096 bytes. */
int oci_entry_path(const char *raw, char *out, size_t size, struct bg_error *err);
