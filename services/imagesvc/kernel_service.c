#include "kernel_service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "in_use.h"
#include "bzimage.h"
#include "imagesvc.h"
#include "kernel_build.h"
#include "kernel_fetch.h"
#include "kernel_pull.h"
#include "kernel_store.h"
#include "kernel_util.h"
#include "log/log.h"
#include "ops.h"
#include "store/store.h"
#include "util/macro.h"
#include "util/timeutil.h"

struct kernelsvc {
        struct daemon *d;
        sqlite3 *db; /* our own connection to images.db, used under db_lock */
        pthread_mutex_t db_lock;
        struct ops_registry *ops;
        char kernels_dir[PATH_MAX];
        char cache_dir[PATH_MAX];

        /* Names with an operation in progress (per-name lock). */
        pthread_mutex_t names_lock;
        pthread_cond_t names_cond;
        char **busy;
        size_t n_busy, cap_busy;

        /* The last Debian catalog read (Catalog): one read at a time, its
         * answer kept for CATALOG_KEEP_MS for the same mirror. */
        pthread_mutex_t cat_lock;
        struct kernel_debian_entry *cat;
        size_t n_cat;
        char *cat_origin;
        char *cat_mirror;
        int64_t cat_ms;
};

#define CATALOG_KEEP_MS (10 * 60 * 1000)

/* ---- per-name lock ---- */

static ssize_t busy_index(struct kernelsvc *ks, const char *name)
{
        for (size_t i = 0; i < ks->n_busy; i++)
                if (streq(ks->busy[i], name))
                        return (ssize_t)i;
        return -1;
}

