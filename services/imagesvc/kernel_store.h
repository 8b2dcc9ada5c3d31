/* The kernels table of images.db (migrations 1 and 2 in imagesvc.c) and the
 * artifact layout under STATE/kernels/<name>/. */
#pragma once

#include <sqlite3.h>

#include "banger/v1/kernel.pb-c.h"
#include "util/error.h"

/* File names inside a kernel's directory. */
#define KERNEL_FILE_BZIMAGE "bzImage"
#define KERNEL_FILE_VMLINUX "vmlinux"
#define KERNEL_FILE_INITRAMFS "initramfs.cpio.gz"
#define KERNEL_FILE_MODULES "modules.ext4"
#define KERNEL_FILE_INITRD "initrd.img"
#define KERNEL_FILE_METADATA "kernel.json"

/* SQL of migration 2 (columns the kernel service records). */
extern const char kernel_store_migration_2[];

/* Insert k, or replace the row of the same name. Only the fields that are not
 * paths are stored; paths are derived from kernels_dir and the name. */
int kernel_store_put(sqlite3 *db, const Banger__V1__Kernel *k, struct bg_error *err);

/* Fill out (initialised) with heap copies for kernel `name`. -ENOENT ("kernel
 * 'x' not found") when absent. */
int kernel_store_get(sqlite3 *db, const char *kernels_dir, const char *name,
                     Banger__V1__Kernel *out, struct bg_error *err);

/* Every kernel, by name. */
int kernel_store_list(sqlite3 *db, const char *kernels_dir, Banger__V1__ListKernelsResponse *out,
                      struct bg_error *err);

/* Whether a row for name exists: 1 yes, 0 no, < 0 error. */
int kernel_store_exists(sqlite3 *db, const char *name, struct bg_error *err);

/* -ENOENT when absent. */
int kernel_store_delete(sqlite3 *db, const char *name, struct bg_error *err);

/* Frees the heap fields kernel_store_get put into k and re-initialises it. */
void kernel_clear(Banger__V1__Kernel *k);

/* Write k as JSON to path (temporary file + rename). */
int kernel_write_metadata(const Banger__V1__Kernel *k, const char *path, struct bg_error *err);
