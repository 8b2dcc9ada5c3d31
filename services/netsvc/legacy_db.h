/* Moving net.db out of the owner's state directory.
 *
 * Before banger kept netsvc's files apart, net.db (and its -wal) lived in
 * STATE/, a directory the owner can write. A system install upgraded from
 * then starts netsvc with its database in NET_STATE/ (see paths.h); without
 * the old leases and tap rows it would hand out addresses running VMs hold
 * and delete their taps as orphans. So on the first start without
 * NET_STATE/net.db, the old files are copied in, read through descriptors
 * and only when each is still what netsvc itself made: a regular file of
 * root's with one link, opened without following a symlink. Anything else
 * is left alone and netsvc starts with an empty database (the owner could
 * have put it there). The old files stay where they are (netsvc cannot
 * write STATE/); `banger system install` removes them. */
#pragma once

#include "paths/paths.h"
#include "util/error.h"

/* 1 when net.db (with its -wal when there was one) was copied, 0 when there
 * was nothing to do (not system mode, the new database exists, no old one,
 * or the old one is not root's), < 0 on an error writing the copy. *why
 * (may be NULL) says why an old database was skipped ("" otherwise). */
int netsvc_legacy_db_import(const struct bg_paths *p, char *why, size_t why_len,
                            struct bg_error *err);
