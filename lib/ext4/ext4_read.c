/* The read side: stat an entry (ext4_lookup), read a regular file or a
 * symlink target into memory, stream a regular file in bounded chunks, and
 * list a directory. It also reads images this module did not write (per-VM
 * work disks written by the guest kernel: htree directories, inline data,
 * old-style device numbers), so it goes through libext2fs' generic readers,
 * not the writer's shortcuts. */
#include "ext4_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* path exists and is of type (LINUX_S_IFREG, LINUX_S_IFDIR or LINUX_S_IFLNK);
 * its inode goes to *in. */
static int existing_of_type(struct ext4_fs *e, const char *path, unsigned type,
                            struct ext4i_target *t, struct ext2_inode *in, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        int r = ext4i_existing(e, path, t, err);
        if (r < 0)
                return r;
        errcode_t er = ext2fs_read_inode(e->fs, t->ino, in);
        if (er)
                return ext4i_fail(err, er, "read inode of '%s'", path);
        if ((in->i_mode & LINUX_S_IFMT) == type)
                return 0;
        if (type == LINUX_S_IFDIR)
                return bg_error_set(err, ENOTDIR, "image path '%s' is not a directory", path);
        return bg_error_set(err, EINVAL, "'%s' is not a %s", path,
                            type == LINUX_S_IFLNK ? "symlink" : "regular file");
}

int ext4_lookup(struct ext4_fs *e, const char *path, struct ext4_stat *ret, struct bg_error *err)
{
        if (!e)
                return bg_error_set(err, EINVAL, "no ext4 image");
        struct ext4i_target t;
        int r = ext4i_existing(e, path, &t, err);
        if (r < 0 || !ret)
                return r;
        struct ext2_inode_large in;
        errcode_t er = ext4i_read_inode(e, t.ino, &in);
        if (er)
                return ext4i_fail(err, er, "read inode of '%s'", path);
        bool large = EXT2_INODE_SIZE(e->fs->super) > EXT2_GOOD_OLD_INODE_SIZE;
        struct ext4_stat st = {
            .ino = t.ino,
            .mode = in.i_mode,
            .uid = inode_uid(in),
            .gid = inode_gid(in),
            .nlink = in.i_links_count,
            .size = EXT2_I_SIZE(&in),
            .blocks = ext2fs_get_stat_i_blocks(e->fs, (struct ext2_inode *)&in),
            .atime = ext4i_decode_time(in.i_atime, in.i_atime_extra,
                                       large && EXT4I_FITS(&in, i_atime_extra)),
            .mtime = ext4i_decode_time(in.i_mtime, in.i_mtime_extra,
                                       large && EXT4I_FITS(&in, i_mtime_extra)),
            .ctime = ext4i_decode_time(in.i_ctime, in.i_ctime_extra,
                                       large && EXT4I_FITS(&in, i_ctime_extra)),
        };
        if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode)) {
                uint32_t old = ext2fs_le32_to_cpu(in.i_block[0]);
                uint32_t nw = ext2fs_le32_to_cpu(in.i_block[1]);
                if (old)
                        st.rdev = makedev((old >> 8) & 0xff, old & 0xff);
                else
                        st.rdev =
                            makedev((nw & 0xfff00) >> 8, (nw & 0xff) | ((nw >> 12) & 0xfff00));
        }
        *ret = st;
        return 0;
}

/* Passes the size bytes of inode ino to sink in chunks of at most
 * EXT4_STREAM_CHUNK; a file that ends early is a short read. */
static int stream_ino(struct ext4_fs *e, ext2_ino_t ino, uint64_t size, ext4_sink_fn sink, void *ud,
                      const char *path, struct bg_error *err)
{
        _cleanup_free_ char *buf = malloc(EXT4_STREAM_CHUNK);
        if (!buf)
                return bg_error_set(err, ENOMEM, "out of memory");
        ext2_file_t f;
        errcode_t er = ext2fs_file_open(e->fs, ino, 0, &f);
        if (er)
                return ext4i_fail(err, er, "open '%s'", path);
        uint64_t off = 0;
        int r = 0;
        while (r >= 0 && off < size) {
                unsigned int want =
                    size - off > EXT4_STREAM_CHUNK ? EXT4_STREAM_CHUNK : (unsigned int)(size - off);
                unsigned int got = 0;
                er = ext2fs_file_read(f, buf, want, &got);
                if (er) {
                        r = ext4i_fail(err, er, "read '%s'", path);
                        break;
                }
                if (got == 0) {
                        r = bg_error_set(err, EIO, "read '%s': short read", path);
                        break;
                }
                r = sink(ud, buf, got, err);
                off += got;
        }
        ext2fs_file_close(f);
        return r;
}

struct mem_sink {
        char *buf;
        size_t off;
};

static int to_memory(void *ud, const void *buf, size_t len, struct bg_error *err)
{
        (void)err;
        struct mem_sink *m = ud;
        memcpy(m->buf + m->off, buf, len);
        m->off += len;
        return 0;
}

