#include "deb_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"

#define IO_CHUNK (128u * 1024)

void deb_kernel_files_done(struct deb_kernel_files *f)
{
        if (!f)
                return;
        free(f->vmlinuz);
        free(f->modules_dir);
        free(f->version);
        *f = (struct deb_kernel_files){0};
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

struct extract {
        int root_fd;
        const char *deb;
        char vmlinuz_release[NAME_MAX + 1];
        unsigned n_vmlinuz;
        char modules_release[NAME_MAX + 1];
        uint64_t written;
        uint8_t *buf;
};

/* Normalise a tar entry name into out ("a/b/c", no "." components). Refuses
 * absolute names and "..". */
static int normalize(const char *name, char *out, size_t size, struct bg_error *err)
{
        size_t o = 0;
        if (name[0] == '/')
                return bg_error_set(err, EPERM, "refusing absolute path '%s' in data.tar", name);
        for (const char *p = name; *p;) {
                size_t l = strcspn(p, "/");
                if (l == 2 && p[0] == '.' && p[1] == '.')
                        return bg_error_set(err, EPERM, "refusing path traversal '%s' in data.tar",
                                            name);
                if (l > 0 && !(l == 1 && p[0] == '.')) {
                        if (o + l + 2 > size)
                                return bg_error_set(err, ENAMETOOLONG, "path too long in data.tar");
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, p, l);
                        o += l;
                }
                p += l;
                while (*p == '/')
                        p++;
        }
        out[o] = '\0';
        return 0;
}

enum want {
        WANT_NONE,
        WANT_VMLINUZ,
        WANT_MODULES,
};

/* Decide whether a normalised path is extracted and where to (out, relative
 * to the target). */
static enum want classify(const char *norm, char *out, size_t size, char release[NAME_MAX + 1])
{
        static const char boot[] = "boot/vmlinuz-";
        static const char mods[] = "lib/modules/";
        if (strncmp(norm, "usr/", 4) == 0 && strncmp(norm + 4, mods, strlen(mods)) == 0)
                norm += 4; /* merged-/usr layout: keep one layout in the output */
        if (strncmp(norm, boot, strlen(boot)) == 0 && norm[strlen(boot)] &&
            !strchr(norm + strlen(boot), '/')) {
                if (strlen(norm + strlen(boot)) > NAME_MAX)
                        return WANT_NONE;
                snprintf(out, size, "%s", norm);
                snprintf(release, NAME_MAX + 1, "%s", norm + strlen(boot));
                return WANT_VMLINUZ;
        }
        if (strncmp(norm, mods, strlen(mods)) == 0 && norm[strlen(mods)]) {
                const char *rel = norm + strlen(mods);
                size_t rl = strcspn(rel, "/");
                if (rl > NAME_MAX)
                        return WANT_NONE;
                snprintf(out, size, "%s", norm);
                snprintf(release, NAME_MAX + 1, "%.*s", (int)rl, rel);
                return WANT_MODULES;
        }
        return WANT_NONE;
}

/* Open (creating as needed) the directory that holds the last component of
 * rel, never following symlinks. Returns the fd; *ret_name points into rel. */
static int open_parent(int root_fd, const char *rel, const char **ret_name, struct bg_error *err)
{
        int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return bg_error_errno(err, -errno, "dup");
        const char *p = rel;
        for (;;) {
                size_t l = strcspn(p, "/");
                if (p[l] == '\0') {
                        *ret_name = p;
                        return fd;
                }
                char comp[NAME_MAX + 1];
                if (l > NAME_MAX) {
                        close(fd);
                        return bg_error_set(err, ENAMETOOLONG, "path component too long");
                }
                memcpy(comp, p, l);
                comp[l] = '\0';
                if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;
                        close(fd);
                        return bg_error_errno(err, r, "create directory for '%s'", rel);
                }
                int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int saved = errno;
                close(fd);
                if (nfd < 0) {
                        if (saved == ENOTDIR || saved == ELOOP)
                                return bg_error_set(err, EPERM,
                                                    "refusing to write '%s': '%s' is not a "
                                                    "directory (symlink?)",
                                                    rel, comp);
                        return bg_error_errno(err, -saved, "open directory for '%s'", rel);
                }
                fd = nfd;
                p += l + 1;
        }
}

