/* The console pump (lib/vmm/vmm_console.h): a detached process per VM that
 * holds the console log of its guest under the cap with nobody else
 * running. This test binary doubles as the pump (main() below), as
 * banger-vmsvc does. */
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
#include <unistd.h>

#include "test_tmpdir.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"

static uint64_t fsize(const char *dir, const char *name)
{
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The console stream's end (console.log.base + console.log). */
static uint64_t stream_end(const char *dir)
{
        char buf[8];
        uint64_t at, size;
        size_t n;
        assert_int_equal(vmm_console_read(dir, UINT64_MAX, buf, sizeof(buf), &at, &n, &size), 0);
        return size;
}

/* Writes n bytes of numbered lines to fd; the last line is "END\n". */
static uint64_t flood(int fd, uint64_t n)
{
        char line[64];
        uint64_t done = 0;
        for (int i = 0; done < n; i++) {
                int l = snprintf(line, sizeof(line), "flood %09d ..........................\n", i);
                assert_int_equal(write(fd, line, (size_t)l), l);
                done += (uint64_t)l;
        }
        assert_int_equal(write(fd, "END\n", 4), 4);
        return done + 4;
}

/* 4 MiB through a detached pump capped at 64 KiB: the two files never hold
 * more than the cap plus one read, the stream's end counts every byte, the
 * newest line is there, and the pump ends (pidfile gone) once the writer
 * closes. */
static void test_pump_caps_and_ends(void **state)
{
        (void)state;
        char *dir = test_tmpdir_new("vmm-console");
        const uint64_t max = 64 << 10;
        int fd = -1;
        struct bg_error err = {0};
        assert_int_equal(vmm_console_pump_start("", dir, max, &fd, &err), -EINVAL);
        assert_int_equal(vmm_console_pump_start("/proc/self/exe", dir, max, &fd, &err), 0);
        assert_true(fd > STDERR_FILENO);
        /* Detached: its own session, not our child. */
        char pidfile[600];
        snprintf(pidfile, sizeof(pidfile), "%s/" VMM_FILE_CONSOLE_PUMP_PID, dir);
        pid_t pid = 0;
        assert_int_equal(pidfile_check(pidfile, &pid), 1);
        assert_int_equal(vmm_console_pump_alive(dir), 1);
        assert_true(getsid(pid) != getsid(0));
        uint64_t worst = 0, written = 0;
        for (int round = 0; round < 64; round++) {
                written += flood(fd, 64 << 10);
                uint64_t on_disk = fsize(dir, "console.log") + fsize(dir, "console.log.1");
                if (on_disk > worst)
                        worst = on_disk;
        }
        close(fd);
        assert_int_equal(vmm_console_pump_wait(dir, 10000), 0);
        assert_int_equal(vmm_console_pump_alive(dir), 0);
        assert_int_equal(access(pidfile, F_OK), -1);
        uint64_t on_disk = fsize(dir, "console.log") + fsize(dir, "console.log.1");
        if (on_disk > worst)
                worst = on_disk;
        print_message("    4 MiB written, at most %llu bytes on disk (cap %llu)\n",
                      (unsigned long long)worst, (unsigned long long)max);
        assert_true(worst <= max + VMM_CONSOLE_PUMP_READ);
        assert_int_equal(stream_end(dir), written);
        char tail[128];
        vmm_console_tail(dir, tail, sizeof(tail));
        assert_string_equal(tail, "END");
        test_tmpdir_drop(dir);
}

/* A pump that does not end when asked is killed; one never started is no
 * error. */
static void test_pump_wait_kills(void **state)
{
        (void)state;
        char *dir = test_tmpdir_new("vmm-console");
        assert_int_equal(vmm_console_pump_wait(dir, 0), 0);
        int fd = -1;
        struct bg_error err = {0};
        assert_int_equal(vmm_console_pump_start("/proc/self/exe", dir, 1 << 20, &fd, &err), 0);
        uint64_t t0 = now_mono_msec();
        assert_int_equal(vmm_console_pump_wait(dir, 200), 0); /* fd still open: killed */
        assert_true(now_mono_msec() - t0 < 5000);
        assert_int_equal(vmm_console_pump_alive(dir), 0);
        close(fd);
        test_tmpdir_drop(dir);
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], VMM_CONSOLE_PUMP_ARG) == 0)
                return vmm_console_pump_main(argc, argv);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_pump_caps_and_ends),
            cmocka_unit_test(test_pump_wait_kills),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
