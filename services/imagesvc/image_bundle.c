/* Whole images in and out: Promote (a stopped VM's root disk), Register (an
 * uploaded ext4), Import (an uploaded bundle), Export (a bundle spooled for
 * Download) and Pull from the catalog (read by image_catalog.c). Every way
 * in ends in image_adopt_rootfs: the file is imagesvc's own by then (copied, uploaded
 * or downloaded into STATE/images/.tmp-…), checked with lib/ext4, given the
 * guest files and published; any failure or cancel removes the .tmp-
 * directory, so no file and no row is left. */
#include "image_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banger/v1/vm.pb-c.h"
#include "bundle.h"
#include "disk/disk.h"
#include "ext4.h"
#include "image_internal.h"
#include "kernel_fetch.h"
#include "log/log.h"
#include "oci_rootfs.h"
#include "paths/paths.h"
#include "sha256.h"
#include "util/fileio.h"
#include "util/fs.h"
#include "util/macro.h"

#define VMSVC_DEADLINE_MS 5000


int image_random_id(char id[33], struct bg_error *err)
{
        uint8_t b[16];
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return bg_error_set(err, EIO, "no randomness");
        for (int i = 0; i < 16; i++)
                snprintf(id + 2 * i, 3, "%02x", b[i]);
        return 0;
}

/* -EEXIST when an image of that name is here. */
static int check_free_name(struct imagestore *s, const char *name, struct bg_error *err)
{
        struct image_row row;
        struct bg_error e = {0};
        if (image_row_get(s, name, &row, &e) == 0)
                return bg_error_set(err, EEXIST,
                                    "image %s already exists; delete it first or choose another "
                                    "name",
                                    name);
        return 0;
}

static int check_kernel_here(struct imagestore *s, const char *kernel, struct bg_error *err)
{
        if (!image_name_valid(kernel))
                return bg_error_set(err, EINVAL, "kernel name '%.80s' is not valid", kernel);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->d->db, "SELECT 1 FROM kernels WHERE name = ?", -1, &st, NULL) !=
            SQLITE_OK)
                return bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
        sqlite3_bind_text(st, 1, kernel, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW)
                return 0;
        return bg_error_set(err, ENOENT,
                            "no kernel named '%s' (banger kernel list shows what there is)",
                            kernel);
}

int image_adopt_rootfs(struct imagestore *s, struct ops_ctx *ctx, const char *tmp_dir,
                       struct image_record *rec, struct bg_error *err)
{
        char rootfs[PATH_MAX + 32];
        snprintf(rootfs, sizeof(rootfs), "%s/" BUNDLE_ROOTFS, tmp_dir);
        uint64_t max = s->d->cfg.image.max_unpacked_size;
        struct stat st;
        struct oci_rootfs_info info = {0};
        struct ext4_fs *fs = NULL;
        int r = 0;
        ops_ctx_stage(ctx, "guest");
        if (lstat(rootfs, &st) < 0)
                r = bg_error_errno(err, -errno, "stat %s", rootfs);
        else if (!S_ISREG(st.st_mode))
                r = bg_error_set(err, EINVAL, "the root file system is not a regular file");
        else if ((uint64_t)st.st_size > max)
                r = bg_error_set(err, EFBIG,
                                 "the root file system is %llu bytes, more than "
                                 "image.max_unpacked_size (%llu)",
                                 (unsigned long long)st.st_size, (unsigned long long)max);
        else if (st.st_size < (1 << 20))
                r = bg_error_set(err, EINVAL,
                                 "not an ext4 file system (%llu bytes; one is at least 1 MiB)",
                                 (unsigned long long)st.st_size);
        if (r >= 0 && (r = ext4_open(rootfs, &fs, err)) < 0)
                bg_error_prefix(err, "not a usable ext4 file system");
        if (r >= 0 && ops_ctx_cancelled(ctx))
                r = bg_error_set(err, ECANCELED, "cancelled");
        if (r >= 0)
                r = image_install_guest_files(fs, err);
        bool seeded = false;
        if (r >= 0)
                r = image_make_work_seed(fs, tmp_dir, &seeded, err);
        if (r >= 0)
                r = oci_rootfs_inspect(fs, &info, err);
        if (r >= 0)
                r = ext4_close(TAKE_PTR(fs), err);
        if (fs)
                ext4_free(fs);
        if (r >= 0 && ops_ctx_cancelled(ctx))
                r = bg_error_set(err, ECANCELED, "cancelled");
        if (r >= 0) {
                ops_ctx_stage(ctx, "publish");
                rec->size = (uint64_t)st.st_size;
                rec->has_init = info.has_init;
                rec->has_sshd = info.has_sshd;
                r = image_publish(s, tmp_dir, rec, err);
        }
        if (r < 0) {
                struct bg_error e = {0};
                rm_rf(tmp_dir, &e);
                return r;
        }
        log_info("image %s published from %s (init: %s, sshd: %s)", rec->name, rec->ref,
                 info.has_init ? info.init_path : "none", info.has_sshd ? info.sshd_path : "none");
        return image_set_result(s, ctx, rec->name, err);
}

