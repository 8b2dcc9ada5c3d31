/* Shared between the files of the image store (image_service.c: store,
 * publish, show, list, delete; image_build.c: golden build and guest files;
 * image_pull.c: registry pull and cache). */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "banger/v1/image.pb-c.h"
#include "daemon/daemon.h"
#include "ext4.h"
#include "ops/ops.h"
#include "util/error.h"

#define IMAGE_NAME_MAX 64
#define IMAGE_WORK_SEED "work-seed.ext4"

struct imagestore {
        struct daemon *d;
        struct ops_registry *ops;
        pthread_mutex_t mu;       /* publish, delete and cache prune, one at a time */
        char dir[PATH_MAX];       /* STATE/images */
        char cache_dir[PATH_MAX]; /* CACHE/oci: blobs/sha256/<hex> */
        unsigned pulls;           /* pulls started and not yet finished (under mu) */
        struct image_transfers *xfer; /* uploads and spooled exports (image_transfer.c) */
};

struct image_row {
        char name[IMAGE_NAME_MAX + 1];
        char ref[256];
        char digest[80];
        uint64_t size;
        bool has_init, has_sshd;
        int64_t created;
        char kernel[IMAGE_NAME_MAX + 1]; /* "" = none */
};

/* What image_publish records. */
struct image_record {
        const char *name;
        const char *ref;
        const char *digest; /* "" for built images */
        uint64_t size;
        bool has_init, has_sshd;
        const char *kernel; /* NULL or "" = none */
};

bool image_name_valid(const char *n);
int image_check_name(const char *n, struct bg_error *err);
/* -ENOENT with a hint when there is no such image. */
int image_row_get(struct imagestore *s, const char *name, struct image_row *r,
                  struct bg_error *err);
int image_fill(struct imagestore *s, const struct image_row *r, Banger__V1__Image *out);
/* Installs banger's agent, its units and the sshd drop-in into a root file
 * system and removes the image's ssh host keys. */
int image_install_guest_files(struct ext4_fs *fs, struct bg_error *err);
/* Copies the image's /root (a real directory) into tmp_dir/work-seed.ext4,
 * which vmsvc copies onto every new work disk (mounted over /root in the
 * guest, so the image's dotfiles would otherwise be hidden). *ret_made false
 * when there is no /root or it is too big to seed (logged). */
int image_make_work_seed(struct ext4_fs *fs, const char *tmp_dir, bool *ret_made,
                         struct bg_error *err);
/* Atomically turns tmp_dir (holding rootfs.ext4) into STATE/images/NAME and
 * records it: -EEXIST when the name was taken meanwhile. On failure tmp_dir
 * is left for the caller to remove. */
int image_publish(struct imagestore *s, const char *tmp_dir, const struct image_record *rec,
                  struct bg_error *err);
/* Checks, prepares and publishes tmp_dir/rootfs.ext4 (a hostile ext4 that
 * is already imagesvc's own file): at most image.max_unpacked_size, opened
 * with lib/ext4, guest files installed, work seed made, then published as
 * rec (has_init/has_sshd/size filled here) and set as ctx's result. Stages
 * "guest", "publish". Removes tmp_dir on failure. */
int image_adopt_rootfs(struct imagestore *s, struct ops_ctx *ctx, const char *tmp_dir,
                       struct image_record *rec, struct bg_error *err);
/* 32 random hex digits and a NUL (a job's or a scratch file's name). */
int image_random_id(char id[33], struct bg_error *err);
/* Sets the operation's result to the stored image `name`. */
int image_set_result(struct imagestore *s, struct ops_ctx *ctx, const char *name,
                     struct bg_error *err);
/* Removes partial blobs a killed pull left in the cache. */
void image_cache_recover(struct imagestore *s);
