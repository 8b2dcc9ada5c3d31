/* ImageService.Pull and PruneCache: an OCI/Docker image from its registry
 * into the blob cache (lib/oci: every blob verified while it streams, layers
 * in parallel, cached blobs not fetched again), flattened straight into ext4
 * (no host directory, no mount, no root), banger's guest files installed,
 * published atomically (STATE/images/.tmp-… renamed into place, then
 * recorded). A pull killed half-way leaves only .tmp- names, which the next
 * start of the service removes. */
#include "image_pull.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_bundle.h"
#include "image_internal.h"
#include "image_service.h"
#include "imagesvc.h"
#include "kernel_util.h"
#include "log/log.h"
#include "oci_flatten.h"
#include "oci_ref.h"
#include "oci_registry.h"
#include "oci_rootfs.h"
#include "util/macro.h"

#define PULL_MAX_INSECURE 64

int image_default_name(const struct oci_ref *ref, char *buf, size_t len, struct bg_error *err)
{
        /* A name starts with a letter or digit and does not end in a separator. */
        if (oci_ref_default_name(ref, buf, len, IMAGE_NAME_MAX) < 0 || !image_name_valid(buf))
                return bg_error_set(err, EINVAL,
                                    "cannot make an image name from '%s'; give one with --name",
                                    ref->repository);
        return 0;
}

struct pull_job {
        struct imagestore *s;
        struct ops_ctx *ctx;
        char name[IMAGE_NAME_MAX + 1];
        char ref[1024];     /* canonical reference */
        char platform[100]; /* "" = linux/amd64 */
        uint64_t size;      /* 0 = from the content */
        char existing[80];  /* manifest digest of an image already under this name */
        bool has_existing;
        uint64_t layer_done[OPS_MAX_PARTS], layer_total[OPS_MAX_PARTS];
        const struct oci_image *img; /* while flattening */
};

static void pull_job_free(void *ud)
{
        struct pull_job *j = ud;
        pthread_mutex_lock(&j->s->mu);
        j->s->pulls--;
        pthread_mutex_unlock(&j->s->mu);
        free(j);
}

static void download_progress(void *ud, size_t layer, const char *digest, uint64_t done,
                              uint64_t total)
{
        struct pull_job *j = ud;
        if (layer >= OPS_MAX_PARTS)
                return;
        j->layer_done[layer] = done;
        j->layer_total[layer] = total;
        ops_ctx_part(j->ctx, layer, digest, done, total);
        uint64_t d = 0, t = 0;
        for (size_t i = 0; i < OPS_MAX_PARTS; i++) {
                d += j->layer_done[i];
                t += j->layer_total[i];
        }
        ops_ctx_progress(j->ctx, d, t);
}

static void flatten_progress(void *ud, int pass, size_t layer, uint64_t done, uint64_t total)
{
        struct pull_job *j = ud;
        /* One bar over both passes (scan, write) of every layer. */
        uint64_t all = 0, before = 0;
        for (size_t i = 0; i < j->img->n_layers; i++) {
                all += j->img->layers[i].size;
                if (i < layer)
                        before += j->img->layers[i].size;
        }
        if (!all) {
                ops_ctx_progress(j->ctx, done, total);
                return;
        }
        uint64_t d = (pass > 1 ? all : 0) + before + (done < total || !total ? done : total);
        ops_ctx_progress(j->ctx, d, 2 * all);
}

/* DOCKER_CONFIG/config.json, else ~/.docker/config.json, when it exists. */
static const char *docker_config(char *buf, size_t len)
{
        const char *dir = getenv("DOCKER_CONFIG");
        const char *home = getenv("HOME");
        if (dir && dir[0])
                snprintf(buf, len, "%s/config.json", dir);
        else if (home && home[0])
                snprintf(buf, len, "%s/.docker/config.json", home);
        else
                return NULL;
        return access(buf, R_OK) == 0 ? buf : NULL;
}

/* An image over a limit (image.max_unpacked_size, image.max_layer_ratio)
 * leaves nothing behind: the blobs this pull fetched for it go too (those
 * that were in the cache before stay: other images may use them). */
