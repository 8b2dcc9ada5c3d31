#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/timeutil.h"

struct fixture {
        char dir[256];
        char path[300];
};

static const struct store_migration v1[] = {
    {1, "CREATE TABLE vms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
    {2, "CREATE TABLE disks (id INTEGER PRIMARY KEY, "
        "vm_id INTEGER NOT NULL REFERENCES vms(id) ON DELETE CASCADE, path TEXT);"
        "CREATE INDEX disks_vm ON disks(vm_id);"},
};

static const struct store_migration v2[] = {
    v1[0],
    v1[1],
    {3, "ALTER TABLE vms ADD COLUMN state TEXT NOT NULL DEFAULT 'created';"},
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof(f->dir), "%s/test_store.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char p[320];
                snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
                unlink(p);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

static bool table_exists(sqlite3 *db, const char *name)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                            "AND name = ?",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        return sqlite3_step(st) == SQLITE_ROW;
}

static int count_rows(sqlite3 *db, const char *table)
{
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        return sqlite3_column_int(st, 0);
}

static void pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
}

static void test_fresh_open(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        _cleanup_(store_closep) sqlite3 *db = NULL;

        mode_t old = umask(022);
        int r = store_open(f->path, v1, ELEMENTSOF(v1), &db, &err);
        umask(old);
        assert_int_equal(r, 0);
        assert_non_null(db);

        int v = -1;
        assert_int_equal(store_user_version(db, &v), 0);
        assert_int_equal(v, 2);
        assert_true(table_exists(db, "vms"));
        assert_true(table_exists(db, "disks"));

        char buf[32];
        pragma_text(db, "PRAGMA journal_mode", buf, sizeof(buf));
        assert_string_equal(buf, "wal");
        pragma_text(db, "PRAGMA foreign_keys", buf, sizeof(buf));
        assert_string_equal(buf, "1");
        pragma_text(db, "PRAGMA synchronous", buf, sizeof(buf));
        assert_string_equal(buf, "1"); /* NORMAL */
        pragma_text(db, "PRAGMA busy_timeout", buf, sizeof(buf));
        assert_int_equal(atoi(buf), STORE_BUSY_TIMEOUT_MS);

        struct stat st;
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* The WAL file takes its mode from the database. */
        char wal[320];
        snprintf(wal, sizeof(wal), "%s-wal", f->path);
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* Foreign keys are enforced. */
        r = store_exec(db, "INSERT INTO disks (vm_id, path) VALUES (42, '/x')", &err);
        assert_true(r < 0);
        assert_int_not_equal(err.code, 0);
        assert_non_null(strstr(err.msg, "FOREIGN KEY"));
}

static void test_reopen_keeps_data(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        {
                _cleanup_(store_closep) sqlite3 *db = NULL;
                assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);
                assert_int_equal(store_exec(db, "INSERT INTO vms (name) VALUES ('a')", &err), 0);
        }
        {
                _cleanup_(store_closep) sqlite3 *db = NULL;
                assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);
                int v = -1;
                assert_int_equal(store_user_version(db, &v), 0);
                assert_int_equal(v, 2);
                assert_int_equal(count_rows(db, "vms"), 1);
                /* Re-running migration 1 would have failed ("table vms already exists"). */
        }
}

static void test_upgrade_old_file(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        {
                _cleanup_(store_closep) sqlite3 *db = NULL;
                assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);
                assert_int_equal(store_exec(db, "INSERT INTO vms (name) VALUES ('old')", &err), 0);
        }
        _cleanup_(store_closep) sqlite3 *db = NULL;
        assert_int_equal(store_open(f->path, v2, ELEMENTSOF(v2), &db, &err), 0);
        int v = -1;
        assert_int_equal(store_user_version(db, &v), 0);
        assert_int_equal(v, 3);
        char buf[32];
        pragma_text(db, "SELECT state FROM vms WHERE name = 'old'", buf, sizeof(buf));
        assert_string_equal(buf, "created");
}

