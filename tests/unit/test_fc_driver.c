/* The Firecracker driver end to end against a fake `firecracker` that serves
 * its API socket with the contract server (every request checked against
 * Firecracker 1.16's API specification): launch -> request_stop -> kill,
 * every refused call surfacing its fault message, adopt, the hybrid vsock
 * handshake through lib/agent on the uds the driver configured, and a launch
 * through the jailer's stand-in. Templates: test_fc_template.c. */
#include "test_fc_fixture.h"

static void test_launch_stop_kill(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        assert_true(h.pid > 0);
        assert_int_equal(drv->alive(&h), 1);
        assert_int_equal(h.agent_transport, VMM_AGENT_HYBRID_VSOCK);
        assert_int_equal(h.agent_port, FC_AGENT_VSOCK_PORT);
        char want[256];
        snprintf(want, sizeof(want), "%s/agent.sock", s->dir);
        assert_string_equal(h.agent_path, want);
        assert_string_equal(h.accel, "kvm");
        snprintf(want, sizeof(want), "%s/vmm.pid", s->dir);
        pid_t pp;
        uint64_t ps;
        assert_int_equal(pidfile_read(want, &pp, &ps), 0);
        assert_int_equal(pp, h.pid);
        assert_int_equal(ps, h.start_time);
        /* Detached: its own session. */
        assert_int_equal(getsid(h.pid), h.pid);

        char **c;
        size_t n = read_calls(s, &c);
        static const char *const order[] = {
            "PUT /logger 204 ",         "PUT /metrics 204 ",
            "PUT /machine-config 204 ", "PUT /boot-source 204 ",
            "PUT /drives/rootfs 204 ",  "PUT /drives/work 204 ",
            "PUT /drives/modules 204 ", "PUT /network-interfaces/eth0 204 ",
            "PUT /vsock 204 ",          "PUT /actions 204 {\"action_type\":\"InstanceStart\"}",
        };
        assert_int_equal(n, ELEMENTSOF(order));
        for (size_t i = 0; i < n; i++)
                if (strncmp(c[i], order[i], strlen(order[i])) != 0)
                        fail_msg("call %zu is '%s', want '%s…'", i, c[i], order[i]);
        assert_non_null(strstr(c[0], "\"log_path\":\"/tmp/"));
        assert_non_null(strstr(c[0], "/vm/fc.log\""));
        assert_non_null(strstr(c[2], "\"mem_size_mib\":256"));
        assert_non_null(strstr(c[2], "\"vcpu_count\":2"));
        /* The whole boot line, from the one builder: every parameter once. */
        json_t *boot = json_loads(c[3] + strlen("PUT /boot-source 204 "), 0, NULL);
        const char *args = json_string_value(json_object_get(boot, "boot_args"));
        assert_non_null(args);
        assert_string_equal(args, "console=ttyS0 reboot=t panic=-1 pci=off i8042.noaux "
                                  "i8042.nomux i8042.dumbkbd root=/dev/vda rw rootfstype=ext4 "
                                  "banger.name=t1 banger.work=/dev/vdb banger.modules=/dev/vdc "
                                  "banger.agent=vsock:1024 banger.ip=172.30.0.7/24 "
                                  "banger.gw=172.30.0.1 banger.mac=52:54:00:12:34:56");
        assert_params_once(args);
        json_decref(boot);
        assert_non_null(strstr(c[3], "\"initrd_path\":\"/tmp/"));
        assert_non_null(strstr(c[4], "\"is_read_only\":false"));
        assert_non_null(strstr(c[4], "\"is_root_device\":false"));
        assert_non_null(strstr(c[4], "\"cache_type\":\"Writeback\""));
        assert_non_null(strstr(c[6], "\"is_read_only\":true"));
        assert_non_null(strstr(c[7], "\"host_dev_name\":\"bgtap0\""));
        assert_non_null(strstr(c[7], "\"guest_mac\":\"52:54:00:12:34:56\""));
        assert_non_null(strstr(c[8], "\"guest_cid\":3"));
        assert_non_null(strstr(c[8], "/vm/agent.sock\""));
        free_calls(c, n);

        /* request_stop: SendCtrlAltDel; the fake exits 0 like Firecracker
         * does when the guest reboots. */
        if (drv->request_stop(s, &h, &err) < 0)
                fail_msg("request_stop: %s", err.msg);
        int st = wait_exit(h.pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_int_equal(drv->alive(&h), 0);
        n = read_calls(s, &c);
        assert_string_equal(c[n - 1], "PUT /actions 204 {\"action_type\":\"SendCtrlAltDel\"}");
        free_calls(c, n);
        char why[256];
        drv->exit_reason(s, st, why, sizeof(why));
        assert_string_equal(why, "Firecracker exited with code 0 (Ok: clean exit: the guest "
                                 "powered off or rebooted)");
        /* kill of a process that is gone is fine; stopping it again is not. */
        assert_int_equal(drv->kill(&h, &err), 0);
        assert_int_equal(drv->request_stop(s, &h, &err), -ESRCH);
        assert_int_equal(drv->adopt(s, &h, &err), -ESRCH);
}

static void test_kill(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        assert_int_equal(drv->kill(&h, &err), 0);
        /* Gone (a zombie until we reap it) right when kill returns. */
        assert_int_equal(drv->alive(&h), 0);
        int st = wait_exit(h.pid);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
        char why[256];
        drv->exit_reason(s, st, why, sizeof(why));
        assert_non_null(strstr(why, "killed by signal 9 (SIGKILL)"));
}

/* query, pause and resume against the contract server: PATCH /vm and GET /
 * as Firecracker 1.16's API specification has them. */
static void test_query_pause_resume(void **state)
{
        assert_true(drv->caps & VMM_CAP_PAUSE);
        assert_true(drv->caps & VMM_CAP_SNAPSHOT);
        assert_non_null(drv->snapshot);
        assert_false(drv->caps & VMM_CAP_HOTPLUG);
        assert_int_equal(drv->agent_transports, VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_HYBRID_VSOCK));
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        struct vmm_status st;
        assert_int_equal(drv->query(s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_RUNNING);
        assert_string_equal(st.detail, "Running");
        if (drv->pause(s, &h, &err) < 0)
                fail_msg("pause: %s", err.msg);
        assert_int_equal(drv->query(s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_PAUSED);
        assert_string_equal(st.detail, "Paused");
        if (drv->resume(s, &h, &err) < 0)
                fail_msg("resume: %s", err.msg);
        assert_int_equal(drv->query(s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_RUNNING);

        char **c;
        size_t n = read_calls(s, &c);
        assert_true(n >= 5);
        assert_string_equal(c[n - 5], "GET / 200 -");
        assert_string_equal(c[n - 4], "PATCH /vm 204 {\"state\":\"Paused\"}");
        assert_string_equal(c[n - 3], "GET / 200 -");
        assert_string_equal(c[n - 2], "PATCH /vm 204 {\"state\":\"Resumed\"}");
        assert_string_equal(c[n - 1], "GET / 200 -");
        free_calls(c, n);

        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        bg_error_clear(&err);
        assert_int_equal(drv->pause(s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "not running"));
        assert_int_equal(drv->query(s, &h, &st, &err), -ESRCH);
}

static void test_exit_code_reason(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        setenv("FC_CONTRACT_EXIT_CODE", "148", 1);
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        char p[256];
        snprintf(p, sizeof(p), "%s/fc.log", s->dir);
        FILE *f = fopen(p, "ae");
        assert_non_null(f);
        fprintf(f,
                "2025-01-01T00:00:00.000000000 [%s:fc_vcpu 0:ERROR:src/vmm/src/seccomp.rs] "
                "Shutting down VM after intercepting a bad syscall (39)\n",
                s->id);
        fclose(f);
        assert_int_equal(drv->request_stop(s, &h, &err), 0);
        int st = wait_exit(h.pid);
        char why[256];
        drv->exit_reason(s, st, why, sizeof(why));
        assert_non_null(strstr(why, "code 148 (BadSyscall"));
        if (!strstr(why, "intercepting a bad syscall (39)"))
                fail_msg("reason: %s", why);
}

static void test_fault_paths(void **state)
{
        struct vmm_spec *s = *state;
        static const char *const calls[] = {
            "PUT /logger",         "PUT /metrics",
            "PUT /machine-config", "PUT /boot-source",
            "PUT /drives/rootfs",  "PUT /drives/work",
            "PUT /drives/modules", "PUT /network-interfaces/eth0",
            "PUT /vsock",          "PUT /actions",
        };
        for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
                char fault[128], want[256];
                snprintf(fault, sizeof(fault), "injected fault %zu", i);
                setenv("FC_CONTRACT_FAIL", calls[i], 1);
                setenv("FC_CONTRACT_FAULT", fault, 1);
                struct vmm_handle h = {0};
                struct bg_error err = {0};
                assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
                snprintf(want, sizeof(want), "Firecracker refused %s (HTTP 400): %s", calls[i],
                         fault);
                if (!streq(err.msg, want))
                        fail_msg("error '%s', want '%s'", err.msg, want);
                /* Nothing left running or behind. */
                assert_int_equal(h.pid, 0);
                errno = 0;
                assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
                assert_int_equal(errno, ECHILD);
                char p[256];
                struct stat st;
                snprintf(p, sizeof(p), "%s/vmm.pid", s->dir);
                assert_int_equal(stat(p, &st), -1);
                snprintf(p, sizeof(p), "%s/api.sock", s->dir);
                assert_int_equal(stat(p, &st), -1);
                /* The refused call was the last one made. */
                char **c;
                size_t n = read_calls(s, &c);
                snprintf(want, sizeof(want), "%s 400 ", calls[i]);
                assert_true(n > 0);
                assert_int_equal(strncmp(c[n - 1], want, strlen(want)), 0);
                for (size_t k = 0; k + 1 < n; k++)
                        assert_non_null(strstr(c[k], " 204 "));
                free_calls(c, n);
                snprintf(p, sizeof(p), "%s/calls.log", s->dir);
                unlink(p);
        }
}

static void test_refused_before_spawn(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        char log[256];
        struct stat st;
        snprintf(log, sizeof(log), "%s/vmm.log", s->dir);

        s->vcpu = 3;
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        assert_string_equal(err.msg,
                            "Firecracker needs 1 or an even number of vCPUs up to 32, not 3");
        s->vcpu = 34;
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        s->vcpu = 2;

        s->disks[1].format = VMM_DISK_QCOW2;
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "work.ext4' is qcow2: Firecracker needs raw disks"));
        s->disks[1].format = VMM_DISK_RAW;

        /* A refused kernel command line starts nothing either. */
        snprintf(s->boot.gateway, sizeof(s->boot.gateway), "172.30.0.1 init=/bin/sh");
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "gateway"));
        snprintf(s->boot.gateway, sizeof(s->boot.gateway), "172.30.0.1");

        s->vsock_cid = 2;
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        s->vsock_cid = 3;
        snprintf(s->mac, sizeof(s->mac), "52:54:00");
        assert_int_equal(drv->launch(s, &h, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "MAC"));
        snprintf(s->mac, sizeof(s->mac), "52:54:00:12:34:56");

        snprintf(s->binary, sizeof(s->binary), "/nonexistent/firecracker");
        assert_int_equal(drv->launch(s, &h, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/nonexistent/firecracker"));
        /* None of these started anything. */
        assert_int_equal(stat(log, &st), -1);
}

static void test_early_exit(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h;
        struct bg_error err = {0};
        setenv("FAKE_FC_EXIT_AT_START", "153", 1);
        assert_int_equal(drv->launch(s, &h, &err), -ECHILD);
        assert_non_null(strstr(err.msg, "Firecracker did not start"));
        assert_non_null(strstr(err.msg, "code 153 (ArgParsing"));
        assert_non_null(strstr(err.msg, "fake failure")); /* from vmm.log */
        errno = 0;
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
}

static void test_adopt(void **state)
{
        struct vmm_spec *s = *state;
        struct vmm_handle h, a;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        assert_int_equal(h.agent_port, FC_AGENT_VSOCK_PORT);
        if (drv->adopt(s, &a, &err) < 0)
                fail_msg("adopt: %s", err.msg);
        assert_int_equal(a.pid, h.pid);
        assert_int_equal(a.start_time, h.start_time);
        assert_string_equal(a.agent_path, h.agent_path);
        assert_int_equal(a.agent_port, FC_AGENT_VSOCK_PORT);
        assert_int_equal(a.agent_transport, VMM_AGENT_HYBRID_VSOCK);

        /* A pidfile naming a live process that is not Firecracker. */
        char pf[256], jf[256];
        snprintf(pf, sizeof(pf), "%s/vmm.pid", s->dir);
        assert_int_equal(pidfile_write(pf, getpid(), &err), 0);
        assert_int_equal(drv->adopt(s, &a, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "not Firecracker"));

        /* The jailer's firecracker.pid (bare pid) when there is no vmm.pid. */
        unlink(pf);
        snprintf(jf, sizeof(jf), "%s/firecracker.pid", s->dir);
        FILE *f = fopen(jf, "we");
        fprintf(f, "%d", (int)h.pid);
        fclose(f);
        if (drv->adopt(s, &a, &err) < 0)
                fail_msg("adopt from firecracker.pid: %s", err.msg);
        assert_int_equal(a.pid, h.pid);
        assert_int_equal(a.start_time, h.start_time);
        /* … only for the VM it was started for. */
        struct vmm_spec other = *s;
        snprintf(other.id, sizeof(other.id), "ffff");
        assert_int_equal(drv->adopt(&other, &a, &err), -ESRCH);

        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
        assert_int_equal(drv->adopt(s, &a, &err), -ESRCH);
        unlink(jf);
        assert_int_equal(drv->adopt(s, &a, &err), -ESRCH);
}

static void vsock_case(struct vmm_spec *s, const char *mode, int want, uint64_t timeout_ms)
{
        struct vmm_handle h;
        struct bg_error err = {0};
        setenv("FC_CONTRACT_VSOCK", mode, 1);
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch: %s", err.msg);
        _cleanup_(agent_conn_freep) struct agent_conn *c = NULL;
        uint64_t t0 = now_mono_msec();
        int r = agent_conn_open_hybrid_vsock(h.agent_path, h.agent_port, timeout_ms, &c, &err);
        uint64_t took = now_mono_msec() - t0;
        if (r != want)
                fail_msg("vsock %s: %d (%s), want %d", mode, r, err.msg, want);
        if (want == -ETIMEDOUT)
                assert_true(took >= timeout_ms - 50); /* retried until the deadline */
        else
                assert_true(took < timeout_ms);
        assert_int_equal(drv->kill(&h, &err), 0);
        wait_exit(h.pid);
}

static void test_hybrid_vsock(void **state)
{
        struct vmm_spec *s = *state;
        vsock_case(s, "ok", 0, 3000);
        vsock_case(s, "close", -ETIMEDOUT, 500);
        vsock_case(s, "garbage", -EPROTO, 3000);
}

static void test_path_lookup(void **state)
{
        struct vmm_spec *s = *state;
        char dir[4096], path[8192], *old = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin");
        snprintf(dir, sizeof(dir), "%s", FC_FAKE_BINARY);
        *strrchr(dir, '/') = '\0';
        snprintf(path, sizeof(path), "%s:%s", dir, old);
        setenv("PATH", path, 1);
        snprintf(s->binary, sizeof(s->binary), "firecracker");
        struct vmm_handle h;
        struct bg_error err = {0};
        int r = drv->launch(s, &h, &err);
        setenv("PATH", old, 1);
        free(old);
        if (r < 0)
                fail_msg("launch: %s", err.msg);
        /* The driver's request_stop goes through the same socket. */
        assert_int_equal(drv->request_stop(s, &h, &err), 0);
        assert_true(WIFEXITED(wait_exit(h.pid)));
}

static void test_launch_jailed(void **state)
{
        struct vmm_spec *s = *state;
        struct jail_t j = {0};
        s->jail_start = fake_jail_start;
        s->jail_clean = fake_jail_clean;
        s->jail_ud = &j;
        struct vmm_handle h;
        struct bg_error err = {0};
        if (drv->launch(s, &h, &err) < 0)
                fail_msg("launch through the jail: %s", err.msg);
        assert_int_equal(j.starts, 1);
        assert_int_equal(drv->alive(&h), 1);
        char want[256];
        snprintf(want, sizeof(want), "%s/agent.sock", s->dir);
        assert_string_equal(h.agent_path, want); /* the symlink into the chroot */
        /* Firecracker was configured with the paths it sees in the jail. */
        char **c;
        size_t n = read_calls(s, &c);
        assert_int_equal(n, 10);
        assert_non_null(strstr(c[0], "\"log_path\":\"/fc.log\""));
        assert_non_null(strstr(c[3], "\"kernel_image_path\":\"/vmlinux\""));
        assert_non_null(strstr(c[3], "\"initrd_path\":\"/initrd\""));
        assert_non_null(strstr(c[4], "\"path_on_host\":\"/vda\""));
        assert_non_null(strstr(c[6], "\"path_on_host\":\"/vdc\""));
        assert_non_null(strstr(c[8], "\"uds_path\":\"/agent.sock\""));
        free_calls(c, n);
        /* adopt finds it again from vmm.pid; kill works on a process that is
         * not the driver's child. */
        struct vmm_handle h2;
        assert_int_equal(drv->adopt(s, &h2, &err), 0);
        assert_int_equal(h2.pid, h.pid);
        assert_int_equal(drv->kill(&h, &err), 0);
        assert_int_equal(drv->alive(&h), 0);
        fake_jail_clean(&j, s);

        /* A refused configuration: the process is killed and the jail
         * cleaned, nothing left. */
        char p[256];
        snprintf(p, sizeof(p), "%s/calls.log", s->dir);
        unlink(p);
        setenv("FC_CONTRACT_FAIL", "PUT /boot-source", 1);
        setenv("FC_CONTRACT_FAULT", "bad kernel", 1);
        j = (struct jail_t){0};
        struct vmm_handle h3 = {0};
        assert_true(drv->launch(s, &h3, &err) < 0);
        assert_non_null(strstr(err.msg, "bad kernel"));
        assert_int_equal(j.cleans, 1);
        snprintf(p, sizeof(p), "%s/vmm.pid", s->dir);
        assert_int_equal(access(p, F_OK), -1);
        unsetenv("FC_CONTRACT_FAIL");
        /* netsvc refusing the jail is an error that says so */
        j = (struct jail_t){.fail_start = true};
        assert_true(drv->launch(s, &h3, &err) < 0);
        assert_non_null(strstr(err.msg, "start the jailer: netsvc refused the jail"));
}

int main(void)
{
        if (fc_fixture_init() < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_launch_stop_kill, setup, teardown),
            cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
            cmocka_unit_test_setup_teardown(test_query_pause_resume, setup, teardown),
            cmocka_unit_test_setup_teardown(test_exit_code_reason, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fault_paths, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refused_before_spawn, setup, teardown),
            cmocka_unit_test_setup_teardown(test_early_exit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hybrid_vsock, setup, teardown),
            cmocka_unit_test_setup_teardown(test_path_lookup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_launch_jailed, setup, teardown),
        };
        return fc_fixture_done(cmocka_run_group_tests(tests, NULL, NULL));
}
