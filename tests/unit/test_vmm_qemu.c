/* Unit tests of the QEMU VMM driver's process side: adoption (refusing
 * reused and stale PIDs, accepting a process whose executable is named
 * qemu-system-*), exit reasons, the log tail, and the KVM probe's decisions
 * with fake QEMU scripts. The command line: test_vmm_qemu_argv.c; QMP:
 * test_vmm_qemu_qmp.c. */
#include "test_vmm_qemu_fixture.h"

static char *read_file(const char *path)
{
        char *buf = NULL;
        return read_file_capped(path, 1u << 20, 0, &buf, NULL, NULL) < 0 ? NULL : buf;
}

/* ---- adoption, liveness, kill ---- */

static void write_pidfile_raw(const char *dir, pid_t pid, uint64_t start)
{
        char path[256], line[64];
        snprintf(path, sizeof(path), "%s/vmm.pid", dir);
        snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)pid, start);
        write_file(path, line, 0644);
}

static void test_adopt_refuses(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        struct vmm_handle h = {.pid = 4242};
        struct bg_error err = {0};

        /* No pidfile. */
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_int_equal(h.pid, 4242); /* untouched on failure */

        /* A live process that is not QEMU (this test) with its real start time:
         * a reused PID. */
        uint64_t me;
        assert_int_equal(proc_start_time(getpid(), &me), 0);
        write_pidfile_raw(dir, getpid(), me);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "not QEMU"));

        /* Same PID, another start time. */
        write_pidfile_raw(dir, getpid(), me + 1);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "another process"));

        /* A stale pidfile: the process has exited and been reaped. */
        pid_t c = fork();
        if (c == 0)
                _exit(0);
        uint64_t cst = 0;
        (void)proc_start_time(c, &cst);
        assert_int_equal(waitpid(c, NULL, 0), c);
        write_pidfile_raw(dir, c, cst);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "is gone"));

        /* alive() on a handle whose start time does not match. */
        struct vmm_handle mine = {.pid = getpid(), .start_time = me + 1};
        assert_int_equal(vmm_qemu_driver.alive(&mine), 0);
        mine.start_time = me;
        assert_int_equal(vmm_qemu_driver.alive(&mine), 1);
        test_tmpdir_drop(dir);
}

static char self_exe[4096];

/* A process whose executable is named qemu-system-x86_64 (a copy of this
 * test, started with --fake-qemu): adopt accepts it, kill ends it. */
static void test_adopt_accepts_qemu_named_process(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        char exe[512], log[512], cmd[1200];
        snprintf(exe, sizeof(exe), "%s/qemu-system-x86_64", dir);
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self_exe, exe);
        assert_int_equal(system(cmd), 0);

        char *argv[] = {
            exe, "--fake-qemu", "-accel", "kvm", "-device", "vhost-vsock-device,guest-cid=9", NULL};
        pid_t pid;
        assert_int_equal(vmm_spawn(argv, log, &pid), 0);
        /* Own session; output in the log. */
        char *out = NULL;
        for (int i = 0; i < 500; i++) {
                free(out);
                out = read_file(log);
                if (out && strstr(out, "fake qemu ready"))
                        break;
                sleep_msec(10);
        }
        assert_non_null(out);
        assert_non_null(strstr(out, "fake qemu ready"));
        free(out);
        assert_int_equal(getsid(pid), pid);

        char pidfile[512];
        snprintf(pidfile, sizeof(pidfile), "%s/vmm.pid", dir);
        struct bg_error err = {0};
        assert_int_equal(pidfile_write(pidfile, pid, &err), 0);

        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        struct vmm_handle h = {0};
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), 0);
        assert_int_equal(h.pid, pid);
        assert_string_equal(h.accel, "kvm");
        assert_int_equal(h.agent_transport, VMM_AGENT_VSOCK);
        assert_int_equal(h.agent_port, VMM_QEMU_AGENT_VSOCK_PORT);
        assert_int_equal(vmm_qemu_driver.alive(&h), 1);

        assert_int_equal(vmm_qemu_driver.kill(&h, &err), 0);
        assert_int_equal(vmm_qemu_driver.alive(&h), 0);
        /* kill reaped its child: nothing left to wait for. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        /* Killing what is gone is fine; adopting it is not. */
        assert_int_equal(vmm_qemu_driver.kill(&h, &err), 0);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        test_tmpdir_drop(dir);
}

