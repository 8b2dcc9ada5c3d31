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
#include "ext4.h"
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

#define IMAGE_DEFAULT_SIZE (4ull << 30)

const char *const image_default_packages[] = {
    "systemd-sysv", "openssh-server", "git",  "ca-certificates", "curl", "iproute2",
    "procps",       "less",           "udev", "rsync",           NULL,
};

/* v3: what an image is beyond its name and origin. */
const char image_store_migration_3[] =
    "ALTER TABLE images ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE images ADD COLUMN has_init INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE images ADD COLUMN has_sshd INTEGER NOT NULL DEFAULT 0;";

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
        /* A build that died half-way left only a .tmp- directory. */
        char cmd_dir[PATH_MAX];
        snprintf(cmd_dir, sizeof(cmd_dir), "%s", s->dir);
        DIR *dh = opendir(cmd_dir);
        if (dh) {
                struct dirent *de;
                while ((de = readdir(dh))) {
                        if (strncmp(de->d_name, ".tmp-", 5) != 0)
                                continue;
                        char p[PATH_MAX + 300];
                        snprintf(p, sizeof(p), "%s/%s", s->dir, de->d_name);
                        struct bg_error e = {0};
                        if (rm_rf(p, &e) == 0)
                                log_info("removed the leftovers of an interrupted build or "
                                         "pull: %s",
                                         p);
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
                                    "created_unix_ms FROM images WHERE name = ?",
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
        if (!out->name || !out->ref || !out->digest || !out->dir || !out->rootfs_path ||
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

/* ---- build ---- */

struct build_job {
        struct imagestore *s;
        char name[IMAGE_NAME_MAX + 1];
        char suite[32];
        char mirror[512];
        char packages[2048]; /* comma separated */
        uint64_t size;
        struct ops_ctx *ctx;
        pid_t child;
};

static void build_progress(void *ud, int pass, size_t layer, uint64_t done, uint64_t total)
{
        struct build_job *j = ud;
        ops_ctx_progress(j->ctx, done, total);
}

/* The guest files tree shipped with the services (build tree or install). */
static int guest_files_dir(char *buf, size_t len, struct bg_error *err)
{
        const char *env = getenv("BANGER_GUEST_FILES");
        if (env && env[0]) {
                snprintf(buf, len, "%s", env);
                return access(buf, R_OK) == 0
                           ? 0
                           : bg_error_set(err, ENOENT, "BANGER_GUEST_FILES=%s: %s", env,
                                          strerror(errno));
        }
        char self[PATH_MAX];
        int r = bg_paths_self_dir(self, sizeof(self));
        if (r < 0)
                return bg_error_errno(err, r, "readlink /proc/self/exe");
        if (bg_paths_asset(BG_ASSET_GUEST_FILES, self, buf, len) == 0)
                return 0;
        return bg_error_set(err, ENOENT,
                            "banger's guest files were not found in %s/../share/banger or "
                            "%s/../../share/banger; reinstall banger (`banger system install`), "
                            "build the project, or set BANGER_GUEST_FILES",
                            self, self);
}

static int copy_into_image(struct ext4_fs *fs, const char *host, const char *path, mode_t mode,
                           struct bg_error *err)
{
        int fd = open(host, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", host);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct ext4_meta m = {.mode = S_IFREG | mode, .atime = now, .mtime = now, .ctime = now};
        struct ext4_meta dm = {.mode = S_IFDIR | 0755, .atime = now, .mtime = now, .ctime = now};
        struct ext4_file *f = NULL;
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        int r = 0;
        if (slash && slash != parent) {
                *slash = '\0';
                r = ext4_mkdir_p(fs, parent, &dm, err); /* minimal images lack /usr/sbin */
        }
        if (r >= 0)
                r = ext4_file_create(fs, path, &m, &f, err);
        char buf[1 << 16];
        ssize_t k;
        while (r >= 0 && (k = read(fd, buf, sizeof(buf))) > 0)
                r = ext4_file_write(f, buf, (size_t)k, err);
        if (f) {
                int c = ext4_file_close(f, err);
                if (r >= 0)
                        r = c;
        }
        close(fd);
        return r;
}

/* Installs the agent, its units and the sshd drop-in; removes the host keys
 * mmdebstrap generated (every VM gets its own from vmsvc). */
int image_install_guest_files(struct ext4_fs *fs, struct bg_error *err)
{
        char dir[PATH_MAX], agent[PATH_MAX];
        int r = guest_files_dir(dir, sizeof(dir), err);
        if (r < 0)
                return r;
        r = kernel_agent_path(agent, sizeof(agent), err);
        if (r < 0)
                return r;
        struct ext4_tree_opts to = {.override_owner = true,
                                    .uid = 0,
                                    .gid = 0,
                                    .no_xattrs = true,
                                    .keep_existing_dirs = true};
        r = ext4_add_tree(fs, dir, "/", &to, err);
        if (r < 0)
                return bg_error_prefix(err, "install guest files");
        /* guest-files carries a README for people; not for the image */
        struct bg_error ign = {0};
        ext4_unlink(fs, "/README.md", &ign);
        r = copy_into_image(fs, agent, "/usr/sbin/banger-agent", 0755, err);
        if (r < 0)
                return bg_error_prefix(err, "install the guest agent");
        static const char *const keys[] = {
            "/etc/ssh/ssh_host_rsa_key",     "/etc/ssh/ssh_host_rsa_key.pub",
            "/etc/ssh/ssh_host_ecdsa_key",   "/etc/ssh/ssh_host_ecdsa_key.pub",
            "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                bg_error_clear(&ign);
                ext4_unlink(fs, keys[i], &ign);
        }
        return 0;
}

/* mmdebstrap's mode. Root builds in a plain chroot. Otherwise unshare mode
 * maps the subordinate ids through setuid newuidmap, which no_new_privs
 * disables (systemd sets it for the imagesvc unit: NoNewPrivileges= and the
 * hardening that implies it); fakechroot mode needs no privilege and yields
 * the same tar, ownership and modes as recorded by fakeroot. */
static const char *mmdebstrap_mode(void)
{
        if (geteuid() == 0)
                return "--mode=root";
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
                return "--mode=fakechroot";
        return "--mode=auto";
}

static bool on_path(const char *name)
{
        char p[PATH_MAX];
        return find_program(name, NULL, p, sizeof(p)) == 0;
}

/* The line of mmdebstrap's log that says why: dpkg's "error processing"
 * with the line after it, else apt's or mmdebstrap's first "E: " line
 * (mmdebstrap's last one is only "mmdebstrap failed to run"), else the last
 * line. "" when the log is empty or unreadable. */
static void mmdebstrap_reason(const char *logpath, char *out, size_t len)
{
        out[0] = '\0';
        FILE *f = fopen(logpath, "re");
        if (!f)
                return;
        char line[512], first_e[512] = "", last[512] = "";
        bool dpkg = false;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (!line[0])
                        continue;
                if (dpkg) { /* the line after "dpkg: error processing ..." */
                        const char *t = line + strspn(line, " ");
                        size_t n = strlen(out);
                        snprintf(out + n, len - n, ": %s", t);
                        fclose(f);
                        return;
                }
                if (strncmp(line, "dpkg: error processing ", 23) == 0) {
                        snprintf(out, len, "%s", line);
                        size_t n = strlen(out);
                        if (n && out[n - 1] == ':')
                                out[n - 1] = '\0';
                        dpkg = true;
                        continue;
                }
                if (!first_e[0] && strncmp(line, "E: ", 3) == 0)
                        snprintf(first_e, sizeof(first_e), "%s", line);
                snprintf(last, sizeof(last), "%s", line);
        }
        fclose(f);
        if (!out[0])
                snprintf(out, len, "%s", first_e[0] ? first_e : last);
}

static int run_mmdebstrap(struct build_job *j, struct ext4_fs *fs, const char *logpath,
                          struct bg_error *err)
{
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "pipe");
        int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0) {
                int e = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return bg_error_errno(err, e, "create %s", logpath);
        }
        char include[2100];
        snprintf(include, sizeof(include), "--include=%s", j->packages);
        /* Not --quiet: apt's and dpkg's own errors are only in the full log. */
        const char *argv[] = {"mmdebstrap",
                              mmdebstrap_mode(),
                              "--variant=apt",
                              "--format=tar",
                              include,
                              j->suite,
                              "-",
                              j->mirror[0] ? j->mirror : NULL,
                              NULL};
        pid_t pid;
        log_info("image %s: mmdebstrap %s %s (log: %s)", j->name, argv[1], j->suite, logpath);
        struct bg_error e = {0};
        int r = bg_run_start(argv, BG_RUN_NULL, pipefd[1], logfd, NULL, &pid, &e);
        close(pipefd[1]);
        close(logfd);
        if (r < 0) {
                close(pipefd[0]);
                return bg_error_set(err, -r, "%s (is mmdebstrap installed?)", e.msg);
        }
        j->child = pid;
        struct oci_flatten_opts fo = {
            .progress = build_progress,
            .userdata = j,
            /* The reader polls it while mmdebstrap is silent (its whole
             * bootstrap), so a cancel or shutdown stops the build at once. */
            .cancel = ops_ctx_cancel_flag(j->ctx),
        };
        struct oci_flatten_stats stats = {0};
        int fr = oci_flatten_tar_fd(fs, pipefd[0], "mmdebstrap output", &fo, &stats, err);
        close(pipefd[0]);
        if (fr < 0)
                kill(pid, SIGTERM);
        int status = bg_run_reap(pid, "mmdebstrap", 0, &e);
        j->child = 0;
        if (ops_ctx_cancelled(j->ctx))
                return bg_error_set(err, ECANCELED, "cancelled");
        if (fr < 0)
                return fr;
        if (status < 0)
                return bg_error_set(err, -status, "%s", e.msg);
        if (status != 0) {
                char why[300];
                mmdebstrap_reason(logpath, why, sizeof(why));
                /* The log first: the reason may be cut to fit. */
                return bg_error_set(err, EIO, "mmdebstrap failed (%s %d; log: %s)%s%s",
                                    status > 128 ? "signal" : "exit",
                                    status > 128 ? status - 128 : status, logpath,
                                    why[0] ? ": " : "", why);
        }
        log_info("image %s: %llu entries, %llu bytes of files from mmdebstrap", j->name,
                 (unsigned long long)stats.entries, (unsigned long long)stats.content_bytes);
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
                                       "created_unix_ms, size, has_init, has_sshd) VALUES "
                                       "(?,?,?,?,?,?,?,?)",
                                       -1, &st, NULL) == SQLITE_OK) {
                        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 2, rec->name, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 3, rec->ref, -1, SQLITE_STATIC);
                        sqlite3_bind_text(st, 4, rec->digest, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 5, (sqlite3_int64)now_real_msec());
                        sqlite3_bind_int64(st, 6, (sqlite3_int64)rec->size);
                        sqlite3_bind_int(st, 7, rec->has_init);
                        sqlite3_bind_int(st, 8, rec->has_sshd);
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

