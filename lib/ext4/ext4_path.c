/* Image paths: split one into components ("." and repeated "/" dropped, ".."
 * and names over 255 bytes refused) and resolve it through the directory
 * cache to its parent directory and final entry, without following a symlink
 * anywhere: an intermediate symlink is -ELOOP, another non-directory
 * -ENOTDIR, a missing one -ENOENT, each message naming the component. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Split path into components; "." dropped, ".." and over-long names refused. */
int ext4i_split_path(const char *path, struct ext4i_comp **ret, size_t *ret_n, struct bg_error *err)
{
        if (!path)
                return bg_error_set(err, EINVAL, "no image path given");
        size_t cap = 1;
        for (const char *p = path; *p; p++)
                cap += *p == '/';
        _cleanup_free_ struct ext4i_comp *v = calloc(cap, sizeof(*v));
        if (!v)
                return bg_error_set(err, ENOMEM, "out of memory");
        size_t n = 0;
        const char *p = path;
        for (;;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *q = strchrnul(p, '/');
                size_t len = (size_t)(q - p);
                if (len > EXT4I_MAX_NAME)
                        return bg_error_set(
                            err, ENAMETOOLONG,
                            "image path '%.64s...': component of %zu bytes (max %u)", path, len,
                            EXT4I_MAX_NAME);
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return bg_error_set(err, EINVAL, "image path '%s': '..' is not allowed",
                                            path);
                if (!(len == 1 && p[0] == '.'))
                        v[n++] =
                            (struct ext4i_comp){.name = p, .len = len, .end = (size_t)(q - path)};
                p = q;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* Walk the first n components of path from the root; each must be a real
 * directory. */
static int walk_dirs(struct ext4_fs *e, const char *path, const struct ext4i_comp *c, size_t n,
                     ext2_ino_t *ret, struct bg_error *err)
{
        ext2_ino_t cur = EXT2_ROOT_INO;
        for (size_t i = 0; i < n; i++) {
                ext2_ino_t ino;
                int ftype;
                int r = ext4i_dcache_lookup(e, cur, c[i].name, c[i].len, &ino, &ftype, err);
                if (r == -ENOENT)
                        return bg_error_set(err, ENOENT, "image path '%.*s' does not exist",
                                            (int)c[i].end, path);
                if (r < 0)
                        return r;
                if (ftype == EXT2_FT_UNKNOWN) {
                        struct ext2_inode in;
                        errcode_t er = ext2fs_read_inode(e->fs, ino, &in);
                        if (er)
                                return ext4i_fail(err, er, "read inode of '%.*s'", (int)c[i].end,
                                                  path);
                        ftype = ext4i_mode_to_ftype(in.i_mode);
                }
                if (ftype == EXT2_FT_SYMLINK)
                        return bg_error_set(err, ELOOP, "image path '%.*s' is a symlink",
                                            (int)c[i].end, path);
                if (ftype != EXT2_FT_DIR)
                        return bg_error_set(err, ENOTDIR, "image path '%.*s' is not a directory",
                                            (int)c[i].end, path);
                cur = ino;
        }
        *ret = cur;
        return 0;
}

int ext4i_resolve_target(struct ext4_fs *e, const char *path, struct ext4i_target *t,
                         struct bg_error *err)
{
        struct ext4i_comp *c_raw = NULL;
        size_t n;
        int r = ext4i_split_path(path, &c_raw, &n, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct ext4i_comp *c = c_raw;
        *t = (struct ext4i_target){.parent = EXT2_ROOT_INO};
        if (n == 0) {
                t->ino = EXT2_ROOT_INO;
                t->ftype = EXT2_FT_DIR;
                t->isdir = true;
                return 0;
        }
        r = walk_dirs(e, path, c, n - 1, &t->parent, err);
        if (r < 0)
                return r;
        t->name = c[n - 1].name;
        t->len = c[n - 1].len;
        r = ext4i_dcache_lookup(e, t->parent, t->name, t->len, &t->ino, &t->ftype, err);
        if (r == -ENOENT) {
                t->ino = 0;
                return 0;
        }
        if (r < 0)
                return r;
        return ext4i_is_dir_entry(e, t->ino, t->ftype, &t->isdir, err);
}

int ext4i_existing(struct ext4_fs *e, const char *path, struct ext4i_target *t,
                   struct bg_error *err)
{
        int r = ext4i_resolve_target(e, path, t, err);
        if (r < 0)
                return r;
        if (!t->ino)
                return bg_error_set(err, ENOENT, "image path '%s' does not exist", path);
        return 0;
}
