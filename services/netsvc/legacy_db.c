#include "legacy_db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"

#define DB_NAME BG_PATHS_ROOT_DB ".db"
#define WAL_NAME DB_NAME "-wal"
#define SHM_NAME DB_NAME "-shm"

/* dfd/name opened for reading when it is what netsvc made: a regular file
 * of root's with one link, reached without following a symlink. -ENOENT when
 * absent; -EPERM with why filled for anything else. */
static int open_root_file(int dfd, const char *dir, const char *name, char *why, size_t why_len)
{
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return -ENOENT;
                snprintf(why, why_len, "%s/%s: %s", dir, name, strerror(errno));
                return -EPERM;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1) {
                snprintf(why, why_len,
                         "%s/%s is not a regular file of root's with a single link, so it is "
                         "not the one netsvc made",
                         dir, name);
                close(fd);
                return -EPERM;
        }
        return fd;
}

/* Copies the open file src to dfd/name (mode 0600), replacing it at once. */
static int copy_into(int src, int dfd, const char *dir, const char *name, struct bg_error *err)
{
        _cleanup_(atomic_file_abort) struct atomic_file f = ATOMIC_FILE_INIT;
        int r = atomic_file_open_at(dfd, name, &f, err);
        if (r < 0)
                return r;
        char buf[65536];
        for (;;) {
                ssize_t n = read(src, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return bg_error_errno(err, -errno, "read the old %s", name);
                if (n == 0)
                        break;
                r = loop_write(f.fd, buf, (size_t)n);
                if (r < 0)
                        return bg_error_errno(err, r, "write %s/%s", dir, name);
        }
        return atomic_file_commit(&f, 0600, err);
}

int netsvc_legacy_db_import(const struct bg_paths *p, char *why, size_t why_len,
                            struct bg_error *err)
{
        char w[512] = "";
        if (why && why_len)
                why[0] = '\0';
        if (!p->system || streq(p->state_dir, p->net_state_dir))
                return 0;
        _cleanup_close_ int nfd = open(p->net_state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (nfd < 0)
                return bg_error_errno(err, -errno, "open %s", p->net_state_dir);
        struct stat st;
        if (fstatat(nfd, DB_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
                return 0; /* moved already (or something netsvc will report when it opens it) */
        _cleanup_close_ int ofd = open(p->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ofd < 0)
                return 0; /* no old state directory, or not ours to read */
        _cleanup_close_ int db = open_root_file(ofd, p->state_dir, DB_NAME, w, sizeof(w));
        if (db == -ENOENT)
                return 0;
        _cleanup_close_ int wal =
            db < 0 ? -1 : open_root_file(ofd, p->state_dir, WAL_NAME, w, sizeof(w));
        if (db < 0 || (wal < 0 && wal != -ENOENT)) {
                if (why && why_len)
                        snprintf(why, why_len, "%s", w);
                return 0;
        }
        /* Leftovers of an attempt that stopped half-way go; the -wal comes
         * first and net.db last, so its presence means the move is done. */
        (void)unlinkat(nfd, SHM_NAME, 0);
        int r;
        if (wal >= 0)
                r = copy_into(wal, nfd, p->net_state_dir, WAL_NAME, err);
        else
                r = unlinkat(nfd, WAL_NAME, 0) < 0 && errno != ENOENT
                        ? bg_error_errno(err, -errno, "remove %s/%s", p->net_state_dir, WAL_NAME)
                        : 0;
        if (r >= 0)
                r = copy_into(db, nfd, p->net_state_dir, DB_NAME, err);
        return r < 0 ? r : 1;
}
