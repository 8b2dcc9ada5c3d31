#include "initramfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "modules_dep.h"
#include "util/fileio.h"
#include "util/macro.h"

const char *const initramfs_default_modules[] = {
    "virtio_mmio",    "virtio_blk", "virtio_net",
    "virtio_console", "vsock",      "vmw_vsock_virtio_transport",
    "ext4",
};
const size_t initramfs_n_default_modules = ELEMENTSOF(initramfs_default_modules);

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

void initramfs_result_done(struct initramfs_result *r)
{
        if (!r)
                return;
        strv_free(r->modules, r->n_modules);
        strv_free(r->builtin, r->n_builtin);
        strv_free(r->missing, r->n_missing);
        memset(r, 0, sizeof(*r));
}

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

static void entry_freep(struct archive_entry **e)
{
        if (*e)
                archive_entry_free(*e);
}

struct writer {
        struct archive *a;
        const char *out; /* for messages */
        /* Directories already written, to add each parent once. */
        char **dirs;
        size_t n_dirs, cap_dirs;
};

static int ar_fail(struct writer *w, const char *what, struct bg_error *err)
{
        return bg_error_set(err, EIO, "write initramfs %s: %s: %s", w->out, what,
                            archive_error_string(w->a) ? archive_error_string(w->a)
                                                       : "unknown libarchive error");
}

static int add_header(struct writer *w, const char *path, mode_t mode, int64_t size, dev_t rdev,
                      struct bg_error *err)
{
        _cleanup_(entry_freep) struct archive_entry *e = archive_entry_new();
        if (!e)
                return bg_error_set(err, ENOMEM, "out of memory");
        archive_entry_set_pathname(e, path);
        archive_entry_set_mode(e, mode);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_mtime(e, 0, 0);
        archive_entry_set_nlink(e, S_ISDIR(mode) ? 2 : 1);
        archive_entry_set_size(e, S_ISREG(mode) ? size : 0);
        if (S_ISCHR(mode) || S_ISBLK(mode))
                archive_entry_set_rdev(e, rdev);
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                return ar_fail(w, path, err);
        return 0;
}

static bool dir_seen(struct writer *w, const char *path)
{
        for (size_t i = 0; i < w->n_dirs; i++)
                if (streq(w->dirs[i], path))
                        return true;
        return false;
}

/* Write directory `path` and, first, each of its parents not written yet. */
static int add_dir_p(struct writer *w, const char *path, struct bg_error *err)
{
        if (!path[0] || dir_seen(w, path))
                return 0;
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash) {
                *slash = '\0';
                int r = add_dir_p(w, parent, err);
                if (r < 0)
                        return r;
        }
        int r = add_header(w, path, S_IFDIR | 0755, 0, 0, err);
        if (r < 0)
                return r;
        if (w->n_dirs == w->cap_dirs) {
                size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 32;
                char **v = realloc(w->dirs, cap * sizeof(*v));
                if (!v)
                        return bg_error_set(err, ENOMEM, "out of memory");
                w->dirs = v;
                w->cap_dirs = cap;
        }
        w->dirs[w->n_dirs] = strdup(path);
        if (!w->dirs[w->n_dirs])
                return bg_error_set(err, ENOMEM, "out of memory");
        w->n_dirs++;
        return 0;
}

