#include "image_service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "debrepo/sources.h"
#include "fault/fault.h"
#include "ext4.h"
#include "image_bundle.h"
#include "image_internal.h"
#include "imagesvc.h"
#include "in_use.h"
#include "kernel_util.h"
#include "log/log.h"
#include "oci_flatten.h"
#include "paths/paths.h"
#include "oci_rootfs.h"
#include "ops/ops.h"
#include "util/run.h"
#include "util/timeutil.h"

/* v3: what an image is beyond its name and origin. */
const char image_store_migration_3[] =
    "ALTER TABLE images ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE images ADD COLUMN has_init INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE images ADD COLUMN has_sshd INTEGER NOT NULL DEFAULT 0;";
/* v4: the kernel an image goes with (register --kernel, bundles). */
const char image_store_migration_4[] =
    "ALTER TABLE images ADD COLUMN kernel TEXT NOT NULL DEFAULT '';";

/* True when images.db has a row of that name; true too when it cannot tell,
 * so that nothing is removed on a database error. */
static bool image_recorded(sqlite3 *db, const char *name)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM images WHERE name = ?", -1, &st, NULL) !=
            SQLITE_OK)
                return true;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        return rc != SQLITE_DONE;
}

int imagestore_new(struct daemon *d, struct imagestore **ret, struct bg_error *err)
{
        struct imagestore *s = calloc(1, sizeof(*s));
        if (!s)
                return bg_error_set(err, ENOMEM, "out of memory");
        s->d = d;
        pthread_mutex_init(&s->mu, NULL);
        snprintf(s->dir, sizeof(s->dir), "%s/images", d->paths.state_dir);
        snprintf(s->cache_dir, sizeof(s->cache_dir), "%s/oci", d->paths.cache_dir);
        const char *dirs[] = {s->dir, s->cache_dir};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                if (mkdir_p(dirs[i], 0700) < 0) {
                        int r = -errno;
                        bg_error_errno(err, r, "create %s", dirs[i]);
                        free(s);
                        return r;
                }
        }
        int r = ops_registry_new(0, &s->ops, err);
        if (r < 0) {
                free(s);
                return r;
        }
        if (image_transfers_new(&s->xfer) < 0) {
                s->ops = ops_registry_free(s->ops);
                free(s);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        /* A build or pull that died half-way left only a .tmp- directory,
         * or, killed between the rename and the INSERT of image_publish, an
         * image directory no row names (which would also refuse every later
         * pull of that name). Both go. */
        char cmd_dir[PATH_MAX];
        snprintf(cmd_dir, sizeof(cmd_dir), "%s", s->dir);
        DIR *dh = opendir(cmd_dir);
        if (dh) {
                struct dirent *de;
                while ((de = readdir(dh))) {
                        bool tmp = strncmp(de->d_name, ".tmp-", 5) == 0;
                        if (!tmp && (de->d_type != DT_DIR || !image_name_valid(de->d_name) ||
                                     image_recorded(d->db, de->d_name)))
                                continue;
                        char p[PATH_MAX + 300];
                        snprintf(p, sizeof(p), "%s/%s", s->dir, de->d_name);
                        struct bg_error e = {0};
                        if (rm_rf(p, &e) == 0)
                                log_info("removed the leftovers of an interrupted build or "
                                         "pull: %s%s",
                                         p, tmp ? "" : " (published, never recorded)");
                }
                closedir(dh);
        }
        image_cache_recover(s);
        *ret = s;
        return 0;
}

struct imagestore *imagestore_free(struct imagestore *s)
{
        if (!s)
                return NULL;
        s->ops = ops_registry_free(s->ops);
        s->xfer = image_transfers_free(s->xfer);
        free(s);
        return NULL;
}

bool image_name_valid(const char *n)
{
        size_t len = strlen(n);
        if (len < 1 || len > IMAGE_NAME_MAX)
                return false;
        if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9')))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '-' ||
                      n[i] == '_' || n[i] == '.'))
                        return false;
        return true;
}

int image_check_name(const char *n, struct bg_error *err)
{
        if (!image_name_valid(n))
                return bg_error_set(err, EINVAL,
                                    "image name '%.80s' must be 1-%d of a-z, 0-9, '.', '_', '-' "
                                    "starting with a letter or digit",
                                    n, IMAGE_NAME_MAX);
        return 0;
}

/* ---- rows ---- */

int image_row_get(struct imagestore *s, const char *name, struct image_row *r, struct bg_error *err)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->d->db,
                                    "SELECT name, ref, digest, size, has_init, has_sshd, "
                                    "created_unix_ms, kernel FROM images WHERE name = ?",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
                return bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_finalize(st);
                if (rc == SQLITE_DONE)
                        return bg_error_set(err, ENOENT,
                                            "no image named '%s' (banger image list shows what "
                                            "there is; banger image build makes one)",
                                            name);
                return bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
        }
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(r->ref, sizeof(r->ref), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(r->digest, sizeof(r->digest), "%s", (const char *)sqlite3_column_text(st, 2));
        r->size = (uint64_t)sqlite3_column_int64(st, 3);
        r->has_init = sqlite3_column_int(st, 4) != 0;
        r->has_sshd = sqlite3_column_int(st, 5) != 0;
        r->created = sqlite3_column_int64(st, 6);
        snprintf(r->kernel, sizeof(r->kernel), "%s",
                 sqlite3_column_text(st, 7) ? (const char *)sqlite3_column_text(st, 7) : "");
        sqlite3_finalize(st);
        return 0;
}