/* ---- jobs ---- */

enum job_kind { JOB_PROMOTE, JOB_REGISTER, JOB_IMPORT, JOB_EXPORT, JOB_CATALOG };

struct bundle_job {
        struct imagestore *s;
        enum job_kind kind;
        struct ops_ctx *ctx;
        char name[IMAGE_NAME_MAX + 1]; /* "" for an import named by its manifest */
        char vm[128];
        char kernel[IMAGE_NAME_MAX + 1];
        char ref[1100];
        char tmp[PATH_MAX];             /* the job's .tmp- directory, "" when none */
        char catalog_url[1024];
        char entry[IMAGE_NAME_MAX + 1]; /* catalog entry */
};

static void bundle_job_free(void *ud)
{
        struct bundle_job *j = ud;
        if (j->tmp[0]) {
                struct bg_error e = {0};
                rm_rf(j->tmp, &e);
        }
        free(j);
}

static void io_progress(void *ud, uint64_t done, uint64_t total)
{
        ops_ctx_progress(ud, done, total);
}

/* Unpacks tmp/bundle.tar.zst into tmp, removes it, and adopts the rootfs. */
static int import_bundle(struct bundle_job *j, struct bg_error *err)
{
        struct imagestore *s = j->s;
        char bundle[PATH_MAX + 32];
        snprintf(bundle, sizeof(bundle), "%s/bundle.tar.zst", j->tmp);
        ops_ctx_stage(j->ctx, "unpack");
        _cleanup_close_ int in = open(bundle, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int dir = open(j->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0 || dir < 0)
                return bg_error_errno(err, -errno, "open the bundle");
        struct bundle_io io = {
            .progress = io_progress,
            .userdata = j->ctx,
            .cancel = ops_ctx_cancel_flag(j->ctx),
            .max_unpacked = s->d->cfg.image.max_unpacked_size,
        };
        struct bundle_manifest m;
        int r = bundle_read(in, dir, &io, &m, err);
        if (r < 0)
                return r;
        unlink(bundle);
        if (!j->name[0])
                snprintf(j->name, sizeof(j->name), "%s", m.name);
        if ((r = check_free_name(s, j->name, err)) < 0)
                return r;
        struct image_record rec = {
            .name = j->name,
            .ref = m.ref[0] ? m.ref : j->ref,
            .digest = "",
            .kernel = m.kernel,
        };
        r = image_adopt_rootfs(s, j->ctx, j->tmp, &rec, err);
        j->tmp[0] = '\0'; /* published, or removed by image_adopt_rootfs */
        return r;
}

/* The Vm as vmsvc sees it now. */
static int vm_get(struct imagestore *s, const char *ref, Banger__V1__Vm **ret,
                  struct bg_error *err)
{
        char url[512];
        struct rpc_client *c = NULL;
        struct bg_error e = {0};
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = (char *)ref;
        int r = bg_paths_socket_url(&s->d->paths, "vmsvc", url, sizeof(url));
        if (r >= 0)
                r = rpc_client_open(url, NULL, &c, &e);
        if (r >= 0) {
                struct rpc_status st = {0};
                struct rpc_call_opts o = {.deadline_ms = VMSVC_DEADLINE_MS,
                                          .connect_wait_ms = 2000,
                                          .flags = RPC_CALL_IDEMPOTENT};
                r = rpc_call(c, "/banger.v1.VmService/Get", &req.base,
                             &banger__v1__vm__descriptor, (ProtobufCMessage **)ret, &o, &st);
                if (r < 0) {
                        rpc_client_close(c);
                        return st.code == RPC_NOT_FOUND
                                   ? bg_error_set(err, ENOENT, "%s", st.message)
                                   : bg_error_set(err, -r, "ask vmsvc about VM %s: %s", ref,
                                                  st.message);
                }
        }
        rpc_client_close(c);
        if (r < 0)
                return bg_error_set(err, EBUSY,
                                    "vmsvc does not answer (%.120s); start banger (banger daemon "
                                    "start) and try again",
                                    e.msg);
        return 0;
}

static int vm_check_stopped(const Banger__V1__Vm *vm, struct bg_error *err)
{
        if (!streq(vm->state, "stopped") && !streq(vm->state, "created"))
                return bg_error_set(err, EBUSY,
                                    "VM %s is %s; stop it first (banger vm stop %s) so that its "
                                    "disk is consistent",
                                    vm->name, vm->state, vm->name);
        if (!vm->root_disk_path || vm->root_disk_path[0] != '/')
                return bg_error_set(err, EIO, "vmsvc did not say where VM %s's root disk is",
                                    vm->name);
        return 0;
}

static int promote_work(struct bundle_job *j, struct bg_error *err)
{
        struct imagestore *s = j->s;
        Banger__V1__Vm *vm = NULL;
        ops_ctx_stage(j->ctx, "copy");
        int r = vm_get(s, j->vm, &vm, err);
        if (r < 0)
                return r;
        if ((r = vm_check_stopped(vm, err)) < 0) {
                banger__v1__vm__free_unpacked(vm, NULL);
                return r;
        }
        char src[PATH_MAX], dst[PATH_MAX + 32], vmid[64], vmname[128];
        snprintf(src, sizeof(src), "%s", vm->root_disk_path);
        snprintf(vmid, sizeof(vmid), "%s", vm->id);
        snprintf(vmname, sizeof(vmname), "%s", vm->name);
        bool qcow2 = streq(vm->root_disk_format, "qcow2");
        int64_t updated = vm->updated_unix_ms;
        snprintf(j->kernel, sizeof(j->kernel), "%s", vm->kernel);
        snprintf(j->ref, sizeof(j->ref), "vm:%s (image %s)", vm->name, vm->image);
        banger__v1__vm__free_unpacked(vm, NULL);
        vm = NULL;
        snprintf(dst, sizeof(dst), "%s/" BUNDLE_ROOTFS, j->tmp);
        const char *how;
        if (qcow2) {
                /* The overlay over the image, flattened; zeros stay holes. */
                char out[512];
                char *argv[] = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw",
                                "-S",       "4k",      src,  dst, NULL};
                int st = disk_run(argv, out, sizeof(out));
                if (st != 0)
                        return bg_error_set(err, st < 0 ? -st : EIO,
                                            "flatten VM %s's root disk with qemu-img: %s",
                                            vmname, st < 0 ? strerror(-st) : out);
                how = "qemu-img convert";
        } else {
                enum disk_clone_method m;
                if ((r = disk_clone(src, dst, &m, err)) < 0)
                        return bg_error_prefix(err, "copy VM %s's root disk", vmname);
                how = disk_clone_method_to_string(m);
        }
        /* Started (or changed) while we copied: the copy may be torn. */
        if ((r = vm_get(s, vmid, &vm, err)) < 0)
                return r;
        r = vm_check_stopped(vm, err);
        if (r >= 0 && vm->updated_unix_ms != updated)
                r = bg_error_set(err, EBUSY, "VM %s changed while its disk was copied; try again",
                                 vmname);
        banger__v1__vm__free_unpacked(vm, NULL);
        if (r < 0)
                return r;
        log_info("image %s: VM %s's root disk copied (%s)", j->name, vmname, how);
        if (j->kernel[0] && check_kernel_here(s, j->kernel, &(struct bg_error){0}) < 0)
                j->kernel[0] = '\0';
        struct image_record rec = {.name = j->name, .ref = j->ref, .digest = "",
                                   .kernel = j->kernel};
        r = image_adopt_rootfs(s, j->ctx, j->tmp, &rec, err);
        j->tmp[0] = '\0';
        return r;
}

