/* Tagged-JSON encoding of a TOML tree, as the toml-test suite expects it:
 * tables become objects, arrays arrays, every other value
 * {"type": "...", "value": "..."} with the value as a string. */
#pragma once

#include <jansson.h>

#include "config/toml.h"

/* A new reference, or NULL when out of memory. */
json_t *toml_to_tagged_json(const struct toml_value *v);
