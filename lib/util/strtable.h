/* Enum <-> string tables: each enum with names has name_to_string and
 * name_from_string over one array of names indexed by the enum. */
#pragma once

#include <stddef.h>

#include "util/macro.h"

/* table[i] when 0 <= i < n, else NULL. */
const char *string_table_to_string(const char *const *table, size_t n, long i);
/* The index of the entry equal to s, or -EINVAL (s NULL or not there). NULL
 * entries (gaps in a designated-initializer table) never match. */
int string_table_from_string(const char *const *table, size_t n, const char *s);

/* Defines `const char *name_to_string(type)` and `int name_from_string(const
 * char *)` over the array table; the module's header declares them. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type, table)                                              \
        const char *name##_to_string(type i)                                                       \
        {                                                                                          \
                return string_table_to_string(table, ELEMENTSOF(table), (long)i);                  \
        }                                                                                          \
        int name##_from_string(const char *s)                                                      \
        {                                                                                          \
                return string_table_from_string(table, ELEMENTSOF(table), s);                      \
        }