/* ---- exit reasons ---- */

static void test_exit_reason(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        char log[256], con[256], buf[256];
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        snprintf(con, sizeof(con), "%s/console.log", dir);
        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);

        /* Nothing at all. */
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "");

        write_file(log,
                   "# banger: starting QEMU at 2025-01-01T00:00:00.000Z\n"
                   "# /usr/bin/qemu-system-x86_64 -M microvm\n"
                   "qemu-system-x86_64: -netdev tap,id=net0,ifname=bg3,script=no,downscript=no: "
                   "could not open /dev/net/tun: Operation not permitted\r\n\n",
                   0644);
        vmm_qemu_driver.exit_reason(&s, 1 << 8, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU exited with status 1: qemu-system-x86_64: -netdev "
                                 "tap,id=net0,ifname=bg3,script=no,downscript=no: could not open "
                                 "/dev/net/tun: Operation not permitted (see `banger doctor`, "
                                 "row tun)");

        write_file(log, "# banger: starting QEMU\n# qemu-system-x86_64\n", 0644);
        vmm_qemu_driver.exit_reason(&s, SIGKILL, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU was killed by signal 9 (SIGKILL)");
        vmm_qemu_driver.exit_reason(&s, 0, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU exited: the guest powered off or rebooted");
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "");

        write_file(
            con,
            "[    1.0] Run /init as init process\n"
            "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n"
            "[    2.2] Kernel Offset: 0x1 from 0xffffffff81000000\n",
            0644);
        vmm_qemu_driver.exit_reason(&s, 0, buf, sizeof(buf));
        assert_string_equal(buf, "guest kernel panic: Kernel panic - not syncing: Attempted to "
                                 "kill init! exitcode=0x00000100");
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "guest kernel panic: Kernel panic - not syncing: Attempted to "
                                 "kill init! exitcode=0x00000100");
        test_tmpdir_drop(dir);
}

static void test_log_tail(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        char log[256], buf[64];
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "");
        write_file(log, "first\nqemu: could not open kernel file '/x': No such file\n", 0644);
        vmm_log_tail(log, buf, sizeof(buf));
        /* Truncated to the buffer. */
        assert_string_equal(buf, "qemu: could not open kernel file '/x': No such file");
        char small[10];
        vmm_log_tail(log, small, sizeof(small));
        assert_string_equal(small, "qemu: cou");
        write_file(log, "no newline at the end", 0644);
        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "no newline at the end");
        test_tmpdir_drop(dir);
}

/* ---- the KVM probe with fake QEMUs ---- */

/* A shell script standing in for QEMU: finds the console file in its
 * arguments and runs `body` with it in $con. */
static void fake_qemu(const char *path, const char *body)
{
        char script[2048];
        snprintf(script, sizeof(script),
                 "#!/bin/sh\n"
                 "for a; do case $a in file,id=console,path=*) con=${a#file,id=console,path=};; "
                 "esac; done\n"
                 "%s\n",
                 body);
        write_file(path, script, 0755);
}

static void assert_dir_empty_of_probes(const char *dir)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "ls -d '%s'/accel-probe.* >/dev/null 2>&1", dir);
        assert_int_not_equal(system(cmd), 0);
}

