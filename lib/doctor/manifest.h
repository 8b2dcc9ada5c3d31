/* /etc/banger/install.toml: what `banger system install` did, so that
 * `uninstall` removes exactly that, `doctor` can compare against it and every
 * banger process knows it runs in system mode (lib/paths looks for the file).
 *
 *   # Written by `banger system install`. ...
 *   version = "0.1.0"
 *   commit = "0123456789ab"
 *   installed_unix = 1700000000
 *   owner = "alice"
 *   owner_uid = 1000
 *   group = "alice"
 *   owner_gid = 1000
 *   prefix = "/usr/local"
 *   bindir = "/usr/local/bin"
 *   libexecdir = "/usr/local/libexec/banger"
 *   files = ["/usr/local/bin/banger", ...]   # removed by uninstall
 *   dirs = ["/var/lib/banger", ...]          # removed by uninstall --purge
 *
 * Paths are as seen on the live system (without any --root). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define MANIFEST_PATH "etc/banger/install.toml" /* relative to the root */

struct install_manifest {
        char version[64];
        char commit[64];
        int64_t installed_unix;
        char owner[64];
        uint32_t owner_uid;
        char group[64];
        uint32_t owner_gid;
        char prefix[256];
        char bindir[256];
        char libexecdir[256];
        char **files; /* absolute paths */
        size_t n_files;
        char **dirs; /* absolute paths */
        size_t n_dirs;
};

/* Appends a copy of path to files (or dirs). */
int manifest_add_file(struct install_manifest *m, const char *path);
int manifest_add_dir(struct install_manifest *m, const char *path);

/* The TOML text; *ret is malloc'd. */
int manifest_format(const struct install_manifest *m, char **ret, struct bg_error *err);

/* Parses text (name is used in messages). m is written only on success;
 * release it with manifest_free(). Every path must be absolute and free of
 * "." and ".." components. */
int manifest_parse(const char *name, const char *text, size_t len, struct install_manifest *m,
                   struct bg_error *err);

/* Reads and parses ROOT/etc/banger/install.toml (root "" or "/" = the live
 * system). -ENOENT when there is no install. */
int manifest_load(const char *root, struct install_manifest *m, struct bg_error *err);

void manifest_free(struct install_manifest *m);
