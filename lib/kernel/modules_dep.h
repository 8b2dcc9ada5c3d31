/* Kernel module dependencies from depmod's modules.dep, for building an
 * initramfs that loads a handful of modules (virtio, vsock) in order.
 *
 * modules.dep lines look like
 *   kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
 * (paths relative to /lib/modules/<release>; files may end .ko, .ko.xz,
 * .ko.zst or .ko.gz). A module's name is its file name without those
 * suffixes, with '-' and '_' treated as the same character. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "decompress.h"
#include "util/error.h"

struct modules_dep;

/* Parse dep_path (modules.dep) and, when builtin_path is not NULL,
 * modules.builtin (one path per line; a missing file is allowed). Caller
 * owns *ret and frees it with modules_dep_free. */
int modules_dep_load(const char *dep_path, const char *builtin_path, struct modules_dep **ret,
                     struct bg_error *err);
/* The same from memory (builtin may be NULL). */
int modules_dep_parse(const char *dep, size_t dep_len, const char *builtin, size_t builtin_len,
                      struct modules_dep **ret, struct bg_error *err);
struct modules_dep *modules_dep_free(struct modules_dep *d);

/* Canonical module name of a path or name ("kernel/a/virtio-blk.ko.xz" ->
 * "virtio_blk") into buf. Returns -ENAMETOOLONG or -EINVAL (empty). */
int modules_name_normalize(const char *path_or_name, char *buf, size_t size);

/* What resolving a list of wanted modules gives. All arrays and strings are
 * owned by the struct; free them with modules_resolution_done. */
struct modules_resolution {
        char **files; /* paths as written in modules.dep, dependencies first */
        size_t n_files;
        char **builtin; /* wanted names (normalised) that are built into the kernel */
        size_t n_builtin;
        char **missing; /* wanted names that are neither modules nor built in */
        size_t n_missing;
};

/* Resolve wanted[0..n) into the closure of module files in load order: every
 * dependency before the modules that need it, each file once, the order
 * depending only on the inputs. Missing and built-in wanted modules are
 * reported in *ret, not as errors. Errors: -ELOOP for a dependency cycle,
 * -EINVAL for an empty name, -ENOMEM. */
int modules_dep_resolve(const struct modules_dep *d, const char *const *wanted, size_t n,
                        struct modules_resolution *ret, struct bg_error *err);
void modules_resolution_done(struct modules_resolution *r);

/* Largest module accepted when decompressing (the biggest real ones are a few
 * MiB). */
#define MODULE_FILE_MAX (256ull * 1024 * 1024)

/* Read a module file (.ko as is; .ko.xz/.ko.zst/.ko.gz decompressed, the
 * format told by its magic) into memory. Caller frees *ret_buf. The result
 * must be an ELF file. */
int module_file_read(const char *path, uint8_t **ret_buf, size_t *ret_len, struct bg_error *err);

/* Decompress (or copy) a module file to out_path (temporary file + rename,
 * mode 0644). */
int module_file_decompress(const char *path, const char *out_path, struct bg_error *err);
