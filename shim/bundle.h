/* The part of an OCI bundle's config.json the shim maps onto a banger VM:
 * process.args, process.cwd, process.env, process.terminal and
 * process.user (numeric uid, gid, additionalGids). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define BUNDLE_MAX_CONFIG (1u << 20) /* config.json size cap */
#define BUNDLE_MAX_ARGS 256
#define BUNDLE_MAX_ENV 256
#define BUNDLE_MAX_STR 4096
#define BUNDLE_MAX_GIDS 32 /* process.user.additionalGids */

struct bundle_process {
        char **argv; /* NULL-terminated; owned */
        size_t argc;
        char **env; /* "K=V", NULL-terminated; owned */
        size_t envc;
        char *cwd; /* owned; "" = the VM's default */
        bool terminal;
        /* process.user: uid, gid, additionalGids (absent = 0, 0, none) */
        uint32_t uid, gid;
        uint32_t gids[BUNDLE_MAX_GIDS];
        size_t n_gids;
};

/* Reads dir/config.json (at most BUNDLE_MAX_CONFIG bytes, opened without
 * following a symlink in its last component) into *ret. Errors name the
 * field: -EINVAL "config.json: process.args must be a non-empty array of
 * strings". */
int bundle_load(const char *dir, struct bundle_process *ret, struct bg_error *err);

/* Parses config.json text (len bytes). */
int bundle_parse(const char *text, size_t len, struct bundle_process *ret, struct bg_error *err);

void bundle_process_free(struct bundle_process *p);
