#include "vmm/firecracker/fc_jailer.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/macro.h"
#include "vmm/firecracker/fc_config.h"

/* Clean absolute path: starts with '/', no empty, "." or ".." component, no
 * trailing slash (except "/" itself). */
static bool path_clean(const char *path)
{
        if (!path || path[0] != '/')
                return false;
        if (streq(path, "/"))
                return true;
        const char *p = path + 1;
        for (;;) {
                size_t n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
                if (!*p)
                        return true;
                p++;
        }
}

/* Length of the root path is under, or 0. */
static size_t under_root(const char *path, const char *const *roots, size_t n_roots)
{
        for (size_t i = 0; i < n_roots; i++) {
                const char *r = roots[i];
                if (!path_clean(r) || streq(r, "/"))
                        continue;
                size_t rl = strlen(r);
                if (strncmp(path, r, rl) == 0 && path[rl] == '/' && path[rl + 1])
                        return rl;
        }
        return 0;
}

int fc_jail_path_check(const char *path, const char *const *roots, size_t n_roots,
                       struct bg_error *err)
{
        if (!path || !*path)
                return bg_error_set(err, EINVAL, "empty path");
        if (!path_clean(path))
                return bg_error_set(err, EINVAL,
                                    "path '%s' is not a clean absolute path (no '.', '..' or "
                                    "'//')",
                                    path);
        if (under_root(path, roots, n_roots) == 0)
                return bg_error_set(err, EPERM, "path '%s' is outside banger's directories", path);
        return 0;
}

static bool cgroup_clean(const char *p)
{
        if (!*p || p[0] == '/' || strlen(p) >= 128)
                return false;
        for (const char *c = p; *c; c++)
                if (!isalnum((unsigned char)*c) && !strchr("_-./", *c))
                        return false;
        /* Reuse the component check on "/" + p. */
        char abs[130];
        snprintf(abs, sizeof(abs), "/%s", p);
        return path_clean(abs);
}

/* buf = a + "/" + b, or an error naming what. */
static int join(char *buf, size_t len, struct bg_error *err, const char *what, const char *a,
                const char *b)
{
        int n = snprintf(buf, len, "%s/%s", a, b);
        if (n < 0 || (size_t)n >= len)
                return bg_error_set(err, ENAMETOOLONG, "%s path too long", what);
        return 0;
}

static int add_link(struct fc_jail_plan *p, const char *src, const char *name,
                    const struct fc_jailer_opts *o, struct bg_error *err)
{
        int r = fc_jail_path_check(src, o->roots, o->n_roots, err);
        if (r < 0)
                return bg_error_prefix(err, "jail file");
        struct fc_jail_link *l = &p->links[p->n_links];
        snprintf(l->src, sizeof(l->src), "%s", src);
        l->root_len = (unsigned)under_root(src, o->roots, o->n_roots);
        r = join(l->dst, sizeof(l->dst), err, "jail file", p->chroot_dir, name);
        if (r < 0)
                return r;
        snprintf(l->jailed, sizeof(l->jailed), "/%s", name);
        p->n_links++;
        return 0;
}

void fc_jailed_spec(const struct vmm_spec *spec, struct vmm_spec *out)
{
        *out = *spec;
        snprintf(out->dir, sizeof(out->dir), "/");
        snprintf(out->kernel_vmlinux, sizeof(out->kernel_vmlinux), "/vmlinux");
        if (spec->initrd[0])
                snprintf(out->initrd, sizeof(out->initrd), "/initrd");
        out->kernel_bzimage[0] = '\0';
        for (unsigned i = 0; i < spec->n_disks; i++)
                snprintf(out->disks[i].path, sizeof(out->disks[i].path), "/vd%c", 'a' + i);
        out->jail_start = NULL;
        out->jail_clean = NULL;
        out->jail_ud = NULL;
}

