#include "rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext4.h"
#include "rootfs_cache.h"

/* ---- mounts ---- */

static const struct {
        const char *name;
        unsigned long set;
} mount_flags[] = {
    {"ro", MS_RDONLY},     {"rw", 0},           {"bind", MS_BIND},     {"rbind", MS_BIND | MS_REC},
    {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC}, {"relatime", MS_RELATIME},
};

int rootfs_mount(const char *bundle, Containerd__Types__Mount *const *m, size_t n,
                 struct bg_error *err)
{
        if (n > ROOTFS_MAX_MOUNTS)
                return bg_error_set(err, E2BIG, "rootfs: %zu mounts (at most %d)", n,
                                    ROOTFS_MAX_MOUNTS);
        char target[PATH_MAX];
        if (snprintf(target, sizeof(target), "%s/rootfs", bundle) >= (int)sizeof(target))
                return bg_error_set(err, ENAMETOOLONG, "bundle path too long");
        if (mkdir(target, 0711) < 0 && errno != EEXIST)
                return bg_error_errno(err, -errno, "mkdir %s", target);
        for (size_t i = 0; i < n; i++) {
                const char *type = m[i]->type;
                if (strcmp(type, "overlay") != 0 && strcmp(type, "bind") != 0 &&
                    strcmp(type, "rbind") != 0) {
                        rootfs_unmount(bundle);
                        return bg_error_set(err, ENOTSUP,
                                            "rootfs mount %zu: type %.40s is not supported "
                                            "(overlay, bind)",
                                            i, type);
                }
                unsigned long flags = strcmp(type, "overlay") == 0 ? 0 : MS_BIND;
                char data[8192] = "";
                size_t dl = 0;
                for (size_t k = 0; k < m[i]->n_options; k++) {
                        const char *o = m[i]->options[k];
                        bool known = false;
                        for (size_t f = 0; f < sizeof(mount_flags) / sizeof(mount_flags[0]); f++)
                                if (strcmp(o, mount_flags[f].name) == 0) {
                                        flags |= mount_flags[f].set;
                                        known = true;
                                }
                        if (known)
                                continue;
                        int w = snprintf(data + dl, sizeof(data) - dl, "%s%s", dl ? "," : "", o);
                        if (w < 0 || (size_t)w >= sizeof(data) - dl) {
                                rootfs_unmount(bundle);
                                return bg_error_set(err, E2BIG,
                                                    "rootfs mount %zu: options too long", i);
                        }
                        dl += (size_t)w;
                }
                bool ro = flags & MS_RDONLY;
                if (flags & MS_BIND)
                        flags &= ~MS_RDONLY; /* a bind mount takes ro only on a remount */
                if (mount(m[i]->source, target, strcmp(type, "overlay") == 0 ? "overlay" : NULL,
                          flags, dl ? data : NULL) < 0) {
                        int e = -errno;
                        rootfs_unmount(bundle);
                        return bg_error_errno(err, e, "mount %s %.200s on %s", type, m[i]->source,
                                              target);
                }
                if ((flags & MS_BIND) && ro)
                        (void)mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
        }
        return 0;
}

void rootfs_unmount(const char *bundle)
{
        char target[PATH_MAX];
        snprintf(target, sizeof(target), "%s/rootfs", bundle);
        for (int i = 0; i < ROOTFS_MAX_MOUNTS; i++)
                if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        break;
}

/* ---- fingerprint ---- */

struct entry {
        char *path;
        uint8_t h[32];
};

struct walk {
        struct entry *v;
        size_t n, cap;
        struct rootfs_summary *s;
        EVP_MD_CTX *md;
        uint64_t max_bytes; /* rootfs_max_bytes() */
        struct fp_cache *cache; /* may be NULL */
};

/* BANGER_SHIM_MAX_ROOTFS: bytes, or a number with K, M, G or T; at least
 * 64M. Anything else is the default. */
uint64_t rootfs_max_bytes(void)
{
        const char *env = getenv("BANGER_SHIM_MAX_ROOTFS");
        if (!env || !env[0])
                return ROOTFS_MAX_BYTES_DEFAULT;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 10);
        unsigned shift = 0;
        switch (*end) {
        case 'K':
                shift = 10;
                end++;
                break;
        case 'M':
                shift = 20;
                end++;
                break;
        case 'G':
                shift = 30;
                end++;
                break;
        case 'T':
                shift = 40;
                end++;
                break;
        default:
                break;
        }
        if (errno || *end || env[0] == '-' || v > (UINT64_MAX >> shift) ||
            (v << shift) < (64ull << 20))
                return ROOTFS_MAX_BYTES_DEFAULT;
        return (uint64_t)v << shift;
}