static int make_dirs(struct extract *x, const char *rel, struct bg_error *err)
{
        /* open_parent creates every component but the last; add a dummy one. */
        char tmp[PATH_MAX];
        const char *name;
        if (snprintf(tmp, sizeof(tmp), "%s/.", rel) >= (int)sizeof(tmp))
                return bg_error_set(err, ENAMETOOLONG, "path too long");
        int fd = open_parent(x->root_fd, tmp, &name, err);
        if (fd < 0)
                return fd;
        close(fd);
        return 0;
}

/* The directory that will hold rel (made as needed), with whatever non-
 * directory rel names there removed: *ret_name is free in the fd returned. */
static int open_slot(struct extract *x, const char *rel, const char **ret_name,
                     struct bg_error *err)
{
        int dfd = open_parent(x->root_fd, rel, ret_name, err);
        if (dfd < 0)
                return dfd;
        if (unlinkat(dfd, *ret_name, 0) < 0 && errno != ENOENT) {
                int r = bg_error_errno(err, -errno, "replace '%s'", rel);
                close(dfd);
                return r;
        }
        return dfd;
}

static int write_file(struct extract *x, struct archive *a, struct archive_entry *e,
                      const char *rel, struct bg_error *err)
{
        const char *name;
        _cleanup_close_ int dfd = open_slot(x, rel, &name, err);
        if (dfd < 0)
                return dfd;
        mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
        _cleanup_close_ int fd =
            openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create '%s'", rel);
        for (;;) {
                la_ssize_t n = archive_read_data(a, x->buf, IO_CHUNK);
                if (n < 0)
                        return bg_error_set(err, EBADMSG, "%s: data.tar: %s", x->deb,
                                            archive_error_string(a));
                if (n == 0)
                        break;
                x->written += (uint64_t)n;
                if (x->written > DEB_EXTRACT_MAX_BYTES)
                        return bg_error_set(err, EFBIG, "%s unpacks to more than %llu bytes",
                                            x->deb, DEB_EXTRACT_MAX_BYTES);
                int r = loop_write(fd, x->buf, (size_t)n);
                if (r < 0)
                        return bg_error_errno(err, r, "write '%s'", rel);
        }
        if (fchmod(fd, mode) < 0)
                return bg_error_errno(err, -errno, "chmod '%s'", rel);
        return 0;
}

/* A relative symlink target must stay inside the target directory when read
 * from the link's directory: only leading ".." components (never more than
 * the link's depth), then plain names. */
static int check_symlink(const char *rel, const char *target, struct bg_error *err)
{
        if (!target || !target[0])
                return bg_error_set(err, EPERM, "refusing symlink '%s' without a target", rel);
        if (target[0] == '/')
                return bg_error_set(err, EPERM,
                                    "refusing symlink '%s' -> '%s': points outside the target", rel,
                                    target);
        int depth = 0;
        for (const char *p = rel; *p; p++)
                if (*p == '/')
                        depth++;
        bool descended = false;
        for (const char *p = target; *p;) {
                size_t l = strcspn(p, "/");
                if (l == 2 && p[0] == '.' && p[1] == '.') {
                        if (descended || --depth < 0)
                                return bg_error_set(err, EPERM,
                                                    "refusing symlink '%s' -> '%s': points "
                                                    "outside the target",
                                                    rel, target);
                } else if (l > 0 && !(l == 1 && p[0] == '.')) {
                        descended = true;
                }
                p += l;
                while (*p == '/')
                        p++;
        }
        return 0;
}

