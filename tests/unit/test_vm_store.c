/* vmsvc registry: insert/update/delete, resolve by name or id prefix,
 * generated names, state strings; on a real sqlite file with the migrations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/labels.h"
#include "vm_store.h"
#include "test_tmpdir.h"

static char dir[64];

static sqlite3 *open_db(void)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/vms.db", dir);
        sqlite3 *db;
        struct bg_error err = {0};
        assert_int_equal(store_open(path, vm_store_migrations, vm_store_n_migrations, &db, &err),
                         0);
        return db;
}

static struct vm_record rec(const char *id, const char *name)
{
        struct vm_record r = {.state = VM_CREATED, .vcpu = 2, .memory_mib = 1024};
        snprintf(r.id, sizeof(r.id), "%s", id);
        snprintf(r.name, sizeof(r.name), "%s", name);
        r.created_unix_ms = 1000 + (int64_t)strlen(name);
        return r;
}

static void test_states(void **state)
{
        for (int s = 0; s < _VM_STATE_MAX; s++)
                assert_int_equal(vm_state_from_string(vm_state_to_string(s)), s);
        assert_int_equal(vm_state_from_string("dancing"), -EINVAL);
        assert_null(vm_state_to_string(_VM_STATE_MAX));
}

static void test_crud_and_resolve(void **state)
{
        sqlite3 *db = open_db();
        struct bg_error err = {0};
        struct vm_record a = rec("aaaa1111bbbb2222cccc3333dddd4444", "web");
        struct vm_record b = rec("aaaa9999bbbb2222cccc3333dddd4444", "db");
        b.agent_init = true; /* vm create --init agent */
        assert_int_equal(vm_store_insert(db, &a, &err), 0);
        assert_int_equal(vm_store_insert(db, &b, &err), 0);
        struct vm_record dup = rec("ffff1111bbbb2222cccc3333dddd4444", "web");
        assert_int_equal(vm_store_insert(db, &dup, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "'web' already exists"));

        struct vm_record got;
        assert_int_equal(vm_store_resolve(db, "web", &got, &err), 0);
        assert_string_equal(got.id, a.id);
        assert_string_equal(got.root_disk, ""); /* not said at insert */
        assert_int_equal(vm_store_resolve(db, "aaaa1", &got, &err), 0);
        assert_string_equal(got.name, "web");
        assert_int_equal(vm_store_resolve(db, "aaaa", &got, &err), -EINVAL); /* ambiguous */
        assert_non_null(strstr(err.msg, "several VMs"));
        assert_int_equal(vm_store_resolve(db, "nope", &got, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "no VM named 'nope'"));
        assert_int_equal(vm_store_resolve(db, "abc", &got, &err), -ENOENT); /* short prefix */
        assert_int_equal(vm_store_resolve(db, "", &got, &err), -EINVAL);

        a.state = VM_RUNNING;
        snprintf(a.ip, sizeof(a.ip), "172.30.0.5");
        a.pid = 4242;
        a.pid_start = 99;
        snprintf(a.root_disk, sizeof(a.root_disk), "sparse-copy");
        assert_int_equal(vm_store_update(db, &a, &err), 0);
        assert_int_equal(vm_store_resolve(db, "web", &got, &err), 0);
        assert_int_equal(got.state, VM_RUNNING);
        assert_string_equal(got.ip, "172.30.0.5");
        assert_int_equal(got.pid, 4242);
        assert_int_equal(got.pid_start, 99);
        assert_string_equal(got.root_disk, "sparse-copy"); /* how its root disk was made, kept */

        struct vm_record *all;
        size_t n;
        assert_int_equal(vm_store_list(db, &all, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(all[0].name, "db"); /* created earlier */
        assert_true(all[0].agent_init);         /* its init, kept */
        assert_false(all[1].agent_init);
        free(all);

        assert_int_equal(vm_store_delete(db, b.id, &err), 0);
        assert_int_equal(vm_store_delete(db, b.id, &err), -ENOENT);
        struct vm_record ghost = rec("0000", "ghost");
        assert_int_equal(vm_store_update(db, &ghost, &err), -ENOENT);
        store_close(db);

        /* survives re-open */
        db = open_db();
        assert_int_equal(vm_store_resolve(db, "web", &got, &err), 0);
        assert_int_equal(got.state, VM_RUNNING);
        store_close(db);
}

static void test_ids_and_names(void **state)
{
        sqlite3 *db = open_db();
        struct bg_error err = {0};
        char id1[33], id2[33], name[64];
        vm_new_id(id1);
        vm_new_id(id2);
        assert_int_equal(strlen(id1), 32);
        assert_string_not_equal(id1, id2);
        assert_int_equal(vm_generate_name(db, id1, name, &err), 0);
        assert_int_equal(strncmp(name, "vm-", 3), 0);
        assert_int_equal(strlen(name), 9);
        struct vm_record r = rec(id1, name);
        assert_int_equal(vm_store_insert(db, &r, &err), 0);
        char name2[64];
        assert_int_equal(vm_generate_name(db, id1, name2, &err), 0); /* taken: longer */
        assert_string_not_equal(name, name2);
        assert_int_equal(strlen(name2), 11);
        store_close(db);
}

/* Labels live in their own table: set, read back sorted, replaced, and
 * gone with the VM. */
static void test_labels(void **state)
{
        sqlite3 *db = open_db();
        struct bg_error err = {0};
        struct vm_record r = rec("bbbb1111bbbb2222cccc3333dddd4444", "labelled");
        assert_int_equal(vm_store_insert(db, &r, &err), 0);
        const char *k[] = {"team", "env"}, *v[] = {"infra", ""};
        assert_int_equal(vm_store_set_labels(db, r.id, k, v, 2, &err), 0);
        char **gk = NULL, **gv = NULL;
        size_t n = 0;
        assert_int_equal(vm_store_get_labels(db, r.id, &gk, &gv, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(gk[0], "env");
        assert_string_equal(gv[0], "");
        assert_string_equal(gk[1], "team");
        assert_string_equal(gv[1], "infra");
        bg_labels_free(gk, gv, n);
        const char *k2[] = {"owner"}, *v2[] = {"me"};
        assert_int_equal(vm_store_set_labels(db, r.id, k2, v2, 1, &err), 0);
        assert_int_equal(vm_store_get_labels(db, r.id, &gk, &gv, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(gk[0], "owner");
        bg_labels_free(gk, gv, n);
        assert_int_equal(vm_store_delete(db, r.id, &err), 0);
        assert_int_equal(vm_store_get_labels(db, r.id, &gk, &gv, &n, &err), 0);
        assert_int_equal(n, 0);
        bg_labels_free(gk, gv, n);
        store_close(db);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "vmstore") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_states),
            cmocka_unit_test(test_crud_and_resolve),
            cmocka_unit_test(test_ids_and_names),
            cmocka_unit_test(test_labels),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