static int export_work(struct bundle_job *j, struct bg_error *err)
{
        struct imagestore *s = j->s;
        struct image_row row;
        int r = image_row_get(s, j->name, &row, err);
        if (r < 0)
                return r;
        char rootfs[PATH_MAX + 80], spool[PATH_MAX + 80], id[33];
        snprintf(rootfs, sizeof(rootfs), "%s/%s/" BUNDLE_ROOTFS, s->dir, j->name);
        if ((r = image_random_id(id, err)) < 0)
                return r;
        snprintf(spool, sizeof(spool), "%s/bundle.tar.zst", j->tmp);
        _cleanup_close_ int in = open(rootfs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return bg_error_errno(err, -errno, "open %s", rootfs);
        _cleanup_close_ int out =
            open(spool, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0)
                return bg_error_errno(err, -errno, "create %s", spool);
        struct bundle_manifest m;
        memset(&m, 0, sizeof(m));
        snprintf(m.name, sizeof(m.name), "%s", row.name);
        snprintf(m.ref, sizeof(m.ref), "%s", row.ref);
        snprintf(m.kernel, sizeof(m.kernel), "%s", row.kernel);
        struct bundle_io io = {.progress = io_progress,
                               .userdata = j->ctx,
                               .cancel = ops_ctx_cancel_flag(j->ctx)};
        ops_ctx_stage(j->ctx, "bundle");
        r = bundle_write(out, &m, in, &io, err);
        if (r >= 0 && fsync(out) < 0)
                r = bg_error_errno(err, -errno, "sync %s", spool);
        if (r < 0)
                return r;
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size = 0;
        if ((r = sha256_file_hex(spool, hex, &size, err)) < 0)
                return r;
        /* The spool moves out of the job's directory into the export table. */
        char keep[PATH_MAX + 80];
        snprintf(keep, sizeof(keep), "%s/.tmp-ex-%s.tar.zst", s->dir, id);
        if (rename(spool, keep) < 0)
                return bg_error_errno(err, -errno, "keep %s", keep);
        if ((r = image_export_add(s, id, keep, err)) < 0) {
                unlink(keep);
                return r;
        }
        Banger__V1__ImageExport res = BANGER__V1__IMAGE_EXPORT__INIT;
        res.export_id = id;
        res.size = size;
        res.sha256 = hex;
        res.name = j->name;
        log_info("image %s exported: %llu bytes, sha256 %s", j->name, (unsigned long long)size,
                 hex);
        return ops_ctx_set_result(j->ctx, &res.base);
}


static int catalog_pull_work(struct bundle_job *j, struct bg_error *err)
{
        struct imagestore *s = j->s;
        ops_ctx_stage(j->ctx, "catalog");
        _cleanup_free_ struct image_catalog_entry *e = NULL;
        size_t n = 0;
        int r = image_catalog_load(s, j->catalog_url, &e, &n, err);
        if (r < 0)
                return r;
        const struct image_catalog_entry *c = NULL;
        for (size_t i = 0; i < n && !c; i++)
                if (streq(e[i].name, j->entry))
                        c = &e[i];
        if (!c)
                return bg_error_set(err, ENOENT,
                                    "image '%s' is not in the catalog %s (banger image catalog "
                                    "lists it)",
                                    j->entry, j->catalog_url);
        uint64_t max = s->d->cfg.image.max_unpacked_size;
        if (c->size > max)
                return bg_error_set(err, EFBIG,
                                    "catalog entry %s is %llu bytes, more than "
                                    "image.max_unpacked_size (%llu)",
                                    c->name, (unsigned long long)c->size,
                                    (unsigned long long)max);
        ops_ctx_stage(j->ctx, "download");
        char bundle[PATH_MAX + 32];
        snprintf(bundle, sizeof(bundle), "%s/bundle.tar.zst", j->tmp);
        if ((r = kernel_fetch(c->url, bundle, max, j->ctx, err)) < 0)
                return r;
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size = 0;
        if ((r = sha256_file_hex(bundle, hex, &size, err)) < 0)
                return r;
        if (!streq(hex, c->sha256) || (c->size && size != c->size))
                return bg_error_set(err, EBADMSG,
                                    "bundle %s sha256 mismatch: the catalog says %s (%llu "
                                    "bytes), got %s (%llu bytes)",
                                    c->name, c->sha256, (unsigned long long)c->size, hex,
                                    (unsigned long long)size);
        snprintf(j->ref, sizeof(j->ref), "%s", c->url);
        return import_bundle(j, err);
}

static int bundle_run(struct bundle_job *j, struct ops_ctx *ctx, struct bg_error *err)
{
        switch (j->kind) {
        case JOB_PROMOTE:
                return promote_work(j, err);
        case JOB_REGISTER: {
                struct image_record rec = {
                    .name = j->name, .ref = j->ref, .digest = "", .kernel = j->kernel};
                ops_ctx_stage(ctx, "check");
                int r = image_adopt_rootfs(j->s, ctx, j->tmp, &rec, err);
                j->tmp[0] = '\0';
                return r;
        }
        case JOB_IMPORT:
                return import_bundle(j, err);
        case JOB_EXPORT:
                return export_work(j, err);
        case JOB_CATALOG:
                return catalog_pull_work(j, err);
        }
        return bg_error_set(err, EINVAL, "unknown job");
}

static int bundle_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct bundle_job *j = ud;
        j->ctx = ctx;
        int r = bundle_run(j, ctx, err);
        /* What is left of the job's .tmp- directory goes now, not when the
         * finished operation is forgotten. */
        if (j->tmp[0]) {
                struct bg_error e = {0};
                rm_rf(j->tmp, &e);
                j->tmp[0] = '\0';
        }
        return r;
}