static void drop_fetched_blobs(const struct imagestore *s, const struct oci_image *img)
{
        size_t n = 0;
        for (size_t i = 0; i < img->n_layers; i++)
                if (img->layers[i].downloaded && img->layers[i].path &&
                    unlink(img->layers[i].path) == 0)
                        n++;
        _cleanup_free_ char *cfg = NULL;
        struct bg_error e = {0};
        if (img->config_downloaded && img->config_digest &&
            oci_blob_path(s->cache_dir, img->config_digest, &cfg, &e) == 0 && unlink(cfg) == 0)
                n++;
        if (n)
                log_info("removed the %zu blobs this pull fetched for %s", n, img->reference);
}

/* Flattens img into tmp/rootfs.ext4 and installs the guest files. */
static int pull_flatten(struct pull_job *j, const struct oci_image *img, const char *tmp,
                        const char *rootfs, struct oci_rootfs_info *info, struct bg_error *err)
{
        const struct bg_config *cfg = &j->s->d->cfg;
        struct oci_flatten_opts fo = {
            .size_bytes = j->size,
            .max_content_bytes = cfg->image.max_unpacked_size,
            .max_ratio = cfg->image.max_layer_ratio,
            .label = "banger-root",
            .progress = flatten_progress,
            .userdata = j,
            .cancel = ops_ctx_cancel_flag(j->ctx),
        };
        struct oci_flatten_stats fs_stats = {0};
        j->img = img;
        ops_ctx_stage(j->ctx, "flatten");
        int r = oci_flatten_image(img, rootfs, &fo, &fs_stats, err);
        if (r == -EFBIG)
                drop_fetched_blobs(j->s, img);
        if (r < 0)
                return r;
        if (ops_ctx_cancelled(j->ctx))
                return bg_error_set(err, ECANCELED, "cancelled");
        ops_ctx_stage(j->ctx, "guest");
        struct ext4_fs *fs = NULL;
        r = ext4_open(rootfs, &fs, err);
        if (r < 0)
                return r;
        r = image_install_guest_files(fs, err);
        bool seeded = false;
        if (r >= 0)
                r = image_make_work_seed(fs, tmp, &seeded, err);
        if (r >= 0)
                r = oci_rootfs_inspect(fs, info, err);
        if (r >= 0)
                r = ext4_close(TAKE_PTR(fs), err);
        if (fs)
                ext4_free(fs);
        if (r >= 0)
                log_info("image %s: %llu entries, %llu whiteouts, %llu bytes of files, "
                         "%llu xattrs (%llu skipped)",
                         j->name, (unsigned long long)fs_stats.entries,
                         (unsigned long long)fs_stats.whiteouts,
                         (unsigned long long)fs_stats.content_bytes,
                         (unsigned long long)fs_stats.xattrs,
                         (unsigned long long)fs_stats.xattrs_skipped);
        return r;
}