static int write_symlink(struct extract *x, const char *rel, const char *target,
                         struct bg_error *err)
{
        int r = check_symlink(rel, target, err);
        if (r < 0)
                return r;
        const char *name;
        _cleanup_close_ int dfd = open_slot(x, rel, &name, err);
        if (dfd < 0)
                return dfd;
        if (symlinkat(target, dfd, name) < 0)
                return bg_error_errno(err, -errno, "symlink '%s'", rel);
        return 0;
}

static int write_hardlink(struct extract *x, const char *rel, const char *target_name,
                          struct bg_error *err)
{
        char norm[PATH_MAX], mapped[PATH_MAX], release[NAME_MAX + 1];
        int r = normalize(target_name, norm, sizeof(norm), err);
        if (r < 0)
                return r;
        if (classify(norm, mapped, sizeof(mapped), release) == WANT_NONE)
                return bg_error_set(err, EPERM,
                                    "refusing hardlink '%s' -> '%s': target is not extracted", rel,
                                    target_name);
        const char *tname, *name;
        _cleanup_close_ int tfd = open_parent(x->root_fd, mapped, &tname, err);
        if (tfd < 0)
                return tfd;
        _cleanup_close_ int dfd = open_slot(x, rel, &name, err);
        if (dfd < 0)
                return dfd;
        if (linkat(tfd, tname, dfd, name, 0) < 0)
                return bg_error_errno(err, -errno, "hardlink '%s'", rel);
        return 0;
}

static int extract_entry(struct extract *x, struct archive *a, struct archive_entry *e,
                         struct bg_error *err)
{
        char norm[PATH_MAX], rel[PATH_MAX], release[NAME_MAX + 1];
        const char *name = archive_entry_pathname(e);
        if (!name)
                return bg_error_set(err, EBADMSG, "%s: data.tar entry without a name", x->deb);
        int r = normalize(name, norm, sizeof(norm), err);
        if (r < 0)
                return r;
        /* Hardlink names are checked even for entries we skip. */
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
                char tmp[PATH_MAX];
                r = normalize(hl, tmp, sizeof(tmp), err);
                if (r < 0)
                        return r;
        }
        enum want w = classify(norm, rel, sizeof(rel), release);
        if (w == WANT_NONE)
                return 0;
        if (w == WANT_MODULES) {
                if (x->modules_release[0] && !streq(x->modules_release, release))
                        return bg_error_set(err, EBADMSG,
                                            "%s has modules for two releases ('%s' and '%s')",
                                            x->deb, x->modules_release, release);
                snprintf(x->modules_release, sizeof(x->modules_release), "%s", release);
        }
        if (hl)
                return write_hardlink(x, rel, hl, err);
        switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
                return make_dirs(x, rel, err);
        case AE_IFLNK:
                return write_symlink(x, rel, archive_entry_symlink(e), err);
        case AE_IFREG:
                if (w == WANT_VMLINUZ) {
                        if (x->n_vmlinuz++ > 0 && !streq(x->vmlinuz_release, release))
                                return bg_error_set(err, EBADMSG,
                                                    "%s has more than one kernel ('%s' and '%s')",
                                                    x->deb, x->vmlinuz_release, release);
                        snprintf(x->vmlinuz_release, sizeof(x->vmlinuz_release), "%s", release);
                }
                return write_file(x, a, e, rel, err);
        default:
                return bg_error_set(err, EPERM, "refusing special file '%s' in %s", name, x->deb);
        }
}

struct inner_src {
        struct archive *outer;
        uint8_t buf[IO_CHUNK];
};

static la_ssize_t inner_read(struct archive *a, void *userdata, const void **buf)
{
        struct inner_src *s = userdata;
        la_ssize_t n = archive_read_data(s->outer, s->buf, sizeof(s->buf));
        if (n < 0)
                archive_set_error(a, EIO, "reading the ar member failed: %s",
                                  archive_error_string(s->outer));
        *buf = s->buf;
        return n;
}

