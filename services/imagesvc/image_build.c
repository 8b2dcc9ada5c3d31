/* The golden image build of ImageService: mmdebstrap streams a Debian
 * root file system as a tar straight into a new ext4 image (lib/oci's tar
 * applier), banger's guest files go in (also for pulled images), and the
 * result is published like a pull's (image_service.c). */
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