/* The whole file into *ret (malloc'ed, NUL-terminated). */
static int read_data(struct ext4_fs *e, ext2_ino_t ino, uint64_t size, char **ret, const char *path,
                     struct bg_error *err)
{
        if (size >= SIZE_MAX)
                return bg_error_set(err, EFBIG, "'%s' is too big to read into memory", path);
        _cleanup_free_ char *buf = malloc(size + 1);
        if (!buf)
                return bg_error_set(err, ENOMEM, "read '%s': out of memory", path);
        struct mem_sink m = {.buf = buf};
        int r = stream_ino(e, ino, size, to_memory, &m, path, err);
        if (r < 0)
                return r;
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

int ext4_read_file(struct ext4_fs *e, const char *path, void **ret_data, size_t *ret_size,
                   struct bg_error *err)
{
        return ext4_read_file_max(e, path, UINT64_MAX, ret_data, ret_size, err);
}

int ext4_read_file_max(struct ext4_fs *e, const char *path, uint64_t max, void **ret_data,
                       size_t *ret_size, struct bg_error *err)
{
        struct ext4i_target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFREG, &t, &in, err);
        if (r < 0)
                return r;
        if (EXT2_I_SIZE(&in) > EXT4_READ_FILE_MAX)
                return bg_error_set(err, EFBIG,
                                    "'%s' is %llu bytes, over the %u bytes read into memory", path,
                                    (unsigned long long)EXT2_I_SIZE(&in), EXT4_READ_FILE_MAX);
        if (EXT2_I_SIZE(&in) > max)
                return bg_error_set(err, EFBIG, "'%s' is %llu bytes, over the limit of %llu", path,
                                    (unsigned long long)EXT2_I_SIZE(&in),
                                    (unsigned long long)max);
        char *buf;
        r = read_data(e, t.ino, EXT2_I_SIZE(&in), &buf, path, err);
        if (r < 0)
                return r;
        *ret_data = buf;
        *ret_size = EXT2_I_SIZE(&in);
        return 0;
}

int ext4_readlink(struct ext4_fs *e, const char *path, char **ret, struct bg_error *err)
{
        struct ext4i_target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFLNK, &t, &in, err);
        if (r < 0)
                return r;
        uint64_t size = EXT2_I_SIZE(&in);
        /* A symlink's target is at most a page (PATH_MAX); a bigger size is
         * a corrupt or hostile inode, not something to allocate. */
        if (size > 4095)
                return bg_error_set(err, EFBIG,
                                    "symlink '%s' claims a %llu-byte target (corrupt inode)", path,
                                    (unsigned long long)size);
        if (ext2fs_is_fast_symlink(&in)) {
                char *s = strndup((const char *)in.i_block, size);
                if (!s)
                        return bg_error_set(err, ENOMEM, "out of memory");
                *ret = s;
                return 0;
        }
        return read_data(e, t.ino, size, ret, path, err);
}

struct dir_names {
        char **names;
        size_t n, cap;
        bool oom;
};

static int collect_name(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
                        int blocksize, char *buf, void *priv)
{
        struct dir_names *d = priv;
        (void)dir;
        (void)offset;
        (void)blocksize;
        (void)buf;
        if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
                return 0;
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 32;
                char **nv = realloc(d->names, cap * sizeof(*nv));
                if (!nv) {
                        d->oom = true;
                        return DIRENT_ABORT;
                }
                d->names = nv;
                d->cap = cap;
        }
        char *name = strndup(de->name, (size_t)ext2fs_dirent_name_len(de));
        if (!name) {
                d->oom = true;
                return DIRENT_ABORT;
        }
        d->names[d->n++] = name;
        return 0;
}

int ext4_readdir(struct ext4_fs *e, const char *path, ext4_readdir_fn fn, void *ud,
                 struct bg_error *err)
{
        struct ext4i_target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFDIR, &t, &in, err);
        if (r < 0)
                return r;
        /* Names first, callbacks after: fn may read (or write) the image. */
        struct dir_names d = {0};
        errcode_t er = ext2fs_dir_iterate2(e->fs, t.ino, 0, NULL, collect_name, &d);
        if (d.oom)
                r = bg_error_set(err, ENOMEM, "out of memory");
        else if (er)
                r = ext4i_fail(err, er, "read directory '%s'", path);
        size_t plen = strlen(path);
        for (size_t i = 0; r >= 0 && i < d.n; i++) {
                _cleanup_free_ char *child = NULL;
                bool slash = plen && path[plen - 1] == '/';
                if (asprintf(&child, "%s%s%s", path, slash ? "" : "/", d.names[i]) < 0) {
                        child = NULL;
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                struct ext4_stat st;
                r = ext4_lookup(e, child, &st, err);
                if (r >= 0)
                        r = fn(ud, d.names[i], &st);
        }
        for (size_t i = 0; i < d.n; i++)
                free(d.names[i]);
        free(d.names);
        return r;
}

int ext4_stream_file(struct ext4_fs *e, const char *path, ext4_sink_fn sink, void *ud,
                     struct bg_error *err)
{
        struct ext4i_target t;
        struct ext2_inode in;
        int r = existing_of_type(e, path, LINUX_S_IFREG, &t, &in, err);
        if (r < 0)
                return r;
        return stream_ino(e, t.ino, EXT2_I_SIZE(&in), sink, ud, path, err);
}
