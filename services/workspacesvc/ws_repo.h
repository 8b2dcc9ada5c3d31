/* The host side of a workspace: a git work tree, what of it goes into a VM,
 * and a walk over those entries that both copiers (tar over SSH, and lib/ext4
 * onto a new VM's work disk) share. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/error.h"

struct ws_repo {
        char top[4096];  /* the work tree's top directory */
        char head[64];   /* commit id, "" in a repository without commits */
        char branch[256]; /* current branch, "" when detached */
        bool dirty;      /* uncommitted changes or untracked files */
        char *list;      /* NUL-separated relative paths: tracked + untracked, not ignored */
        size_t list_len;
        char pack_dir[64]; /* ws_repo_pack_loose's temp dir, or "" */
        char pack_name[64]; /* "pack-<hash>" in pack_dir */
};

/* Inspects the work tree that contains path (git must be installed). Errors
 * name the path: not a git work tree, a linked worktree or submodule checkout
 * (its .git is a file), git missing. */
int ws_repo_open(const char *path, struct ws_repo *r, struct bg_error *err);
void ws_repo_free(struct ws_repo *r);

/* When the repository has many loose objects (at least min), packs them into
 * one pack in a temp dir (the repository is not touched); the walk then
 * passes that pack and its index in place of .git/objects/XX/ files, so a
 * copy creates two files instead of thousands. 1 when packed, 0 when not
 * worth it. ws_repo_free removes the temp dir. */
int ws_repo_pack_loose(struct ws_repo *r, unsigned min, struct bg_error *err);

/* Resolves a commit-ish in the repository to a full commit id. */
int ws_repo_resolve(const struct ws_repo *r, const char *rev, char out[64], struct bg_error *err);

/* One entry to copy: rel is relative to the work tree ("src/a.c",
 * ".git/HEAD"); st is its lstat; link its target for a symlink. */
struct ws_entry {
        const char *rel;
        const char *abs;
        const struct stat *st;
        const char *link;
};
typedef int (*ws_entry_fn)(void *ud, const struct ws_entry *e, struct bg_error *err);

/* Totals of a walk. */
struct ws_walk_stats {
        uint64_t files; /* entries passed to fn */
        uint64_t bytes; /* regular-file bytes */
        uint64_t skipped; /* listed but gone, or of a type that is not copied */
        uint64_t ms;      /* how long the copy took (set by the copier) */
};

/* Calls fn for every directory, regular file and symlink of the work tree
 * list and of .git, parents before children (a directory of the work tree is
 * passed once, before its first entry). Files listed by git that no longer
 * exist are skipped. Stops with -ECANCELED when *cancel turns true. */
int ws_repo_walk(const struct ws_repo *r, ws_entry_fn fn, void *ud, const atomic_bool *cancel,
                 struct ws_walk_stats *stats, struct bg_error *err);

/* "/root/x/y" or "~/x/y" or "x/y" → "x/y" relative to the guest's /root (the
 * work disk's root); refuses "..", "~user", paths outside /root and "/root"
 * itself. */
int ws_guest_rel(const char *guest_path, char *out, size_t len, struct bg_error *err);