/* Makes j's .tmp- directory and starts it; j is freed on failure. */
static int job_start(struct imagestore *s, struct bundle_job *j, const char *kind,
                     const char *target, const char *const *stages, size_t n_stages,
                     const char *upload_id, const char *upload_kind, Banger__V1__Operation *out,
                     struct bg_error *err)
{
        char id[33];
        int r = image_random_id(id, err);
        if (r < 0) {
                free(j);
                return r;
        }
        snprintf(j->tmp, sizeof(j->tmp), "%s/.tmp-%s-%s", s->dir, kind + 6, id);
        if (mkdir(j->tmp, 0700) < 0) {
                r = bg_error_errno(err, -errno, "create %s", j->tmp);
                j->tmp[0] = '\0';
                free(j);
                return r;
        }
        if (upload_id) {
                char dest[PATH_MAX + 32];
                snprintf(dest, sizeof(dest), "%s/%s", j->tmp,
                         streq(upload_kind, "rootfs") ? BUNDLE_ROOTFS : "bundle.tar.zst");
                if ((r = image_upload_take(s, upload_id, upload_kind, dest, err)) < 0) {
                        bundle_job_free(j);
                        return r;
                }
        }
        struct ops_start os = {
            .kind = kind,
            .target = target,
            .stages = stages,
            .n_stages = n_stages,
            .fn = bundle_work,
            .userdata = j,
            .free_userdata = bundle_job_free,
        };
        return ops_start_fill(s->ops, &os, out, err);
}