static int busy_add_locked(struct kernelsvc *ks, const char *name)
{
        if (ks->n_busy == ks->cap_busy) {
                size_t cap = ks->cap_busy ? ks->cap_busy * 2 : 8;
                char **v = realloc(ks->busy, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                ks->busy = v;
                ks->cap_busy = cap;
        }
        ks->busy[ks->n_busy] = strdup(name);
        if (!ks->busy[ks->n_busy])
                return -ENOMEM;
        ks->n_busy++;
        return 0;
}

/* Waits (cancellably) until no other operation holds name, then holds it. */
static int name_lock(struct kernelsvc *ks, const char *name, struct ops_ctx *ctx,
                     struct bg_error *err)
{
        pthread_mutex_lock(&ks->names_lock);
        while (busy_index(ks, name) >= 0) {
                if (ctx && ops_ctx_cancelled(ctx)) {
                        pthread_mutex_unlock(&ks->names_lock);
                        return bg_error_set(err, ECANCELED, "cancelled");
                }
                struct timespec ts = timespec_after_ms(CLOCK_REALTIME, 200);
                pthread_cond_timedwait(&ks->names_cond, &ks->names_lock, &ts);
        }
        int r = busy_add_locked(ks, name);
        pthread_mutex_unlock(&ks->names_lock);
        return r < 0 ? bg_error_set(err, ENOMEM, "out of memory") : 0;
}

static bool name_trylock(struct kernelsvc *ks, const char *name)
{
        pthread_mutex_lock(&ks->names_lock);
        bool ok = busy_index(ks, name) < 0 && busy_add_locked(ks, name) >= 0;
        pthread_mutex_unlock(&ks->names_lock);
        return ok;
}

static void name_unlock(struct kernelsvc *ks, const char *name)
{
        pthread_mutex_lock(&ks->names_lock);
        ssize_t i = busy_index(ks, name);
        if (i >= 0) {
                free(ks->busy[i]);
                ks->busy[i] = ks->busy[--ks->n_busy];
        }
        pthread_cond_broadcast(&ks->names_cond);
        pthread_mutex_unlock(&ks->names_lock);
}

/* ---- start-up and shutdown ---- */

/* Remove build leftovers and kernel directories without a row. */
static void reconcile(struct kernelsvc *ks)
{
        DIR *d = opendir(ks->kernels_dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char p[PATH_MAX + 260];
                snprintf(p, sizeof(p), "%s/%s", ks->kernels_dir, de->d_name);
                struct bg_error err = {0};
                bool remove = false;
                if (strncmp(de->d_name, ".tmp-", 5) == 0) {
                        remove = true;
                } else if (kernel_name_valid(de->d_name)) {
                        int r = kernel_store_exists(ks->db, de->d_name, &err);
                        remove = r == 0;
                }
                if (!remove)
                        continue;
                log_info("removing leftover kernel directory %s", p);
                if (rm_rf(p, &err) < 0)
                        log_warn("cannot remove %s: %s", p, err.msg);
        }
        closedir(d);
        d = opendir(ks->cache_dir);
        if (!d)
                return;
        /* Downloads in progress are hidden temporary files (atomic_file);
         * older versions named them *.download-* and *.part-*. */
        while ((de = readdir(d)))
                if ((de->d_name[0] == '.' && !streq(de->d_name, ".") && !streq(de->d_name, "..")) ||
                    strstr(de->d_name, ".download-") || strstr(de->d_name, ".part-")) {
                        char p[PATH_MAX + 260];
                        snprintf(p, sizeof(p), "%s/%s", ks->cache_dir, de->d_name);
                        unlink(p);
                }
        closedir(d);
}

int kernelsvc_new(struct daemon *d, struct kernelsvc **ret, struct bg_error *err)
{
        struct kernelsvc *ks = calloc(1, sizeof(*ks));
        if (!ks)
                return bg_error_set(err, ENOMEM, "out of memory");
        ks->d = d;
        pthread_mutex_init(&ks->db_lock, NULL);
        pthread_mutex_init(&ks->cat_lock, NULL);
        pthread_mutex_init(&ks->names_lock, NULL);
        pthread_cond_init(&ks->names_cond, NULL);
        int r;
        snprintf(ks->kernels_dir, sizeof(ks->kernels_dir), "%s/kernels", d->paths.state_dir);
        snprintf(ks->cache_dir, sizeof(ks->cache_dir), "%s/kernels", d->paths.cache_dir);
        if ((r = mkdir_p(ks->kernels_dir, 0700)) < 0 || (r = mkdir_p(ks->cache_dir, 0700)) < 0) {
                bg_error_set(err, -r, "create %s or %s: %s", ks->kernels_dir, ks->cache_dir,
                             strerror(-r));
                goto fail;
        }
        char db[512];
        r = bg_paths_db(&d->paths, "images", db, sizeof(db));
        if (r < 0) {
                bg_error_set(err, -r, "database path is too long");
                goto fail;
        }
        r = store_open(db, imagesvc_migrations, imagesvc_n_migrations, &ks->db, err);
        if (r < 0)
                goto fail;
        r = ops_registry_new(0, &ks->ops, err);
        if (r < 0)
                goto fail;
        reconcile(ks);
        *ret = ks;
        return 0;
fail:
        kernelsvc_free(ks);
        return r;
}

struct kernelsvc *kernelsvc_free(struct kernelsvc *ks)
{
        if (!ks)
                return NULL;
        ops_registry_free(ks->ops);
        if (ks->db)
                store_close(ks->db);
        for (size_t i = 0; i < ks->n_busy; i++)
                free(ks->busy[i]);
        free(ks->busy);
        pthread_cond_destroy(&ks->names_cond);
        kernel_debian_entries_free(ks->cat, ks->n_cat);
        free(ks->cat_origin);
        free(ks->cat_mirror);
        pthread_mutex_destroy(&ks->cat_lock);
        pthread_mutex_destroy(&ks->names_lock);
        pthread_mutex_destroy(&ks->db_lock);
        free(ks);
        return NULL;
}

/* ---- the work ---- */

enum job_kind { JOB_IMPORT, JOB_PULL_DEBIAN, JOB_PULL_CATALOG };

struct job {
        struct kernelsvc *ks;
        enum job_kind kind;
        char *name;
        char *path;        /* import */
        char *initrd;      /* import, may be NULL */
        char *modules_dir; /* import, may be NULL */
        char *catalog_url; /* pull --catalog */
        char *mirror;      /* pull debian: config kernel.debian_mirror */
        char *agent;
};

static void job_free(void *p)
{
        struct job *j = p;
        if (!j)
                return;
        free(j->name);
        free(j->path);
        free(j->initrd);
        free(j->modules_dir);
        free(j->catalog_url);
        free(j->mirror);
        free(j->agent);
        free(j);
}

/* A job of kind for name, with the guest agent found first (without it the
 * install is incomplete: FAILED_PRECONDITION). NULL with err filled. */
static struct job *job_new(struct kernelsvc *ks, enum job_kind kind, const char *name,
                           struct bg_error *err)
{
        char agent[PATH_MAX];
        if (kernel_agent_path(agent, sizeof(agent), err) < 0) {
                err->code = EBUSY;
                return NULL;
        }
        struct job *j = calloc(1, sizeof(*j));
        if (j) {
                j->ks = ks;
                j->kind = kind;
                j->name = strdup(name);
                j->agent = strdup(agent);
        }
        if (!j || !j->name || !j->agent) {
                job_free(j);
                bg_error_set(err, ENOMEM, "out of memory");
                return NULL;
        }
        return j;
}

static char *strdup_or_null(const char *s)
{
        return s && s[0] ? strdup(s) : NULL;
}

/* Move the finished build directory to kernels/<name> and record it, under
 * the database lock. replace: swap with an existing kernel of that name. */
static int publish(struct kernelsvc *ks, const char *tmp, Banger__V1__Kernel *k, bool replace,
                   struct bg_error *err)
{
        char final[PATH_MAX + 80];
        snprintf(final, sizeof(final), "%s/%s", ks->kernels_dir, k->name);
        pthread_mutex_lock(&ks->db_lock);
        int r = kernel_store_exists(ks->db, k->name, err);
        if (r < 0)
                goto out;
        bool exists = r > 0;
        if (exists && !replace) {
                r = bg_error_set(err, EEXIST,
                                 "kernel '%s' already exists; delete it first (banger kernel "
                                 "delete %s)",
                                 k->name, k->name);
                goto out;
        }
        struct stat st;
        bool on_disk = lstat(final, &st) == 0;
        if (exists && on_disk) {
                /* Atomic swap: readers see the old or the new kernel, never a mix. */
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) < 0) {
                        r = bg_error_set(err, errno, "replace %s: %s", final, strerror(errno));
                        goto out;
                }
                r = kernel_store_put(ks->db, k, err);
                if (r < 0)
                        (void)renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE);
                /* On success tmp now holds the old kernel; the caller removes it. */
                goto out;
        }
        if (on_disk) {
                /* A directory without a row (a crash between rename and commit). */
                r = rm_rf(final, err);
                if (r < 0)
                        goto out;
        }
        if (rename(tmp, final) < 0) {
                r = bg_error_set(err, errno, "publish %s: %s", final, strerror(errno));
                goto out;
        }
        r = kernel_store_put(ks->db, k, err);
        if (r < 0)
                (void)rename(final, tmp);
