#include "kernel_build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "ext4.h"
#include "initramfs.h"
#include "kernel_store.h"
#include "kernel_util.h"
#include "ops.h"
#include "paths/paths.h"
#include "util/macro.h"
#include "util/timeutil.h"

static void stage(struct ops_ctx *ctx, const char *s)
{
        if (ctx)
                ops_ctx_stage(ctx, s);
}

static int check_cancel(struct ops_ctx *ctx, struct bg_error *err)
{
        if (ctx && ops_ctx_cancelled(ctx))
                return bg_error_set(err, ECANCELED, "cancelled");
        return 0;
}

static char **strv_dup(char **v, size_t n)
{
        if (n == 0)
                return NULL;
        char **o = calloc(n, sizeof(char *));
        for (size_t i = 0; o && i < n; i++)
                if (!(o[i] = strdup(v[i]))) {
                        for (size_t j = 0; j < i; j++)
                                free(o[j]);
                        free(o);
                        return NULL;
                }
        return o;
}

/* The module tree's modules.dep: its own, or one depmod writes under
 * scratch/ when the tree has none (the tree itself is never written to). On
 * success *ret_gen_dir is the directory holding the generated files (NULL when
 * the tree had its own). */
static int ensure_modules_dep(const char *modules_dir, const char *release, const char *scratch,
                              char **ret_gen_dir, struct bg_error *err)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/modules.dep", modules_dir);
        if (access(p, R_OK) == 0) {
                *ret_gen_dir = NULL;
                return 0;
        }
        char base[PATH_MAX], link[PATH_MAX], out[PATH_MAX];
        snprintf(base, sizeof(base), "%s/depmod-base/lib/modules", scratch);
        int r = mkdir_p(base, 0755);
        if (r < 0)
                return bg_error_set(err, -r, "create %s: %s", base, strerror(-r));
        snprintf(link, sizeof(link), "%s/%s", base, release);
        if (symlink(modules_dir, link) < 0)
                return bg_error_set(err, errno, "symlink %s: %s", link, strerror(errno));
        snprintf(base, sizeof(base), "%s/depmod-base", scratch);
        snprintf(out, sizeof(out), "%s/depmod-out", scratch);
        r = kernel_run_depmod(base, out, release, err);
        if (r < 0)
                return r;
        if (asprintf(ret_gen_dir, "%s/lib/modules/%s", out, release) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        return 0;
}