static int hash_fd(EVP_MD_CTX *md, int fd, uint8_t out[32], struct bg_error *err)
{
        static uint8_t buf[1 << 16];
        if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL))
                return bg_error_set(err, EIO, "sha256");
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                EVP_DigestUpdate(md, buf, (size_t)k);
        }
        unsigned len = 32;
        EVP_DigestFinal_ex(md, out, &len);
        return 0;
}

static int add_entry(struct walk *w, const char *path, const struct stat *st, const void *extra,
                     size_t extra_len, struct bg_error *err)
{
        if (w->n >= ROOTFS_MAX_ENTRIES)
                return bg_error_set(err, E2BIG, "rootfs: more than %u entries", ROOTFS_MAX_ENTRIES);
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 1024;
                struct entry *v = realloc(w->v, cap * sizeof(*v));
                if (!v)
                        return bg_error_set(err, ENOMEM, "out of memory");
                w->v = v;
                w->cap = cap;
        }
        char meta[128];
        /* Directory times change as a snapshot is mounted and unpacked; the
         * rest is what the VM sees. */
        int ml = snprintf(meta, sizeof(meta), "%o %u %u %lld.%09ld", st->st_mode, st->st_uid,
                          st->st_gid, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_mtim.tv_sec,
                          S_ISDIR(st->st_mode) ? 0L : st->st_mtim.tv_nsec);
        struct entry *e = &w->v[w->n];
        e->path = strdup(path);
        if (!e->path)
                return bg_error_set(err, ENOMEM, "out of memory");
        unsigned len = 32;
        EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
        EVP_DigestUpdate(w->md, meta, (size_t)ml + 1);
        EVP_DigestUpdate(w->md, extra, extra_len);
        EVP_DigestFinal_ex(w->md, e->h, &len);
        w->n++;
        w->s->entries++;
        w->s->bytes += ((uint64_t)st->st_size + 4095) & ~4095ull;
        return 0;
}