static int extract_data_tar(struct extract *x, struct archive *outer, struct bg_error *err)
{
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        _cleanup_free_ struct inner_src *src = calloc(1, sizeof(*src));
        if (!a || !src)
                return bg_error_set(err, ENOMEM, "out of memory");
        src->outer = outer;
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open(a, src, NULL, inner_read, NULL) != ARCHIVE_OK)
                return bg_error_set(err, EBADMSG, "%s: data.tar: %s", x->deb,
                                    archive_error_string(a));
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return bg_error_set(err, EBADMSG, "%s: data.tar: %s", x->deb,
                                            archive_error_string(a));
                int r = extract_entry(x, a, e, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int deb_extract_kernel(const char *deb_path, const char *out_dir, struct deb_kernel_files *ret,
                       struct bg_error *err)
{
        _cleanup_(archive_read_freep) struct archive *outer = archive_read_new();
        _cleanup_free_ uint8_t *buf = malloc(IO_CHUNK);
        _cleanup_close_ int root_fd = -1;
        struct extract x = {.deb = deb_path};
        bool seen_binary = false, seen_data = false;
        int r;

        if (!outer || !buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        x.buf = buf;
        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
                return bg_error_errno(err, -errno, "create '%s'", out_dir);
        root_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return bg_error_errno(err, -errno, "open '%s'", out_dir);
        x.root_fd = root_fd;

        archive_read_support_format_ar(outer);
        if (archive_read_open_filename(outer, deb_path, IO_CHUNK) != ARCHIVE_OK)
                return bg_error_set(err, EBADMSG, "%s is not a Debian package: %s", deb_path,
                                    archive_error_string(outer));
        while (!seen_data) {
                struct archive_entry *e;
                int ar = archive_read_next_header(outer, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
                        return bg_error_set(err, EBADMSG, "%s is not a Debian package: %s",
                                            deb_path, archive_error_string(outer));
                const char *name = archive_entry_pathname(e);
                if (!name)
                        name = "";
                if (!seen_binary) {
                        char v[16] = {0};
                        la_ssize_t n = streq(name, "debian-binary")
                                           ? archive_read_data(outer, v, sizeof(v) - 1)
                                           : -1;
                        if (n < 4 || strncmp(v, "2.", 2) != 0)
                                return bg_error_set(err, EBADMSG,
                                                    "%s is not a Debian package (no "
                                                    "debian-binary 2.x first)",
                                                    deb_path);
                        seen_binary = true;
                        continue;
                }
                if (strncmp(name, "data.tar", 8) != 0)
                        continue;
                r = extract_data_tar(&x, outer, err);
                if (r < 0)
                        return r;
                seen_data = true;
        }
        if (!seen_data)
                return bg_error_set(err, EBADMSG, "%s has no data.tar member", deb_path);
        if (x.n_vmlinuz == 0)
                return bg_error_set(err, ENOENT, "%s contains no /boot/vmlinuz-*", deb_path);
        if (x.modules_release[0] && !streq(x.modules_release, x.vmlinuz_release))
                return bg_error_set(err, EBADMSG, "%s: kernel is '%s' but its modules are for '%s'",
                                    deb_path, x.vmlinuz_release, x.modules_release);

        _cleanup_(deb_kernel_files_done) struct deb_kernel_files f = {0};
        if (asprintf(&f.vmlinuz, "%s/boot/vmlinuz-%s", out_dir, x.vmlinuz_release) < 0) {
                f.vmlinuz = NULL;
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        f.version = strdup(x.vmlinuz_release);
        if (!f.version)
                return bg_error_set(err, ENOMEM, "out of memory");
        if (x.modules_release[0] &&
            asprintf(&f.modules_dir, "%s/lib/modules/%s", out_dir, x.modules_release) < 0) {
                f.modules_dir = NULL;
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        *ret = f;
        f = (struct deb_kernel_files){0};
        return 0;
}
