/* Arrays that grow as they are filled. */
#pragma once

#include <stddef.h>

/* Makes the array *p (elements of size bytes, *cap of them allocated) hold
 * at least need elements: capacity doubles, starting at 16. 0, or -ENOMEM
 * with *p and *cap untouched. */
int array_reserve(void **p, size_t *cap, size_t need, size_t size);

/* array_reserve for a typed pointer variable p and its size_t cap. */
#define ARRAY_RESERVE(p, cap, need) array_reserve((void **)&(p), &(cap), (need), sizeof(*(p)))
