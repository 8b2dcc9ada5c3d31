/* vm_delete cut short (issue #20 item 5, the chaos test's delete stages)
 * with a fake VMM driver and a fake netsvc at the seam: when netsvc cannot
 * give the address back (it died under the delete and was not back in
 * time), the delete fails with a message saying it can be run again, and
 * the row says what is true -- stopped, no process, no tap -- not
 * "running" with its VMM already killed; a vmsvc restart (reconcile) then
 * gives no tap back a second time (by then it may be another VM's); and a
 * second vm delete removes the row, the directory and the lease. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reconcile.h"
#include "store/store.h"
#include "test_tmpdir.h"
#include "util/fs.h"
#include "vm_lifecycle.h"
#include "vm_store.h"

static char dir[64];
static const char *const VM_ID = "0123456789abcdef0123456789abcdef";
static bool vmm_alive;     /* the fake VMM's process */
static bool net_down;      /* Release fails as when netsvc is not reachable */
static char released[256]; /* taps given back by name, "a,b" */
static char leases[256];   /* VMs whose address was given back */

static void append(char *buf, size_t len, const char *s)
{
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s", n ? "," : "", s);
}

static int fake_adopt(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        (void)err;
        if (!vmm_alive || strcmp(spec->id, VM_ID) != 0)
                return -ESRCH;
        memset(ret, 0, sizeof(*ret));
        ret->pid = 999999; /* not a child of ours: reap() leaves it */
        ret->start_time = 777;
        return 0;
}

static int fake_kill(const struct vmm_handle *h, struct bg_error *err)
{
        (void)h;
        (void)err;
        vmm_alive = false;
        return 0;
}

static const struct vmm_driver fake = {.name = "fake", .adopt = fake_adopt, .kill = fake_kill};

static const struct vmm_driver *driver_for(const char *vmm)
{
        return strcmp(vmm, "fake") == 0 ? &fake : NULL;
}

static int fake_release_tap(void *ud, const char *tap, struct bg_error *err)
{
        (void)ud;
        (void)err;
        append(released, sizeof(released), tap);
        return 0;
}

static int fake_release_lease(void *ud, const char *vm, struct bg_error *err)
{
        (void)ud;
        if (net_down)
                return bg_error_set(err, EAGAIN, "release lease: netsvc is not reachable");
        append(leases, sizeof(leases), vm);
        return 0;
}

static const struct vm_deps deps = {.release_lease = fake_release_lease,
                                    .release_tap = fake_release_tap};

static struct vm_record get(sqlite3 *db)
{
        struct vm_record r;
        struct bg_error err = {0};
        assert_int_equal(vm_store_resolve(db, "web", &r, &err), 0);
        return r;
}

static void test_delete_cut_short_by_netsvc(void **state)
{
        (void)state;
        char path[128], vmdir[160];
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        struct vm_env env = {.deps = &deps, .driver_for = driver_for, .mu = &mu};
        struct bg_error err = {0};
        snprintf(path, sizeof(path), "%s/vms.db", dir);
        snprintf(env.vms_dir, sizeof(env.vms_dir), "%s/vms", dir);
        snprintf(vmdir, sizeof(vmdir), "%s/%s", env.vms_dir, VM_ID);
        assert_int_equal(mkdir_p(vmdir, 0700), 0);
        assert_int_equal(
            store_open(path, vm_store_migrations, vm_store_n_migrations, &env.db, &err), 0);
        struct vm_record r = {.state = VM_RUNNING,
                              .vcpu = 1,
                              .memory_mib = 256,
                              .pid = 999999,
                              .pid_start = 777,
                              .launched = true};
        snprintf(r.id, sizeof(r.id), "%s", VM_ID);
        snprintf(r.name, sizeof(r.name), "web");
        snprintf(r.tap, sizeof(r.tap), "bgt7");
        snprintf(r.vmm, sizeof(r.vmm), "fake");
        assert_int_equal(vm_store_insert(env.db, &r, &err), 0);
        vmm_alive = true;

        /* netsvc is down past the delete's wait for it */
        net_down = true;
        assert_true(vm_delete(&env, "web", true, &err) < 0);
        assert_false(vmm_alive);
        assert_string_equal(released, "bgt7");
        assert_string_equal(leases, "");
        r = get(env.db);
        assert_int_equal(r.state, VM_STOPPED); /* not "running" with no process */
        assert_int_equal(r.pid, 0);
        assert_string_equal(r.tap, ""); /* given back once, never again by name */
        assert_int_equal(access(vmdir, F_OK), 0);
        assert_non_null(strstr(err.msg, "vm delete again"));
        assert_non_null(strstr(err.msg, "not reachable"));

        /* vmsvc restarts: nothing to give back a second time, nothing undone */
        released[0] = '\0';
        struct vm_net_ops net = {.release_tap = fake_release_tap,
                                 .release_lease = fake_release_lease};
        struct reconcile_result res;
        net_down = false;
        assert_int_equal(vm_reconcile(env.db, env.vms_dir, driver_for, &net, &res, &err), 0);
        assert_int_equal(res.stopped, 0);
        assert_string_equal(released, "");
        assert_string_equal(leases, "");
        assert_int_equal(get(env.db).state, VM_STOPPED);

        /* netsvc is back: the delete again (without --force: it is stopped)
         * finishes it */
        assert_int_equal(vm_delete(&env, "web", false, &err), 0);
        assert_string_equal(leases, "web");
        assert_string_equal(released, "");
        assert_int_equal(vm_store_resolve(env.db, "web", &r, &err), -ENOENT);
        assert_int_equal(access(vmdir, F_OK), -1);
        store_close(env.db);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "vmdel") < 0)
                return 1;
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_delete_cut_short_by_netsvc)};
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
