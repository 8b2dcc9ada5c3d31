/* Unpack the parts of a linux-image .deb that a kernel import needs.
 *
 * A .deb is an ar archive: debian-binary ("2.0"), control.tar.*, data.tar.*
 * (xz, zstd, gzip, bzip2 or none). data.tar is read as a stream straight out
 * of the ar member; only ./boot/vmlinuz-* and ./lib/modules/<release>/...
 * (also ./usr/lib/modules/..., written under lib/modules/) are written.
 * Every entry name is checked first: an absolute name or a ".." component
 * anywhere in the archive fails the whole extraction, as does a symlink whose
 * target is absolute or climbs out of the target directory. Files are created
 * without following symlinks, without set-id bits. */
#pragma once

#include "util/error.h"

/* Refuse archives that would unpack to more than this. */
#define DEB_EXTRACT_MAX_BYTES (4ull * 1024 * 1024 * 1024)

struct deb_kernel_files {
        char *vmlinuz;     /* <out_dir>/boot/vmlinuz-<release> */
        char *modules_dir; /* <out_dir>/lib/modules/<release>, NULL if the package has none */
        char *version;     /* the kernel release, from the vmlinuz name */
};
void deb_kernel_files_done(struct deb_kernel_files *f);

/* Extract from deb_path into out_dir (created if missing; existing files of
 * the same names are replaced). The package must contain exactly one
 * boot/vmlinuz-*; a modules tree, when present, must be for the same
 * release. */
int deb_extract_kernel(const char *deb_path, const char *out_dir, struct deb_kernel_files *ret,
                       struct bg_error *err);
