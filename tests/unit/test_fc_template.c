/* The Firecracker driver's templates against the fake `firecracker` (see
 * test_fc_fixture.h): snapshot, restore into a clone with its own tap, agent
 * socket and disks, the version gate, failures that leave nothing behind, and
 * the jailer's refusal. */
#include "test_fc_fixture.h"

/* ---- templates ---------------------------------------------------------- */

static void unlink_in(const char *dir, const char *name)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        unlink(p);
}

static bool exists_in(const char *dir, const char *name)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return access(p, F_OK) == 0;
}

/* No Firecracker left running or unreaped, and none of its files in dir. */
static void assert_nothing_left(const char *dir)
{
        errno = 0;
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        static const char *const names[] = {"vmm.pid", "api.sock", "agent.sock"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (exists_in(dir, names[i]))
                        fail_msg("%s/%s was left behind", dir, names[i]);
}

static void make_file(const char *path, off_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

/* s boots as a template (its RAM to be written to DIR/tpl.mem), is
 * snapshotted to DIR/tpl.state + DIR/tpl.mem and killed; the call log is
 * emptied. */
static void make_template(struct vmm_spec *s)
{
        snprintf(s->mem.path, sizeof(s->mem.path), "%s/tpl.mem", s->dir);
        s->mem.shared = true;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("template launch: %s", err.msg);
        /* Firecracker has no file-backed RAM at boot: nothing is made yet. */
        assert_false(exists_in(s->dir, "tpl.mem"));
        char state[256];
        snprintf(state, sizeof(state), "%s/tpl.state", s->dir);
        if (drv->snapshot(s, &h, state, s->mem.path, &err) < 0)
                fail_msg("snapshot: %s", err.msg);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        unlink_in(s->dir, "calls.log");
}

/* A clone of make_template's template in DIR/clone: its own disks, tap,
 * MAC and directory. */
static void clone_spec(const struct vmm_spec *t, struct vmm_spec *c)
{
        *c = *t;
        snprintf(c->dir, sizeof(c->dir), "%s/clone", t->dir);
        if (mkdir(c->dir, 0755) < 0)
                assert_int_equal(errno, EEXIST);
        static const char *const disks[] = {"root.ext4", "work.ext4"};
        for (int i = 0; i < 2; i++) {
                snprintf(c->disks[i].path, sizeof(c->disks[i].path), "%s/%s", c->dir, disks[i]);
                make_file(c->disks[i].path, 1 << 20);
        }
        snprintf(c->restore, sizeof(c->restore), "%s/tpl.state", t->dir);
        snprintf(c->mem.path, sizeof(c->mem.path), "%s/tpl.mem", t->dir);
        c->mem.shared = false;
        snprintf(c->tap, sizeof(c->tap), "bgtap1");
        snprintf(c->mac, sizeof(c->mac), "52:54:00:ab:cd:ef");
        snprintf(c->id, sizeof(c->id), "c1c1c1c1");
}

static void test_snapshot(void **state)
{
        struct vmm_spec *s = *state;
        snprintf(s->mem.path, sizeof(s->mem.path), "%s/tpl.mem", s->dir);
        s->mem.shared = true;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        /* A template's boot is a cold boot, after a check that this
         * Firecracker can make clones. */
        char **c;
        size_t n = read_calls(s, &c);
        assert_int_equal(n, 11);
        assert_string_equal(c[0], "GET / 200 -");
        assert_int_equal(strncmp(c[1], "PUT /logger 204 ", 16), 0);
        assert_int_equal(strncmp(c[10], "PUT /actions 204 {\"action_type\":\"InstanceStart\"}", 48),
                         0);
        free_calls(c, n);
        unlink_in(s->dir, "calls.log");

        char st_path[256];
        snprintf(st_path, sizeof(st_path), "%s/tpl.state", s->dir);
        if (drv->snapshot(s, &h, st_path, s->mem.path, &err) < 0)
                fail_msg("snapshot: %s", err.msg);
        n = read_calls(s, &c);
        assert_int_equal(n, 3);
        assert_string_equal(c[0], "GET / 200 -");
        assert_string_equal(c[1], "PATCH /vm 204 {\"state\":\"Paused\"}");
        char want[512];
        snprintf(want, sizeof(want),
                 "PUT /snapshot/create 204 {\"mem_file_path\":\"%s\",\"snapshot_path\":\"%s\","
                 "\"snapshot_type\":\"Full\"}",
                 s->mem.path, st_path);
        assert_string_equal(c[2], want);
        free_calls(c, n);
        /* The guest stays paused; state and the whole RAM are on disk. */
        struct vmm_status vs;
        assert_int_equal(drv->query(s, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_PAUSED);
        struct stat sb;
        assert_int_equal(stat(st_path, &sb), 0);
        assert_true(sb.st_size > 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_int_equal(stat(s->mem.path, &sb), 0);
        assert_int_equal(sb.st_size, (off_t)s->memory_mib << 20);
        assert_int_equal(sb.st_mode & 0777, 0600);

        /* The state file must not exist: an existing one is left alone. */
        bg_error_clear(&err);
        char mem2[256];
        snprintf(mem2, sizeof(mem2), "%s/other.mem", s->dir);
        assert_int_equal(drv->snapshot(s, &h, st_path, mem2, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "tpl.state"));
        assert_int_equal(stat(st_path, &sb), 0);
        assert_true(sb.st_size > 0);
        assert_false(exists_in(s->dir, "other.mem"));
        /* Nor the memory file: clones may map it. */
        char st2[256];
        snprintf(st2, sizeof(st2), "%s/other.state", s->dir);
        assert_int_equal(drv->snapshot(s, &h, st2, s->mem.path, &err), -EEXIST);
        assert_false(exists_in(s->dir, "other.state"));
        assert_int_equal(stat(s->mem.path, &sb), 0);
        assert_int_equal(sb.st_size, (off_t)s->memory_mib << 20);
        assert_int_equal(drv->snapshot(s, &h, "rel.state", mem2, &err), -EINVAL);

        /* A refused snapshot removes what it made; the guest stays paused. */
        setenv("FC_CONTRACT_FAIL", "PUT /snapshot/create", 1);
        setenv("FC_CONTRACT_FAULT", "Cannot perform write on the memory backing file: ENOSPC", 1);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        unlink(st_path);
        unlink(s->mem.path);
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        assert_int_equal(drv->snapshot(s, &h, st_path, s->mem.path, &err), -EINVAL);
        assert_string_equal(err.msg, "Firecracker refused PUT /snapshot/create (HTTP 400): Cannot "
                                     "perform write on the memory backing file: ENOSPC");
        assert_false(exists_in(s->dir, "tpl.state"));
        assert_false(exists_in(s->dir, "tpl.mem"));
        assert_int_equal(drv->query(s, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_PAUSED);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        bg_error_clear(&err);
        assert_int_equal(drv->snapshot(s, &h, st_path, s->mem.path, &err), -ESRCH);
        assert_false(exists_in(s->dir, "tpl.state"));
}

static void test_restore(void **state)
{
        struct vmm_spec *s = *state;
        make_template(s);
        /* Firecracker leaves its sockets behind: the template's agent.sock
         * is still there, so a clone binding it would fail. */
        assert_true(exists_in(s->dir, "agent.sock"));
        struct vmm_spec cs;
        clone_spec(s, &cs);
        struct vmm_handle h;
        struct bg_error err = {0};
        uint64_t t0 = now_mono_msec();
        if (drv->launch(&cs, &h, &err) < 0)
                fail_msg("restore: %s", err.msg);
        uint64_t took = now_mono_msec() - t0;
        char **c;
        size_t n = read_calls(s, &c);
        assert_int_equal(n, 7);
        assert_string_equal(c[0], "GET / 200 -");
        char want[1024];
        snprintf(want, sizeof(want),
                 "PUT /logger 204 {\"level\":\"Warning\",\"log_path\":\"%s/fc.log\"", cs.dir);
        assert_int_equal(strncmp(c[1], want, strlen(want)), 0);
        snprintf(want, sizeof(want), "PUT /metrics 204 {\"metrics_path\":\"%s/metrics.json\"}",
                 cs.dir);
        assert_string_equal(c[2], want);
        snprintf(want, sizeof(want),
                 "PUT /snapshot/load 204 {\"mem_backend\":{\"backend_path\":\"%s/tpl.mem\","
                 "\"backend_type\":\"File\"},\"network_overrides\":[{\"host_dev_name\":\"bgtap1\","
                 "\"iface_id\":\"eth0\"}],\"resume_vm\":false,\"snapshot_path\":\"%s/tpl.state\","
                 "\"vsock_override\":{\"uds_path\":\"%s/agent.sock\"}}",
                 s->dir, s->dir, cs.dir);
        assert_string_equal(c[3], want);
        static const char *const ids[] = {"rootfs", "work", "modules"};
        for (int i = 0; i < 3; i++) {
                snprintf(want, sizeof(want),
                         "PATCH /drives/%s 204 {\"drive_id\":\"%s\",\"path_on_host\":\"%s\"}",
                         ids[i], ids[i], cs.disks[i].path);
                assert_string_equal(c[4 + i], want);
        }
        free_calls(c, n);
        /* Returned paused, where the snapshot left it; resume runs it. */
        struct vmm_status vs;
        assert_int_equal(drv->query(&cs, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_PAUSED);
        if (drv->resume(&cs, &h, &err) < 0)
                fail_msg("resume: %s", err.msg);
        assert_int_equal(drv->query(&cs, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_RUNNING);
        /* Its agent channel is its own socket. */
        char path[256];
        snprintf(path, sizeof(path), "%s/agent.sock", cs.dir);
        assert_string_equal(h.agent_path, path);
        assert_int_equal(h.agent_transport, VMM_AGENT_HYBRID_VSOCK);
        _cleanup_(agent_conn_freep) struct agent_conn *ac = NULL;
        if (agent_conn_open_hybrid_vsock(h.agent_path, h.agent_port, 3000, &ac, &err) < 0)
                fail_msg("agent of the clone: %s", err.msg);
        /* vmm.pid makes it adoptable like any VM. */
        struct vmm_handle a;
        assert_int_equal(drv->adopt(&cs, &a, &err), 0);
        assert_int_equal(a.pid, h.pid);
        /* The template's files are untouched: its RAM is mapped private. */
        struct stat sb;
        assert_int_equal(stat(cs.mem.path, &sb), 0);
        assert_int_equal(sb.st_size, (off_t)s->memory_mib << 20);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        print_message("restore took %" PRIu64 " ms\n", took);

        /* A second clone of the same template, while the first's files
         * remain: everything it binds is its own. */
        unlink_in(s->dir, "calls.log");
        struct vmm_spec cs2 = cs;
        snprintf(cs2.dir, sizeof(cs2.dir), "%s/clone2", s->dir);
        assert_int_equal(mkdir(cs2.dir, 0755), 0);
        snprintf(cs2.tap, sizeof(cs2.tap), "bgtap2");
        for (int i = 0; i < 2; i++) {
                snprintf(cs2.disks[i].path, sizeof(cs2.disks[i].path), "%s/d%d", cs2.dir, i);
                make_file(cs2.disks[i].path, 1 << 20);
        }
        if (drv->launch(&cs2, &h, &err) < 0)
                fail_msg("second clone: %s", err.msg);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
}

/* Restores that cannot work fail before anything starts, or kill what they
 * started: no process, pidfile or socket is left. */
static void test_restore_failures(void **state)
{
        struct vmm_spec *s = *state;
        make_template(s);
        struct vmm_spec cs;
        clone_spec(s, &cs);
        struct vmm_handle h = {0};
        struct bg_error err = {0};

        /* Refused before anything is spawned. */
        snprintf(cs.restore, sizeof(cs.restore), "%s/missing.state", s->dir);
        assert_int_equal(drv->launch(&cs, &h, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "snapshot state"));
        assert_non_null(strstr(err.msg, "missing.state"));
        assert_false(exists_in(cs.dir, "vmm.log"));
        assert_nothing_left(cs.dir);
        snprintf(cs.restore, sizeof(cs.restore), "%s/tpl.state", s->dir);

        cs.mem.shared = true;
        assert_int_equal(drv->launch(&cs, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "mapped private"));
        cs.mem.shared = false;
        char mem[256];
        snprintf(mem, sizeof(mem), "%s", cs.mem.path);
        snprintf(cs.mem.path, sizeof(cs.mem.path), "%s/short.mem", s->dir);
        make_file(cs.mem.path, 1 << 20);
        assert_int_equal(drv->launch(&cs, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "truncated"));
        snprintf(cs.mem.path, sizeof(cs.mem.path), "%s", mem);
        cs.tap[0] = '\0';
        assert_int_equal(drv->launch(&cs, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "tap"));
        snprintf(cs.tap, sizeof(cs.tap), "bgtap1");
        assert_false(exists_in(cs.dir, "vmm.log"));
        assert_nothing_left(cs.dir);

        /* A state file that is not a snapshot: Firecracker refuses the load
         * and exits; the driver says why and leaves nothing. */
        char bad[256];
        snprintf(bad, sizeof(bad), "%s/bad.state", s->dir);
        make_file(bad, 4096);
        snprintf(cs.restore, sizeof(cs.restore), "%s", bad);
        assert_int_equal(drv->launch(&cs, &h, &err), -EINVAL);
        if (!strstr(err.msg, "Firecracker refused PUT /snapshot/load (HTTP 400): ") ||
            !strstr(err.msg, "not a snapshot"))
                fail_msg("error: %s", err.msg);
        assert_nothing_left(cs.dir);
        snprintf(cs.restore, sizeof(cs.restore), "%s/tpl.state", s->dir);

        /* Each call of the sequence refused in turn. */
        static const char *const calls[] = {"PUT /logger", "PUT /snapshot/load",
                                            "PATCH /drives/rootfs", "PATCH /drives/modules"};
        for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
                setenv("FC_CONTRACT_FAIL", calls[i], 1);
                setenv("FC_CONTRACT_FAULT", "injected", 1);
                assert_int_equal(drv->launch(&cs, &h, &err), -EINVAL);
                char want[128];
                snprintf(want, sizeof(want), "Firecracker refused %s (HTTP 400): injected",
                         calls[i]);
                assert_string_equal(err.msg, want);
                assert_nothing_left(cs.dir);
        }
        unsetenv("FC_CONTRACT_FAIL");

        /* A Firecracker without vsock_override: refused before the load. */
        unlink_in(s->dir, "calls.log");
        setenv("FAKE_FC_VERSION", "1.15.2", 1);
        assert_int_equal(drv->launch(&cs, &h, &err), -ENOTSUP);
        assert_string_equal(err.msg,
                            "Firecracker v1.15.2 cannot restore a template's clone: templates "
                            "need Firecracker >= 1.16.0 (snapshot load with network_overrides "
                            "and vsock_override); upgrade it or boot cold (--cold)");
        assert_nothing_left(cs.dir);
        char **c;
        size_t n = read_calls(s, &c);
        assert_int_equal(n, 1);
        assert_string_equal(c[0], "GET / 200 -");
        free_calls(c, n);
}

/* Before 1.16 a template is refused at its boot (nothing left) and a
 * snapshot of a running VM is refused before it pauses the guest. */
static void test_snapshot_old_firecracker(void **state)
{
        struct vmm_spec *s = *state;
        setenv("FAKE_FC_VERSION", "1.12.0", 1);
        snprintf(s->mem.path, sizeof(s->mem.path), "%s/tpl.mem", s->dir);
        s->mem.shared = true;
        struct vmm_handle h = {0};
        struct bg_error err = {0};
        assert_int_equal(drv->launch(s, &h, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, "Firecracker v1.12.0 cannot make a template"));
        assert_nothing_left(s->dir);

        s->mem.path[0] = '\0';
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("cold launch: %s", err.msg);
        char st_path[256], mem[256];
        snprintf(st_path, sizeof(st_path), "%s/tpl.state", s->dir);
        snprintf(mem, sizeof(mem), "%s/tpl.mem", s->dir);
        assert_int_equal(drv->snapshot(s, &h, st_path, mem, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, ">= 1.16.0"));
        assert_false(exists_in(s->dir, "tpl.state"));
        assert_false(exists_in(s->dir, "tpl.mem"));
        struct vmm_status vs;
        assert_int_equal(drv->query(s, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_RUNNING);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
}

/* Templates are refused under the jailer before anything starts: the
 * template's boot, a clone's restore, and a snapshot of a jailed VM. */
static void test_jailed_templates(void **state)
{
        struct vmm_spec *s = *state;
        make_template(s); /* without the jailer, for the restore below */
        struct vmm_spec cs;
        clone_spec(s, &cs);
        struct jail_t j = {0};
        cs.jail_start = s->jail_start = fake_jail_start;
        cs.jail_clean = s->jail_clean = fake_jail_clean;
        cs.jail_ud = s->jail_ud = &j;
        struct vmm_handle h = {0};
        struct bg_error err = {0};
        assert_int_equal(drv->launch(&cs, &h, &err), -ENOTSUP);
        assert_string_equal(err.msg, "restore a template's clone: templates are not available with "
                                     "firecracker.jailer = true (a clone's jail cannot safely hold "
                                     "the template's memory); set firecracker.jailer = false, or "
                                     "boot cold (vm.template = \"off\")");
        assert_int_equal(s->mem.shared, true); /* make_template's: a template boot */
        assert_int_equal(drv->launch(s, &h, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, "make a template: templates are not available"));
        assert_int_equal(j.starts, 0);
        assert_nothing_left(cs.dir);

        /* A jailed VM booted cold cannot be snapshotted either: it keeps
         * running and no file is made. */
        s->mem.path[0] = '\0';
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("jailed launch: %s", err.msg);
        assert_int_equal(j.starts, 1);
        char st_path[256], mem[256];
        snprintf(st_path, sizeof(st_path), "%s/j.state", s->dir);
        snprintf(mem, sizeof(mem), "%s/j.mem", s->dir);
        assert_int_equal(drv->snapshot(s, &h, st_path, mem, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, "snapshot: templates are not available"));
        assert_false(exists_in(s->dir, "j.state"));
        assert_false(exists_in(s->dir, "j.mem"));
        struct vmm_status vs;
        assert_int_equal(drv->query(s, &h, &vs, &err), 0);
        assert_int_equal(vs.state, VMM_RUN_RUNNING);
        assert_int_equal(drv->kill(&h, &err), 0);
        fake_jail_clean(&j, s);
}

int main(void)
{
        if (fc_fixture_init() < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restore_failures, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_old_firecracker, setup, teardown),
            cmocka_unit_test_setup_teardown(test_jailed_templates, setup, teardown),
        };
        return fc_fixture_done(cmocka_run_group_tests(tests, NULL, NULL));
}