static int walk_dir(struct walk *w, int dfd, char *path, size_t plen, unsigned depth,
                    struct bg_error *err)
{
        if (depth > 256)
                return bg_error_set(err, ELOOP, "rootfs: %s is nested too deep", path);
        DIR *d = fdopendir(dfd);
        if (!d) {
                int e = -errno;
                close(dfd);
                return bg_error_errno(err, e, "rootfs: open %s", path);
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                size_t nl = strlen(de->d_name);
                if (plen + 1 + nl >= PATH_MAX) {
                        r = bg_error_set(err, ENAMETOOLONG, "rootfs: a path under %s is too long",
                                         path);
                        break;
                }
                path[plen] = '/';
                memcpy(path + plen + 1, de->d_name, nl + 1);
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = bg_error_errno(err, -errno, "rootfs: stat %s", path);
                        break;
                }
                if (S_ISREG(st.st_mode)) {
                        /* Checked before the file is read: a hostile image's
                         * sparse terabyte costs a stat, not a read. */
                        if ((uint64_t)st.st_size > w->max_bytes ||
                            w->s->bytes > w->max_bytes - (uint64_t)st.st_size) {
                                r = bg_error_set(err, EFBIG,
                                                 "rootfs: more than %llu bytes of file data (at "
                                                 "%s); the limit is BANGER_SHIM_MAX_ROOTFS in "
                                                 "containerd's environment",
                                                 (unsigned long long)w->max_bytes, path);
                                break;
                        }
                        uint8_t h[32];
                        if (fp_cache_lookup(w->cache, &st, h)) {
                                w->s->cached++;
                                fp_cache_note(w->cache, &st, h);
                        } else {
                                int fd = openat(dirfd(d), de->d_name,
                                                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                                r = fd < 0 ? -errno : hash_fd(w->md, fd, h, err);
                                /* Noted only if the file did not change while
                                 * it was read. */
                                struct stat after;
                                if (r >= 0 && fstat(fd, &after) == 0 &&
                                    after.st_ino == st.st_ino && after.st_size == st.st_size &&
                                    after.st_ctim.tv_sec == st.st_ctim.tv_sec &&
                                    after.st_ctim.tv_nsec == st.st_ctim.tv_nsec)
                                        fp_cache_note(w->cache, &st, h);
                                if (fd >= 0)
                                        close(fd);
                                if (r < 0) {
                                        r = bg_error_errno(err, r, "rootfs: read %s", path);
                                        break;
                                }
                        }
                        r = add_entry(w, path, &st, h, sizeof(h), err);
                } else if (S_ISLNK(st.st_mode)) {
                        char t[PATH_MAX];
                        ssize_t k = readlinkat(dirfd(d), de->d_name, t, sizeof(t));
                        if (k < 0 || (size_t)k >= sizeof(t)) {
                                r = bg_error_set(err, EINVAL, "rootfs: readlink %s", path);
                                break;
                        }
                        r = add_entry(w, path, &st, t, (size_t)k, err);
                } else if (S_ISDIR(st.st_mode)) {
                        r = add_entry(w, path, &st, "", 0, err);
                        int sub = r < 0 ? -1
                                        : openat(dirfd(d), de->d_name,
                                                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (r >= 0 && sub < 0)
                                r = bg_error_errno(err, -errno, "rootfs: open %s", path);
                        if (r >= 0)
                                r = walk_dir(w, sub, path, plen + 1 + nl, depth + 1, err);
                } else {
                        unsigned long long rdev = st.st_rdev;
                        r = add_entry(w, path, &st, &rdev, sizeof(rdev), err);
                }
        }
        if (r >= 0 && errno != 0 && !de)
                r = bg_error_errno(err, -errno, "rootfs: read %s", path);
        path[plen] = '\0';
        closedir(d);
        return r;
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static bool present(int dfd, const char *rel)
{
        struct stat st;
        return fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode);
}

int rootfs_summarize(const char *dir, struct rootfs_summary *ret, struct bg_error *err)
{
        struct rootfs_summary s = {0};
        struct walk w = {.s = &s, .md = EVP_MD_CTX_new(), .max_bytes = rootfs_max_bytes()};
        if (!w.md)
                return bg_error_set(err, ENOMEM, "out of memory");
        w.cache = fp_cache_open();
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                EVP_MD_CTX_free(w.md);
                fp_cache_free(w.cache);
                return bg_error_errno(err, -errno, "rootfs: open %s", dir);
        }
        static const char *const inits[] = {"sbin/init", "lib/systemd/systemd",
                                            "usr/lib/systemd/systemd"};
        for (size_t i = 0; i < 3; i++)
                s.has_init = s.has_init || present(dfd, inits[i]);
        s.has_sshd = present(dfd, "usr/sbin/sshd");
        char path[PATH_MAX] = "";
        int r = walk_dir(&w, dfd, path, 0, 0, err); /* closes dfd */
        if (r >= 0) {
                if (w.n) /* an empty tree has no array (qsort's NULL is UB) */
                        qsort(w.v, w.n, sizeof(*w.v), entry_cmp);
                uint8_t h[32];
                unsigned len = 32;
                EVP_DigestInit_ex(w.md, EVP_sha256(), NULL);
                for (size_t i = 0; i < w.n; i++) {
                        EVP_DigestUpdate(w.md, w.v[i].path, strlen(w.v[i].path) + 1);
                        EVP_DigestUpdate(w.md, w.v[i].h, 32);
                }
                EVP_DigestFinal_ex(w.md, h, &len);
                for (int i = 0; i < 32; i++)
                        snprintf(s.digest + 2 * i, 3, "%02x", h[i]);
                *ret = s;
                fp_cache_save(w.cache);
        } else {
                fp_cache_free(w.cache);
        }
        for (size_t i = 0; i < w.n; i++)
                free(w.v[i].path);
        free(w.v);
        EVP_MD_CTX_free(w.md);
        return r;
}

/* ---- ext4 ---- */

int rootfs_build_ext4(const char *dir, const struct rootfs_summary *s, const char *path,
                      struct bg_error *err)
{
        /* Data and one block per inode, a quarter on top for metadata and
         * the journal, and 1 GiB free for the container (sparse: holes are
         * neither stored nor uploaded). */
        uint64_t size = s->bytes + s->entries * 4096;
        size += size / 4 + (1ull << 30);
        size = (size + (1ull << 20) - 1) & ~((1ull << 20) - 1);
        struct ext4_create_opts co = {.inodes = s->entries * 2 + 16384, .journal = true};
        struct ext4_fs *fs = NULL;
        int r = ext4_create(path, size, &co, &fs, err);
        if (r < 0)
                return r;
        struct ext4_tree_opts to = {.no_xattrs = true, .keep_existing_dirs = false};
        r = ext4_add_tree(fs, dir, "/", &to, err);
        if (r < 0) {
                ext4_free(fs);
                return r;
        }
        return ext4_close(fs, err);
}