out:
        pthread_mutex_unlock(&ks->db_lock);
        return r;
}

static int run_job(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct job *j = ud;
        struct kernelsvc *ks = j->ks;
        int r = name_lock(ks, j->name, ctx, err);
        if (r < 0)
                return r;

        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", ks->kernels_dir);
        if (!mkdtemp(tmp)) {
                r = bg_error_set(err, errno, "create a build directory in %s: %s", ks->kernels_dir,
                                 strerror(errno));
                name_unlock(ks, j->name);
                return r;
        }
        char work[PATH_MAX + 16];
        snprintf(work, sizeof(work), "%s/.src", tmp);
        struct kernel_src src = {0};
        Banger__V1__Kernel built = BANGER__V1__KERNEL__INIT;
        bool have_built = false;

        if (j->kind != JOB_IMPORT) {
                if (mkdir(work, 0700) < 0) {
                        r = bg_error_set(err, errno, "create %s: %s", work, strerror(errno));
                        goto out;
                }
                struct kernel_pull_env env = {.cache_dir = ks->cache_dir,
                                              .work_dir = work,
                                              .debian_mirror = j->mirror,
                                              .ctx = ctx};
                if (j->kind == JOB_PULL_DEBIAN)
                        r = kernel_pull_debian(&env, j->name, &src, err);
                else
                        r = kernel_pull_catalog(&env, j->catalog_url, j->name, &src, err);
                if (r < 0)
                        goto out;
                /* Pulled the same image again: nothing to rebuild. */
                struct kernel_image_info info;
                Banger__V1__Kernel cur = BANGER__V1__KERNEL__INIT;
                pthread_mutex_lock(&ks->db_lock);
                int have = kernel_store_get(ks->db, ks->kernels_dir, j->name, &cur, NULL);
                pthread_mutex_unlock(&ks->db_lock);
                if (have >= 0 && kernel_image_inspect(src.image, &info, NULL) >= 0 &&
                    streq(info.sha256, cur.sha256)) {
                        ops_ctx_stage(ctx, "publish");
                        r = ops_ctx_set_result(ctx, &cur.base);
                        kernel_clear(&cur);
                        if (r < 0)
                                r = bg_error_set(err, ENOMEM, "out of memory");
                        goto out;
                }
                kernel_clear(&cur);
        }

        struct kernel_build_req br = {
            .name = j->name,
            .image = j->kind == JOB_IMPORT ? j->path : src.image,
            .initrd = j->initrd,
            .modules_dir = j->kind == JOB_IMPORT ? j->modules_dir : src.modules_dir,
            .release_hint = src.release,
            .source = j->kind == JOB_IMPORT ? j->path : src.source,
            .agent_path = j->agent,
        };
        r = kernel_build(&br, tmp, ctx, &built, err);
        if (r < 0)
                goto out;
        have_built = true;
        /* Only the artifacts are published. */
        struct bg_error e2 = {0};
        if (rm_rf(work, &e2) < 0)
                log_warn("cannot remove %s: %s", work, e2.msg);
        if (ops_ctx_cancelled(ctx)) {
                r = bg_error_set(err, ECANCELED, "cancelled");
                goto out;
        }

        ops_ctx_stage(ctx, "publish");
        r = publish(ks, tmp, &built, j->kind != JOB_IMPORT, err);
        if (r < 0)
                goto out;
        Banger__V1__Kernel res = BANGER__V1__KERNEL__INIT;
        pthread_mutex_lock(&ks->db_lock);
        r = kernel_store_get(ks->db, ks->kernels_dir, j->name, &res, err);
        pthread_mutex_unlock(&ks->db_lock);
        if (r >= 0) {
                if (ops_ctx_set_result(ctx, &res.base) < 0)
                        r = bg_error_set(err, ENOMEM, "out of memory");
                kernel_clear(&res);
        }
        if (r >= 0)
                log_info("kernel %s %s (%s) published", j->name, built.version, built.format);
out:
        kernel_src_done(&src);
        if (have_built)
                kernel_clear(&built);
        /* tmp holds a failed build, or the replaced kernel; either way it goes. */
        struct bg_error e3 = {0};
        if (rm_rf(tmp, &e3) < 0)
                log_warn("cannot remove %s: %s", tmp, e3.msg);
        name_unlock(ks, j->name);
        if (r < 0 && r != -ECANCELED)
                log_warn("kernel %s: %s", j->name, err->msg);
        return r;
}