static int pull_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct pull_job *j = ud;
        struct imagestore *s = j->s;
        struct daemon *d = s->d;
        j->ctx = ctx;

        struct oci_ref ref = {0};
        int r = oci_ref_parse(j->ref, &ref, err);
        if (r < 0)
                return r;
        const char *insecure[PULL_MAX_INSECURE + 1];
        size_t ni = 0;
        for (size_t i = 0; i < d->cfg.image.insecure_registries.n && ni < PULL_MAX_INSECURE; i++)
                insecure[ni++] = d->cfg.image.insecure_registries.items[i];
        insecure[ni] = NULL;
        char dcfg[PATH_MAX];
        struct oci_pull_opts po = {
            .cache_dir = s->cache_dir,
            .platform = j->platform[0] ? j->platform : NULL,
            .docker_config = docker_config(dcfg, sizeof(dcfg)),
            .insecure_registries = insecure,
            .parallel = d->cfg.image.pull_concurrency,
            .progress = download_progress,
            .userdata = j,
            .cancel = ops_ctx_cancel_flag(ctx),
            .max_image_bytes = d->cfg.image.max_unpacked_size,
        };
        struct oci_pull_stats ps = {0};
        _cleanup_(oci_image_freep) struct oci_image *img = NULL;
        ops_ctx_stage(ctx, "download");
        r = oci_pull(&ref, &po, &img, &ps, err);
        oci_ref_done(&ref);
        if (r < 0)
                return r;
        log_info("image %s pulled from %s: %llu blobs downloaded (%llu bytes), %llu from cache",
                 j->name, j->ref, (unsigned long long)ps.blobs_downloaded,
                 (unsigned long long)ps.bytes_downloaded, (unsigned long long)ps.blobs_cached);

        if (j->has_existing) {
                if (streq(j->existing, img->manifest_digest)) {
                        log_info("image %s is up to date (%s)", j->name, img->manifest_digest);
                        ops_ctx_stage(ctx, "publish");
                        return image_set_result(s, ctx, j->name, err);
                }
                return bg_error_set(err, EEXIST,
                                    "image %s is %.19s but the registry now has %.19s; delete "
                                    "it first or pull under another --name",
                                    j->name, j->existing, img->manifest_digest);
        }

        char tmp[PATH_MAX], rootfs[PATH_MAX + 32];
        snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%s", s->dir, j->name, ops_ctx_id(ctx));
        if (mkdir(tmp, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", tmp);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs.ext4", tmp);
        struct oci_rootfs_info info = {0};
        r = pull_flatten(j, img, tmp, rootfs, &info, err);
        if (r >= 0) {
                ops_ctx_stage(ctx, "publish");
                struct stat st;
                struct image_record rec = {
                    .name = j->name,
                    .ref = j->ref,
                    .digest = img->manifest_digest,
                    .size = stat(rootfs, &st) == 0 ? (uint64_t)st.st_size : 0,
                    .has_init = info.has_init,
                    .has_sshd = info.has_sshd,
                };
                r = image_publish(s, tmp, &rec, err);
        }
        if (r < 0) {
                struct bg_error e = {0};
                rm_rf(tmp, &e);
                return r;
        }
        r = image_set_result(s, ctx, j->name, err);
        if (r >= 0)
                log_info("image %s published from %s %s (init: %s, sshd: %s)", j->name, j->ref,
                         img->manifest_digest, info.has_init ? info.init_path : "none",
                         info.has_sshd ? info.sshd_path : "none");
        return r;
}