static int add_data(struct writer *w, const char *path, mode_t mode, const void *data, size_t len,
                    struct bg_error *err)
{
        int r = add_header(w, path, S_IFREG | mode, (int64_t)len, 0, err);
        if (r < 0)
                return r;
        const uint8_t *p = data;
        while (len > 0) {
                la_ssize_t n = archive_write_data(w->a, p, len);
                if (n <= 0)
                        return ar_fail(w, path, err);
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int add_host_file(struct writer *w, const char *path, mode_t mode, const char *host,
                         struct bg_error *err)
{
        _cleanup_close_ int fd = open(host, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return bg_error_set(err, errno, "open %s: %s", host, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return bg_error_set(err, errno, "stat %s: %s", host, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "%s is not a regular file", host);
        int r = add_header(w, path, S_IFREG | mode, st.st_size, 0, err);
        if (r < 0)
                return r;
        uint8_t buf[65536];
        off_t left = st.st_size;
        while (left > 0) {
                ssize_t n = read(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return bg_error_set(err, errno, "read %s: %s", host, strerror(errno));
                if (n == 0)
                        return bg_error_set(err, EIO, "%s shrank while being read", host);
                if (archive_write_data(w->a, buf, (size_t)n) != n)
                        return ar_fail(w, path, err);
                left -= n;
        }
        return 0;
}

/* A module path from modules.dep must stay inside the module tree. */
static bool module_path_safe(const char *p)
{
        if (!p[0] || p[0] == '/')
                return false;
        for (const char *s = p; s; s = strchr(s, '/')) {
                if (*s == '/')
                        s++;
                if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == '\0'))
                        return false;
        }
        return true;
}

/* "kernel/a/b.ko.xz" -> "kernel/a/b.ko" (the archive ships them
 * decompressed). */
static char *ko_name(const char *p)
{
        static const char *const sfx[] = {".ko.xz", ".ko.zst", ".ko.gz"};
        size_t len = strlen(p);
        for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
                size_t k = strlen(sfx[i]);
                if (len > k && streq(p + len - k, sfx[i]))
                        return strndup(p, len - k + 3);
        }
        return strdup(p);
}

static int strv_copy(char **src, size_t n, char ***ret)
{
        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        char **v = calloc(n, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                v[i] = strdup(src[i]);
                if (!v[i]) {
                        strv_free(v, i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        return 0;
}

static int write_archive(const struct initramfs_spec *spec, int fd, const char *out_path,
                         const struct modules_resolution *res, char **ko, struct bg_error *err)
{
        _cleanup_(archive_freep) struct archive *a = archive_write_new();
        if (!a)
                return bg_error_set(err, ENOMEM, "out of memory");
        struct writer w = {.a = a, .out = out_path};
        int r = 0;

        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK)
                return ar_fail(&w, "cpio newc format", err);
        if (spec->compression == INITRAMFS_ZSTD) {
                if (archive_write_add_filter_zstd(a) != ARCHIVE_OK)
                        return ar_fail(&w, "zstd filter", err);
        } else {
                if (archive_write_add_filter_gzip(a) != ARCHIVE_OK)
                        return ar_fail(&w, "gzip filter", err);
                /* No name or time stamp in the gzip header: same input, same bytes. */
                archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
        }
        /* Pad only to 512 bytes, not libarchive's default 10 KiB blocks. */
        archive_write_set_bytes_per_block(a, 512);
        if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return ar_fail(&w, "open", err);

        static const char *const base_dirs[] = {"dev", "proc", "sys", "newroot", "lib/banger"};
        for (size_t i = 0; i < ELEMENTSOF(base_dirs) && r >= 0; i++)
                r = add_dir_p(&w, base_dirs[i], err);
        if (r >= 0)
                r = add_header(&w, "dev/console", S_IFCHR | 0600, 0, makedev(5, 1), err);
        if (r >= 0)
                r = add_host_file(&w, "init", 0755, spec->agent_path, err);

        /* modules.order */
        size_t olen = 0;
        for (size_t i = 0; res && i < res->n_files; i++)
                olen += strlen(ko[i]) + 1;
        _cleanup_free_ char *order = malloc(olen + 1);
        if (!order)
                r = bg_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                size_t k = 0;
                for (size_t i = 0; res && i < res->n_files; i++)
                        k += (size_t)sprintf(order + k, "%s\n", ko[i]);
                r = add_data(&w, "lib/banger/modules.order", 0644, order, k, err);
        }

        char modroot[PATH_MAX];
        snprintf(modroot, sizeof(modroot), "lib/modules/%s", spec->release);
        if (r >= 0 && res)
                r = add_dir_p(&w, modroot, err);
        for (size_t i = 0; r >= 0 && res && i < res->n_files; i++) {
                char host[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
                snprintf(host, sizeof(host), "%s/%s", spec->modules_dir, res->files[i]);
                snprintf(path, sizeof(path), "%s/%s", modroot, ko[i]);
                snprintf(dir, sizeof(dir), "%s", path);
                *strrchr(dir, '/') = '\0';
                r = add_dir_p(&w, dir, err);
                if (r < 0)
                        break;
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                r = module_file_read(host, &buf, &len, err);
                if (r < 0)
                        break;
                r = add_data(&w, path, 0644, buf, len, err);
        }
        if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
                r = ar_fail(&w, "close", err);
        strv_free(w.dirs, w.n_dirs);
        return r;
}

int initramfs_build(const struct initramfs_spec *spec, const char *out_path,
                    struct initramfs_result *ret, struct bg_error *err)
{
        struct modules_resolution res = {0};
        bool have_res = false;
        char **ko = NULL;
        _cleanup_(atomic_file_abort) struct atomic_file out = ATOMIC_FILE_INIT;
        int r;

        if (!spec->agent_path || !spec->release || !spec->release[0] ||
            strchr(spec->release, '/') || streq(spec->release, "..") || streq(spec->release, "."))
                return bg_error_set(err, EINVAL,
                                    "initramfs: agent path and a kernel release "
                                    "are required");
        if (access(spec->agent_path, R_OK) < 0)
                return bg_error_set(err, errno,
                                    "guest agent %s: %s (build the banger-agent "
                                    "target or set BANGER_AGENT_BINARY)",
                                    spec->agent_path, strerror(errno));

        if (spec->modules_dir) {
                char dep[PATH_MAX], builtin[PATH_MAX];
                snprintf(dep, sizeof(dep), "%s/modules.dep", spec->modules_dir);
                snprintf(builtin, sizeof(builtin), "%s/modules.builtin", spec->modules_dir);
                struct modules_dep *d = NULL;
                r = modules_dep_load(spec->dep_path ? spec->dep_path : dep,
                                     spec->builtin_path ? spec->builtin_path : builtin, &d, err);
                if (r < 0)
                        return r;
                const char *const *wanted = spec->wanted ? spec->wanted : initramfs_default_modules;
                size_t n = spec->wanted ? spec->n_wanted : initramfs_n_default_modules;
                r = modules_dep_resolve(d, wanted, n, &res, err);
                modules_dep_free(d);
                if (r < 0)
                        return r;
                have_res = true;
                ko = calloc(res.n_files ? res.n_files : 1, sizeof(char *));
                if (!ko) {
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        goto out;
                }
                for (size_t i = 0; i < res.n_files; i++) {
                        if (!module_path_safe(res.files[i])) {
                                r = bg_error_set(err, EINVAL,
                                                 "modules.dep names '%s', which is outside the "
                                                 "module tree",
                                                 res.files[i]);
                                goto out;
                        }
                        ko[i] = ko_name(res.files[i]);
                        if (!ko[i]) {
                                r = bg_error_set(err, ENOMEM, "out of memory");
                                goto out;
                        }
                }
        }

        r = atomic_file_open(out_path, &out, err);
        if (r < 0)
                goto out;
        r = write_archive(spec, out.fd, out_path, have_res ? &res : NULL, ko, err);
        struct stat st;
        if (r >= 0 && fstat(out.fd, &st) < 0)
                r = bg_error_errno(err, -errno, "stat %s", out_path);
        if (r >= 0)
                r = atomic_file_commit(&out, 0644, err);
        if (r < 0)
                goto out;
        if (ret) {
                struct initramfs_result o = {.size = (uint64_t)st.st_size};
                if (have_res) {
                        o.n_modules = res.n_files;
                        o.n_builtin = res.n_builtin;
                        o.n_missing = res.n_missing;
                }
                if (have_res && (strv_copy(ko, res.n_files, &o.modules) < 0 ||
                                 strv_copy(res.builtin, res.n_builtin, &o.builtin) < 0 ||
                                 strv_copy(res.missing, res.n_missing, &o.missing) < 0)) {
                        initramfs_result_done(&o);
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        goto out;
                }
                *ret = o;
        }
        r = 0;
out:
        if (ko)
                strv_free(ko, res.n_files);
        if (have_res)
                modules_resolution_done(&res);
        return r;
}
