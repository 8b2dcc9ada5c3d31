/* Shared between the files of lib/ext4; not part of the public API. */
#pragma once

#include <stdint.h>

#include "ext4.h"

/* Make image `path` another name of inode ino (a non-directory already in
 * the image), replacing whatever `path` is. */
int ext4_link_inode(struct ext4_fs *fs, const char *path, uint32_t ino, struct bg_error *err);