int image_fill(struct imagestore *s, const struct image_row *r, Banger__V1__Image *out)
{
        char dir[PATH_MAX], rootfs[PATH_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/%s", s->dir, r->name);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs.ext4", dir);
        struct stat st;
        out->name = strdup(r->name);
        out->ref = strdup(r->ref);
        out->digest = strdup(r->digest);
        out->dir = strdup(dir);
        out->rootfs_path = strdup(rootfs);
        char seed[PATH_MAX + 32];
        snprintf(seed, sizeof(seed), "%s/" IMAGE_WORK_SEED, dir);
        out->work_seed_path = strdup(access(seed, R_OK) == 0 ? seed : "");
        out->kernel = strdup(r->kernel);
        if (!out->kernel || !out->name || !out->ref || !out->digest || !out->dir || !out->rootfs_path ||
            !out->work_seed_path)
                return -ENOMEM;
        out->size = r->size;
        if (stat(rootfs, &st) == 0) {
                out->size = (uint64_t)st.st_size;
                out->used = (uint64_t)st.st_blocks * 512u;
        }
        out->has_init = r->has_init;
        out->has_sshd = r->has_sshd;
        out->created_unix_ms = r->created;
        return 0;
}

/* ---- work seed ---- */

#define WORK_SEED_MAX_BYTES (256ull << 20)
#define WORK_SEED_MAX_ENTRIES 65536u

int image_make_work_seed(struct ext4_fs *fs, const char *tmp_dir, bool *ret_made,
                         struct bg_error *err)
{
        struct ext4_stat st;
        struct bg_error ign = {0};
        *ret_made = false;
        /* Only a real directory: a symlinked /root is the image's business. */
        if (ext4_lookup(fs, "/root", &st, &ign) < 0 || !S_ISDIR(st.mode))
                return 0;
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/" IMAGE_WORK_SEED, tmp_dir);
        struct ext4_create_opts co = {.label = "banger-seed"};
        struct ext4_fs *seed = NULL;
        int r = ext4_create(path, ext4_estimate_size(WORK_SEED_MAX_BYTES, WORK_SEED_MAX_ENTRIES),
                            &co, &seed, err);
        if (r < 0)
                return r;
        struct ext4_copy_opts cp = {.max_bytes = WORK_SEED_MAX_BYTES,
                                    .max_entries = WORK_SEED_MAX_ENTRIES};
        r = ext4_copy_tree(fs, "/root", seed, "/", &cp, err);
        if (r == -EFBIG) {
                log_warn("the image's /root is too big to seed VM work disks (%s); VMs start "
                         "with an empty /root",
                         err->msg);
                ext4_free(seed);
                unlink(path);
                bg_error_clear(err);
                return 0;
        }
        if (r >= 0)
                r = ext4_close(TAKE_PTR(seed), err);
        if (seed)
                ext4_free(seed);
        if (r < 0)
                return bg_error_prefix(err, "keep the image's /root as the work seed");
        *ret_made = true;
        return 0;
}

/* ---- publish ---- */

int image_publish(struct imagestore *s, const char *tmp_dir, const struct image_record *rec,
                  struct bg_error *err)
{
        char final[PATH_MAX];
        int r = 0;
        snprintf(final, sizeof(final), "%s/%s", s->dir, rec->name);
        pthread_mutex_lock(&s->mu);
        if (access(final, F_OK) == 0) {
                r = bg_error_set(err, EEXIST, "image %s appeared in the meantime", rec->name);
        } else if (rename(tmp_dir, final) < 0) {
                r = bg_error_errno(err, -errno, "publish %s", final);
        } else {
                /* In place, not recorded yet. */
                fault_point("image.publish.renamed");
                char id[33];
                uint8_t b[16];
                FILE *ur = fopen("/dev/urandom", "re");
                if (!ur || fread(b, 1, sizeof(b), ur) != sizeof(b))
                        memset(b, 0x5a, sizeof(b));
                if (ur)
                        fclose(ur);
                for (int i = 0; i < 16; i++)
                        snprintf(id + 2 * i, 3, "%02x", b[i]);
                sqlite3_stmt *st = NULL;
                if (sqlite3_prepare_v2(s->d->db,
                                       "INSERT INTO images (id, name, ref, digest, "
                                       "created_unix_ms, size, has_init, has_sshd, kernel) "
                                       "VALUES (?,?,?,?,?,?,?,?,?)",
                                       -1, &st, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 2, rec->name, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 3, rec->ref, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 4, rec->digest, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 5, (sqlite3_int64)now_real_msec());
                        sqlite3_bind_int64(st, 6, (sqlite3_int64)rec->size);
                        sqlite3_bind_int(st, 7, rec->has_init);
                        sqlite3_bind_int(st, 8, rec->has_sshd);
                        sqlite3_bind_text(st, 9, rec->kernel ? rec->kernel : "", -1,
                                          SQLITE_STATIC);
                        if (sqlite3_step(st) != SQLITE_DONE)
                                r = bg_error_set(err, EIO, "record image %s: %s", rec->name,
                                                 sqlite3_errmsg(s->d->db));
                } else {
                        r = bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
                }
                sqlite3_finalize(st);
                if (r < 0) {
                        struct bg_error e = {0};
                        rm_rf(final, &e);
                }
        }
        pthread_mutex_unlock(&s->mu);
        return r;
}

