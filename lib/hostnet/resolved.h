/* Routing the `.vm` domain to banger's DNS server through systemd-resolved.
 *
 * When systemd-resolved runs, `resolvectl dns <bridge> <ip>:<port>` and
 * `resolvectl domain <bridge> ~vm` make the host resolve `*.vm` through
 * banger's server; `resolvectl revert <bridge>` undoes both. resolvectl is
 * spawned by absolute path with a fixed environment (no shell). Otherwise
 * resolved_status_text() tells the user what to configure instead. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define RESOLVED_RESOLVECTL "/usr/bin/resolvectl"
#define RESOLVED_RUN_DIR "/run/systemd/resolve"
#define RESOLVED_TIMEOUT_MS 10000

/* Where to find things; tests point these at fakes. NULL/0 = defaults above. */
struct resolved_env {
        const char *resolvectl; /* absolute path */
        const char *run_dir;
        unsigned timeout_ms; /* per resolvectl run; the child is killed after it */
};

/* True when systemd-resolved looks alive (its varlink socket or stub
 * resolv.conf in run_dir) and resolvectl is executable. env may be NULL. */
bool resolved_running(const struct resolved_env *env);

/* Routes ~vm on `bridge` to dns:port. 1 when done, 0 when resolved is not
 * running (nothing changed), < 0 when resolvectl failed (its output in err). */
int resolved_route(const struct resolved_env *env, const char *bridge, struct in_addr dns,
                   uint16_t port, struct bg_error *err);

/* Reverts the per-link settings of `bridge`. 1 done, 0 resolved not running. */
int resolved_revert(const struct resolved_env *env, const char *bridge, struct bg_error *err);

/* One paragraph for `banger net status`: how `.vm` names reach the server on
 * this host, or what to add when systemd-resolved is not running. */
void resolved_status_text(const struct resolved_env *env, const char *bridge, struct in_addr dns,
                          uint16_t port, char *buf, size_t len);
