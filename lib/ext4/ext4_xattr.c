/* Extended attributes through libext2fs' xattr handles: set and get one
 * (any namespace libext2fs knows, binary values), and list all of an entry's
 * (for ext4_copy_tree). */
#include "ext4_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ext4_set_xattr(struct ext4_fs *e, const char *path, const char *name, const void *value,
                   size_t size, struct bg_error *err)
{
        int r = ext4i_check_writable(e, err);
        if (r < 0)
                return r;
        if (!name || !*name)
                return bg_error_set(err, EINVAL, "xattr on '%s': empty name", path);
        struct ext4i_target t;
        r = ext4i_existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattr_set(h, name, value, size);
        if (h) {
                errcode_t er2 = ext2fs_xattrs_close(&h);
                if (!er)
                        er = er2;
        }
        return er ? ext4i_fail(err, er, "set xattr '%s' on '%s'", name, path) : 0;
}

int ext4_get_xattr(struct ext4_fs *e, const char *path, const char *name, void **ret_value,
                   size_t *ret_size, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        struct ext4i_target t;
        int r = ext4i_existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        void *val = NULL;
        size_t len = 0;
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattr_get(h, name, &val, &len);
        if (h)
                ext2fs_xattrs_close(&h);
        if (er == EXT2_ET_EA_KEY_NOT_FOUND)
                return bg_error_set(err, ENODATA, "'%s' has no xattr '%s'", path, name);
        if (er)
                return ext4i_fail(err, er, "get xattr '%s' of '%s'", name, path);
        void *copy = malloc(len ? len : 1);
        if (!copy) {
                ext2fs_free_mem(&val);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        if (len)
                memcpy(copy, val, len);
        ext2fs_free_mem(&val);
        *ret_value = copy;
        *ret_size = len;
        return 0;
}

struct xattr_list {
        char **names;
        void **values;
        size_t *lens;
        size_t n;
        bool oom;
};

static int collect_xattr(char *name, char *value, size_t len, void *data)
{
        struct xattr_list *l = data;
        char **nn = realloc(l->names, (l->n + 1) * sizeof(*nn));
        if (nn)
                l->names = nn;
        void **nv = realloc(l->values, (l->n + 1) * sizeof(*nv));
        if (nv)
                l->values = nv;
        size_t *nl = realloc(l->lens, (l->n + 1) * sizeof(*nl));
        if (nl)
                l->lens = nl;
        char *nm = strdup(name);
        void *v = malloc(len ? len : 1);
        if (!nn || !nv || !nl || !nm || !v) {
                free(nm);
                free(v);
                l->oom = true;
                return XATTR_ABORT;
        }
        if (len)
                memcpy(v, value, len);
        l->names[l->n] = nm;
        l->values[l->n] = v;
        l->lens[l->n] = len;
        l->n++;
        return 0;
}

int ext4_xattrs_each(struct ext4_fs *e, const char *path, ext4_xattr_fn fn, void *ud,
                     struct bg_error *err)
{
        struct ext4i_target t;
        int r = ext4i_existing(e, path, &t, err);
        if (r < 0)
                return r;
        struct ext2_xattr_handle *h = NULL;
        struct xattr_list l = {0};
        errcode_t er = ext2fs_xattrs_open(e->fs, t.ino, &h);
        if (!er)
                er = ext2fs_xattrs_read(h);
        if (!er)
                er = ext2fs_xattrs_iterate(h, collect_xattr, &l);
        if (h)
                ext2fs_xattrs_close(&h);
        if (l.oom)
                r = bg_error_set(err, ENOMEM, "out of memory");
        else if (er)
                r = ext4i_fail(err, er, "read xattrs of '%s'", path);
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                r = fn(ud, l.names[i], l.values[i], l.lens[i], err);
        for (size_t i = 0; i < l.n; i++) {
                free(l.names[i]);
                free(l.values[i]);
        }
        free(l.names);
        free(l.values);
        free(l.lens);
        return r;
}