static int build_work(struct ops_ctx *ctx, void *ud, struct bg_error *err)
{
        struct build_job *j = ud;
        struct imagestore *s = j->s;
        char tmp[PATH_MAX], rootfs[PATH_MAX + 32], logpath[PATH_MAX + 32];
        struct ext4_fs *fs = NULL;
        int r;

        j->ctx = ctx;
        snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%s", s->dir, j->name, ops_ctx_id(ctx));
        if (mkdir(tmp, 0700) < 0)
                return bg_error_errno(err, -errno, "create %s", tmp);
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs.ext4", tmp);
        /* Outside the temp dir, so that it outlives a failed build. */
        char logname[IMAGE_NAME_MAX + 32];
        snprintf(logname, sizeof(logname), "image-build-%s", j->name);
        if (bg_paths_log(&s->d->paths, logname, logpath, sizeof(logpath)) < 0) {
                rmdir(tmp);
                return bg_error_set(err, ENAMETOOLONG, "log path too long");
        }
        char logdir[PATH_MAX];
        snprintf(logdir, sizeof(logdir), "%s", logpath);
        *strrchr(logdir, '/') = '\0';
        if (mkdir_p(logdir, 0700) < 0) {
                r = -errno;
                rmdir(tmp);
                return bg_error_errno(err, r, "create %s", logdir);
        }

        ops_ctx_stage(ctx, "bootstrap");
        struct ext4_create_opts co = {.label = "banger-root"};
        r = ext4_create(rootfs, j->size, &co, &fs, err);
        if (r >= 0)
                r = run_mmdebstrap(j, fs, logpath, err);
        struct oci_rootfs_info info = {0};
        bool seeded = false;
        if (r >= 0) {
                ops_ctx_stage(ctx, "guest");
                r = image_install_guest_files(fs, err);
        }
        /* Debian's one dynamic motd script runs (through pam_motd) at every
         * ssh login, a shell and uname each time: a second per connection
         * under emulation, for a banner nobody reads (.hushlogin hides it). */
        if (r >= 0) {
                struct bg_error e = {0};
                int u = ext4_unlink(fs, "/etc/update-motd.d/10-uname", &e);
                if (u < 0 && u != -ENOENT) {
                        *err = e;
                        r = bg_error_prefix(err, "remove /etc/update-motd.d/10-uname");
                }
        }
        if (r >= 0)
                r = image_make_work_seed(fs, tmp, &seeded, err);
        if (r >= 0)
                r = oci_rootfs_inspect(fs, &info, err);
        if (r >= 0) {
                ops_ctx_stage(ctx, "publish");
                r = ext4_close(TAKE_PTR(fs), err);
        }
        if (fs)
                ext4_free(fs);
        if (r >= 0) {
                char ref[64];
                snprintf(ref, sizeof(ref), "mmdebstrap:%s", j->suite);
                struct image_record rec = {.name = j->name,
                                           .ref = ref,
                                           .digest = "",
                                           .size = j->size,
                                           .has_init = info.has_init,
                                           .has_sshd = info.has_sshd};
                r = image_publish(s, tmp, &rec, err);
        }
        if (r < 0) {
                log_warn("image %s: build failed: %s", j->name, err->msg);
                struct bg_error e = {0};
                rm_rf(tmp, &e);
                return r;
        }
        r = image_set_result(s, ctx, j->name, err);
        if (r >= 0)
                log_info("image %s built (init: %s, sshd: %s)", j->name,
                         info.has_init ? "yes" : "no", info.has_sshd ? "yes" : "no");
        return r;
}

