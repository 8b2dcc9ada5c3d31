/* Filesystem helpers shared by the services. */
#pragma once

#include "util/error.h"

/* Removes path and, when it is a directory, everything under it, without
 * following symlinks (at most 64 levels deep). A path that does not exist
 * is not an error. */
int rm_rf(const char *path, struct bg_error *err);