int imagesvc_image_pull(struct imagesvc *v, const Banger__V1__PullImageRequest *in,
                        Banger__V1__Operation *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        struct imagestore *s = v->images;
        if (!in->reference[0])
                return bg_error_set(err, EINVAL,
                                    "which image? give a reference such as debian:bookworm");
        if (in->catalog)
                return image_pull_catalog(s, in, out, err);
        if (in->catalog_url[0])
                return bg_error_set(err, EINVAL, "catalog_url is for catalog pulls only");
        struct oci_ref ref = {0};
        int r = oci_ref_parse(in->reference, &ref, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *canon = oci_ref_to_string(&ref);
        char name[IMAGE_NAME_MAX + 1];
        if (in->name[0]) {
                r = image_check_name(in->name, err);
                snprintf(name, sizeof(name), "%s", in->name);
        } else {
                r = image_default_name(&ref, name, sizeof(name), err);
        }
        oci_ref_done(&ref);
        if (r < 0)
                return r;
        if (!canon)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (strlen(canon) >= sizeof(((struct pull_job *)0)->ref))
                return bg_error_set(err, ENAMETOOLONG, "reference is too long");
        if (in->platform[0]) {
                struct oci_platform p;
                r = oci_platform_parse(in->platform, &p, err);
                if (r < 0)
                        return r;
                if (strlen(in->platform) >= sizeof(((struct pull_job *)0)->platform))
                        return bg_error_set(err, EINVAL, "platform '%.40s…' is too long",
                                            in->platform);
        }
        if (in->size_bytes && (in->size_bytes < (64ull << 20) || in->size_bytes > (1ull << 40)))
                return bg_error_set(err, EINVAL, "image size must be 64 MiB..1 TiB");

        struct pull_job *j = calloc(1, sizeof(*j));
        if (!j)
                return bg_error_set(err, ENOMEM, "out of memory");
        j->s = s;
        snprintf(j->name, sizeof(j->name), "%s", name);
        snprintf(j->ref, sizeof(j->ref), "%s", canon);
        snprintf(j->platform, sizeof(j->platform), "%s", in->platform);
        j->size = in->size_bytes;

        struct image_row row;
        struct bg_error e = {0};
        if (image_row_get(s, name, &row, &e) == 0) {
                if (!streq(row.ref, canon) || !row.digest[0]) {
                        free(j);
                        return bg_error_set(err, EEXIST,
                                            "image %s already exists (from %s); delete it first "
                                            "or pull under another --name",
                                            name, row.ref);
                }
                snprintf(j->existing, sizeof(j->existing), "%s", row.digest);
                j->has_existing = true;
        }

        pthread_mutex_lock(&s->mu);
        s->pulls++;
        pthread_mutex_unlock(&s->mu);
        static const char *const stages[] = {"download", "flatten", "guest", "publish"};
        struct ops_start os = {
            .kind = "image.pull",
            .target = j->name,
            .stages = stages,
            .n_stages = ELEMENTSOF(stages),
            .dedup = true,
            .fn = pull_work,
            .userdata = j,
            .free_userdata = pull_job_free,
        };
        return ops_start_fill(s->ops, &os, out, err);
}

/* Calls fn for every file in CACHE/oci/blobs/sha256; stops on fn < 0. */
static int for_each_blob(struct imagestore *s,
                         int (*fn)(const char *path, const char *name, const struct stat *st,
                                   void *ud),
                         void *ud, struct bg_error *err)
{
        char dir[PATH_MAX + 32];
        snprintf(dir, sizeof(dir), "%s/blobs/sha256", s->cache_dir);
        DIR *dh = opendir(dir);
        if (!dh)
                return errno == ENOENT ? 0 : bg_error_errno(err, -errno, "open %s", dir);
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(dh))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char p[PATH_MAX + 300];
                snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                struct stat st;
                if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                r = fn(p, de->d_name, &st, ud);
        }
        closedir(dh);
        return r;
}

static int remove_partial(const char *path, const char *name, const struct stat *st, void *ud)
{
        (void)st;
        (void)ud;
        if (strncmp(name, ".tmp-", 5) == 0 && unlink(path) == 0)
                log_info("removed a partial download: %s", path);
        return 0;
}

void image_cache_recover(struct imagestore *s)
{
        struct bg_error e = {0};
        for_each_blob(s, remove_partial, NULL, &e);
}

struct prune_acc {
        bool dry_run;
        uint64_t blobs, bytes;
        struct bg_error *err;
};

static int prune_one(const char *path, const char *name, const struct stat *st, void *ud)
{
        struct prune_acc *a = ud;
        if (!a->dry_run && unlink(path) < 0 && errno != ENOENT)
                return bg_error_errno(a->err, -errno, "remove %s", path);
        if (strncmp(name, ".tmp-", 5) != 0)
                a->blobs++;
        a->bytes += (uint64_t)st->st_size;
        return 0;
}

int imagesvc_image_prune_cache(struct imagesvc *v, const Banger__V1__PruneImageCacheRequest *in,
                               Banger__V1__PruneImageCacheResponse *out,
                               const struct rpc_call *call, struct bg_error *err)
{
        struct imagestore *s = v->images;
        struct prune_acc a = {.dry_run = in->dry_run, .err = err};
        pthread_mutex_lock(&s->mu);
        int r;
        if (s->pulls > 0)
                r = bg_error_set(err, EBUSY,
                                 "%u image pull%s running; prune the cache when %s finished",
                                 s->pulls, s->pulls == 1 ? " is" : "s are",
                                 s->pulls == 1 ? "it has" : "they have");
        else
                r = for_each_blob(s, prune_one, &a, err);
        pthread_mutex_unlock(&s->mu);
        if (r < 0)
                return r;
        out->blobs = a.blobs;
        out->bytes = a.bytes;
        log_info("image cache prune%s: %llu blobs, %llu bytes", a.dry_run ? " (dry run)" : "",
                 (unsigned long long)a.blobs, (unsigned long long)a.bytes);
        return 0;
}