static bool pkg_name_valid(const char *p)
{
        size_t n = strlen(p);
        if (n < 1 || n > 100)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
                      p[i] == '+' || p[i] == '.'))
                        return false;
        return true;
}

int imagesvc_image_build(struct imagesvc *v, const Banger__V1__BuildImageRequest *in,
                         Banger__V1__Operation *out, const struct rpc_call *call,
                         struct bg_error *err)
{
        struct imagestore *s = v->images;
        const char *name = in->name[0] ? in->name : v->d->cfg.vm.default_image;
        int r = image_check_name(name, err);
        if (r < 0)
                return r;
        const char *suite = in->suite[0] ? in->suite : "bookworm";
        for (const char *p = suite; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') ||
                    strlen(suite) > 30)
                        return bg_error_set(err, EINVAL,
                                            "suite '%.40s' is not a Debian suite "
                                            "name",
                                            suite);
        if (in->mirror[0] && strncmp(in->mirror, "http://", 7) != 0 &&
            strncmp(in->mirror, "https://", 8) != 0)
                return bg_error_set(err, EINVAL, "mirror '%.80s' must be an http(s) URL",
                                    in->mirror);
        if (in->size_bytes && (in->size_bytes < (256ull << 20) || in->size_bytes > (1ull << 40)))
                return bg_error_set(err, EINVAL, "image size must be 256 MiB..1 TiB");
        if (streq(mmdebstrap_mode(), "--mode=fakechroot") &&
            (!on_path("fakechroot") || !on_path("fakeroot")))
                return bg_error_set(err, ENOPKG,
                                    "imagesvc runs with no_new_privs (the systemd unit's "
                                    "hardening), so mmdebstrap cannot use unshare mode and needs "
                                    "fakechroot mode: install fakechroot and fakeroot "
                                    "(apt-get install fakechroot fakeroot)");
        struct image_row row;
        struct bg_error e = {0};
        if (image_row_get(s, name, &row, &e) == 0)
                return bg_error_set(err, EEXIST, "image %s already exists; delete it first", name);

