/* `banger-agent init`: apply the banger.* kernel parameters to a booting
 * guest (hostname, /etc/hosts, interface address and default route,
 * resolv.conf, the modules and work disks, the pinned sshd host key). Every
 * step that cannot be done is logged and skipped; boot goes on. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "agent_cmdline.h"
#include "util/fileio.h"

/* Where the sshd host key lives on the work disk (mounted at /root) and the
 * drop-in that points sshd at it. */
#define AGENT_SSH_HOST_KEY "/root/.banger/ssh_host_ed25519_key"
#define AGENT_SSHD_HOSTKEY_DROPIN "/etc/ssh/sshd_config.d/banger-hostkey.conf"

/* The file writers, relative to `root` ("/" in the guest, a temp dir in
 * tests). Files are written to a temp file and renamed into place; a symlink
 * in the way (e.g. resolv.conf -> systemd-resolved) is replaced. flags:
 * WRITE_FILE_NOSYNC (util/fileio.h) skips the fsyncs (Reidentify, where the
 * guest is waited for and nothing is lost if it crashes). Each returns 0, or
 * -errno. */
int agent_write_file_atomic(const char *root, const char *rel, const char *content, mode_t mode,
                            unsigned flags);
int agent_write_hostname(const char *root, const struct agent_config *cfg, unsigned flags);
int agent_write_hosts(const char *root, const struct agent_config *cfg, unsigned flags);
int agent_write_resolv_conf(const char *root, const struct agent_config *cfg, unsigned flags);
/* Writes the HostKey drop-in when the key exists under root (and makes the
 * key 0600), removes a stale drop-in when it does not. Returns 1 if the
 * drop-in was written, 0 if not, -errno. */
int agent_write_sshd_hostkey(const char *root, unsigned flags);

/* Mounts the work disk dev at /root (owner root, mode from the disk minus
 * group/other write, .hushlogin). 0 or -errno (logged). */
int agent_work_mount(const char *dev);
/* True when something other than the root disk is mounted at /root. */
bool agent_work_mounted(void);
/* Syncs and unmounts /root, so the host may change the work disk while the
 * guest keeps running (a template about to be saved: each clone gets its own
 * copy, with its own files, mounted again by Reidentify). 0 when nothing is
 * mounted there; -EBUSY with the processes that hold it in why. */
int agent_work_unmount(char *why, size_t len);

/* Everything, on the running system. Returns the number of steps that failed
 * (logged), never a reason to stop the boot. */
int agent_setup_run(const char *cmdline);