int fc_jailer_plan_paths(const char *id, const char *vm_dir, const struct fc_jailer_opts *o,
                         struct fc_jail_plan *ret, struct bg_error *err)
{
        if (!vmm_id_valid(id))
                return bg_error_set(err, EINVAL, "VM id '%s' is not 1-32 lowercase hex digits", id);
        if (o->uid == 0 || o->gid == 0)
                return bg_error_set(err, EPERM, "Firecracker must not run as root in the jail");
        if (o->n_roots == 0 || o->n_roots > FC_JAIL_MAX_ROOTS)
                return bg_error_set(err, EINVAL, "1-%d banger directories needed",
                                    FC_JAIL_MAX_ROOTS);
        int r = fc_jail_path_check(o->base_dir, o->roots, o->n_roots, err);
        if (r < 0)
                return bg_error_prefix(err, "chroot base dir");
        r = fc_jail_path_check(vm_dir, o->roots, o->n_roots, err);
        if (r < 0)
                return bg_error_prefix(err, "VM dir");
        struct fc_jail_plan *p = ret;
        memset(p, 0, sizeof(*p));
        snprintf(p->id, sizeof(p->id), "%s", id);
        p->uid = o->uid;
        p->gid = o->gid;
        if (strlen(o->base_dir) >= sizeof(p->base_dir) || strlen(vm_dir) >= sizeof(p->vm_dir))
                return bg_error_set(err, ENAMETOOLONG, "chroot base or VM dir path too long");
        snprintf(p->base_dir, sizeof(p->base_dir), "%s", o->base_dir);
        p->base_dir_root_len = (unsigned)under_root(o->base_dir, o->roots, o->n_roots);
        snprintf(p->vm_dir, sizeof(p->vm_dir), "%s", vm_dir);
        p->vm_dir_root_len = (unsigned)under_root(vm_dir, o->roots, o->n_roots);
        char idpart[64];
        snprintf(idpart, sizeof(idpart), "firecracker/%s", id);
        if (join(p->jail_dir, sizeof(p->jail_dir), err, "jail", o->base_dir, idpart) < 0 ||
            join(p->chroot_dir, sizeof(p->chroot_dir), err, "chroot", p->jail_dir, "root") < 0)
                return -err->code;
        static const char *const links[] = {"api.sock", "agent.sock", "fc.log", "firecracker.pid"};
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                struct fc_jail_symlink *s = &p->symlinks[p->n_symlinks++];
                if (join(s->path, sizeof(s->path), err, "VM dir", vm_dir, links[i]) < 0 ||
                    join(s->target, sizeof(s->target), err, "chroot", p->chroot_dir, links[i]) < 0)
                        return -err->code;
        }
        return 0;
}

int fc_jailer_plan(const struct vmm_spec *spec, const struct fc_jailer_opts *o,
                   struct fc_jail_plan *ret, struct bg_error *err)
{
        if (!o->jailer || !path_clean(o->jailer) || strlen(o->jailer) >= VMM_PATH_MAX)
                return bg_error_set(err, EINVAL, "jailer path '%s' is not a clean absolute path",
                                    o->jailer ? o->jailer : "");
        if (!o->exec_file || !path_clean(o->exec_file) || strlen(o->exec_file) >= VMM_PATH_MAX)
                return bg_error_set(err, EINVAL,
                                    "firecracker path '%s' is not a clean absolute path",
                                    o->exec_file ? o->exec_file : "");
        const char *base = strrchr(o->exec_file, '/') + 1;
        if (!streq(base, "firecracker"))
                return bg_error_set(err, EINVAL,
                                    "the jailer's exec file must be named 'firecracker', not '%s'",
                                    base);
        if (o->parent_cgroup && *o->parent_cgroup && !cgroup_clean(o->parent_cgroup))
                return bg_error_set(err, EINVAL, "parent cgroup '%s' must be a clean relative path",
                                    o->parent_cgroup);
        int r = fc_jailer_plan_paths(spec->id, spec->dir, o, ret, err);
        if (r < 0)
                return r;
        r = fc_check_spec(spec, err);
        if (r < 0)
                return r;

        struct fc_jail_plan *p = ret;
        snprintf(p->jailer, sizeof(p->jailer), "%s", o->jailer);
        snprintf(p->exec_file, sizeof(p->exec_file), "%s", o->exec_file);
        if (o->parent_cgroup)
                snprintf(p->parent_cgroup, sizeof(p->parent_cgroup), "%s", o->parent_cgroup);

        r = add_link(p, spec->kernel_vmlinux, "vmlinux", o, err);
        if (r < 0)
                return r;
        if (spec->initrd[0]) {
                r = add_link(p, spec->initrd, "initrd", o, err);
                if (r < 0)
                        return r;
        }
        fc_jailed_spec(spec, &p->jailed);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                r = add_link(p, spec->disks[i].path, p->jailed.disks[i].path + 1, o, err);
                if (r < 0)
                        return r;
        }

        static const struct {
                const char *path;
                unsigned major, minor;
        } nodes[2] = {{"dev/kvm", 10, 232}, {"dev/net/tun", 10, 200}};
        for (size_t i = 0; i < 2; i++) {
                if (join(p->nodes[i].path, sizeof(p->nodes[i].path), err, "device", p->chroot_dir,
                         nodes[i].path) < 0)
                        return -err->code;
                p->nodes[i].major = nodes[i].major;
                p->nodes[i].minor = nodes[i].minor;
        }
        return 0;
}