static void test_failing_migration_rolls_back(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        {
                _cleanup_(store_closep) sqlite3 *db = NULL;
                assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);
        }
        const struct store_migration bad[] = {
            v1[0],
            v1[1],
            {3, "CREATE TABLE half (x INTEGER);"
                "INSERT INTO half VALUES (1);"
                "INSERT INTO no_such_table VALUES (1);"},
        };
        sqlite3 *db = NULL;
        int r = store_open(f->path, bad, ELEMENTSOF(bad), &db, &err);
        assert_true(r < 0);
        assert_null(db);
        assert_int_equal(-r, err.code);
        char want[400];
        snprintf(want, sizeof(want), "migration 3 of %s failed: ", f->path);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "no_such_table"));

        _cleanup_(store_closep) sqlite3 *db2 = NULL;
        assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db2, &err), 0);
        int v = -1;
        assert_int_equal(store_user_version(db2, &v), 0);
        assert_int_equal(v, 2);
        assert_false(table_exists(db2, "half"));
}

static void test_failing_first_migration_leaves_version_zero(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        const struct store_migration bad[] = {
            {1, "CREATE TABLE t (x); this is not sql"},
        };
        sqlite3 *db = NULL;
        int r = store_open(f->path, bad, ELEMENTSOF(bad), &db, &err);
        assert_true(r < 0);
        assert_non_null(strstr(err.msg, "migration 1 of"));
        assert_non_null(strstr(err.msg, "syntax error"));

        _cleanup_(store_closep) sqlite3 *db2 = NULL;
        assert_int_equal(store_open(f->path, NULL, 0, &db2, &err), 0);
        int v = -1;
        assert_int_equal(store_user_version(db2, &v), 0);
        assert_int_equal(v, 0);
        assert_false(table_exists(db2, "t"));
}

static void test_too_new_refused(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        {
                _cleanup_(store_closep) sqlite3 *db = NULL;
                assert_int_equal(store_open(f->path, v2, ELEMENTSOF(v2), &db, &err), 0);
        }
        sqlite3 *db = NULL;
        int r = store_open(f->path, v1, ELEMENTSOF(v1), &db, &err);
        assert_int_equal(r, -EPROTO);
        assert_null(db);
        assert_int_equal(err.code, EPROTO);
        char want[512];
        snprintf(want, sizeof(want),
                 "database %s has schema version 3 but this banger knows only 2; upgrade banger",
                 f->path);
        assert_string_equal(err.msg, want);

        /* Refusing did not touch the file. */
        _cleanup_(store_closep) sqlite3 *db2 = NULL;
        assert_int_equal(store_open(f->path, v2, ELEMENTSOF(v2), &db2, &err), 0);
        int v = -1;
        assert_int_equal(store_user_version(db2, &v), 0);
        assert_int_equal(v, 3);
}

static void test_bad_migration_arrays(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db = NULL;
        struct bg_error err = {};

        const struct store_migration starts_at_two[] = {{2, "CREATE TABLE a (x);"}};
        assert_int_equal(store_open(f->path, starts_at_two, 1, &db, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "version 2"));
        assert_non_null(strstr(err.msg, f->path));

        const struct store_migration gap[] = {{1, "CREATE TABLE a (x);"},
                                              {3, "CREATE TABLE b (x);"}};
        bg_error_clear(&err);
        assert_int_equal(store_open(f->path, gap, 2, &db, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "version 3"));

        const struct store_migration dup[] = {{1, "CREATE TABLE a (x);"},
                                              {1, "CREATE TABLE b (x);"}};
        bg_error_clear(&err);
        assert_int_equal(store_open(f->path, dup, 2, &db, &err), -EINVAL);

        const struct store_migration no_sql[] = {{1, NULL}};
        bg_error_clear(&err);
        assert_int_equal(store_open(f->path, no_sql, 1, &db, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "no SQL"));

        bg_error_clear(&err);
        assert_int_equal(store_open(f->path, NULL, 3, &db, &err), -EINVAL);
        assert_null(db);

        /* Nothing was created for a refused array. */
        assert_int_equal(access(f->path, F_OK), -1);
        assert_int_equal(errno, ENOENT);
}

