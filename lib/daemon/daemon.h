/* What every banger service process shares: command line, paths, logging,
 * its database, its RPC server with Health, its pidfile, and a clean exit on
 * SIGTERM/SIGINT. A service's main.c is: daemon_init → open its db → register
 * its services → daemon_run → daemon_done. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "banger/v1/common.pb-c.h"
#include "config/config.h"
#include "paths/paths.h"
#include "rpc/rpc.h"
#include "store/store.h"
#include "util/error.h"

struct daemon {
        const char *name;   /* "vmsvc" */
        const char *binary; /* "banger-vmsvc" */
        struct bg_paths paths;
        struct bg_config cfg; /* config.toml, validated; defaults when absent */
        bool cfg_loaded;
        uint32_t owner_uid; /* who may call besides root */
        uint64_t started_mono_ms;
        char socket_url[160];
        char pidfile[256];
        int lock_fd; /* flock on NAME.lock beside the pidfile: one instance per service */
        sqlite3 *db;
        struct rpc_server *srv;
};

struct daemon_desc {
        const char *name;    /* "vmsvc" */
        const char *binary;  /* "banger-vmsvc" */
        const char *summary; /* one line for --help */
        bool root_service;   /* netsvc: its files in the net dirs (see paths.h), its
                                socket for the owner (system mode: the owner's group,
                                mode 0660; user mode: chown'ed to the owner uid) */
        bool public_socket;  /* the gateway: callers are end users, not services */
};

/* Parses argv (--help, --version, --owner-uid N, --log-level L, --system,
 * --user), sets up logging and paths, loads and validates config.toml (a bad
 * config refuses to start, naming file, line and key), creates the service's directories and
 * the RPC server (not yet listening). Returns 1 when the process should exit
 * 0 at once (--help/--version printed), 0 to continue, < 0 on error. */
int daemon_init(struct daemon *d, const struct daemon_desc *desc, int argc, char **argv,
                struct bg_error *err);

/* Opens state/NAME.db with the service's migrations into d->db. */
int daemon_open_db(struct daemon *d, const char *db_name, const struct store_migration *m, size_t n,
                   struct bg_error *err);

/* Fills a HealthResponse for this process (strings are heap copies). */
int daemon_fill_health(const struct daemon *d, Banger__V1__HealthResponse *out);

/* Binds the socket, writes the pidfile, serves until SIGTERM/SIGINT, then
 * shuts the server down gracefully and removes the pidfile. */
int daemon_run(struct daemon *d, struct bg_error *err);

void daemon_done(struct daemon *d);

/* Standard main() tail: logs err and maps to an exit code. */
int daemon_exit_code(const struct daemon *d, int r, const struct bg_error *err);

/* The Health method every service exposes; svc is the struct daemon. */
int daemon_health(struct daemon *d, const Banger__V1__HealthRequest *in,
                  Banger__V1__HealthResponse *out, const struct rpc_call *call,
                  struct bg_error *err);
