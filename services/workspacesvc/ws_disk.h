/* What workspacesvc writes onto a VM's work disk (mounted at /root in the
 * guest) before the VM boots, through lib/ext4: [[file_sync]] entries, the
 * owner's git identity in /root/.gitconfig and, for a VM being created, its
 * workspace (no network copy). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>

#include "config/config.h"
#include "ws_repo.h"

struct ws_warnings {
        char **items;
        size_t n;
};
void ws_warnings_free(struct ws_warnings *w);

struct ws_disk_job {
        const char *work_disk;                 /* image file, not in use by a VMM */
        const struct bg_file_sync_list *sync;  /* may be NULL */
        const char *home;                      /* the owner's home, for "~/" host paths */
        const char *git_home;                  /* HOME for reading the git identity; NULL = home */
        const struct ws_repo *repo;            /* workspace to write, or NULL */
        const char *guest_path;                /* where it goes ("/root/repo") */
        const atomic_bool *cancel;
};

/* Writes the job onto the work disk. A file_sync entry that cannot be used
 * (missing host path, nested symlink, unreadable file) is skipped with a
 * warning; the workspace and the disk itself are errors. */
int ws_write_work_disk(const struct ws_disk_job *job, struct ws_warnings *warn,
                       struct ws_walk_stats *ws_stats, struct bg_error *err);
