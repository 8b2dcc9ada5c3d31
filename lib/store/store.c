#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(char *, sqlite3_free)

int store_errno(int sqlite_rc)
{
        /* Extended codes first where they change the meaning. */
        switch (sqlite_rc) {
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
        case SQLITE_CONSTRAINT_DATATYPE:
                return -EINVAL;
        case SQLITE_IOERR_NOMEM:
                return -ENOMEM;
        case SQLITE_CANTOPEN_ISDIR:
                return -EISDIR;
        default:
                break;
        }

        switch (sqlite_rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOTFOUND:
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EPERM;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_ABORT:
                return -ECANCELED;
        case SQLITE_SCHEMA:
                return -EAGAIN;
        case SQLITE_MISMATCH:
        case SQLITE_MISUSE:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_PROTOCOL:
                return -EPROTO;
        case SQLITE_NOLFS:
                return -EFBIG;
        default: /* SQLITE_ERROR, SQLITE_IOERR, SQLITE_INTERNAL, … */
                return -EIO;
        }
}

/* Prepends context to err's message and returns r (also when err is NULL). */
static int with_context(int r, struct bg_error *err, const char *fmt, ...) _printf_(3, 4);
static int with_context(int r, struct bg_error *err, const char *fmt, ...)
{
        if (!err)
                return r;
        char ctx[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        bg_error_prefix(err, "%s", ctx);
        return r;
}

/* Fills err from the connection's last error and returns the mapped -errno. */
static int store_fail(sqlite3 *db, int rc, struct bg_error *err, const char *what)
{
        int r = store_errno(rc);
        if (r == 0)
                r = -EIO;
        return bg_error_set(err, r, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

void store_close(sqlite3 *db)
{
        /* close_v2 defers the close until forgotten statements are finalized
         * instead of failing with SQLITE_BUSY and leaking the handle. */
        sqlite3_close_v2(db);
}

/* Runs a statement that returns one text or integer row; copies the first
 * column as text into out. */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t outlen, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return store_fail(db, rc, err, sql);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return store_fail(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, sql);
        const unsigned char *t = sqlite3_column_text(stmt, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        return 0;
}

static int user_version(sqlite3 *db, int *ret, struct bg_error *err)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return store_fail(db, rc, err, "read user_version");
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return store_fail(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                                  "read user_version");
        *ret = sqlite3_column_int(stmt, 0);
        return 0;
}

int store_user_version(sqlite3 *db, int *ret)
{
        if (!db || !ret)
                return -EINVAL;
        int v;
        int r = user_version(db, &v, NULL);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int store_exec(sqlite3 *db, const char *sql, struct bg_error *err)
{
        if (!db || !sql)
                return bg_error_set(err, EINVAL, "store_exec: no database or SQL");
        _cleanup_(sqlite3_freep) char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
                return 0;
        int r = store_errno(rc);
        if (r == 0)
                r = -EIO;
        return bg_error_set(err, r, "%s", msg ? msg : sqlite3_errmsg(db));
}

/* Leaves an open transaction, if any; keeps the error that caused it. */
static void rollback(sqlite3 *db)
{
        if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int store_transaction(sqlite3 *db, store_tx_fn fn, void *userdata, struct bg_error *err)
{
        if (!db || !fn)
                return bg_error_set(err, EINVAL, "store_transaction: no database or function");
        int r = store_exec(db, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return with_context(r, err, "begin transaction");
        int ret = fn(db, userdata, err);
        if (ret < 0) {
                rollback(db);
                return ret;
        }
        r = store_exec(db, "COMMIT", err);
        if (r < 0) {
                rollback(db);
                return with_context(r, err, "commit transaction");
        }
        return ret;
}

static int validate_migrations(const char *path, const struct store_migration *m, size_t n,
                               struct bg_error *err)
{
        if (n > 0 && !m)
                return bg_error_set(err, EINVAL, "migrations for %s: %zu announced, none given",
                                    path, n);
        if (n > (size_t)INT_MAX)
                return bg_error_set(err, EINVAL, "migrations for %s: too many (%zu)", path, n);
        for (size_t i = 0; i < n; i++) {
                if (m[i].version != (int)(i + 1))
                        return bg_error_set(err, EINVAL,
                                            "migrations for %s: entry %zu has version %d, "
                                            "expected %zu (versions must be 1, 2, 3 … in order)",
                                            path, i, m[i].version, i + 1);
                if (!m[i].sql || !m[i].sql[0])
                        return bg_error_set(err, EINVAL, "migrations for %s: version %d has no SQL",
                                            path, m[i].version);
        }
        return 0;
}

static int refuse_newer(const char *path, int have, size_t known, struct bg_error *err)
{
        return bg_error_set(err, EPROTO,
                            "database %s has schema version %d but this banger knows only %zu; "
                            "upgrade banger",
                            path, have, known);
}

/* Applies migration `version` (1-based) in its own transaction, unless another
 * connection got there first. */
static int apply_migration(sqlite3 *db, const char *path, const struct store_migration *m, size_t n,
                           int version, struct bg_error *err)
{
        int r = store_exec(db, "BEGIN IMMEDIATE", err);
        if (r < 0)
                return with_context(r, err, "migration %d of %s: begin", version, path);

        /* Re-read under the write lock: a concurrent opener may have migrated. */
        int cur;
        r = user_version(db, &cur, err);
        if (r < 0) {
                rollback(db);
                return with_context(r, err, "migration %d of %s", version, path);
        }
        if (cur >= version) {
                rollback(db);
                if ((size_t)cur > n)
                        return refuse_newer(path, cur, n, err);
                return 0;
        }

        r = store_exec(db, m[version - 1].sql, err);
        if (r >= 0) {
                char sql[64];
                snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
                r = store_exec(db, sql, err);
        }
        if (r >= 0)
                r = store_exec(db, "COMMIT", err);
        if (r < 0) {
                rollback(db);
                char msg[BG_ERROR_MSG_MAX];
                snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
                return bg_error_set(err, r, "migration %d of %s failed: %s", version, path, msg);
        }
        return 0;
}

/* Creates the file 0600 when missing so the database (and the -wal/-shm files
 * sqlite derives from its mode) are never readable by others. Returns 1 when
 * it created the file. */
static int precreate(const char *path, struct bg_error *err)
{
        _cleanup_close_ int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) {
                if (errno == EEXIST)
                        return 0;
                return bg_error_errno(err, -errno, "create database %s", path);
        }
        /* A restrictive umask must not leave the owner without write access. */
        if (fchmod(fd, 0600) < 0) {
                int r = -errno;
                unlink(path);
                return bg_error_errno(err, r, "chmod database %s", path);
        }
        return 1;
}

static int configure(sqlite3 *db, const char *path, struct bg_error *err)
{
        int rc = sqlite3_extended_result_codes(db, 1);
        if (rc != SQLITE_OK)
                return store_fail(db, rc, err, "enable extended result codes");
        rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK)
                return store_fail(db, rc, err, "set busy timeout");

        char mode[32];
        int r = query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode), err);
        if (r < 0)
                return with_context(r, err, "enable WAL on %s", path);
        if (strcasecmp(mode, "wal") != 0)
                return bg_error_set(err, EIO, "enable WAL on %s: journal mode stayed '%s'", path,
                                    mode);

        r = store_exec(db, "PRAGMA synchronous = NORMAL", err);
        if (r < 0)
                return with_context(r, err, "set synchronous on %s", path);
        r = store_exec(db, "PRAGMA foreign_keys = ON", err);
        if (r < 0)
                return with_context(r, err, "enable foreign keys on %s", path);
        char fk[8];
        r = query_text(db, "PRAGMA foreign_keys", fk, sizeof(fk), err);
        if (r < 0)
                return with_context(r, err, "check foreign keys on %s", path);
        if (!streq(fk, "1"))
                return bg_error_set(err, EIO, "enable foreign keys on %s: not supported", path);
        return 0;
}

int store_open(const char *path, const struct store_migration *migrations, size_t n_migrations,
               sqlite3 **ret, struct bg_error *err)
{
        if (!path || !path[0] || !ret)
                return bg_error_set(err, EINVAL, "store_open: no database path");
        int r = validate_migrations(path, migrations, n_migrations, err);
        if (r < 0)
                return r;

        int created = precreate(path, err);
        if (created < 0)
                return created;

        _cleanup_(store_closep) sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(
            path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int sys = db ? sqlite3_system_errno(db) : 0;
                r = sys > 0 ? -sys : store_errno(rc);
                if (r == 0)
                        r = -EIO;
                struct stat st;
                if ((r == -EACCES || r == -EPERM) && stat(path, &st) == 0)
                        /* Someone chowned the state dir: say whose it is. */
                        bg_error_set(err, r,
                                     "open database %s: permission denied: it belongs to uid %u "
                                     "(mode %04o) and this process runs as uid %u",
                                     path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                                     (unsigned)geteuid());
                else
                        bg_error_set(err, r, "open database %s: %s", path,
                                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
                if (created)
                        unlink(path);
                return r;
        }

        r = configure(db, path, err);
        if (r < 0)
                return r;

        int v;
        r = user_version(db, &v, err);
        if (r < 0)
                return with_context(r, err, "database %s", path);
        if (v < 0)
                return bg_error_set(err, EPROTO, "database %s has invalid schema version %d", path,
                                    v);
        if ((size_t)v > n_migrations)
                return refuse_newer(path, v, n_migrations, err);

        for (size_t i = (size_t)v; i < n_migrations; i++) {
                r = apply_migration(db, path, migrations, n_migrations, (int)(i + 1), err);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(db);
        return 0;
}
