/* Names users give things. VM names become DNS labels (<name>.vm) and
 * hostnames, so they follow RFC 1123 label rules, lower case only. */
#pragma once

#include <stdbool.h>
#include "util/error.h"

#define BG_NAME_MAX 63

/* 1-63 of [a-z0-9-], not starting or ending with '-'. */
bool bg_name_is_dns_label(const char *s);
/* Same, filling err with what exactly is wrong ("VM name 'X': ..."). what is
 * the noun for messages ("VM name"). */
int bg_name_check_dns_label(const char *what, const char *s, struct bg_error *err);