static void test_open_missing_dir(void **state)
{
        struct fixture *f = *state;
        char p[400];
        snprintf(p, sizeof(p), "%s/no/such/dir/x.db", f->dir);
        sqlite3 *db = NULL;
        struct bg_error err = {};
        int r = store_open(p, v1, ELEMENTSOF(v1), &db, &err);
        assert_int_equal(r, -ENOENT);
        assert_null(db);
        assert_non_null(strstr(err.msg, p));
}

/* A database this process may not open (another user's, mode 0600): the
 * error says whose it is, not just sqlite's "unable to open". */
static void test_open_permission_denied(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db = NULL;
        struct bg_error err = {};
        assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);
        store_close(db);
        assert_int_equal(chmod(f->dir, 0755), 0);
        assert_int_equal(chmod(f->path, geteuid() == 0 ? 0600 : 0000), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Root opens anything: become nobody (which drops every capability). */
                if (geteuid() == 0 &&
                    (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0))
                        _exit(2);
                sqlite3 *d = NULL;
                struct bg_error e = {};
                int r = store_open(f->path, v1, ELEMENTSOF(v1), &d, &e);
                if (r != -EACCES || d || !strstr(e.msg, "permission denied: it belongs to uid") ||
                    !strstr(e.msg, f->path)) {
                        fprintf(stderr, "store_open: %d %s\n", r, e.msg);
                        _exit(1);
                }
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(access(f->path, F_OK), 0); /* left in place */
        chmod(f->path, 0600);
}

static void test_not_a_database(void **state)
{
        struct fixture *f = *state;
        int fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        const char junk[] = "this is definitely not an sqlite database file, just text......"
                            "..............................................................";
        assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
        close(fd);
        sqlite3 *db = NULL;
        struct bg_error err = {};
        int r = store_open(f->path, v1, ELEMENTSOF(v1), &db, &err);
        assert_int_equal(r, -EBADMSG);
        assert_null(db);
        assert_non_null(strstr(err.msg, f->path));
}

static int insert_two(sqlite3 *db, void *userdata, struct bg_error *err)
{
        int *calls = userdata;
        (*calls)++;
        int r = store_exec(db, "INSERT INTO vms (name) VALUES ('x')", err);
        if (r < 0)
                return r;
        r = store_exec(db, "INSERT INTO vms (name) VALUES ('y')", err);
        if (r < 0)
                return r;
        return 7;
}

static int insert_then_fail(sqlite3 *db, void *userdata, struct bg_error *err)
{
        int r = store_exec(db, "INSERT INTO vms (name) VALUES ('z')", err);
        if (r < 0)
                return r;
        /* Duplicate name: UNIQUE constraint. */
        return store_exec(db, "INSERT INTO vms (name) VALUES ('z')", err);
}

static int nested(sqlite3 *db, void *userdata, struct bg_error *err)
{
        int calls = 0;
        return store_transaction(db, insert_two, &calls, err);
}

static void test_transaction(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        _cleanup_(store_closep) sqlite3 *db = NULL;
        assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);

        int calls = 0;
        assert_int_equal(store_transaction(db, insert_two, &calls, &err), 7);
        assert_int_equal(calls, 1);
        assert_int_equal(count_rows(db, "vms"), 2);
        assert_true(sqlite3_get_autocommit(db));

        int r = store_transaction(db, insert_then_fail, NULL, &err);
        assert_int_equal(r, -EEXIST);
        assert_int_equal(err.code, EEXIST);
        assert_non_null(strstr(err.msg, "UNIQUE"));
        assert_true(sqlite3_get_autocommit(db));
        assert_int_equal(count_rows(db, "vms"), 2); /* the first 'z' was rolled back */

        /* Without an error object the code is still right. */
        assert_int_equal(store_transaction(db, insert_then_fail, NULL, NULL), -EEXIST);
        assert_int_equal(count_rows(db, "vms"), 2);

        /* Nesting is refused, and the outer transaction rolls back. */
        bg_error_clear(&err);
        assert_true(store_transaction(db, nested, NULL, &err) < 0);
        assert_non_null(strstr(err.msg, "begin transaction: "));
        assert_non_null(strstr(err.msg, "within a transaction"));
        assert_true(sqlite3_get_autocommit(db));
        assert_int_equal(count_rows(db, "vms"), 2);

        /* Visible to another connection only after commit. */
        _cleanup_(store_closep) sqlite3 *other = NULL;
        assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &other, &err), 0);
        assert_int_equal(count_rows(other, "vms"), 2);
}

