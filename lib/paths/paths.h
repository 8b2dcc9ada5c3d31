/* Where banger keeps things. One module computes both layouts:
 *
 *   system mode: /etc/banger, /var/lib/banger, /var/cache/banger, /run/banger
 *   user mode:   $XDG_CONFIG_HOME/banger, $XDG_DATA_HOME/banger,
 *                $XDG_CACHE_HOME/banger, $XDG_RUNTIME_DIR/banger
 *                (falling back to ~/.config, ~/.local/share, ~/.cache and
 *                /tmp/banger-$UID when XDG_RUNTIME_DIR is unset)
 *
 * banger-netsvc, the one root process, keeps its own files apart, where only
 * root can create entries:
 *   system mode: /run/banger-netsvc (socket, pidfile, lock) and
 *                /var/lib/banger-netsvc (net.db, the jailer's chroot base),
 *                made by systemd for its unit (RuntimeDirectory=,
 *                StateDirectory=)
 *   user mode:   the runtime and state dirs (one user runs everything)
 *
 * Overrides (tests, unusual setups), strongest first:
 *   BANGER_CONFIG_DIR, BANGER_STATE_DIR, BANGER_CACHE_DIR, BANGER_RUNTIME_DIR,
 *   BANGER_NET_STATE_DIR, BANGER_NET_RUNTIME_DIR (netsvc's two; by default
 *   they follow the state and runtime dirs in user mode)
 *   BANGER_HOME=DIR   -> DIR/config, DIR/state, DIR/cache, DIR/run (user mode)
 *   BANGER_MODE=system|user
 * Without BANGER_MODE/BANGER_HOME the mode is "system" when
 * /etc/banger/install.toml exists (written by `banger system install`),
 * otherwise "user". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "util/error.h"
#include "util/fs.h" /* mkdir_p: callers making these paths use it */

enum bg_paths_mode {
        BG_PATHS_AUTO,
        BG_PATHS_USER,
        BG_PATHS_SYSTEM,
};

struct bg_paths {
        bool system;
        char config_dir[256];
        char state_dir[256];
        char cache_dir[256];
        char runtime_dir[256];
        char net_state_dir[256];   /* netsvc's database and jail base */
        char net_runtime_dir[256]; /* netsvc's socket, pidfile and lock */
};

/* The root service and its database: their socket, pidfile, lock and
 * database paths are in net_runtime_dir / net_state_dir. */
#define BG_PATHS_ROOT_SERVICE "netsvc"
#define BG_PATHS_ROOT_DB "net"

/* Fills p from the environment. Never creates directories. */
int bg_paths_init(struct bg_paths *p, enum bg_paths_mode mode, struct bg_error *err);

/* Creates config/state/cache/runtime dirs (mode 0700, parents 0755) if missing. */
int bg_paths_ensure(const struct bg_paths *p, struct bg_error *err);

/* netsvc's directories: creates them when missing (0755, as systemd does for
 * its unit) and, when this process runs as root, refuses (EPERM, naming the
 * directory) unless each, and every directory above it, belongs to root and
 * is writable by nobody else (a sticky directory above them, like /tmp, is
 * accepted). A root process never keeps a file where someone else can swap
 * the name for a symlink. */
int bg_paths_ensure_net(const struct bg_paths *p, struct bg_error *err);

/* Every directory from dir up to "/" belongs to root and only root can
 * create or rename entries in it (above dir itself, a sticky directory such
 * as /tmp is accepted). EPERM with a message naming the first that is not. */
int bg_paths_check_root_only(const char *dir, struct bg_error *err);

/* Joins into out (size outlen); -ENAMETOOLONG if it does not fit.
 * ipc socket paths must stay below 108 bytes (sun_path): bg_paths_socket
 * checks that too. */
int bg_paths_socket(const struct bg_paths *p, const char *name, char *out, size_t outlen);
int bg_paths_socket_url(const struct bg_paths *p, const char *name, char *out,
                        size_t outlen); /* "ipc://…" */
int bg_paths_pidfile(const struct bg_paths *p, const char *name, char *out, size_t outlen);
int bg_paths_lock(const struct bg_paths *p, const char *name, char *out,
                  size_t outlen); /* runtime/NAME.lock */
int bg_paths_db(const struct bg_paths *p, const char *name, char *out,
                size_t outlen); /* state/NAME.db */
int bg_paths_log(const struct bg_paths *p, const char *name, char *out,
                 size_t outlen); /* state/logs/NAME.log */
int bg_paths_config_file(const struct bg_paths *p, char *out,
                         size_t outlen); /* config/config.toml */

/* What banger ships beside its binaries, looked up from bin_dir (the
 * directory of the running binary), first existing candidate wins:
 *   BG_ASSET_GUEST_FILES  BIN/../share/banger/guest-files   build tree; CLI in PREFIX/bin
 *                         BIN/../../share/banger/guest-files a service in PREFIX/libexec/banger
 *   BG_ASSET_AGENT        BIN/banger-agent                   installed beside the services
 *                         BIN/../guest/agent/banger-agent    build tree
 * Returns 0 with the path in out, -ENOENT when no candidate exists (out
 * then holds the first candidate, for messages). */
enum bg_asset {
        BG_ASSET_GUEST_FILES,
        BG_ASSET_AGENT,
};
int bg_paths_asset(enum bg_asset which, const char *bin_dir, char *out, size_t outlen);

/* The directory of the running binary (/proc/self/exe). */
int bg_paths_self_dir(char *out, size_t outlen);