static const char *const import_stages[] = {"queued",    "inspect", "vmlinux",
                                            "initramfs", "modules", "publish"};
static const char *const debian_stages[] = {"queued",    "release", "index",   "download",
                                            "extract",   "depmod",  "inspect", "vmlinux",
                                            "initramfs", "modules", "publish"};
static const char *const catalog_stages[] = {"queued",  "catalog", "download", "extract",
                                             "depmod",  "inspect", "vmlinux",  "initramfs",
                                             "modules", "publish"};

static int start_job(struct kernelsvc *ks, struct job *j, Banger__V1__Operation *out,
                     struct bg_error *err)
{
        struct ops_start s = {.dedup = true, .fn = run_job, .free_userdata = job_free};
        switch (j->kind) {
        case JOB_IMPORT:
                s.kind = "kernel.import";
                s.stages = import_stages;
                s.n_stages = ELEMENTSOF(import_stages);
                break;
        case JOB_PULL_DEBIAN:
                s.kind = "kernel.pull";
                s.stages = debian_stages;
                s.n_stages = ELEMENTSOF(debian_stages);
                break;
        case JOB_PULL_CATALOG:
                s.kind = "kernel.pull";
                s.stages = catalog_stages;
                s.n_stages = ELEMENTSOF(catalog_stages);
                break;
        }
        char name[80];
        snprintf(name, sizeof(name), "%s", j->name);
        s.target = name;
        s.userdata = j;
        char id[OPS_ID_LEN + 1];
        bool reused = false;
        int r = ops_start(ks->ops, &s, id, &reused, err);
        if (r < 0)
                return r;
        log_info("%s %s: operation %s%s", s.kind, name, id, reused ? " (already running)" : "");
        return ops_fill(ks->ops, id, out, err);
}

