/* `banger vm cp` from a VM: the guest sends a tar stream, which is hostile
 * (names with '..', absolute names, symlinks pointing out, hard links,
 * devices, endless data). It is unpacked only into one host directory:
 *  - each entry's name must be `base` or below it ("base/…"); "./" prefixes
 *    are dropped; absolute names, empty names and '..' components are refused;
 *    `base` is renamed to `newbase` on the way;
 *  - only regular files, directories and symlinks; no hard links, no
 *    devices or fifos; setuid/setgid bits are dropped;
 *  - nothing is written through a symlink (libarchive's secure-symlinks check,
 *    and an existing symlink in the way is replaced, never followed), and
 *    the directory is entered once by descriptor;
 *  - at most max_bytes of file data and max_entries entries. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define CP_MAX_BYTES (64ull << 30)
#define CP_MAX_ENTRIES 1000000u

/* name (as in the tar) -> the relative path to write, in out. 0, or -EPERM
 * (refused, why in err) / -ENAMETOOLONG. */
int cp_entry_name(const char *name, const char *base, const char *newbase, char *out, size_t len,
                  struct bg_error *err);

struct cp_extract_stats {
        uint64_t entries;
        uint64_t bytes; /* file data written */
};

/* Unpacks the tar read from fd into dir (which must exist). Returns 0 or
 * -errno with err naming the entry; on failure what was written stays. At
 * least one entry named base must arrive (-ENOENT otherwise). */
int cp_extract_fd(int fd, const char *dir, const char *base, const char *newbase,
                  uint64_t max_bytes, uint64_t max_entries, struct cp_extract_stats *stats,
                  struct bg_error *err);