int image_set_result(struct imagestore *s, struct ops_ctx *ctx, const char *name,
                     struct bg_error *err)
{
        struct image_row row;
        Banger__V1__Image *img = calloc(1, sizeof(*img));
        if (!img)
                return bg_error_set(err, ENOMEM, "out of memory");
        banger__v1__image__init(img);
        int r = image_row_get(s, name, &row, err);
        if (r >= 0 && image_fill(s, &row, img) < 0)
                r = bg_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = ops_ctx_set_result(ctx, &img->base);
        banger__v1__image__free_unpacked(img, NULL);
        return r;
}

int imagesvc_image_show(struct imagesvc *v, const Banger__V1__ShowImageRequest *in,
                        Banger__V1__Image *out, const struct rpc_call *call, struct bg_error *err)
{
        struct image_row row;
        int r = image_check_name(in->name, err);
        if (r < 0)
                return r;
        r = image_row_get(v->images, in->name, &row, err);
        if (r < 0)
                return r;
        return image_fill(v->images, &row, out) < 0 ? bg_error_set(err, ENOMEM, "out of memory")
                                                    : 0;
}

int imagesvc_image_list(struct imagesvc *v, const Banger__V1__ListImagesRequest *in,
                        Banger__V1__ListImagesResponse *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        struct imagestore *s = v->images;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->d->db, "SELECT name FROM images ORDER BY name", -1, &st, NULL) !=
            SQLITE_OK)
                return bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
        int r = 0;
        while (sqlite3_step(st) == SQLITE_ROW && r >= 0) {
                struct image_row row;
                const char *name = (const char *)sqlite3_column_text(st, 0);
                if (image_row_get(s, name, &row, err) < 0)
                        continue;
                Banger__V1__Image **nv =
                    realloc(out->images, (out->n_images + 1) * sizeof(*out->images));
                Banger__V1__Image *img = calloc(1, sizeof(*img));
                if (!nv || !img) {
                        free(img);
                        if (nv)
                                out->images = nv;
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                out->images = nv;
                banger__v1__image__init(img);
                out->images[out->n_images++] = img;
                if (image_fill(s, &row, img) < 0)
                        r = bg_error_set(err, ENOMEM, "out of memory");
        }
        sqlite3_finalize(st);
        return r;
}

int imagesvc_image_delete(struct imagesvc *v, const Banger__V1__DeleteImageRequest *in,
                          Banger__V1__DeleteImageResponse *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        struct imagestore *s = v->images;
        struct image_row row;
        int r = image_check_name(in->name, err);
        if (r < 0)
                return r;
        r = image_row_get(s, in->name, &row, err);
        if (r < 0)
                return r;
        r = imagesvc_check_unused(v, IN_USE_IMAGE, in->name, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->mu);
        r = image_row_get(s, in->name, &row, err);
        if (r >= 0) {
                sqlite3_stmt *st = NULL;
                if (sqlite3_prepare_v2(s->d->db, "DELETE FROM images WHERE name = ?", -1, &st,
                                       NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
                        if (sqlite3_step(st) != SQLITE_DONE)
                                r = bg_error_set(err, EIO, "images.db: %s",
                                                 sqlite3_errmsg(s->d->db));
                } else {
                        r = bg_error_set(err, EIO, "images.db: %s", sqlite3_errmsg(s->d->db));
                }
                sqlite3_finalize(st);
        }
        if (r >= 0) {
                char dir[PATH_MAX];
                snprintf(dir, sizeof(dir), "%s/%s", s->dir, in->name);
                r = rm_rf(dir, err);
        }
        pthread_mutex_unlock(&s->mu);
        return r;
}

int imagesvc_image_get_op(struct imagesvc *v, const Banger__V1__GetOperationRequest *in,
                          Banger__V1__Operation *out, const struct rpc_call *call,
                          struct bg_error *err)
{
        return ops_rpc_get(v->images->ops, in, out, err);
}

int imagesvc_image_cancel_op(struct imagesvc *v, const Banger__V1__CancelOperationRequest *in,
                             Banger__V1__Operation *out, const struct rpc_call *call,
                             struct bg_error *err)
{
        return ops_rpc_cancel(v->images->ops, in, out, err);
}

int imagesvc_image_list_ops(struct imagesvc *v, const Banger__V1__ListOperationsRequest *in,
                            Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        return ops_rpc_list(v->images->ops, in, out, err);
}