/* ---- validation helpers ---- */

static int check_abs_path(const char *what, const char *p, bool dir, struct bg_error *err)
{
        if (!p || !p[0])
                return bg_error_set(err, EINVAL, "%s is required", what);
        if (p[0] != '/')
                return bg_error_set(err, EINVAL, "%s '%.200s' must be an absolute path", what, p);
        if (strlen(p) >= PATH_MAX - 64)
                return bg_error_set(err, ENAMETOOLONG, "%s is too long", what);
        struct stat st;
        if (stat(p, &st) < 0)
                return bg_error_set(err, errno == ENOENT ? ENOENT : errno, "%s %.200s: %s", what, p,
                                    strerror(errno));
        if (dir && !S_ISDIR(st.st_mode))
                return bg_error_set(err, EINVAL, "%s %.200s is not a directory", what, p);
        if (!dir && !S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s %.200s is not a regular file", what, p);
        if (access(p, R_OK) < 0)
                return bg_error_set(err, EACCES, "%s %.200s is not readable by banger", what, p);
        return 0;
}

static int check_exists(struct kernelsvc *ks, const char *name, struct bg_error *err)
{
        pthread_mutex_lock(&ks->db_lock);
        int r = kernel_store_exists(ks->db, name, err);
        pthread_mutex_unlock(&ks->db_lock);
        if (r > 0)
                return bg_error_set(err, EEXIST,
                                    "kernel '%s' already exists; delete it first (banger kernel "
                                    "delete %s)",
                                    name, name);
        return r;
}

/* ---- handlers ---- */

int kernelsvc_import(struct imagesvc *v, const Banger__V1__ImportKernelRequest *in,
                     Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        int r = check_abs_path("kernel image", in->path, false, err);
        if (r < 0)
                return r;
        if (in->initrd[0] && (r = check_abs_path("initrd", in->initrd, false, err)) < 0)
                return r;
        if (in->modules_dir[0] &&
            (r = check_abs_path("modules directory", in->modules_dir, true, err)) < 0)
                return r;
        char name[80];
        if (in->name[0]) {
                r = kernel_check_name("kernel name", in->name, err);
                if (r < 0)
                        return r;
                snprintf(name, sizeof(name), "%s", in->name);
        } else {
                /* Default name: the release the image reports. */
                struct kernel_image_info info;
                r = kernel_image_inspect(in->path, &info, err);
                if (r < 0)
                        return r;
                if (!kernel_name_valid(info.version))
                        return bg_error_set(err, EINVAL,
                                            "%.200s reports kernel version '%s', which is not a "
                                            "usable name; give one with --name",
                                            in->path, info.version);
                snprintf(name, sizeof(name), "%s", info.version);
        }
        r = check_exists(ks, name, err);
        if (r < 0)
                return r;
        struct job *j = job_new(ks, JOB_IMPORT, name, err);
        if (!j)
                return -err->code;
        j->path = strdup(in->path);
        j->initrd = strdup_or_null(in->initrd);
        j->modules_dir = strdup_or_null(in->modules_dir);
        if (!j->path || (in->initrd[0] && !j->initrd) || (in->modules_dir[0] && !j->modules_dir)) {
                job_free(j);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        return start_job(ks, j, out, err);
}

int kernelsvc_pull(struct imagesvc *v, const Banger__V1__PullKernelRequest *in,
                   Banger__V1__Operation *out, const struct rpc_call *call, struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        int r = kernel_check_name("kernel name", in->name, err);
        if (r < 0)
                return r;
        bool catalog = in->catalog_url[0] != '\0';
        if (catalog && !kernel_url_allowed(in->catalog_url, true))
                return bg_error_set(err, EINVAL,
                                    "catalog URL '%.200s' must be http://, https:// or file:/// "
                                    "(at most 2048 characters)",
                                    in->catalog_url);
        if (!catalog && !kernel_debian_name(in->name))
                return bg_error_set(err, ENOENT,
                                    "no kernel '%s' in the Debian catalog (names like %s or "
                                    "debian-RELEASE; `banger kernel catalog` lists them); use "
                                    "--catalog URL for others",
                                    in->name, KERNEL_BUILTIN_DEBIAN);
        struct job *j = job_new(ks, catalog ? JOB_PULL_CATALOG : JOB_PULL_DEBIAN, in->name, err);
        if (!j)
                return -err->code;
        j->catalog_url = strdup_or_null(in->catalog_url);
        const char *mirror = ks->d->cfg.kernel.debian_mirror;
        j->mirror = strdup(mirror ? mirror : "");
        if (!j->mirror || (catalog && !j->catalog_url)) {
                job_free(j);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        return start_job(ks, j, out, err);
}

int kernelsvc_get_operation(struct imagesvc *v, const Banger__V1__GetOperationRequest *in,
                            Banger__V1__Operation *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        return ops_rpc_get(v->kernels->ops, in, out, err);
}

int kernelsvc_cancel_operation(struct imagesvc *v, const Banger__V1__CancelOperationRequest *in,
                               Banger__V1__Operation *out, const struct rpc_call *call,
                               struct bg_error *err)
{
        int r = ops_rpc_cancel(v->kernels->ops, in, out, err);
        if (r >= 0)
                log_info("operation %s: cancel requested", in->id);
        return r;
}

int kernelsvc_list_operations(struct imagesvc *v, const Banger__V1__ListOperationsRequest *in,
                              Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                              struct bg_error *err)
{
        return ops_rpc_list(v->kernels->ops, in, out, err);
}

int kernelsvc_list(struct imagesvc *v, const Banger__V1__ListKernelsRequest *in,
                   Banger__V1__ListKernelsResponse *out, const struct rpc_call *call,
                   struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        pthread_mutex_lock(&ks->db_lock);
        int r = kernel_store_list(ks->db, ks->kernels_dir, out, err);
        pthread_mutex_unlock(&ks->db_lock);
        return r;
}

int kernelsvc_show(struct imagesvc *v, const Banger__V1__ShowKernelRequest *in,
                   Banger__V1__Kernel *out, const struct rpc_call *call, struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        int r = kernel_check_name("kernel name", in->name, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ks->db_lock);
        r = kernel_store_get(ks->db, ks->kernels_dir, in->name, out, err);
        pthread_mutex_unlock(&ks->db_lock);
        return r;
}

int kernelsvc_delete(struct imagesvc *v, const Banger__V1__DeleteKernelRequest *in,
                     Banger__V1__DeleteKernelResponse *out, const struct rpc_call *call,
                     struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        int r = kernel_check_name("kernel name", in->name, err);
        if (r < 0)
                return r;
        r = imagesvc_check_unused(v, IN_USE_KERNEL, in->name, err);
        if (r < 0)
                return r;
        if (!name_trylock(ks, in->name))
                return bg_error_set(err, EBUSY,
                                    "kernel '%s' is being imported or pulled; wait for that "
                                    "operation (banger kernel ops) and try again",
                                    in->name);
        char dir[PATH_MAX + 80], trash[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", ks->kernels_dir, in->name);
        pthread_mutex_lock(&ks->db_lock);
        r = kernel_store_delete(ks->db, in->name, err);
        pthread_mutex_unlock(&ks->db_lock);
        if (r >= 0) {
                /* Out of sight first (one rename), then removed. */
                snprintf(trash, sizeof(trash), "%s/.tmp-delete-XXXXXX", ks->kernels_dir);
                if (mkdtemp(trash) && rename(dir, trash) == 0) {
                        struct bg_error e2 = {0};
                        if (rm_rf(trash, &e2) < 0)
                                log_warn("cannot remove %s: %s", trash, e2.msg);
                } else {
                        struct bg_error e2 = {0};
                        rmdir(trash);
                        if (rm_rf(dir, &e2) < 0)
                                log_warn("cannot remove %s: %s", dir, e2.msg);
                }
                log_info("kernel %s deleted", in->name);
        }
        name_unlock(ks, in->name);
        return r;
}

/* Fills out from the kept catalog (under cat_lock). */
static int catalog_fill(const struct kernelsvc *ks, Banger__V1__KernelCatalogResponse *out,
                        struct bg_error *err)
{
        out->origin = strdup(ks->cat_origin);
        out->fetched_unix_ms = ks->cat_ms;
        out->entries = calloc(ks->n_cat ? ks->n_cat : 1, sizeof(*out->entries));
        if (!out->origin || !out->entries)
                return bg_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < ks->n_cat; i++) {
                const struct kernel_debian_entry *e = &ks->cat[i];
                Banger__V1__KernelCatalogEntry *x = malloc(sizeof(*x));
                if (!x)
                        return bg_error_set(err, ENOMEM, "out of memory");
                banger__v1__kernel_catalog_entry__init(x);
                out->entries[out->n_entries++] = x;
                x->name = strdup(e->name);
                x->package = strdup(e->package);
                x->image_package = strdup(e->image_package);
                x->version = strdup(e->version);
                x->release = strdup(e->release);
                x->size = e->size;
                x->tracks_latest = e->tracks_latest;
                if (!x->name || !x->package || !x->image_package || !x->version || !x->release)
                        return bg_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
}

int kernelsvc_catalog(struct imagesvc *v, const Banger__V1__KernelCatalogRequest *in,
                      Banger__V1__KernelCatalogResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        struct kernelsvc *ks = v->kernels;
        const char *mirror = ks->d->cfg.kernel.debian_mirror ? ks->d->cfg.kernel.debian_mirror : "";
        int64_t now = (int64_t)now_real_msec();
        int r = 0;
        /* One read of the mirror at a time; callers meanwhile wait for its
         * answer instead of starting their own. */
        pthread_mutex_lock(&ks->cat_lock);
        if (in->refresh || !ks->cat_origin || !streq(ks->cat_mirror, mirror) ||
            now - ks->cat_ms >= CATALOG_KEEP_MS || now < ks->cat_ms) {
                char work[PATH_MAX];
                snprintf(work, sizeof(work), "%s/.tmp-catalog-XXXXXX", ks->kernels_dir);
                if (!mkdtemp(work)) {
                        r = bg_error_set(err, errno, "create a directory in %s: %s",
                                         ks->kernels_dir, strerror(errno));
                        goto out;
                }
                struct kernel_pull_env env = {
                    .cache_dir = ks->cache_dir, .work_dir = work, .debian_mirror = mirror};
                struct kernel_debian_entry *cat = NULL;
                size_t n = 0;
                char *origin = NULL, *m = strdup(mirror);
                r = m ? kernel_catalog_debian(&env, &cat, &n, &origin, err)
                      : bg_error_set(err, ENOMEM, "out of memory");
                struct bg_error e2 = {0};
                if (rm_rf(work, &e2) < 0)
                        log_warn("cannot remove %s: %s", work, e2.msg);
                if (r < 0) {
                        free(m);
                        goto out;
                }
                kernel_debian_entries_free(ks->cat, ks->n_cat);
                free(ks->cat_origin);
                free(ks->cat_mirror);
                ks->cat = cat;
                ks->n_cat = n;
                ks->cat_origin = origin;
                ks->cat_mirror = m;
                ks->cat_ms = (int64_t)now_real_msec();
                log_info("kernel catalog: %zu entries from %s", n, origin);
        }
        r = catalog_fill(ks, out, err);
out:
        pthread_mutex_unlock(&ks->cat_lock);
        return r;
}
