/* vmsvc reconcile with a fake VMM driver and a fake netsvc at the seam:
 * live VMs are adopted (paused ones stay paused, as the VMM says), dead ones
 * stopped (error when they died starting) with their tap returned, unknown
 * states left alone, and a clone caught half-way is undone whole (killed,
 * tap and lease given back, directory and row removed). A cold create cut
 * before its VMM ever ran is undone (lease and taps given back by name,
 * directory removed) and its row left in error; a directory no row names
 * (a delete cut short) is removed. */
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

#include "reconcile.h"
#include "store/store.h"
#include "util/fs.h"
#include "test_tmpdir.h"

static char dir[64];
static const char *alive_ids[8];
static const char *broken_id; /* adopt fails with EIO (cannot tell) */
static const char *paused_id; /* query says paused */
static char released[256];
static char leases[256];
static char killed[256];

static int fake_adopt(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        if (broken_id && strcmp(spec->id, broken_id) == 0)
                return bg_error_set(err, EIO, "cannot read pidfile");
        /* the spec must point at the VM's own directory */
        char want[512];
        snprintf(want, sizeof(want), "%s/vms/%s", dir, spec->id);
        assert_string_equal(spec->dir, want);
        for (size_t i = 0; i < 8 && alive_ids[i]; i++)
                if (strcmp(alive_ids[i], spec->id) == 0) {
                        memset(ret, 0, sizeof(*ret));
                        ret->pid = 4000 + (pid_t)i;
                        ret->start_time = 777;
                        return 0;
                }
        return -ESRCH;
}

static int fake_query(const struct vmm_spec *spec, const struct vmm_handle *h,
                      struct vmm_status *ret, struct bg_error *err)
{
        ret->state = paused_id && strcmp(spec->id, paused_id) == 0 ? VMM_RUN_PAUSED
                                                                   : VMM_RUN_RUNNING;
        return 0;
}

static int fake_kill(const struct vmm_handle *h, struct bg_error *err)
{
        size_t n = strlen(killed);
        snprintf(killed + n, sizeof(killed) - n, "%s%d", n ? "," : "", (int)h->pid);
        return 0;
}

static const struct vmm_driver fake = {
    .name = "fake", .adopt = fake_adopt, .query = fake_query, .kill = fake_kill};

static const struct vmm_driver *driver_for(const char *vmm)
{
        return strcmp(vmm, "fake") == 0 ? &fake : NULL;
}

static int fake_release_tap(void *ud, const char *tap, struct bg_error *err)
{
        size_t n = strlen(released);
        snprintf(released + n, sizeof(released) - n, "%s%s", n ? "," : "", tap);
        return 0;
}

static int fake_release_lease(void *ud, const char *vm, struct bg_error *err)
{
        size_t n = strlen(leases);
        snprintf(leases + n, sizeof(leases) - n, "%s%s", n ? "," : "", vm);
        return 0;
}

static void add_clone(sqlite3 *db, const char *id, const char *name, enum vm_state st,
                      const char *tap, const char *vmm, const char *tpl)
{
        struct vm_record r = {
            .state = st, .vcpu = 1, .memory_mib = 512, .pid = 99, .launched = true};
        snprintf(r.id, sizeof(r.id), "%s", id);
        snprintf(r.name, sizeof(r.name), "%s", name);
        snprintf(r.tap, sizeof(r.tap), "%s", tap);
        snprintf(r.vmm, sizeof(r.vmm), "%s", vmm);
        snprintf(r.template_id, sizeof(r.template_id), "%s", tpl);
        struct bg_error err = {0};
        assert_int_equal(vm_store_insert(db, &r, &err), 0);
}

static void add(sqlite3 *db, const char *id, const char *name, enum vm_state st, const char *tap,
                const char *vmm)
{
        struct vm_record r = {
            .state = st, .vcpu = 1, .memory_mib = 512, .pid = 99, .launched = true};
        snprintf(r.id, sizeof(r.id), "%s", id);
        snprintf(r.name, sizeof(r.name), "%s", name);
        snprintf(r.tap, sizeof(r.tap), "%s", tap);
        snprintf(r.vmm, sizeof(r.vmm), "%s", vmm);
        struct bg_error err = {0};
        assert_int_equal(vm_store_insert(db, &r, &err), 0);
}

