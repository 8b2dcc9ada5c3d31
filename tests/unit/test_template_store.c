/* The templates table in vms.db (template_store.c): the state names round
 * trip, rows are written and read back whole, names are unique, a name or an
 * id prefix resolves (and an ambiguous prefix says so), the automatic
 * template of a key is found, and the clones of a template are counted and
 * named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"
#include "template.h"
#include "template_store.h"
#include "test_tmpdir.h"
#include "vm_store.h"

static char dir[64];

static sqlite3 *open_db(void)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/vms.db", dir);
        sqlite3 *db = NULL;
        struct bg_error err = {0};
        assert_int_equal(store_open(path, vm_store_migrations, vm_store_n_migrations, &db, &err),
                         0);
        return db;
}

static struct tpl_record tpl(const char *id, const char *name, bool is_auto, const char *key)
{
        struct tpl_record t = {.state = TPL_READY,
                               .is_auto = is_auto,
                               .vcpu = 2,
                               .memory_mib = 1024,
                               .work_disk_bytes = 8ull << 30,
                               .pid = 7,
                               .pid_start = 12345,
                               .created_unix_ms = 1000,
                               .updated_unix_ms = 2000};
        snprintf(t.id, sizeof(t.id), "%s", id);
        snprintf(t.name, sizeof(t.name), "%s", name);
        snprintf(t.auto_key, sizeof(t.auto_key), "%s", key);
        snprintf(t.image, sizeof(t.image), "golden");
        snprintf(t.kernel, sizeof(t.kernel), "debian-cloud-amd64");
        snprintf(t.vmm, sizeof(t.vmm), "qemu");
        snprintf(t.accel, sizeof(t.accel), "tcg");
        snprintf(t.tap, sizeof(t.tap), "bg-tpl");
        snprintf(t.lease, sizeof(t.lease), "tpl-%.12s", id);
        return t;
}

static void test_state_names(void **state)
{
        for (int s = 0; s < _TPL_STATE_MAX; s++)
                assert_int_equal(tpl_state_from_string(tpl_state_to_string(s)), s);
        assert_int_equal(tpl_state_from_string("frozen"), -EINVAL);
        assert_null(tpl_state_to_string(_TPL_STATE_MAX));
}

static void test_round_trip_and_resolve(void **state)
{
        sqlite3 *db = open_db();
        struct bg_error err = {0};
        struct tpl_record a = tpl("aaaa1111bbbb2222cccc3333dddd4444", "dev", false, "");
        assert_int_equal(tpl_store_insert(db, &a, &err), 0);
        struct tpl_record got;
        assert_int_equal(tpl_store_resolve(db, "dev", &got, &err), 0);
        assert_memory_equal(&got, &a, sizeof(got));

        /* A second row with the same name is refused, naming it. */
        struct tpl_record dup = tpl("aaaa1111ffff2222cccc3333dddd4444", "dev", false, "");
        assert_int_equal(tpl_store_insert(db, &dup, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "dev"));
        dup = tpl("aaaa1111ffff2222cccc3333dddd4444", "other", true, "k1");
        assert_int_equal(tpl_store_insert(db, &dup, &err), 0);

        /* By id prefix: unique, ambiguous, unknown. */
        assert_int_equal(tpl_store_resolve(db, "aaaa1111b", &got, &err), 0);
        assert_string_equal(got.name, "dev");
        assert_int_equal(tpl_store_resolve(db, "aaaa1111", &got, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "several"));
        assert_int_equal(tpl_store_resolve(db, "nope", &got, &err), -ENOENT);
        assert_int_equal(tpl_store_resolve(db, "", &got, &err), -EINVAL);

        /* Update writes every column. */
        a.state = TPL_ERROR;
        snprintf(a.error, sizeof(a.error), "boom");
        a.pid = 0;
        assert_int_equal(tpl_store_update(db, &a, &err), 0);
        assert_int_equal(tpl_store_resolve(db, "dev", &got, &err), 0);
        assert_memory_equal(&got, &a, sizeof(got));

        struct tpl_record *all = NULL;
        size_t n = 0;
        assert_int_equal(tpl_store_list(db, &all, &n, &err), 0);
        assert_int_equal(n, 2);
        free(all);

        assert_int_equal(tpl_store_delete(db, a.id, &err), 0);
        assert_int_equal(tpl_store_delete(db, a.id, &err), -ENOENT);
        assert_int_equal(tpl_store_delete(db, dup.id, &err), 0);
        store_close(db);
}

