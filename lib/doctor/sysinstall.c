#include "sysinstall.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths/paths.h"
#include "util/fileio.h"
#include "util/fs.h"
#include "units.h"

const char *const sysinstall_data_dirs[] = {
    "/var/lib/banger",        "/var/lib/banger/logs", "/var/cache/banger", "/run/banger",
    "/etc/banger/ssh",        /* vmsvc's owner key, ssh config and known_hosts */
    "/var/lib/banger-netsvc", /* netsvc's: net.db, the jailer's chroot base */
};
const size_t sysinstall_n_data_dirs = ELEMENTSOF(sysinstall_data_dirs);

static const unsigned data_dir_modes[] = {0770, 0700, 0700, 0770, 0700, 0755};
/* Which of them stay root's (the others are the owner's). */
static const bool data_dir_root[] = {false, false, false, false, false, true};
_Static_assert(ELEMENTSOF(data_dir_modes) == ELEMENTSOF(sysinstall_data_dirs) &&
                   ELEMENTSOF(data_dir_root) == ELEMENTSOF(sysinstall_data_dirs),
               "data dir tables out of step");

static const char *const service_binaries[SYSINSTALL_N_SERVICES] = {
    "banger-gateway", "banger-netsvc", "banger-vmsvc", "banger-imagesvc", "banger-workspacesvc",
};

int sysinstall_rooted(const char *root, const char *abs, char *out, size_t len)
{
        size_t rl = root ? strlen(root) : 0;
        while (rl > 0 && root[rl - 1] == '/')
                rl--;
        int n = snprintf(out, len, "%.*s%s", (int)rl, rl ? root : "", abs);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sysinstall_lookup_owner(const char *owner, uint32_t *ret_uid, uint32_t *ret_gid,
                            char *ret_group, size_t group_len, struct bg_error *err)
{
        if (!units_name_is_safe(owner))
                return bg_error_set(
                    err, EINVAL, "'%s' is not a user name banger can run its services as", owner);
        char buf[16384];
        struct passwd pw, *pres = NULL;
        int r = getpwnam_r(owner, &pw, buf, sizeof(buf), &pres);
        if (r != 0 || !pres)
                return bg_error_set(err, ENOENT, "no user named '%s' on this host", owner);
        uid_t uid = pw.pw_uid;
        gid_t gid = pw.pw_gid;

        char gbuf[16384];
        struct group gr, *gres = NULL;
        r = getgrgid_r(gid, &gr, gbuf, sizeof(gbuf), &gres);
        if (r != 0 || !gres)
                return bg_error_set(err, ENOENT, "the primary group %u of '%s' has no name",
                                    (unsigned)gid, owner);
        if (!units_name_is_safe(gr.gr_name))
                return bg_error_set(err, EINVAL,
                                    "the group name '%s' of '%s' cannot be used in "
                                    "a unit file",
                                    gr.gr_name, owner);
        /* The group must be the owner's alone. */
        for (char **m = gr.gr_mem; m && *m; m++)
                if (!streq(*m, owner))
                        return bg_error_set(err, EPERM,
                                            "group '%s' of '%s' also has member '%s'; banger's "
                                            "directories are writable by the owner's group, so "
                                            "the owner needs a private group",
                                            gr.gr_name, owner, *m);
        setpwent();
        struct passwd *p;
        while ((p = getpwent())) {
                if (p->pw_gid == gid && p->pw_uid != uid) {
                        char other[64];
                        snprintf(other, sizeof(other), "%s", p->pw_name);
                        endpwent();
                        return bg_error_set(err, EPERM,
                                            "user '%s' has the same primary group '%s' as "
                                            "'%s'; banger's directories are writable by the "
                                            "owner's group, so the owner needs a private group",
                                            other, gr.gr_name, owner);
                }
        }
        endpwent();
        snprintf(ret_group, group_len, "%s", gr.gr_name);
        *ret_uid = (uint32_t)uid;
        *ret_gid = (uint32_t)gid;
        return 0;
}

/* Writes data (or the contents of src_fd) to path via a temp file + rename. */
static int write_atomic(const char *path, const char *data, size_t len, int src_fd, unsigned mode,
                        struct bg_error *err)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return bg_error_errno(err, r, "create directory %s", dir);
        }
        _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
        int r = atomic_file_open(path, &f, err);
        if (r < 0)
                return r;
        if (src_fd < 0) {
                r = loop_write(f.fd, data, len);
                if (r < 0)
                        return bg_error_errno(err, r, "write %s", path);
                return atomic_file_commit(&f, mode, err);
        }
        char buf[65536];
        for (;;) {
                ssize_t k = read(src_fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return bg_error_errno(err, -errno, "read the source of %s", path);
                if (k == 0)
                        break;
                r = loop_write(f.fd, buf, (size_t)k);
                if (r < 0)
                        return bg_error_errno(err, r, "write %s", path);
        }
        return atomic_file_commit(&f, mode, err);
}

