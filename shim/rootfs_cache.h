/* The rootfs fingerprint's file digest cache, like git's index: the SHA-256
 * of a regular file's content, keyed by what the kernel says about the file
 * (device, inode, size, mtime and ctime, to the nanosecond), so that a
 * rootfs tree that did not change is not read again on the next task.
 *
 * A file's content cannot change without its ctime changing, and nobody can
 * set a ctime (utimensat sets mtime and atime only): an image chooses its
 * files' mtimes, never their ctimes. A digest is kept only for a file whose
 * ctime is older than the walk by FP_CACHE_RACY_S, so a write in the same
 * clock tick as the read cannot hide (git's "racily clean" entries).
 *
 * The cache is one file, "fingerprints", in a directory the shim owns:
 * BANGER_SHIM_CACHE_DIR, else banger's cache dir + "/shim" (as root: only
 * when that dir and every one above it are root's alone), else, as root,
 * /var/cache/containerd-shim-banger. It holds at most
 * BANGER_SHIM_FINGERPRINT_CACHE entries (default FP_CACHE_MAX_DEFAULT; 0
 * turns the cache off), the files of the newest walk first. Any problem
 * with the cache (a directory someone else can write, a damaged file) only
 * means files are read again: the fingerprint never depends on it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define FP_CACHE_MAX_DEFAULT 200000u /* ~18 MB on disk */
#define FP_CACHE_MAX_LIMIT (4u << 20)
#define FP_CACHE_RACY_S 2

struct fp_cache;

/* Loads the cache (NULL when it is off or cannot be used; say why on
 * stderr once). */
struct fp_cache *fp_cache_open(void);
/* Opens the cache in dir (tests), keeping at most max entries. */
struct fp_cache *fp_cache_open_dir(const char *dir, uint32_t max);
/* The digest of st's file when the cache has one. c may be NULL. */
bool fp_cache_lookup(struct fp_cache *c, const struct stat *st, uint8_t out[32]);
/* Records st's digest for the next walk (skipped when its ctime is too new).
 * c may be NULL. */
void fp_cache_note(struct fp_cache *c, const struct stat *st, const uint8_t h[32]);
/* Writes what this walk noted (then older entries, up to the cap) and frees
 * c. c may be NULL. */
void fp_cache_save(struct fp_cache *c);
/* Frees c without writing. */
void fp_cache_free(struct fp_cache *c);
