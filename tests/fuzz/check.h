/* CHECK(cond): a harness's own invariant; a failure aborts, so libFuzzer and
 * the replay driver report it like a crash. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", #cond,         \
                                __FILE__, __LINE__);                                       \
                        abort();                                                           \
                }                                                                          \
        } while (0)