int fc_jailer_argv(const struct fc_jail_plan *p, struct fc_jail_argbuf *b,
                   const char *argv[FC_JAIL_MAX_ARGS], struct bg_error *err)
{
        if (!vmm_id_valid(p->id))
                return bg_error_set(err, EINVAL, "jail plan has no valid id");
        snprintf(b->uid, sizeof(b->uid), "%u", (unsigned)p->uid);
        snprintf(b->gid, sizeof(b->gid), "%u", (unsigned)p->gid);
        int n = 0;
        argv[n++] = p->jailer;
        argv[n++] = "--id";
        argv[n++] = p->id;
        argv[n++] = "--exec-file";
        argv[n++] = p->exec_file;
        argv[n++] = "--uid";
        argv[n++] = b->uid;
        argv[n++] = "--gid";
        argv[n++] = b->gid;
        argv[n++] = "--chroot-base-dir";
        argv[n++] = p->base_dir;
        argv[n++] = "--cgroup-version";
        argv[n++] = "2";
        if (p->parent_cgroup[0]) {
                argv[n++] = "--parent-cgroup";
                argv[n++] = p->parent_cgroup;
        }
        argv[n++] = "--";
        argv[n++] = "--api-sock";
        argv[n++] = "/api.sock";
        argv[n] = NULL;
        return n;
}

/* Opens path (below a root of root_len bytes) without following any symlink
 * below the root. */
static int open_beneath(const char *path, unsigned root_len, int flags)
{
        char root[VMM_PATH_MAX];
        if (root_len == 0 || root_len >= sizeof(root) || path[root_len] != '/')
                return -EPERM;
        memcpy(root, path, root_len);
        root[root_len] = '\0';
        _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, rfd, path + root_len + 1, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* mkdir -p of rel below dirfd (root-owned 0755), no symlinks followed;
 * returns an O_PATH fd of the last directory. */
static int mkdir_beneath(int dirfd, const char *rel)
{
        char buf[FC_JAIL_PATH_MAX];
        snprintf(buf, sizeof(buf), "%s", rel);
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        char *save = NULL;
        for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                int nfd = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = -errno;
                close(fd);
                if (nfd < 0)
                        return r;
                fd = nfd;
        }
        return fd;
}

