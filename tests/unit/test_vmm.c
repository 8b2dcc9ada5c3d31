/* What both VMM drivers share (lib/vmm): the run-state table, paths and
 * ids, the process helpers (spawn detached, kill with or without reaping,
 * adoption checks) and the log helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_tmpdir.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

static void write_file(const char *dir, const char *name, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static void test_run_state_round_trip(void **state)
{
        for (int s = 0; s < _VMM_RUN_MAX; s++) {
                const char *name = vmm_run_state_to_string((enum vmm_run_state)s);
                assert_non_null(name);
                assert_int_equal(vmm_run_state_from_string(name), s);
        }
        assert_string_equal(vmm_run_state_to_string(VMM_RUN_PAUSED), "paused");
        assert_null(vmm_run_state_to_string(_VMM_RUN_MAX));
        assert_int_equal(vmm_run_state_from_string("Paused"), -EINVAL);
        assert_int_equal(vmm_run_state_from_string(NULL), -EINVAL);
}

static void test_path_id_mac(void **state)
{
        char buf[16];
        assert_int_equal(vmm_path(buf, sizeof(buf), "/", "api.sock"), 0);
        assert_string_equal(buf, "/api.sock");
        assert_int_equal(vmm_path(buf, sizeof(buf), "/vm", "api.sock"), 0);
        assert_string_equal(buf, "/vm/api.sock");
        assert_int_equal(vmm_path(buf, sizeof(buf), "/a/long/dir", "api.sock"), -ENAMETOOLONG);

        assert_true(vmm_id_valid("0a1b"));
        assert_false(vmm_id_valid("0A1B"));
        assert_false(vmm_id_valid("../x"));
        assert_false(vmm_id_valid(""));
        assert_false(vmm_id_valid(NULL));
        assert_false(vmm_id_valid("0123456789abcdef0123456789abcdef0"));

        assert_true(vmm_mac_valid("52:54:00:1e:00:05"));
        assert_true(vmm_mac_valid("52:54:00:1E:00:05"));
        assert_false(vmm_mac_valid("52:54:00:1e:00"));
        assert_false(vmm_mac_valid("52-54-00-1e-00-05"));
        assert_false(vmm_mac_valid("52:54:00:1e:00:0g"));
}

static uint64_t fsize(const char *dir, const char *name)
{
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Reads the whole console stream from off into a malloc'ed buffer. */
static char *read_stream(const char *dir, uint64_t off, uint64_t *ret_start, size_t *ret_len)
{
        size_t cap = 1 << 20, len = 0;
        char *all = malloc(cap);
        bool first = true;
        for (;;) {
                uint64_t at, size;
                size_t n;
                assert_int_equal(vmm_console_read(dir, off, all + len, 4096, &at, &n, &size), 0);
                if (first)
                        *ret_start = at;
                else
                        assert_true(at == off); /* no gap inside what is kept */
                first = false;
                len += n;
                off = at + n;
                if (n == 0 || off >= size)
                        break;
                assert_true(len + 4096 <= cap);
        }
        *ret_len = len;
        return all;
}

/* Attack 6 of issue 19: a guest floods its console. The writer appends (as
 * QEMU's chardev with append=on and Firecracker's stdout do); rotation keeps
 * console.log and console.log.1 under the cap and the stream readable with
 * its offsets, the last part always kept. */