static int build_modules_image(const char *modules_dir, const char *gen_dir, const char *out,
                               struct bg_error *err)
{
        uint64_t bytes = 0, entries = 0, gb = 0, ge = 0;
        int r = kernel_tree_usage(modules_dir, &bytes, &entries, err);
        if (r >= 0 && gen_dir)
                r = kernel_tree_usage(gen_dir, &gb, &ge, err);
        if (r < 0)
                return r;
        uint64_t size = ext4_estimate_size(bytes + gb, entries + ge);
        struct ext4_create_opts o = {.label = "banger-modules"};
        _cleanup_ext4_ struct ext4_fs *fs = NULL;
        r = ext4_create(out, size, &o, &fs, err);
        if (r < 0)
                return r;
        struct ext4_tree_opts t = {.override_owner = true, .uid = 0, .gid = 0};
        r = ext4_add_tree(fs, modules_dir, "/", &t, err);
        if (r >= 0 && gen_dir)
                r = ext4_add_tree(fs, gen_dir, "/", &t, err);
        if (r < 0)
                return r;
        /* Keep "/" read-only friendly: root owned, 0755. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct ext4_meta m = {.mode = S_IFDIR | 0755, .atime = now, .mtime = now, .ctime = now};
        r = ext4_mkdir(fs, "/", &m, err);
        if (r < 0)
                return r;
        return ext4_close(TAKE_PTR(fs), err);
}

static void derive_default(char *s)
{
        for (char *p = s; *p; p++) {
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p + 32);
                else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                           *p == '_' || *p == '-'))
                        *p = '-';
        }
}

int kernel_build(const struct kernel_build_req *req, const char *out_dir, struct ops_ctx *ctx,
                 Banger__V1__Kernel *ret, struct bg_error *err)
{
        char path[PATH_MAX], scratch[PATH_MAX];
        int r;

        stage(ctx, "inspect");
        struct kernel_image_info info;
        r = kernel_image_inspect(req->image, &info, err);
        if (r < 0)
                return r;
        char release[KERNEL_VERSION_MAX];
        snprintf(release, sizeof(release), "%s",
                 info.version[0]     ? info.version
                 : req->release_hint ? req->release_hint
                                     : "");
        if (!release[0] && req->modules_dir) {
                const char *b = strrchr(req->modules_dir, '/');
                snprintf(release, sizeof(release), "%s", b ? b + 1 : req->modules_dir);
        }
        if (release[0] && (strchr(release, '/') || streq(release, ".") || streq(release, "..")))
                return bg_error_set(err, EINVAL, "kernel release '%s' is not usable", release);
        if (req->modules_dir && !release[0])
                return bg_error_set(err, EINVAL,
                                    "%s carries no kernel version, so its modules cannot be "
                                    "placed",
                                    req->image);
        r = check_cancel(ctx, err);
        if (r < 0)
                return r;

        stage(ctx, "vmlinux");
        bool bz = info.format == KERNEL_FORMAT_BZIMAGE;
        char vmlinux[PATH_MAX];
        snprintf(vmlinux, sizeof(vmlinux), "%s/" KERNEL_FILE_VMLINUX, out_dir);
        if (bz) {
                snprintf(path, sizeof(path), "%s/" KERNEL_FILE_BZIMAGE, out_dir);
                r = kernel_copy_file(req->image, path, err);
                if (r >= 0)
                        r = kernel_extract_vmlinux(path, vmlinux, NULL, err);
        } else {
                r = kernel_copy_file(req->image, vmlinux, err);
        }
        if (r < 0)
                return r;
        if (req->initrd) {
                snprintf(path, sizeof(path), "%s/" KERNEL_FILE_INITRD, out_dir);
                r = kernel_copy_file(req->initrd, path, err);
                if (r < 0)
                        return bg_error_prefix(err, "initrd");
        }
        r = check_cancel(ctx, err);
        if (r < 0)
                return r;

        snprintf(scratch, sizeof(scratch), "%s/.scratch", out_dir);
        if (mkdir(scratch, 0700) < 0)
                return bg_error_set(err, errno, "create %s: %s", scratch, strerror(errno));
        _cleanup_free_ char *gen_dir = NULL;
        if (req->modules_dir) {
                r = ensure_modules_dep(req->modules_dir, release, scratch, &gen_dir, err);
                if (r < 0)
                        goto out;
        }

        stage(ctx, "initramfs");
        char dep[PATH_MAX];
        if (gen_dir)
                snprintf(dep, sizeof(dep), "%s/modules.dep", gen_dir);
        struct initramfs_spec spec = {
            .agent_path = req->agent_path,
            .release = release[0] ? release : "unknown",
            .modules_dir = req->modules_dir,
            .dep_path = gen_dir ? dep : NULL,
            .compression = INITRAMFS_GZIP,
        };
        struct initramfs_result ir = {0};
        snprintf(path, sizeof(path), "%s/" KERNEL_FILE_INITRAMFS, out_dir);
        r = initramfs_build(&spec, path, &ir, err);
        if (r < 0)
                goto out;
        r = check_cancel(ctx, err);
        if (r < 0) {
                initramfs_result_done(&ir);
                goto out;
        }

        stage(ctx, "modules");
        if (req->modules_dir) {
                snprintf(path, sizeof(path), "%s/" KERNEL_FILE_MODULES, out_dir);
                r = build_modules_image(req->modules_dir, gen_dir, path, err);
                if (r < 0) {
                        initramfs_result_done(&ir);
                        goto out;
                }
        }

        char name_buf[KERNEL_VERSION_MAX];
        snprintf(name_buf, sizeof(name_buf), "%s", req->name ? req->name : release);
        derive_default(name_buf);
        Banger__V1__Kernel k = BANGER__V1__KERNEL__INIT;
        k.name = strdup(name_buf);
        k.version = strdup(release);
        k.format = strdup(kernel_format_to_string(info.format));
        k.compression = strdup(bz ? kernel_compression_to_string(info.compression) : "");
        k.size = info.size;
        k.sha256 = strdup(info.sha256);
        k.source = strdup(req->source ? req->source : req->image);
        k.banner = strdup(info.banner);
        k.created_unix_ms = (int64_t)now_real_msec();
        k.dir = strdup("");
        k.bzimage_path = strdup(bz ? KERNEL_FILE_BZIMAGE : "");
        k.vmlinux_path = strdup(KERNEL_FILE_VMLINUX);
        k.initramfs_path = strdup(KERNEL_FILE_INITRAMFS);
        k.modules_path = strdup(req->modules_dir ? KERNEL_FILE_MODULES : "");
        k.initrd_path = strdup(req->initrd ? KERNEL_FILE_INITRD : "");
        k.initramfs_modules = strv_dup(ir.modules, ir.n_modules);
        k.n_initramfs_modules = k.initramfs_modules ? ir.n_modules : 0;
        k.missing_modules = strv_dup(ir.missing, ir.n_missing);
        k.n_missing_modules = k.missing_modules ? ir.n_missing : 0;
        bool oom = !k.name || !k.version || !k.format || !k.compression || !k.sha256 || !k.source ||
                   !k.banner || !k.dir || !k.bzimage_path || !k.vmlinux_path || !k.initramfs_path ||
                   !k.modules_path || !k.initrd_path || k.n_initramfs_modules != ir.n_modules ||
                   k.n_missing_modules != ir.n_missing;
        initramfs_result_done(&ir);
        if (oom) {
                kernel_clear(&k);
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        snprintf(path, sizeof(path), "%s/" KERNEL_FILE_METADATA, out_dir);
        r = kernel_write_metadata(&k, path, err);
        if (r < 0) {
                kernel_clear(&k);
                goto out;
        }
        *ret = k;
        r = 0;
out : {
        struct bg_error e2 = {0};
        (void)rm_rf(scratch, &e2);
}
        return r;
}
