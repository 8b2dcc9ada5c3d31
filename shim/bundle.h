/* The part of an OCI bundle's config.json the shim maps onto a banger VM:
 * process.args, process.cwd, process.env, process.terminal,
 * process.user (numeric uid, gid, additionalGids), root.path and the CRI
 * annotations that group containers into a pod sandbox. */
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
        bool no_new_privs; /* process.noNewPrivileges (applied in a pod's tree) */
        /* process.user: uid, gid, additionalGids (absent = 0, 0, none) */
        uint32_t uid, gid;
        uint32_t gids[BUNDLE_MAX_GIDS];
        size_t n_gids;
        char *root_path; /* owned; root.path made absolute (relative to the bundle) */
        /* annotations io.kubernetes.cri.container-type ("sandbox",
         * "container" or "") and io.kubernetes.cri.sandbox-id ("" = none);
         * owned */
        char *container_type;
        char *sandbox_id;
};

/* Reads dir/config.json (at most BUNDLE_MAX_CONFIG bytes, opened without
 * following a symlink in its last component) into *ret. Errors name the
 * field: -EINVAL "config.json: process.args must be a non-empty array of
 * strings". */
int bundle_load(const char *dir, struct bundle_process *ret, struct bg_error *err);

/* Parses config.json text (len bytes); a relative root.path is taken
 * relative to dir (NULL = kept as is). */
int bundle_parse_in(const char *dir, const char *text, size_t len, struct bundle_process *ret,
                    struct bg_error *err);
/* bundle_parse_in(NULL, ...). */
int bundle_parse(const char *text, size_t len, struct bundle_process *ret, struct bg_error *err);

void bundle_process_free(struct bundle_process *p);