static void test_console_rotation(void **state)
{
        char *dir = test_tmpdir_new("vmm");
        char path[600];
        snprintf(path, sizeof(path), "%s/console.log", dir);
        int w = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(w >= 0);
        const uint64_t max = 64 << 10;
        /* Nothing to do for a small log; a missing log reads empty. */
        uint64_t at, size, start;
        size_t n, len;
        char buf[64];
        assert_int_equal(vmm_console_read(dir, 0, buf, sizeof(buf), &at, &n, &size), 0);
        assert_true(n == 0 && size == 0);
        /* 1 MiB of numbered lines, 4 KiB at a time, rotating after each. */
        char line[32];
        uint64_t written = 0;
        for (int i = 0; written < (1 << 20); i++) {
                int l = snprintf(line, sizeof(line), "line %07d\n", i);
                assert_int_equal(write(w, line, (size_t)l), l);
                written += (uint64_t)l;
                if (written % 4096 < (uint64_t)l) {
                        assert_true(vmm_log_rotate(dir, "console.log", max, false) >= 0);
                        assert_true(fsize(dir, "console.log") + fsize(dir, "console.log.1") <=
                                    max + 4096);
                }
        }
        assert_true(vmm_log_rotate(dir, "console.log", max, false) >= 0);
        /* The stream ends where the writer is; its last part is all there,
         * in order, and starts at the oldest byte kept. */
        char *all = read_stream(dir, 0, &start, &len);
        assert_int_equal(start + len, written);
        assert_true(len >= max / 2 && len <= max);
        int l = snprintf(line, sizeof(line), "line %07d\n", 0);
        uint64_t first_line = (start + (uint64_t)l - 1) / (uint64_t)l;
        for (uint64_t k = first_line; (k + 1) * (uint64_t)l <= written; k++) {
                snprintf(line, sizeof(line), "line %07llu\n", (unsigned long long)k);
                assert_memory_equal(all + (k * (uint64_t)l - start), line, (size_t)l);
        }
        free(all);
        /* A reader that was further along goes on from its offset. */
        assert_int_equal(vmm_console_read(dir, written - 10, buf, sizeof(buf), &at, &n, &size), 0);
        assert_true(at == written - 10 && n == 10 && size == written);
        /* A forced rotation (a new boot) empties console.log; the stream goes on. */
        assert_int_equal(vmm_log_rotate(dir, "console.log", max, true), 1);
        assert_int_equal(fsize(dir, "console.log"), 0);
        assert_int_equal(write(w, "boot 2\n", 7), 7);
        assert_int_equal(vmm_console_read(dir, written, buf, sizeof(buf), &at, &n, &size), 0);
        assert_true(at == written && n == 7 && size == written + 7);
        assert_memory_equal(buf, "boot 2\n", 7);
        close(w);
        test_tmpdir_drop(dir);
}

static void test_logs(void **state)
{
        char *dir = test_tmpdir_new("vmm");
        char buf[128], log[512];
        snprintf(log, sizeof(log), "%s/vmm.log", dir);

        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "");
        write_file(dir, "vmm.log", "# banger: starting\nqemu: could not open disk\n\n# note\n");
        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "qemu: could not open disk");

        vmm_console_tail(dir, buf, sizeof(buf));
        assert_string_equal(buf, "");
        write_file(dir, "console.log",
                   "[0.1] Linux version 6.1\r\n[2.0] Kernel panic - not syncing: VFS: no root\r\n"
                   "[2.1] ---[ end Kernel panic ]---\r\n\r\n");
        vmm_console_tail(dir, buf, sizeof(buf));
        assert_string_equal(buf, "[2.1] ---[ end Kernel panic ]---");
        vmm_console_panic(dir, buf, sizeof(buf));
        assert_string_equal(buf, "Kernel panic - not syncing: VFS: no root");
        /* A shell prompt in the console is the guest's, not a note. */
        write_file(dir, "console.log", "login ok\n# ls\n");
        vmm_console_tail(dir, buf, sizeof(buf));
        assert_string_equal(buf, "# ls");
        vmm_console_panic(dir, buf, sizeof(buf));
        assert_string_equal(buf, "");

        vmm_signal_reason("QEMU", SIGKILL, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU was killed by signal 9 (SIGKILL)");
        test_tmpdir_drop(dir);
}

static pid_t spawn_sleeper(const char *dir)
{
        char log[512];
        snprintf(log, sizeof(log), "%s/sleep.log", dir);
        char bin[256];
        assert_int_equal(vmm_find_binary("sleep", bin, sizeof(bin)), 0);
        char *argv[] = {bin, "600", NULL};
        pid_t pid;
        assert_int_equal(vmm_spawn(argv, log, &pid), 0);
        return pid;
}