/* A row whose create has not launched a VMM yet. */
static void add_new(sqlite3 *db, const char *id, const char *name, enum vm_state st,
                    const char *tap)
{
        struct vm_record r = {.state = st, .vcpu = 1, .memory_mib = 512};
        snprintf(r.id, sizeof(r.id), "%s", id);
        snprintf(r.name, sizeof(r.name), "%s", name);
        snprintf(r.tap, sizeof(r.tap), "%s", tap);
        snprintf(r.vmm, sizeof(r.vmm), "fake");
        struct bg_error err = {0};
        assert_int_equal(vm_store_insert(db, &r, &err), 0);
}

static struct vm_record get(sqlite3 *db, const char *name)
{
        struct vm_record r;
        struct bg_error err = {0};
        assert_int_equal(vm_store_resolve(db, name, &r, &err), 0);
        return r;
}

static void test_reconcile(void **state)
{
        char path[128], vms[128];
        snprintf(path, sizeof(path), "%s/vms.db", dir);
        snprintf(vms, sizeof(vms), "%s/vms", dir);
        sqlite3 *db;
        struct bg_error err = {0};
        assert_int_equal(store_open(path, vm_store_migrations, vm_store_n_migrations, &db, &err),
                         0);
        add(db, "a1a1a1a1", "alive", VM_RUNNING, "bgt1", "fake");
        add(db, "b2b2b2b2", "dead", VM_RUNNING, "bgt2", "fake");
        add(db, "c3c3c3c3", "dying-start", VM_STARTING, "bgt3", "fake");
        add(db, "d4d4d4d4", "was-stopped", VM_STOPPED, "", "fake");
        add(db, "e5e5e5e5", "stray", VM_STOPPED, "", "fake"); /* process found: it runs */
        add(db, "f6f6f6f6", "unsure", VM_RUNNING, "bgt6", "fake");
        add(db, "a7a7a7a7", "sleepy", VM_PAUSED, "bgt7", "fake");     /* still paused */
        add(db, "b8b8b8b8", "was-paused", VM_PAUSED, "bgt8", "fake"); /* resumed by hand */
        add_clone(db, "c9c9c9c9", "half", VM_STARTING, "bgt9", "fake", "feedfeed"); /* alive */
        add_clone(db, "dadadada", "half-dead", VM_STARTING, "", "fake", "feedfeed");
        add_clone(db, "ebebebeb", "clone-ok", VM_RUNNING, "bgtb", "fake", "feedfeed");
        add_new(db, "fa0fa0fa", "new-cut", VM_STARTING, "bgtc"); /* died in "disks" */
        add_new(db, "fb1fb1fb", "new-row", VM_CREATED, "");      /* died before "reserve" */
        add_new(db, "fc2fc2fc", "new-failed", VM_ERROR, "");     /* a failed create */
        add_new(db, "fd3fd3fd", "new-alive", VM_STARTING, "bgtd"); /* died once launched */
        char cdir[256], ndir[256], orphan[256], other[256];
        snprintf(cdir, sizeof(cdir), "%s/vms/c9c9c9c9", dir);
        assert_int_equal(mkdir_p(cdir, 0700), 0);
        snprintf(ndir, sizeof(ndir), "%s/vms/fa0fa0fa", dir);
        assert_int_equal(mkdir_p(ndir, 0700), 0);
        snprintf(orphan, sizeof(orphan), "%s/vms/0123456789abcdef0123456789abcdef", dir);
        assert_int_equal(mkdir_p(orphan, 0700), 0);
        snprintf(other, sizeof(other), "%s/vms/not-a-vm", dir);
        assert_int_equal(mkdir_p(other, 0700), 0);
        alive_ids[0] = "a1a1a1a1";
        alive_ids[1] = "e5e5e5e5";
        alive_ids[2] = "a7a7a7a7";
        alive_ids[3] = "b8b8b8b8";
        alive_ids[4] = "c9c9c9c9";
        alive_ids[5] = "ebebebeb";
        alive_ids[6] = "fd3fd3fd";
        broken_id = "f6f6f6f6";
        paused_id = "a7a7a7a7";

        struct vm_net_ops net = {.release_tap = fake_release_tap,
                                 .release_lease = fake_release_lease};
        struct reconcile_result res;
        assert_int_equal(vm_reconcile(db, vms, driver_for, &net, &res, &err), 0);
        assert_int_equal(res.adopted, 6);
        assert_int_equal(res.stopped, 2);
        assert_int_equal(res.undone, 4);
        assert_int_equal(res.failed, 1);
        assert_int_equal(res.orphans, 1);

        struct vm_record r = get(db, "alive");
        assert_int_equal(r.state, VM_RUNNING);
        assert_int_equal(r.pid, 4000);
        assert_int_equal(r.pid_start, 777);
        assert_string_equal(r.tap, "bgt1");

        r = get(db, "dead");
        assert_int_equal(r.state, VM_STOPPED);
        assert_string_equal(r.tap, "");
        assert_int_equal(r.pid, 0);

        r = get(db, "dying-start");
        assert_int_equal(r.state, VM_ERROR);
        assert_non_null(strstr(r.error, "gone"));

        assert_int_equal(get(db, "was-stopped").state, VM_STOPPED);
        assert_int_equal(get(db, "stray").state, VM_RUNNING);
        /* cannot tell: untouched, tap kept */
        r = get(db, "unsure");
        assert_int_equal(r.state, VM_RUNNING);
        assert_string_equal(r.tap, "bgt6");

        /* Paused as the VMM says, whatever the row said. */
        assert_int_equal(get(db, "sleepy").state, VM_PAUSED);
        assert_int_equal(get(db, "was-paused").state, VM_RUNNING);
        assert_int_equal(get(db, "clone-ok").state, VM_RUNNING);
        /* Half-made clones: killed (the live one), tap and lease back, row
         * and directory gone. */
        struct vm_record gone;
        assert_int_equal(vm_store_resolve(db, "half", &gone, &err), -ENOENT);
        assert_int_equal(vm_store_resolve(db, "half-dead", &gone, &err), -ENOENT);
        assert_string_equal(killed, "4004");
        assert_int_equal(access(cdir, F_OK), -1);
        assert_string_equal(leases, "half,half-dead,new-cut,new-row");

        /* Creates cut before their VMM ran: undone, the row in error. */
        r = get(db, "new-cut");
        assert_int_equal(r.state, VM_ERROR);
        assert_non_null(strstr(r.error, "undone"));
        assert_string_equal(r.tap, "");
        assert_int_equal(access(ndir, F_OK), -1);
        assert_int_equal(get(db, "new-row").state, VM_ERROR);
        r = get(db, "new-failed");
        assert_int_equal(r.state, VM_ERROR);
        assert_null(strstr(r.error, "undone"));
        /* Launched: adopted, and known to have been launched from now on. */
        r = get(db, "new-alive");
        assert_int_equal(r.state, VM_RUNNING);
        assert_true(r.launched);
        /* A VM id's directory without a row goes; anything else stays. */
        assert_int_equal(access(orphan, F_OK), -1);
        assert_int_equal(access(other, F_OK), 0);

        assert_string_equal(released, "bgt2,bgt3,bgt9");

        /* a second pass changes nothing and releases nothing more */
        released[0] = '\0';
        leases[0] = '\0';
        assert_int_equal(vm_reconcile(db, vms, driver_for, &net, &res, &err), 0);
        assert_int_equal(res.stopped, 0);
        assert_int_equal(res.undone, 0);
        assert_int_equal(res.orphans, 0);
        assert_string_equal(released, "");
        assert_string_equal(leases, "");
        store_close(db);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "recon") < 0)
                return 1;
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_reconcile)};
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
