/* Validation of the interface names netsvc may touch.
 *
 * Tap names are banger's own: ^bg[a-z0-9-]{1,13}$ (at most 15 bytes, the
 * kernel's IFNAMSIZ-1). Bridge and uplink names come from configuration or the
 * kernel; they must be valid Linux names (1..15 bytes, not "." or "..", no '/',
 * ':' or whitespace) and, because they are spliced into nftables rule text,
 * use only [A-Za-z0-9_.-] (no quotes, no '*' wildcard), and must not start
 * with '-' (they become arguments of resolvectl). */
#pragma once

#include <stdbool.h>

#include "util/error.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

bool ifname_is_tap(const char *name);
bool ifname_is_valid(const char *name);

/* EINVAL with a message naming the refused name. what is e.g. "bridge". */
int ifname_validate_tap(const char *name, struct bg_error *err);
int ifname_validate(const char *name, const char *what, struct bg_error *err);