static void test_spawn_kill(void **state)
{
        char *dir = test_tmpdir_new("vmm");
        char buf[16];
        assert_int_equal(vmm_find_binary("no-such-binary-here", buf, sizeof(buf)), -ENOENT);
        char *missing[] = {"/nonexistent/vmm", NULL};
        pid_t pid;
        char log[512];
        snprintf(log, sizeof(log), "%s/x.log", dir);
        assert_int_equal(vmm_spawn(missing, log, &pid), -ENOENT);

        /* Detached (own session); the start time guards liveness. */
        pid = spawn_sleeper(dir);
        assert_int_equal(getsid(pid), pid);
        uint64_t st;
        assert_int_equal(proc_start_time(pid, &st), 0);
        assert_int_equal(vmm_proc_alive(pid, st), 1);
        assert_int_equal(vmm_proc_alive(pid, st + 1), 0);
        /* A different start time: not ours, not killed. */
        assert_int_equal(vmm_proc_kill(pid, st + 1, 1000, false), 0);
        assert_int_equal(vmm_proc_alive(pid, st), 1);
        /* Without reaping, the wait status is the caller's. */
        assert_int_equal(vmm_proc_kill(pid, st, 5000, false), 0);
        assert_int_equal(vmm_proc_alive(pid, st), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, WNOHANG), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        /* With reaping nothing is left to wait for. */
        pid = spawn_sleeper(dir);
        assert_int_equal(proc_start_time(pid, &st), 0);
        assert_int_equal(vmm_proc_kill(pid, st, 5000, true), 0);
        errno = 0;
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        /* Gone already: fine. */
        assert_int_equal(vmm_proc_kill(pid, st, 1000, true), 0);
        test_tmpdir_drop(dir);
}

static void test_adopt_checks(void **state)
{
        char *dir = test_tmpdir_new("vmm");
        char pidfile[512];
        snprintf(pidfile, sizeof(pidfile), "%s/vmm.pid", dir);
        struct bg_error err = {0};
        pid_t pid;
        uint64_t start;
        assert_int_equal(vmm_proc_adopt(pidfile, "QEMU", "qemu-system", false, &pid, &start, &err),
                         -ESRCH);
        assert_non_null(strstr(err.msg, "no VMM pidfile"));

        pid_t child = spawn_sleeper(dir);
        assert_int_equal(pidfile_write(pidfile, child, &err), 0);
        /* sleep is not the VMM. */
        bg_error_clear(&err);
        assert_int_equal(vmm_proc_adopt(pidfile, "QEMU", "qemu-system", false, &pid, &start, &err),
                         -ESRCH);
        assert_non_null(strstr(err.msg, "not QEMU: not adopting"));
        /* It is "sleep" exactly, and starts with "sle". */
        assert_int_equal(vmm_proc_adopt(pidfile, "sleep", "sleep", true, &pid, &start, &err), 0);
        assert_int_equal(pid, child);
        assert_int_equal(vmm_proc_adopt(pidfile, "sleep", "sle", false, &pid, &start, &err), 0);
        bg_error_clear(&err);
        assert_int_equal(vmm_proc_adopt(pidfile, "sleep", "sle", true, &pid, &start, &err), -ESRCH);
        /* A reused pid: same pid, another start time. */
        bg_error_clear(&err);
        assert_int_equal(vmm_proc_verify(child, start + 1, "sleep", "sleep", true, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "belongs to another process"));

        assert_int_equal(vmm_proc_kill(child, start, 5000, true), 0);
        bg_error_clear(&err);
        assert_int_equal(vmm_proc_adopt(pidfile, "sleep", "sleep", true, &pid, &start, &err),
                         -ESRCH);
        assert_non_null(strstr(err.msg, "is gone"));
        test_tmpdir_drop(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_run_state_round_trip),
            cmocka_unit_test(test_path_id_mac),
            cmocka_unit_test(test_logs),
            cmocka_unit_test(test_console_rotation),
            cmocka_unit_test(test_spawn_kill),
            cmocka_unit_test(test_adopt_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
