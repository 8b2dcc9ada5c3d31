/* The Firecracker driver end to end against a fake `firecracker` that serves
 * its API socket with the contract server (every request checked against
 * Firecracker 1.16's API specification): launch -> request_stop -> kill,
 * every refused call surfacing its fault message, adopt, the hybrid vsock
 * handshake through lib/agent on the uds the driver configured, and
 * templates: snapshot, restore into a clone with its own tap, agent socket
 * and disks, the version gate, failures that leave nothing behind, and the
 * jailer's refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_client.h"
#include "cmdline_once.h"
#include "fc_contract_server.h"
#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/firecracker/fc_config.h"
#include "vmm/firecracker/vmm_firecracker.h"

static char tmp[64];
static const struct vmm_driver *drv = &vmm_firecracker_driver;

static void put_file(const char *name)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", tmp, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
}

static int setup(void **state)
{
        struct vmm_spec *s = calloc(1, sizeof(*s));
        *s = (struct vmm_spec){.vcpu = 2, .memory_mib = 256, .n_disks = 3, .vsock_cid = 3};
        snprintf(s->id, sizeof(s->id), "0123456789abcdef0123456789abcdef");
        snprintf(s->name, sizeof(s->name), "t1");
        snprintf(s->dir, sizeof(s->dir), "%s/vm", tmp);
        snprintf(s->binary, sizeof(s->binary), "%s", FC_FAKE_BINARY);
        snprintf(s->kernel_vmlinux, sizeof(s->kernel_vmlinux), "%s/vmlinux", tmp);
        snprintf(s->initrd, sizeof(s->initrd), "%s/initrd", tmp);
        static const char *const disks[] = {"root.ext4", "work.ext4", "modules.ext4"};
        for (int i = 0; i < 3; i++)
                snprintf(s->disks[i].path, sizeof(s->disks[i].path), "%s/%s", tmp, disks[i]);
        s->disks[2].read_only = true;
        snprintf(s->tap, sizeof(s->tap), "bgtap0");
        snprintf(s->mac, sizeof(s->mac), "52:54:00:12:34:56");
        snprintf(s->boot.ip, sizeof(s->boot.ip), "172.30.0.7");
        s->boot.prefix = 24;
        snprintf(s->boot.gateway, sizeof(s->boot.gateway), "172.30.0.1");
        s->boot.modules_disk = true;
        assert_int_equal(mkdir(s->dir, 0755), 0);
        char rec[128];
        snprintf(rec, sizeof(rec), "%s/calls.log", s->dir);
        setenv("FC_CONTRACT_RECORD", rec, 1);
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        free(*state);
        static const char *const vars[] = {"FC_CONTRACT_FAIL",      "FC_CONTRACT_FAULT",
                                           "FC_CONTRACT_VSOCK",     "FC_CONTRACT_EXIT_CODE",
                                           "FAKE_FC_EXIT_AT_START", "FAKE_FC_VERSION"};
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                unsetenv(vars[i]);
        /* Nothing the driver started may be left behind. */
        int st;
        while (waitpid(-1, &st, WNOHANG) > 0)
                ;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s/vm'", tmp);
        return system(cmd) == 0 ? 0 : -1;
}

/* The recorded calls, one string per line (caller frees lines and array). */
static size_t read_calls(const struct vmm_spec *s, char ***ret)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/calls.log", s->dir);
        FILE *f = fopen(p, "re");
        char **lines = NULL;
        size_t n = 0;
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = '\0';
                lines = realloc(lines, (n + 1) * sizeof(*lines));
                lines[n++] = strdup(line);
        }
        free(line);
        if (f)
                fclose(f);
        *ret = lines;
        return n;
}

static void free_calls(char **l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

static int wait_exit(pid_t pid)
{
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        return st;
}

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

/* A stand-in for netsvc's JailStart: stages a chroot the way fc_jailer does
 * (hard links, DIR symlinks into it) and starts the fake Firecracker as if
 * chrooted there (FC_CONTRACT_ROOT makes it resolve paths below it). */
struct jail_t {
        char chroot[256];
        int starts, cleans;
        bool fail_start;
};

static int fake_jail_start(void *ud, const struct vmm_spec *spec, pid_t *ret_pid,
                           struct bg_error *err)
{
        struct jail_t *j = ud;
        j->starts++;
        if (j->fail_start)
                return bg_error_set(err, EPERM, "netsvc refused the jail");
        char p[512], q[512];
        snprintf(j->chroot, sizeof(j->chroot), "%s/jail-root", tmp);
        assert_int_equal(mkdir(j->chroot, 0755), 0);
        snprintf(p, sizeof(p), "%s/vmlinux", j->chroot);
        assert_int_equal(link(spec->kernel_vmlinux, p), 0);
        snprintf(p, sizeof(p), "%s/initrd", j->chroot);
        assert_int_equal(link(spec->initrd, p), 0);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                snprintf(p, sizeof(p), "%s/vd%c", j->chroot, 'a' + i);
                assert_int_equal(link(spec->disks[i].path, p), 0);
        }
        static const char *const names[] = {"api.sock", "agent.sock", "fc.log"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(p, sizeof(p), "%s/%s", spec->dir, names[i]);
                snprintf(q, sizeof(q), "%s/%s", j->chroot, names[i]);
                unlink(p);
                assert_int_equal(symlink(q, p), 0);
        }
        snprintf(q, sizeof(q), "%s/api.sock", j->chroot);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setsid();
                setenv("FC_CONTRACT_ROOT", j->chroot, 1);
                execl(FC_FAKE_BINARY, "firecracker", "--api-sock", q, "--id", spec->id, NULL);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

static void fake_jail_clean(void *ud, const struct vmm_spec *spec)
{
        (void)spec;
        struct jail_t *j = ud;
        j->cleans++;
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", j->chroot);
        assert_int_equal(system(cmd), 0);
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
        char spec[4096];
        if (fc_contract_spec_path(spec, sizeof(spec)) < 0) {
                printf("FAIL: set-up: no Firecracker API spec under BANGER_SHARED_DIR=%s/ref "
                       "(the shared/ folder beside the checkout)\n",
                       getenv("BANGER_SHARED_DIR") ? getenv("BANGER_SHARED_DIR") : "");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        snprintf(tmp, sizeof(tmp), "/tmp/bgfcd.XXXXXX");
        if (!mkdtemp(tmp))
                return 1;
        static const char *const files[] = {"vmlinux", "initrd", "root.ext4", "work.ext4",
                                            "modules.ext4"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                put_file(files[i]);
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
            cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restore_failures, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_old_firecracker, setup, teardown),
            cmocka_unit_test_setup_teardown(test_jailed_templates, setup, teardown),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmp);
        if (system(cmd) != 0)
                r = r ? r : 1;
        return r;
}
