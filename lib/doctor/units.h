/* The files a system install renders from the templates in deploy/ (built
 * into the binary): the five systemd units and a tmpfiles.d snippet.
 *
 * Placeholders: @LIBEXECDIR@ (where the service binaries are), @OWNER@ and
 * @GROUP@ (user and group the owner services run as), @OWNER_UID@. Every
 * value is checked before it is written into a unit, so a hostile name cannot
 * add a line or a directive. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct unit_template {
        const char *name; /* "banger-netsvc.service", "banger.tmpfiles" */
        const char *text; /* with @PLACEHOLDERS@ */
};

/* Generated from the deploy/ templates (units_data.c). */
extern const struct unit_template units_embedded[];
extern const size_t units_n_embedded;

struct units_params {
        const char *libexecdir; /* absolute, no whitespace or specials */
        const char *owner;      /* a user name */
        const char *group;      /* a group name */
        uint32_t owner_uid;
};

/* The template named name, or NULL. */
const struct unit_template *units_find(const char *name);

/* True for "banger-*.service" templates (systemd units), false for the
 * tmpfiles.d snippet. */
bool units_is_service(const char *name);

/* Where an installed file goes, relative to the root: "etc/systemd/system/X"
 * for units, "etc/tmpfiles.d/banger.conf" for the tmpfiles snippet. */
int units_install_path(const char *name, char *out, size_t len);

/* A user or group name that is safe in a unit file: [a-z_][a-z0-9_-]{0,31}
 * (with an optional trailing '$'), as useradd accepts by default. */
bool units_name_is_safe(const char *name);

/* An absolute path without whitespace, quotes, '%', '\', '$' or ';'. */
bool units_path_is_safe(const char *path);

/* Replaces every placeholder of tmpl; *ret is malloc'd. -EINVAL (with err)
 * for an unsafe parameter or an unknown @NAME@ in the template. */
int units_render(const char *tmpl, const struct units_params *p, char **ret, struct bg_error *err);
