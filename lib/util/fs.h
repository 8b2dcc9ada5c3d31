/* Walking and removing directory trees, never following symlinks. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "util/error.h"

/* Called by fs_walk_at for the entry dfd/name (st from fstatat, not
 * following symlinks): once before a directory's children (post false) and
 * once after them (post true); other entries once, post false. A negative
 * return stops the walk and is its result; FS_WALK_SKIP before a directory's
 * children skips them (and its post call). */
#define FS_WALK_SKIP 1
typedef int (*fs_walk_fn)(int dfd, const char *name, const struct stat *st, bool post,
                          void *userdata, struct bg_error *err);

/* Visits dfd/name (dfd may be AT_FDCWD) and, when it is a directory,
 * everything below it, depth first, at most 64 levels deep. Symlinks are
 * reported, never followed; directories are opened O_NOFOLLOW. Entries that
 * vanish during the walk are skipped; dfd/name itself missing is -ENOENT. */
int fs_walk_at(int dfd, const char *name, fs_walk_fn fn, void *userdata, struct bg_error *err);

/* Removes path and, when it is a directory, everything under it, by
 * descriptors (fs_walk_at), without following symlinks or crossing into
 * another file system (at most 64 levels deep). A path that does not exist
 * is not an error. A mount point below path stops the removal with -EBUSY
 * naming it; what was removed before stays removed. 0 or -errno. */
int rm_rf(const char *path, struct bg_error *err);

/* RM_RF_KEEP_MOUNTS: a mount point below path is left as it is, with the
 * directories that hold it, and is no error (root's uninstall --purge in
 * directories an owner could have mounted something in). */
#define RM_RF_KEEP_MOUNTS (1u << 0)
/* rm_rf with flags: 1 when path was there (removed, or kept only for a
 * mount point), 0 when it was absent, or -errno. */
int rm_rf_flags(const char *path, unsigned flags, struct bg_error *err);
/* rm_rf_flags of dfd/name (dfd may be AT_FDCWD or an O_PATH directory):
 * for root code that reached a directory by descriptors (open_beneath) and
 * must not go back to a path. */
int rm_rf_at(int dfd, const char *name, unsigned flags, struct bg_error *err);

/* mkdir -p: parents 0755, the last component mode (umask applies). An
 * existing directory is fine (its mode untouched); anything else in the way
 * is -ENOTDIR. */
int mkdir_p(const char *path, unsigned mode);