static void test_probe_boot_decisions(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        char qemu[256], kernel[256], why[256];
        snprintf(qemu, sizeof(qemu), "%s/qemu-fake", dir);
        snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
        write_file(kernel, "not a kernel", 0644);

        /* A kernel that runs: banner then the no-root panic. */
        fake_qemu(qemu,
                  "printf 'Probing EDD\\n[0.0] Linux version 6.1.0\\n' >\"$con\"\n"
                  "printf '[0.9] Kernel panic - not syncing: VFS: Unable to mount root fs\\n' "
                  ">>\"$con\"\nexec sleep 30");
        uint64_t t0 = now_mono_msec();
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 1);
        assert_true(now_mono_msec() - t0 < 1500);
        assert_non_null(strstr(why, "KVM booted"));
        assert_dir_empty_of_probes(dir);

        /* A kernel that runs and QEMU exits after the panic (panic=-1). */
        fake_qemu(qemu, "printf 'Linux version 6.1.0\\n' >\"$con\"; exit 0");
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 1);

        /* A PVM-only host: nothing on the console, QEMU spins. */
        fake_qemu(qemu, "printf 'PPrroobbiinngg  EEDDDD\\n' >\"$con\"; exec sleep 30");
        t0 = now_mono_msec();
        assert_int_equal(accel_probe_kvm_boot(qemu, kernel, NULL, dir, 300, 3000, why, sizeof(why)),
                         0);
        uint64_t took = now_mono_msec() - t0;
        assert_true(took >= 300 && took < 1500);
        assert_non_null(strstr(why, "printed nothing"));

        /* Started but stuck. */
        fake_qemu(qemu, "printf 'Linux version 6.1.0\\n' >\"$con\"; exec sleep 30");
        assert_int_equal(accel_probe_kvm_boot(qemu, kernel, NULL, dir, 200, 400, why, sizeof(why)),
                         0);
        assert_non_null(strstr(why, "did not finish"));

        /* QEMU refuses KVM. */
        fake_qemu(qemu,
                  "echo 'qemu-fake: failed to initialize kvm: Permission denied' >&2; exit 1");
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 0);
        assert_non_null(strstr(why,
                               "exited with status 1 before the kernel ran: qemu-fake: failed to "
                               "initialize kvm: Permission denied"));
        assert_dir_empty_of_probes(dir);
        /* No child left behind. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        test_tmpdir_drop(dir);
}

static void test_probe_cache(void **state)
{
        char *dir = test_tmpdir_new("vmm-qemu");
        char qemu[256], kernel[256], count[256], why[256], body[512];
        snprintf(qemu, sizeof(qemu), "%s/qemu-fake", dir);
        snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
        snprintf(count, sizeof(count), "%s/runs", dir);
        write_file(kernel, "not a kernel", 0644);
        snprintf(body, sizeof(body),
                 "echo run >>'%s'\nprintf 'Linux version 6.1.0\\nKernel panic - not syncing: x\\n' "
                 ">\"$con\"\nexec sleep 30",
                 count);
        fake_qemu(qemu, body);

        enum vmm_accel a = VMM_ACCEL_AUTO;
        /* Missing pieces are errors, not answers. */
        assert_int_equal(accel_probe("/nonexistent/qemu", kernel, NULL, dir, &a, why, sizeof(why)),
                         -ENOENT);
        assert_int_equal(accel_probe(qemu, "/nonexistent/vmlinuz", NULL, dir, &a, why, sizeof(why)),
                         -ENOENT);
        assert_non_null(strstr(why, "/nonexistent/vmlinuz"));
        assert_int_equal(a, VMM_ACCEL_AUTO);

        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), kvm_errno = errno;
        if (fd < 0) {
                /* The cheap check decides, and is not cached. */
                assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
                assert_int_equal(a, VMM_ACCEL_TCG);
                assert_non_null(strstr(why, "/dev/kvm"));
                assert_int_equal(access(count, F_OK), -1);
                test_tmpdir_drop(dir);
                test_skip("no-kvm", "/dev/kvm: %s; the KVM half of the probe cache is not run",
                          strerror(kvm_errno));
        }
        close(fd);
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
        assert_int_equal(a, VMM_ACCEL_KVM);
        a = VMM_ACCEL_AUTO;
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 1);
        assert_int_equal(a, VMM_ACCEL_KVM);
        assert_non_null(strstr(why, "(cached)"));
        char *runs = read_file(count);
        assert_string_equal(runs, "run\n");
        free(runs);
        /* Without a cache dir it boots again. */
        assert_int_equal(accel_probe(qemu, kernel, NULL, NULL, &a, why, sizeof(why)), 0);
        runs = read_file(count);
        assert_string_equal(runs, "run\nrun\n");
        free(runs);
        /* A different kernel file is another key. */
        write_file(kernel, "another kernel, longer", 0644);
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
        test_tmpdir_drop(dir);
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "--fake-qemu") == 0) {
                fprintf(stderr, "fake qemu ready\n");
                for (;;)
                        pause();
        }
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (n < 0)
                return 1;
        self_exe[n] = '\0';

        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_adopt_refuses),
            cmocka_unit_test(test_adopt_accepts_qemu_named_process),
            cmocka_unit_test(test_exit_reason),
            cmocka_unit_test(test_log_tail),
            cmocka_unit_test(test_probe_boot_decisions),
            cmocka_unit_test(test_probe_cache),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