static void test_find_auto_and_clones(void **state)
{
        sqlite3 *db = open_db();
        struct bg_error err = {0};
        struct tpl_record old = tpl("11110000000000000000000000000000", "auto-old", true, "key");
        struct tpl_record manual = tpl("22220000000000000000000000000000", "mine", false, "key");
        struct tpl_record other = tpl("33330000000000000000000000000000", "auto-x", true, "other");
        assert_int_equal(tpl_store_insert(db, &old, &err), 0);
        assert_int_equal(tpl_store_insert(db, &manual, &err), 0);
        assert_int_equal(tpl_store_insert(db, &other, &err), 0);
        struct tpl_record got;
        /* Only automatic ones count, by their key. */
        assert_int_equal(tpl_store_find_auto(db, "key", &got, &err), 1);
        assert_string_equal(got.name, "auto-old");
        assert_int_equal(tpl_store_find_auto(db, "missing", &got, &err), 0);

        struct vm_record v = {.state = VM_RUNNING, .vcpu = 2, .memory_mib = 1024};
        const char *names[] = {"c1", "c2", "c3"};
        for (size_t i = 0; i < 3; i++) {
                snprintf(v.id, sizeof(v.id), "%032zx", i + 1);
                snprintf(v.name, sizeof(v.name), "%s", names[i]);
                snprintf(v.template_id, sizeof(v.template_id), "%s", i < 2 ? old.id : "");
                v.created_unix_ms = (int64_t)i;
                assert_int_equal(vm_store_insert(db, &v, &err), 0);
        }
        size_t n = 9;
        char buf[64];
        assert_int_equal(tpl_store_clones(db, old.id, &n, buf, sizeof(buf), &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(buf, "c1, c2");
        /* The list is cut to the buffer, the count is not. */
        char small[4];
        assert_int_equal(tpl_store_clones(db, old.id, &n, small, sizeof(small), &err), 0);
        assert_int_equal(n, 2);
        assert_true(strlen(small) < sizeof(small));
        assert_int_equal(tpl_store_clones(db, manual.id, &n, NULL, 0, &err), 0);
        assert_int_equal(n, 0);
        /* The clone's template id survives a round trip through vms. */
        struct vm_record back;
        assert_int_equal(vm_store_resolve(db, "c2", &back, &err), 0);
        assert_string_equal(back.template_id, old.id);
        store_close(db);
}

/* The exec ports a template's snapshot has: its clones must be launched with
 * the same device set. A template from before exec ports has no note: 0. */
static void test_exec_ports_note(void **state)
{
        (void)state;
        struct bg_error err = {0};
        unsigned n = 99;
        assert_int_equal(tpl_exec_ports_read(dir, &n, &err), 0);
        assert_int_equal(n, 0);
        assert_int_equal(tpl_exec_ports_write(dir, 8, &err), 0);
        assert_int_equal(tpl_exec_ports_read(dir, &n, &err), 0);
        assert_int_equal(n, 8);
        char path[128];
        snprintf(path, sizeof(path), "%s/" TPL_FILE_EXEC_PORTS, dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("1000\n", f);
        fclose(f);
        assert_int_equal(tpl_exec_ports_read(dir, &n, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "exec ports"));
        assert_int_equal(remove(path), 0);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "tplstore") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_state_names),
            cmocka_unit_test(test_round_trip_and_resolve),
            cmocka_unit_test(test_find_auto_and_clones),
            cmocka_unit_test(test_exec_ports_note),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