/* Removes the VM dir symlinks that point into this jail. */
static int remove_symlinks(const struct fc_jail_plan *p)
{
        _cleanup_close_ int vfd = open_beneath(p->vm_dir, p->vm_dir_root_len, O_PATH | O_DIRECTORY);
        if (vfd == -ENOENT)
                return 0;
        if (vfd < 0)
                return vfd;
        int ret = 0;
        for (unsigned i = 0; i < p->n_symlinks; i++) {
                const char *name = strrchr(p->symlinks[i].path, '/') + 1;
                char target[FC_JAIL_PATH_MAX + 1];
                ssize_t n = readlinkat(vfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        continue; /* absent or not a symlink: not ours */
                target[n] = '\0';
                size_t cl = strlen(p->chroot_dir);
                if (strncmp(target, p->chroot_dir, cl) != 0 || target[cl] != '/')
                        continue;
                if (unlinkat(vfd, name, 0) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        }
        return ret;
}

int fc_jailer_cleanup(const struct fc_jail_plan *p, struct bg_error *err)
{
        if (!vmm_id_valid(p->id))
                return bg_error_set(err, EINVAL, "jail plan has no valid id");
        int r = remove_symlinks(p);
        if (r < 0)
                return bg_error_errno(err, r, "remove jail symlinks in %s", p->vm_dir);
        char rel[64];
        snprintf(rel, sizeof(rel), "firecracker/%s", p->id);
        _cleanup_close_ int bfd =
            open_beneath(p->base_dir, p->base_dir_root_len, O_PATH | O_DIRECTORY);
        if (bfd == -ENOENT)
                return 0;
        if (bfd < 0)
                return bg_error_errno(err, bfd, "open chroot base %s", p->base_dir);
        _cleanup_close_ int ffd =
            openat(bfd, "firecracker", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ffd < 0)
                return errno == ENOENT ? 0 : bg_error_errno(err, -errno, "open %s", p->jail_dir);
        /* By descriptors from the base down, never following a link; a
         * mount point inside stops it (-EBUSY). */
        r = rm_rf_at(ffd, p->id, 0, err);
        if (r < 0)
                return bg_error_prefix(err, "remove jail %s", p->jail_dir);
        return 0;
}

static int stage(const struct fc_jail_plan *p, bool *created, struct bg_error *err)
{
        _cleanup_close_ int bfd =
            open_beneath(p->base_dir, p->base_dir_root_len, O_PATH | O_DIRECTORY);
        if (bfd == -ENOENT) {
                /* Create the base below its banger root. */
                char root[VMM_PATH_MAX];
                snprintf(root, sizeof(root), "%.*s", (int)p->base_dir_root_len, p->base_dir);
                _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (rfd < 0)
                        return bg_error_errno(err, -errno, "open %s", root);
                bfd = mkdir_beneath(rfd, p->base_dir + p->base_dir_root_len + 1);
        }
        if (bfd < 0)
                return bg_error_errno(err, bfd, "chroot base %s", p->base_dir);
        _cleanup_close_ int ffd = mkdir_beneath(bfd, "firecracker");
        if (ffd < 0)
                return bg_error_errno(err, ffd, "create %s/firecracker", p->base_dir);
        if (mkdirat(ffd, p->id, 0755) < 0)
                return errno == EEXIST
                           ? bg_error_set(err, EEXIST, "jail %s exists already; clean it up first",
                                          p->jail_dir)
                           : bg_error_errno(err, -errno, "create %s", p->jail_dir);
        *created = true;
        _cleanup_close_ int jfd = openat(ffd, p->id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (jfd < 0)
                return bg_error_errno(err, -errno, "open %s", p->jail_dir);
        if (mkdirat(jfd, "root", 0755) < 0)
                return bg_error_errno(err, -errno, "create %s", p->chroot_dir);
        _cleanup_close_ int cfd =
            openat(jfd, "root", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return bg_error_errno(err, -errno, "open %s", p->chroot_dir);

        for (unsigned i = 0; i < p->n_links; i++) {
                const struct fc_jail_link *l = &p->links[i];
                _cleanup_close_ int sfd = open_beneath(l->src, l->root_len, O_PATH);
                if (sfd < 0)
                        return bg_error_errno(err, sfd, "open %s (symlinks are not followed)",
                                              l->src);
                struct stat st;
                if (fstat(sfd, &st) < 0)
                        return bg_error_errno(err, -errno, "stat %s", l->src);
                if (!S_ISREG(st.st_mode))
                        return bg_error_set(err, EPERM, "%s is not a regular file", l->src);
                if (st.st_uid != p->uid)
                        return bg_error_set(err, EPERM, "%s belongs to uid %u, not the owner %u",
                                            l->src, (unsigned)st.st_uid, (unsigned)p->uid);
                if (linkat(sfd, "", cfd, l->jailed + 1, AT_EMPTY_PATH) < 0) {
                        if (errno == EXDEV)
                                return bg_error_set(err, EXDEV,
                                                    "cannot hard-link %s into %s: different "
                                                    "filesystems (put the chroot base on the "
                                                    "filesystem of banger's data)",
                                                    l->src, p->chroot_dir);
                        return bg_error_errno(err, -errno, "link %s to %s", l->src, l->dst);
                }
        }

        _cleanup_close_ int vfd = open_beneath(p->vm_dir, p->vm_dir_root_len, O_PATH | O_DIRECTORY);
        if (vfd < 0)
                return bg_error_errno(err, vfd, "open VM dir %s", p->vm_dir);
        for (unsigned i = 0; i < p->n_symlinks; i++) {
                const struct fc_jail_symlink *s = &p->symlinks[i];
                const char *name = strrchr(s->path, '/') + 1;
                struct stat st;
                if (fstatat(vfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (S_ISDIR(st.st_mode))
                                return bg_error_set(err, EEXIST, "%s is a directory", s->path);
                        /* A leftover socket, log or link of an earlier run. */
                        if (unlinkat(vfd, name, 0) < 0)
                                return bg_error_errno(err, -errno, "remove stale %s", s->path);
                }
                if (symlinkat(s->target, vfd, name) < 0)
                        return bg_error_errno(err, -errno, "symlink %s", s->path);
                if (fchownat(vfd, name, p->uid, p->gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return bg_error_errno(err, -errno, "chown %s", s->path);
        }
        return 0;
}

int fc_jailer_stage(const struct fc_jail_plan *p, struct bg_error *err)
{
        if (!vmm_id_valid(p->id) || p->uid == 0)
                return bg_error_set(err, EINVAL, "jail plan is not valid");
        bool created = false;
        int r = stage(p, &created, err);
        if (r < 0 && created) {
                struct bg_error ignored = {0};
                fc_jailer_cleanup(p, &ignored);
        }
        return r;
}
