/* File helpers of the kernel service: recursive removal, copies, tree sizes,
 * depmod, and where the guest agent binary is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/fs.h" /* rm_rf */

/* Copy the regular file src to dst (0644, replacing it atomically). */
int kernel_copy_file(const char *src, const char *dst, struct bg_error *err);

/* Bytes of file data (rounded up to 4 KiB per file) and number of entries
 * below dir (dir itself included), not following symlinks. */
int kernel_tree_usage(const char *dir, uint64_t *ret_bytes, uint64_t *ret_entries,
                      struct bg_error *err);

/* Run `depmod -b basedir [-o outdir] release` (the tree is
 * basedir/lib/modules/<release>). The first line depmod prints on failure is
 * part of the message. */
int kernel_run_depmod(const char *basedir, const char *outdir, const char *release,
                      struct bg_error *err);

/* The static banger-agent binary that becomes the initramfs's /init:
 * $BANGER_AGENT_BINARY, else banger-agent next to this program, else the
 * build tree's guest/agent/banger-agent (this program in BUILD/bin). -ENOENT
 * with a message listing where it looked. */
int kernel_agent_path(char *buf, size_t len, struct bg_error *err);

/* A kernel, catalog or operation name: 1..64 of [a-z0-9._-], starting with a
 * letter or digit. */
bool kernel_name_valid(const char *name);
int kernel_check_name(const char *what, const char *name, struct bg_error *err);