static struct bundle_job *job_new(struct imagestore *s, enum job_kind kind, struct bg_error *err)
{
        struct bundle_job *j = calloc(1, sizeof(*j));
        if (!j) {
                bg_error_set(err, ENOMEM, "out of memory");
                return NULL;
        }
        j->s = s;
        j->kind = kind;
        return j;
}

static int check_new_name(struct imagestore *s, const char *name, struct bg_error *err)
{
        int r = image_check_name(name, err);
        return r < 0 ? r : check_free_name(s, name, err);
}

int image_promote(struct imagestore *s, const Banger__V1__PromoteImageRequest *in,
                  Banger__V1__Operation *out, struct bg_error *err)
{
        if (!in->vm[0])
                return bg_error_set(err, EINVAL, "which VM? (vm is empty)");
        if (strlen(in->vm) >= sizeof(((struct bundle_job *)0)->vm))
                return bg_error_set(err, EINVAL, "VM reference is too long");
        int r = check_new_name(s, in->name, err);
        if (r < 0)
                return r;
        struct bundle_job *j = job_new(s, JOB_PROMOTE, err);
        if (!j)
                return -ENOMEM;
        snprintf(j->name, sizeof(j->name), "%s", in->name);
        snprintf(j->vm, sizeof(j->vm), "%s", in->vm);
        static const char *const stages[] = {"copy", "guest", "publish"};
        return job_start(s, j, "image.promote", j->name, stages, ELEMENTSOF(stages), NULL,
                         NULL, out, err);
}

static bool printable(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return false;
        return true;
}