        struct build_job *j = calloc(1, sizeof(*j));
        if (!j)
                return bg_error_set(err, ENOMEM, "out of memory");
        j->s = s;
        snprintf(j->name, sizeof(j->name), "%s", name);
        snprintf(j->suite, sizeof(j->suite), "%s", suite);
        j->size = in->size_bytes ? in->size_bytes : IMAGE_DEFAULT_SIZE;
        if (in->mirror[0]) {
                snprintf(j->mirror, sizeof(j->mirror), "%s", in->mirror);
        } else if (v->d->cfg.kernel.debian_mirror && v->d->cfg.kernel.debian_mirror[0]) {
                snprintf(j->mirror, sizeof(j->mirror), "%s", v->d->cfg.kernel.debian_mirror);
        }
        size_t n = 0;
        if (in->n_packages) {
                for (size_t i = 0; i < in->n_packages; i++) {
                        if (!pkg_name_valid(in->packages[i])) {
                                free(j);
                                return bg_error_set(err, EINVAL,
                                                    "'%.60s' is not a Debian package name",
                                                    in->packages[i]);
                        }
                        n += (size_t)snprintf(j->packages + n, sizeof(j->packages) - n, "%s%s",
                                              i ? "," : "", in->packages[i]);
                        if (n >= sizeof(j->packages)) {
                                free(j);
                                return bg_error_set(err, E2BIG, "too many packages");
                        }
                }
        } else {
                for (size_t i = 0; image_default_packages[i]; i++)
                        n += (size_t)snprintf(j->packages + n, sizeof(j->packages) - n, "%s%s",
                                              i ? "," : "", image_default_packages[i]);
        }
        static const char *const stages[] = {"bootstrap", "guest", "publish"};
        struct ops_start os = {
            .kind = "image.build",
            .target = j->name,
            .stages = stages,
            .n_stages = ELEMENTSOF(stages),
            .dedup = true,
            .fn = build_work,
            .userdata = j,
            .free_userdata = free,
        };
        return ops_start_fill(s->ops, &os, out, err);
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
        return ops_fill(v->images->ops, in->id, out, err);
}

int imagesvc_image_cancel_op(struct imagesvc *v, const Banger__V1__CancelOperationRequest *in,
                             Banger__V1__Operation *out, const struct rpc_call *call,
                             struct bg_error *err)
{
        int r = ops_cancel(v->images->ops, in->id, err);
        return r < 0 ? r : ops_fill(v->images->ops, in->id, out, err);
}

int imagesvc_image_list_ops(struct imagesvc *v, const Banger__V1__ListOperationsRequest *in,
                            Banger__V1__ListOperationsResponse *out, const struct rpc_call *call,
                            struct bg_error *err)
{
        return ops_list(v->images->ops, in->include_done, out, err);
}
