/* The file side of `banger system install|uninstall`, under a root directory
 * ("" = the live system, else a staging tree such as a package build root or
 * a test's temp dir). No systemctl here: the CLI drives systemd.
 *
 * install writes, in this order: the binaries (PREFIX/bin/banger and
 * PREFIX/libexec/banger/banger-*), the rendered units
 * (/etc/systemd/system/banger-*.service), /etc/tmpfiles.d/banger.conf, the
 * directories /var/lib/banger (+ logs/), /var/cache/banger, /run/banger and
 * /etc/banger/ssh owned by the owner and /var/lib/banger-netsvc owned by
 * root (made and handed over through descriptors, nothing followed where
 * the owner could have put a symlink), and last /etc/banger/install.toml
 * listing every file it wrote (itself included). Every file is written to a temp name and
 * renamed into place. Re-installing replaces the files and removes those the
 * old install.toml listed that the new one does not.
 *
 * uninstall removes exactly the files install.toml lists, then the empty
 * directories install made for them; data (state, cache, config) stays
 * unless purge. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "util/error.h"

#define SYSINSTALL_N_SERVICES 5

struct sysinstall_opts {
        const char *root;    /* "" or "/" = live */
        const char *prefix;  /* "/usr/local" */
        const char *owner;   /* user name the owner services run as */
        const char *cli_exe; /* the banger binary to copy */
        const char *src_dir; /* where banger-<service> binaries are */
        const char *version, *commit;
        int64_t now_unix;
};

/* Owner name → uid, primary group and its name. Fails when the user does
 * not exist, when a name is unsafe in a unit file, or when the primary group
 * is shared with other users (the shared directories are group-writable so
 * that root netsvc can use them without CAP_DAC_OVERRIDE). */
int sysinstall_lookup_owner(const char *owner, uint32_t *ret_uid, uint32_t *ret_gid,
                            char *ret_group, size_t group_len, struct bg_error *err);

/* Installs; on success *ret holds the manifest written (free with
 * manifest_free). */
int sysinstall_install(const struct sysinstall_opts *o, struct install_manifest *ret,
                       struct bg_error *err);

struct sysinstall_removed {
        size_t n_removed;  /* files removed */
        size_t n_missing;  /* listed but already gone */
        size_t n_dirs;     /* directories removed (purge, or emptied) */
        char kept[8][256]; /* data directories left in place ("" = none) */
};

/* Uninstalls per ROOT/etc/banger/install.toml (-ENOENT when there is
 * none). */
int sysinstall_uninstall(const char *root, bool purge, struct sysinstall_removed *ret,
                         struct bg_error *err);

/* After an upgrade from a version that kept netsvc's files in the owner's
 * directories: once netsvc has moved net.db to /var/lib/banger-netsvc,
 * removes what root left in /var/lib/banger and /run/banger (net.db and
 * its -wal/-shm, netsvc.sock/.pid/.lock), each only when it is a file of
 * root's and by name in its directory's descriptor (never followed).
 * *ret_n (may be NULL): how many files went. */
int sysinstall_remove_legacy(const char *root, size_t *ret_n, struct bg_error *err);

/* Rewrites ROOT/etc/banger/install.toml with version (and no commit) after
 * `banger update` swapped a release's binaries in; the file list stays. By
 * descriptors; refuses an /etc/banger that is not root's alone. */
int sysinstall_set_version(const char *root, const char *version, struct bg_error *err);

/* root + abs into out ("" or "/" root = abs). */
int sysinstall_rooted(const char *root, const char *abs, char *out, size_t len);

/* The data directories of a system install, in creation order. */
extern const char *const sysinstall_data_dirs[];
extern const size_t sysinstall_n_data_dirs;
