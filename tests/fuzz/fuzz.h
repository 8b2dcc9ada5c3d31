/* What a fuzz harness defines (tests/fuzz/CMakeLists.txt). The same harness
 * is linked with libFuzzer in a fuzz build and with replay_main.c in every
 * other build.
 *
 * LLVMFuzzerTestOneInput gets size bytes at data (owned by the caller, valid
 * for the call only, not NUL-terminated) and returns 0. It must not leak,
 * keep state between calls that changes what a later input does, write
 * outside a temp dir it made, or exit. LLVMFuzzerInitialize is optional. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