static int register_start(struct imagestore *s, const Banger__V1__RegisterImageRequest *in,
                          Banger__V1__Operation *out, struct bg_error *err)
{
        int r = check_new_name(s, in->name, err);
        if (r < 0)
                return r;
        if (!in->upload_id[0])
                return bg_error_set(err, EINVAL, "no upload_id: upload the file first");
        if (in->kernel[0] && (r = check_kernel_here(s, in->kernel, err)) < 0)
                return r;
        if (!printable(in->source, 1000))
                return bg_error_set(err, EINVAL, "source is not printable text of at most 1000 "
                                                 "bytes");
        struct bundle_job *j = job_new(s, JOB_REGISTER, err);
        if (!j)
                return -ENOMEM;
        snprintf(j->name, sizeof(j->name), "%s", in->name);
        snprintf(j->kernel, sizeof(j->kernel), "%s", in->kernel);
        snprintf(j->ref, sizeof(j->ref), "file:%s", in->source[0] ? in->source : "upload");
        static const char *const stages[] = {"check", "guest", "publish"};
        return job_start(s, j, "image.register", j->name, stages, ELEMENTSOF(stages),
                         in->upload_id, "rootfs", out, err);
}

int image_register(struct imagestore *s, const Banger__V1__RegisterImageRequest *in,
                   Banger__V1__Operation *out, struct bg_error *err)
{
        int r = register_start(s, in, out, err);
        if (r < 0)
                image_upload_drop(s, in->upload_id);
        return r;
}

static int import_start(struct imagestore *s, const Banger__V1__ImportImageRequest *in,
                        Banger__V1__Operation *out, struct bg_error *err)
{
        int r;
        if (in->name[0] && (r = check_new_name(s, in->name, err)) < 0)
                return r;
        if (!in->upload_id[0])
                return bg_error_set(err, EINVAL, "no upload_id: upload the bundle first");
        if (!printable(in->source, 1000))
                return bg_error_set(err, EINVAL, "source is not printable text of at most 1000 "
                                                 "bytes");
        struct bundle_job *j = job_new(s, JOB_IMPORT, err);
        if (!j)
                return -ENOMEM;
        snprintf(j->name, sizeof(j->name), "%s", in->name);
        snprintf(j->ref, sizeof(j->ref), "bundle:%s", in->source[0] ? in->source : "upload");
        static const char *const stages[] = {"unpack", "guest", "publish"};
        return job_start(s, j, "image.import", in->name, stages, ELEMENTSOF(stages),
                         in->upload_id, "bundle", out, err);
}

int image_import(struct imagestore *s, const Banger__V1__ImportImageRequest *in,
                 Banger__V1__Operation *out, struct bg_error *err)
{
        int r = import_start(s, in, out, err);
        if (r < 0)
                image_upload_drop(s, in->upload_id);
        return r;
}

int image_export(struct imagestore *s, const Banger__V1__ExportImageRequest *in,
                 Banger__V1__Operation *out, struct bg_error *err)
{
        struct image_row row;
        int r = image_check_name(in->name, err);
        if (r < 0 || (r = image_row_get(s, in->name, &row, err)) < 0)
                return r;
        struct bundle_job *j = job_new(s, JOB_EXPORT, err);
        if (!j)
                return -ENOMEM;
        snprintf(j->name, sizeof(j->name), "%s", in->name);
        static const char *const stages[] = {"bundle"};
        return job_start(s, j, "image.export", j->name, stages, ELEMENTSOF(stages), NULL,
                         NULL, out, err);
}

int image_pull_catalog(struct imagestore *s, const Banger__V1__PullImageRequest *in,
                       Banger__V1__Operation *out, struct bg_error *err)
{
        int r = image_check_name(in->reference, err);
        if (r < 0)
                return bg_error_prefix(err, "catalog entry");
        const char *name = in->name[0] ? in->name : in->reference;
        if ((r = check_new_name(s, name, err)) < 0)
                return r;
        struct bundle_job *j = job_new(s, JOB_CATALOG, err);
        if (!j)
                return -ENOMEM;
        if ((r = image_catalog_url(s, in->catalog_url, j->catalog_url, sizeof(j->catalog_url),
                                   err)) < 0) {
                free(j);
                return r;
        }
        snprintf(j->name, sizeof(j->name), "%s", name);
        snprintf(j->entry, sizeof(j->entry), "%s", in->reference);
        static const char *const stages[] = {"catalog", "download", "unpack", "guest", "publish"};
        return job_start(s, j, "image.pull", j->name, stages, ELEMENTSOF(stages), NULL, NULL, out,
                         err);
}