static int copy_binary(const char *src, const char *dst, struct bg_error *err)
{
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", src);
        return write_atomic(dst, NULL, 0, fd, 0755, err);
}

static bool listed(const struct install_manifest *m, const char *path)
{
        for (size_t i = 0; i < m->n_files; i++)
                if (streq(m->files[i], path))
                        return true;
        return false;
}

/* Installs one file: records it in m and writes ROOT+abs. */
static int put_file(const struct sysinstall_opts *o, struct install_manifest *m, const char *abs,
                    const char *data, size_t len, const char *copy_from, unsigned mode,
                    struct bg_error *err)
{
        char path[PATH_MAX];
        if (sysinstall_rooted(o->root, abs, path, sizeof(path)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "%s under %s is too long", abs, o->root);
        if (manifest_add_file(m, abs) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (copy_from)
                return copy_binary(copy_from, path, err);
        return write_atomic(path, data, len, -1, mode, err);
}

static int put_tree(const struct sysinstall_opts *o, struct install_manifest *m, const char *src,
                    const char *abs, struct bg_error *err);

/* One entry of put_tree: src/name installed as abs/name. */
static int put_tree_entry(const struct sysinstall_opts *o, struct install_manifest *m,
                          const char *src, const char *abs, const char *name, struct bg_error *err)
{
        char s2[PATH_MAX], a2[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 32];
        struct stat st;
        if (snprintf(s2, sizeof(s2), "%s/%s", src, name) >= (int)sizeof(s2) ||
            snprintf(a2, sizeof(a2), "%s/%s", abs, name) >= (int)sizeof(a2) ||
            sysinstall_rooted(o->root, a2, path, sizeof(path)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "%s/%s is too long", src, name);
        if (!units_path_is_safe(a2))
                return bg_error_set(err, EINVAL, "cannot install %s: unsafe name", s2);
        if (lstat(s2, &st) < 0)
                return bg_error_errno(err, -errno, "stat %s", s2);
        if (S_ISDIR(st.st_mode))
                return put_tree(o, m, s2, a2, err);
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
                return bg_error_set(err, EINVAL,
                                    "cannot install %s: not a file, directory or symlink", s2);
        if (manifest_add_file(m, a2) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int fd = open(s2, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return bg_error_errno(err, -errno, "open %s", s2);
                return write_atomic(path, NULL, 0, fd, st.st_mode & 0755, err);
        }
        char target[PATH_MAX];
        ssize_t n = readlink(s2, target, sizeof(target) - 1);
        if (n < 0)
                return bg_error_errno(err, -errno, "readlink %s", s2);
        target[n] = '\0';
        snprintf(tmp, sizeof(tmp), "%s.banger-new", path);
        unlink(tmp);
        if (symlink(target, tmp) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return bg_error_errno(err, r, "create symlink %s", path);
        }
        return 0;
}

/* Installs the tree at src as abs: regular files with their mode (group and
 * other write dropped), symlinks as they are, directories 0755. Anything
 * else in the tree is refused. Every file and symlink goes into m. */
static int put_tree(const struct sysinstall_opts *o, struct install_manifest *m, const char *src,
                    const char *abs, struct bg_error *err)
{
        char top[PATH_MAX];
        if (sysinstall_rooted(o->root, abs, top, sizeof(top)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "%s under %s is too long", abs, o->root);
        int r = mkdir_p(top, 0755);
        if (r < 0)
                return bg_error_errno(err, r, "create directory %s", top);
        DIR *d = opendir(src);
        if (!d)
                return bg_error_errno(err, -errno, "open %s", src);
        struct dirent *de;
        while (r >= 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = put_tree_entry(o, m, src, abs, de->d_name, err);
        closedir(d);
        return r;
}

/* Is the directory fd writable by root alone? */
static bool root_only_dir(int fd)
{
        struct stat st;
        return fstat(fd, &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022);
}

/* Makes ROOT+abs (parents 0755 as needed) and gives it owner uid:gid and
 * mode, through descriptors: each component is opened below the one before
 * it, and neither a component inside a directory someone other than root
 * can write nor the directory itself is followed when it is a symlink. Run
 * again (an upgrade), install hands these directories over again as root,
 * and the owner could have replaced /var/lib/banger/logs with a link to
 * /etc by then; that is refused (ELOOP/ENOTDIR), never chown'ed. */
static int make_dir_for(const char *root, const char *abs, unsigned mode, uint32_t uid,
                        uint32_t gid, const char *who, struct bg_error *err)
{
        char top[PATH_MAX], full[PATH_MAX];
        if (sysinstall_rooted(root, "/", top, sizeof(top)) < 0 ||
            sysinstall_rooted(root, abs, full, sizeof(full)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "%s under %s is too long", abs, root);
        int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", top);
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s", abs);
        char *save = NULL;
        int r = 0;
        for (char *c = strtok_r(rel, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                bool last = !save || !*save;
                if (mkdirat(fd, c, last ? (mode_t)mode : 0755) < 0 && errno != EEXIST) {
                        r = bg_error_errno(err, -errno, "create directory %s", full);
                        break;
                }
                int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
                if (last || !root_only_dir(fd))
                        flags |= O_NOFOLLOW;
                int next = openat(fd, c, flags);
                if (next < 0) {
                        r = errno == ELOOP || errno == ENOTDIR
                                ? bg_error_set(err, ENOTDIR,
                                               "%s: '%s' is not a directory (a symlink?); "
                                               "refusing to hand it to %s",
                                               full, c, who)
                                : bg_error_errno(err, -errno, "open %s", full);
                        break;
                }
                close(fd);
                fd = next;
                if (!last)
                        continue;
                /* A staging tree made without root cannot hold root's
                 * directories: there they keep the installing user. */
                bool can_chown = geteuid() == 0 || uid == (uint32_t)geteuid();
                if (can_chown && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
                        r = bg_error_errno(err, -errno, "hand %s to %s", full, who);
                else if (fchmod(fd, (mode_t)mode) < 0)
                        r = bg_error_errno(err, -errno, "chmod %s", full);
        }
        close(fd);
        return r;
}

int sysinstall_install(const struct sysinstall_opts *o, struct install_manifest *ret,
                       struct bg_error *err)
{
        struct install_manifest m = {0};
        struct install_manifest old = {0};
        bool have_old = false;
        char path[PATH_MAX], src[PATH_MAX];
        int r;

        if (!units_path_is_safe(o->prefix))
                return bg_error_set(err, EINVAL,
                                    "--prefix '%s' must be an absolute path without spaces, "
                                    "quotes or any of %%\\$;",
                                    o->prefix);
        snprintf(m.version, sizeof(m.version), "%s", o->version);
        snprintf(m.commit, sizeof(m.commit), "%s", o->commit);
        m.installed_unix = o->now_unix;
        snprintf(m.owner, sizeof(m.owner), "%s", o->owner);
        r = sysinstall_lookup_owner(o->owner, &m.owner_uid, &m.owner_gid, m.group, sizeof(m.group),
                                    err);
        if (r < 0)
                return r;
        size_t pl = strlen(o->prefix);
        while (pl > 1 && o->prefix[pl - 1] == '/')
                pl--;
        snprintf(m.prefix, sizeof(m.prefix), "%.*s", (int)pl, o->prefix);
        snprintf(m.bindir, sizeof(m.bindir), "%s/bin", streq(m.prefix, "/") ? "" : m.prefix);
        snprintf(m.libexecdir, sizeof(m.libexecdir), "%s/libexec/banger",
                 streq(m.prefix, "/") ? "" : m.prefix);

        /* Every source must exist before anything is written. */
        if (access(o->cli_exe, R_OK) < 0)
                return bg_error_errno(err, -errno, "cannot read the banger binary %s", o->cli_exe);
        for (size_t i = 0; i < SYSINSTALL_N_SERVICES; i++) {
                snprintf(src, sizeof(src), "%s/%s", o->src_dir, service_binaries[i]);
                if (access(src, R_OK) < 0)
                        return bg_error_errno(err, -errno,
                                              "cannot read %s (service binaries are taken from "
                                              "the directory of banger, or BANGER_LIBEXEC_DIR)",
                                              src);
        }
        char agent_src[PATH_MAX], files_src[PATH_MAX];
        if (bg_paths_asset(BG_ASSET_AGENT, o->src_dir, agent_src, sizeof(agent_src)) < 0)
                return bg_error_set(err, ENOENT,
                                    "cannot read the guest agent %s (build the banger-agent "
                                    "target first)",
                                    agent_src);
        if (bg_paths_asset(BG_ASSET_GUEST_FILES, o->src_dir, files_src, sizeof(files_src)) < 0)
                return bg_error_set(err, ENOENT,
                                    "cannot read the guest files tree %s (build the guest-files "
                                    "target first)",
                                    files_src);
        struct bg_error e2 = {0};
        have_old = manifest_load(o->root, &old, &e2) == 0;

        /* Binaries. */
        snprintf(path, sizeof(path), "%s/banger", m.bindir);
        r = put_file(o, &m, path, NULL, 0, o->cli_exe, 0755, err);
        for (size_t i = 0; r >= 0 && i < SYSINSTALL_N_SERVICES; i++) {
                snprintf(src, sizeof(src), "%s/%s", o->src_dir, service_binaries[i]);
                snprintf(path, sizeof(path), "%s/%s", m.libexecdir, service_binaries[i]);
                r = put_file(o, &m, path, NULL, 0, src, 0755, err);
        }
        /* What imagesvc puts into every image and kernel: the agent beside
         * the services, the guest files tree in PREFIX/share/banger. */
        snprintf(path, sizeof(path), "%s/banger-agent", m.libexecdir);
        if (r >= 0)
                r = put_file(o, &m, path, NULL, 0, agent_src, 0755, err);
        snprintf(path, sizeof(path), "%s/share/banger/guest-files",
                 streq(m.prefix, "/") ? "" : m.prefix);
        if (r >= 0)
                r = put_tree(o, &m, files_src, path, err);

        /* Units and the tmpfiles snippet. */
        struct units_params up = {.libexecdir = m.libexecdir,
                                  .owner = m.owner,
                                  .group = m.group,
                                  .owner_uid = m.owner_uid};
        for (size_t i = 0; r >= 0 && i < units_n_embedded; i++) {
                _cleanup_free_ char *text = NULL;
                char rel[PATH_MAX];
                r = units_render(units_embedded[i].text, &up, &text, err);
                if (r < 0)
                        break;
                r = units_install_path(units_embedded[i].name, rel, sizeof(rel));
                if (r < 0) {
                        bg_error_set(err, EINVAL, "no install location for template %s",
                                     units_embedded[i].name);
                        break;
                }
                snprintf(path, sizeof(path), "/%s", rel);
                r = put_file(o, &m, path, text, strlen(text), NULL, 0644, err);
        }

        /* Data directories, owned by the owner. /etc/banger itself stays
         * root's and readable: the CLI reads install.toml from it. */
        if (r >= 0 && sysinstall_rooted(o->root, "/etc/banger", path, sizeof(path)) == 0 &&
            (r = mkdir_p(path, 0755)) < 0)
                bg_error_errno(err, r, "create directory %s", path);
        for (size_t i = 0; r >= 0 && i < sysinstall_n_data_dirs; i++) {
                bool as_root = data_dir_root[i];
                r = make_dir_for(o->root, sysinstall_data_dirs[i], data_dir_modes[i],
                                 as_root ? 0 : m.owner_uid, as_root ? 0 : m.owner_gid,
                                 as_root ? "root" : m.owner, err);
                if (r < 0)
                        break;
                if (!streq(sysinstall_data_dirs[i], "/var/lib/banger/logs") &&
                    manifest_add_dir(&m, sysinstall_data_dirs[i]) < 0)
                        r = bg_error_set(err, ENOMEM, "out of memory");
        }
        if (r >= 0 && manifest_add_dir(&m, "/etc/banger") < 0)
                r = bg_error_set(err, ENOMEM, "out of memory");

        /* install.toml last: until it exists banger stays in user mode. */
        if (r >= 0) {
                _cleanup_free_ char *text = NULL;
                if (manifest_add_file(&m, "/" MANIFEST_PATH) < 0)
                        r = bg_error_set(err, ENOMEM, "out of memory");
                if (r >= 0)
                        r = manifest_format(&m, &text, err);
                if (r >= 0 && sysinstall_rooted(o->root, "/" MANIFEST_PATH, path, sizeof(path)) < 0)
                        r = bg_error_set(err, ENAMETOOLONG, "path under %s is too long", o->root);
                if (r >= 0)
                        r = write_atomic(path, text, strlen(text), -1, 0644, err);
        }
        if (r < 0) {
                manifest_free(&m);
                manifest_free(&old);
                return r;
        }

        /* What the previous install had and this one does not. */
        if (have_old)
                for (size_t i = 0; i < old.n_files; i++)
                        if (!listed(&m, old.files[i]) &&
                            sysinstall_rooted(o->root, old.files[i], path, sizeof(path)) == 0)
                                unlink(path);
        manifest_free(&old);
        *ret = m;
        return 0;
}

int sysinstall_set_version(const char *root, const char *version, struct bg_error *err)
{
        struct install_manifest m = {0};
        int r = manifest_load(root, &m, err);
        if (r < 0)
                return r;
        if (streq(m.version, version)) {
                manifest_free(&m);
                return 0;
        }
        snprintf(m.version, sizeof(m.version), "%s", version);
        m.commit[0] = '\0'; /* the release's build, not the one install copied */
        _cleanup_free_ char *text = NULL;
        r = manifest_format(&m, &text, err);
        manifest_free(&m);
        if (r < 0)
                return r;
        /* ROOT/etc/banger by descriptors: root's alone, no link on the way. */
        char dir[PATH_MAX];
        if (sysinstall_rooted(root, "/etc/banger", dir, sizeof(dir)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "path under %s is too long", root);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (dfd < 0 || fstat(dfd, &st) < 0)
                return bg_error_errno(err, -errno, "open %s", dir);
        if (st.st_uid != 0 || (st.st_mode & 022))
                return bg_error_set(err, EPERM,
                                    "%s is not root's alone (uid %u, mode %o): install.toml not "
                                    "rewritten",
                                    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        char tmp[64];
        snprintf(tmp, sizeof(tmp), ".install.toml.%ld", (long)getpid());
        (void)unlinkat(dfd, tmp, 0);
        _cleanup_close_ int fd =
            openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s/%s", dir, tmp);
        r = loop_write(fd, text, strlen(text));
        if (r >= 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, "install.toml") < 0)
                r = -errno;
        if (r < 0) {
                (void)unlinkat(dfd, tmp, 0);
                return bg_error_errno(err, r, "write %s/install.toml", dir);
        }
        (void)fsync(dfd);
        return 0;
}

/* rm -rf run as root in directories the owner can write: lib/util's
 * remover, by descriptors, never following a symlink or crossing a mount (a
 * mount point is kept with what holds it). 1 when path was removed, 0 when
 * absent, < 0 on error. */
static int rm_tree(const char *path, struct bg_error *err)
{
        return rm_rf_flags(path, RM_RF_KEEP_MOUNTS, err);
}

/* Removes dir/name when it is a file of root's (not a symlink), by name in
 * dir's descriptor. */
static int remove_root_file(int dfd, const char *name, size_t *count)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (st.st_uid != 0 || !(S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode)))
                return 0;
        if (unlinkat(dfd, name, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        (*count)++;
        return 0;
}

int sysinstall_remove_legacy(const char *root, size_t *ret_n, struct bg_error *err)
{
        static const struct {
                const char *dir;
                const char *names[4];
        } legacy[] = {
            {"/var/lib/banger", {"net.db", "net.db-wal", "net.db-shm", NULL}},
            {"/run/banger", {"netsvc.sock", "netsvc.pid", "netsvc.lock", NULL}},
        };
        char path[PATH_MAX];
        struct stat st;
        size_t n = 0;
        if (sysinstall_rooted(root, "/var/lib/banger-netsvc/net.db", path, sizeof(path)) < 0)
                return bg_error_set(err, ENAMETOOLONG, "path under %s is too long", root);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                if (ret_n)
                        *ret_n = 0;
                return 0; /* not moved (yet): the old files are still the data */
        }
        for (size_t i = 0; i < ELEMENTSOF(legacy); i++) {
                if (sysinstall_rooted(root, legacy[i].dir, path, sizeof(path)) < 0)
                        return bg_error_set(err, ENAMETOOLONG, "path under %s is too long", root);
                _cleanup_close_ int dfd =
                    open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0) {
                        if (errno == ENOENT)
                                continue;
                        return bg_error_errno(err, -errno, "open %s", path);
                }
                for (size_t k = 0; legacy[i].names[k]; k++) {
                        int r = remove_root_file(dfd, legacy[i].names[k], &n);
                        if (r < 0)
                                return bg_error_errno(err, r, "remove %s/%s", path,
                                                      legacy[i].names[k]);
                }
        }
        if (ret_n)
                *ret_n = n;
        return 0;
}

/* Removes empty directories, depth first, by descriptors; keeps anything
 * with content and never enters another file system. */
struct rmdir_empty_ctx {
        bool have_dev;
        dev_t dev;
        size_t n;
};

static int rmdir_empty_entry(int dfd, const char *name, const struct stat *st, bool post,
                             void *ud, struct bg_error *err)
{
        struct rmdir_empty_ctx *c = ud;
        if (!S_ISDIR(st->st_mode))
                return 0;
        if (!c->have_dev) {
                c->dev = st->st_dev;
                c->have_dev = true;
        }
        if (st->st_dev != c->dev)
                return FS_WALK_SKIP;
        if (post && unlinkat(dfd, name, AT_REMOVEDIR) == 0)
                c->n++;
        return 0;
}

static void rmdir_if_empty(const char *path, size_t *count)
{
        if (rmdir(path) == 0)
                (*count)++;
}

int sysinstall_uninstall(const char *root, bool purge, struct sysinstall_removed *ret,
                         struct bg_error *err)
{
        struct install_manifest m = {0};
        struct sysinstall_removed out = {0};
        char path[PATH_MAX];
        int r = manifest_load(root, &m, err);
        if (r == -ENOENT)
                return bg_error_set(err, ENOENT, "banger is not installed here (no %s%s%s)",
                                    root && root[0] ? root : "", "/", MANIFEST_PATH);
        if (r < 0)
                return r;

        for (size_t i = 0; i < m.n_files; i++) {
                if (streq(m.files[i], "/" MANIFEST_PATH))
                        continue; /* last, so a failed uninstall can be re-run */
                if (sysinstall_rooted(root, m.files[i], path, sizeof(path)) < 0)
                        continue;
                if (unlink(path) == 0)
                        out.n_removed++;
                else if (errno == ENOENT)
                        out.n_missing++;
                else {
                        r = bg_error_errno(err, -errno, "remove %s", path);
                        manifest_free(&m);
                        return r;
                }
        }
        /* Directories install made for its files, when now empty. */
        if (sysinstall_rooted(root, m.libexecdir, path, sizeof(path)) == 0)
                rmdir_if_empty(path, &out.n_dirs);
        char share[PATH_MAX];
        snprintf(share, sizeof(share), "%s/share/banger", streq(m.prefix, "/") ? "" : m.prefix);
        if (sysinstall_rooted(root, share, path, sizeof(path)) == 0) {
                struct rmdir_empty_ctx c = {0};
                struct bg_error ign = {0};
                (void)fs_walk_at(AT_FDCWD, path, rmdir_empty_entry, &c, &ign);
                out.n_dirs += c.n;
        }

        size_t nk = 0;
        for (size_t i = 0; i < m.n_dirs; i++) {
                if (streq(m.dirs[i], "/etc/banger"))
                        continue; /* holds install.toml: below */
                if (sysinstall_rooted(root, m.dirs[i], path, sizeof(path)) < 0)
                        continue;
                if (!purge && streq(m.dirs[i], "/etc/banger/ssh"))
                        rmdir_if_empty(path, &out.n_dirs); /* the owner key, once made, is kept */
                if (purge) {
                        r = rm_tree(path, err);
                        if (r < 0) {
                                bg_error_prefix(err, "remove %s", path);
                                manifest_free(&m);
                                return r;
                        }
                        out.n_dirs += r > 0;
                } else if (access(path, F_OK) == 0 && nk < ELEMENTSOF(out.kept)) {
                        snprintf(out.kept[nk++], sizeof(out.kept[0]), "%s", m.dirs[i]);
                }
        }

        if (sysinstall_rooted(root, "/" MANIFEST_PATH, path, sizeof(path)) == 0 &&
            unlink(path) == 0)
                out.n_removed++;
        if (sysinstall_rooted(root, "/etc/banger", path, sizeof(path)) == 0) {
                if (purge) {
                        struct bg_error e2 = {0};
                        r = rm_tree(path, &e2);
                        out.n_dirs += r > 0;
                } else {
                        rmdir_if_empty(path, &out.n_dirs);
                        if (access(path, F_OK) == 0 && nk < ELEMENTSOF(out.kept))
                                snprintf(out.kept[nk++], sizeof(out.kept[0]), "/etc/banger");
                }
        }
        manifest_free(&m);
        if (ret)
                *ret = out;
        return 0;
}