static void test_errno_mapping(void **state)
{
        assert_int_equal(store_errno(SQLITE_OK), 0);
        assert_int_equal(store_errno(SQLITE_DONE), 0);
        assert_int_equal(store_errno(SQLITE_BUSY), -EBUSY);
        assert_int_equal(store_errno(SQLITE_BUSY_SNAPSHOT), -EBUSY);
        assert_int_equal(store_errno(SQLITE_LOCKED), -EBUSY);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT), -EEXIST);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_PRIMARYKEY), -EEXIST);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_NOTNULL), -EINVAL);
        assert_int_equal(store_errno(SQLITE_NOTFOUND), -ENOENT);
        assert_int_equal(store_errno(SQLITE_FULL), -ENOSPC);
        assert_int_equal(store_errno(SQLITE_READONLY), -EROFS);
        assert_int_equal(store_errno(SQLITE_NOMEM), -ENOMEM);
        assert_int_equal(store_errno(SQLITE_CORRUPT), -EBADMSG);
        assert_int_equal(store_errno(SQLITE_IOERR_WRITE), -EIO);
        assert_int_equal(store_errno(SQLITE_ERROR), -EIO);
        assert_int_equal(store_errno(SQLITE_MISUSE), -EINVAL);
}

struct holder {
        const char *path;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool holding;
        int result;
};

/* Holds the write lock for 300 ms on its own connection. */
static void *hold_write_lock(void *arg)
{
        struct holder *h = arg;
        struct bg_error err = {};
        sqlite3 *db = NULL;
        h->result = store_open(h->path, v1, ELEMENTSOF(v1), &db, &err);
        if (h->result >= 0)
                h->result = store_exec(db,
                                       "BEGIN IMMEDIATE; INSERT INTO vms (name) VALUES "
                                       "('holder')",
                                       &err);
        pthread_mutex_lock(&h->lock);
        h->holding = true;
        pthread_cond_signal(&h->cond);
        pthread_mutex_unlock(&h->lock);
        if (h->result >= 0) {
                sleep_msec(300);
                h->result = store_exec(db, "COMMIT", &err);
        }
        store_close(db);
        return NULL;
}

static int insert_waiter(sqlite3 *db, void *userdata, struct bg_error *err)
{
        return store_exec(db, "INSERT INTO vms (name) VALUES ('waiter')", err);
}

static void test_concurrent_writers_wait(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {};
        _cleanup_(store_closep) sqlite3 *db = NULL;
        assert_int_equal(store_open(f->path, v1, ELEMENTSOF(v1), &db, &err), 0);

        struct holder h = {
            .path = f->path, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, hold_write_lock, &h), 0);
        pthread_mutex_lock(&h.lock);
        while (!h.holding)
                pthread_cond_wait(&h.cond, &h.lock);
        pthread_mutex_unlock(&h.lock);

        uint64_t start = now_mono_msec();
        int r = store_transaction(db, insert_waiter, NULL, &err);
        uint64_t waited = now_mono_msec() - start;
        if (r < 0)
                fail_msg("second writer failed: %s", err.msg);
        assert_int_equal(r, 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(h.result, 0);
        /* It really did wait for the holder instead of racing past it. */
        assert_true(waited >= 150);
        assert_int_equal(count_rows(db, "vms"), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_fresh_open, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
            cmocka_unit_test_setup_teardown(test_upgrade_old_file, setup, teardown),
            cmocka_unit_test_setup_teardown(test_failing_migration_rolls_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_failing_first_migration_leaves_version_zero, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_too_new_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_migration_arrays, setup, teardown),
            cmocka_unit_test_setup_teardown(test_open_missing_dir, setup, teardown),
            cmocka_unit_test_setup_teardown(test_open_permission_denied, setup, teardown),
            cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
            cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
            cmocka_unit_test(test_errno_mapping),
            cmocka_unit_test_setup_teardown(test_concurrent_writers_wait, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
