/* Drives vmm_qemu_driver against a real kernel (see test_vmm_qemu.sh):
 *  1. the accel probe answers within its bound (TCG on hosts whose KVM cannot
 *     run a stock kernel), and from its cache the second time;
 *  2. launch boots the guest; the agent answers Health over agent.sock;
 *  3. after forgetting the handle, adopt finds the same process;
 *  4. request_stop is accepted by QEMU; the agent's Shutdown makes QEMU exit
 *     by itself within 10 s, and exit_reason says so;
 *  5. a second launch is ended by kill, leaving no process;
 *  6. a launch with a bad kernel path fails quoting QEMU and leaves nothing.
 * Usage: test_vmm_qemu_e2e BZIMAGE INITRD ROOT_QCOW2 WORK_IMG RO_IMG WORKDIR */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel_probe.h"
#include "agent_client.h"
#include "util/timeutil.h"
#include "vmm.h"
#include "vmm_qemu.h"

static const struct vmm_driver *drv = &vmm_qemu_driver;

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "FAIL (%s:%d): ", __FILE__, __LINE__);                     \
                        fprintf(stderr, __VA_ARGS__);                                              \
                        fputc('\n', stderr);                                                       \
                        cleanup_and_exit(1);                                                       \
                }                                                                                  \
        } while (0)

static struct vmm_handle live[3];
static int n_live;
static const char *workdir;

static void dump(const char *dir, const char *name)
{
        char path[512], cmd[600];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fprintf(stderr, "--- %s\n", path);
        snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", path);
        (void)system(cmd);
}

_noreturn_ static void cleanup_and_exit(int code)
{
        for (int i = 0; i < n_live; i++) {
                if (drv->alive(&live[i])) {
                        struct bg_error err = {0};
                        drv->kill(&live[i], &err);
                }
        }
        if (code) {
                char dir[512];
                snprintf(dir, sizeof(dir), "%s/vm1", workdir);
                dump(dir, "vmm.log");
                dump(dir, "console.log");
        }
        exit(code);
}

static void track(const struct vmm_handle *h)
{
        if (n_live < 3)
                live[n_live++] = *h;
}

static double secs(uint64_t ms)
{
        return (double)ms / 1000.0;
}

static void make_spec(struct vmm_spec *s, const char *name, char **args)
{
        memset(s, 0, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%s", "e2e0000000000000000000000000000e");
        snprintf(s->name, sizeof(s->name), "%s", name);
        snprintf(s->dir, sizeof(s->dir), "%s/%s", workdir, name);
        mkdir(s->dir, 0700);
        snprintf(s->binary, sizeof(s->binary), "qemu-system-x86_64");
        s->vcpu = 2;
        s->memory_mib = 512;
        snprintf(s->kernel_bzimage, sizeof(s->kernel_bzimage), "%s", args[1]);
        snprintf(s->initrd, sizeof(s->initrd), "%s", args[2]);
        snprintf(s->cmdline, sizeof(s->cmdline),
                 "root=/dev/vda rw rootfstype=ext4 init=/sbin/e2e-init banger.name=e2e-qemu "
                 "banger.work=/dev/vdb");
        s->n_disks = 3;
        snprintf(s->disks[0].path, VMM_PATH_MAX, "%s", args[3]);
        s->disks[0].format = VMM_DISK_QCOW2;
        snprintf(s->disks[1].path, VMM_PATH_MAX, "%s", args[4]);
        s->disks[1].format = VMM_DISK_RAW;
        snprintf(s->disks[2].path, VMM_PATH_MAX, "%s", args[5]);
        s->disks[2].format = VMM_DISK_RAW;
        s->disks[2].read_only = true;
        s->vsock_cid = 3;
}

static bool file_has(const char *dir, const char *name, const char *needle)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        char line[4096];
        bool found = false;
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, needle) != NULL;
        fclose(f);
        return found;
}

static void print_command_line(const char *dir)
{
        char path[512], line[8192];
        snprintf(path, sizeof(path), "%s/vmm.log", dir);
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "# banger", 8) != 0 && strncmp(line, "# ", 2) == 0)
                        printf("command line:%s", line + 1);
        fclose(f);
}

int main(int argc, char **argv)
{
        if (argc != 7) {
                fprintf(stderr, "usage: %s BZIMAGE INITRD ROOT_QCOW2 WORK_IMG RO_IMG WORKDIR\n",
                        argv[0]);
                return 2;
        }
        workdir = argv[6];
        struct bg_error err = {0};
        char why[256];

        /* 1. The probe. */
        char cache[512];
        snprintf(cache, sizeof(cache), "%s/cache", workdir);
        mkdir(cache, 0700);
        enum vmm_accel accel;
        uint64_t t0 = now_mono_msec();
        int r =
            accel_probe("qemu-system-x86_64", argv[1], argv[2], cache, &accel, why, sizeof(why));
        uint64_t probe_ms = now_mono_msec() - t0;
        CHECK(r == 0, "accel_probe: %d %s", r, why);
        printf("probe: %s in %.2f s (%s)\n", accel == VMM_ACCEL_KVM ? "kvm" : "tcg", secs(probe_ms),
               why);
        CHECK(probe_ms <= ACCEL_PROBE_FINISH_MS + 2000, "probe took %.1f s", secs(probe_ms));
        t0 = now_mono_msec();
        enum vmm_accel again;
        r = accel_probe("qemu-system-x86_64", argv[1], argv[2], cache, &again, why, sizeof(why));
        uint64_t cached_ms = now_mono_msec() - t0;
        /* 0 when the cheap checks decided (no /dev/kvm): nothing to cache. */
        CHECK((r == 1 || (r == 0 && accel == VMM_ACCEL_TCG)) && again == accel,
              "second probe: %d %s", r, why);
        CHECK(cached_ms < 500, "cached probe took %" PRIu64 " ms", cached_ms);
        printf("probe again: %s in %" PRIu64 " ms (%s)\n", again == VMM_ACCEL_KVM ? "kvm" : "tcg",
               cached_ms, why);

        /* 2. Launch and reach the agent. */
        struct vmm_spec s1;
        make_spec(&s1, "vm1", argv);
        s1.accel = accel;
        struct vmm_handle h = {0};
        t0 = now_mono_msec();
        r = drv->launch(&s1, &h, &err);
        uint64_t launch_ms = now_mono_msec() - t0;
        CHECK(r == 0, "launch: %s", err.msg);
        track(&h);
        print_command_line(s1.dir);
        printf("launch: pid %d accel %s in %.2f s, agent at %s\n", (int)h.pid, h.accel,
               secs(launch_ms), h.agent_path);
        CHECK(streq(h.accel, accel == VMM_ACCEL_KVM ? "kvm" : "tcg"), "accel is %s", h.accel);
        CHECK(h.agent_transport == VMM_AGENT_SERIAL_UNIX || h.agent_transport == VMM_AGENT_VSOCK,
              "transport %d", h.agent_transport);
        CHECK(drv->alive(&h) == 1, "not alive after launch");
        CHECK(getsid(h.pid) == h.pid, "QEMU is not in its own session");

        _cleanup_(agent_conn_freep) struct agent_conn *c = NULL;
        _cleanup_(agent_response_freep) Banger__V1__AgentResponse *health = NULL;
        uint64_t deadline = now_mono_msec() + 90000;
        for (;;) {
                bg_error_clear(&err);
                c = agent_conn_free(c);
                /* virtio-serial under TCG; vhost-vsock where the host has it */
                if (h.agent_transport == VMM_AGENT_VSOCK)
                        r = agent_conn_open_vsock(s1.vsock_cid, h.agent_port, 5000, &c, &err);
                else
                        r = agent_conn_open_unix(h.agent_path, 5000, &c, &err);
                if (r >= 0)
                        r = agent_health(c, 2000, &health, &err);
                if (r >= 0)
                        break;
                CHECK(drv->alive(&h), "QEMU died while booting");
                CHECK(now_mono_msec() < deadline, "no Health answer in 90 s: %s", err.msg);
                usleep(200000);
        }
        printf("agent: Health after %.1f s: hostname %s kernel %s\n", secs(now_mono_msec() - t0),
               health->health->hostname, health->health->kernel_release);
        CHECK(streq(health->health->hostname, "e2e-qemu"), "hostname %s", health->health->hostname);
        CHECK(file_has(s1.dir, "console.log", "mounted work disk /dev/vdb"),
              "the work disk is not /dev/vdb");
        CHECK(file_has(s1.dir, "console.log", "[vdc]"), "no third disk /dev/vdc");

        /* 3. Forget the handle, adopt it back. */
        struct vmm_handle saved = h, adopted;
        memset(&h, 0, sizeof(h));
        r = drv->adopt(&s1, &adopted, &err);
        CHECK(r == 0, "adopt: %s", err.msg);
        CHECK(adopted.pid == saved.pid && adopted.start_time == saved.start_time &&
                  streq(adopted.agent_path, saved.agent_path) &&
                  streq(adopted.accel, saved.accel) &&
                  adopted.agent_transport == saved.agent_transport,
              "adopted handle differs");
        CHECK(drv->alive(&adopted) == 1, "adopted VM not alive");
        printf("adopt: pid %d accel %s\n", (int)adopted.pid, adopted.accel);

        /* 4. ACPI power button accepted; agent Shutdown ends QEMU. */
        r = drv->request_stop(&s1, &adopted, &err);
        CHECK(r == 0, "request_stop: %s", err.msg);
        bg_error_clear(&err);
        r = agent_shutdown(c, 10000, &err);
        CHECK(r >= 0, "agent Shutdown: %s", err.msg);
        t0 = now_mono_msec();
        while (drv->alive(&adopted) && now_mono_msec() - t0 < 10000)
                usleep(50000);
        CHECK(!drv->alive(&adopted), "QEMU still running 10 s after Shutdown");
        printf("stop: QEMU exited %.1f s after Shutdown\n", secs(now_mono_msec() - t0));
        int status = -1;
        CHECK(waitpid(adopted.pid, &status, 0) == adopted.pid, "waitpid: %m");
        drv->exit_reason(&s1, status, why, sizeof(why));
        printf("exit reason: %s\n", why);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "QEMU exit status %d", status);
        CHECK(strstr(why, "powered off or rebooted"), "exit reason '%s'", why);
        bg_error_clear(&err);
        CHECK(drv->adopt(&s1, &h, &err) == -ESRCH, "adopt of an exited VM: %s", err.msg);

        /* 5. Second launch, killed. */
        struct vmm_spec s2;
        make_spec(&s2, "vm2", argv);
        s2.accel = accel;
        struct vmm_handle h2;
        bg_error_clear(&err);
        r = drv->launch(&s2, &h2, &err);
        CHECK(r == 0, "second launch: %s", err.msg);
        track(&h2);
        /* A VM that runs cannot be launched twice. */
        struct vmm_handle dup;
        bg_error_clear(&err);
        CHECK(drv->launch(&s2, &dup, &err) == -EBUSY, "double launch: %s", err.msg);
        t0 = now_mono_msec();
        r = drv->kill(&h2, &err);
        CHECK(r == 0, "kill: %s", err.msg);
        CHECK(!drv->alive(&h2), "alive after kill");
        CHECK(kill(h2.pid, 0) < 0 && errno == ESRCH, "pid %d still exists after kill", (int)h2.pid);
        printf("kill: gone in %" PRIu64 " ms\n", now_mono_msec() - t0);

        /* 6. A bad kernel: QEMU's own words, nothing left. */
        struct vmm_spec s3;
        make_spec(&s3, "vm3", argv);
        s3.accel = accel;
        snprintf(s3.kernel_bzimage, sizeof(s3.kernel_bzimage), "%s/no-such-vmlinuz", workdir);
        struct vmm_handle h3;
        bg_error_clear(&err);
        t0 = now_mono_msec();
        r = drv->launch(&s3, &h3, &err);
        printf("bad kernel: %d after %" PRIu64 " ms: %s\n", r, now_mono_msec() - t0, err.msg);
        CHECK(r < 0, "launch with a bad kernel succeeded");
        CHECK(strstr(err.msg, "QEMU exited with status 1") &&
                  strstr(err.msg, "could not open kernel file") &&
                  strstr(err.msg, "no-such-vmlinuz"),
              "error does not quote QEMU: %s", err.msg);
        char pidfile[600];
        snprintf(pidfile, sizeof(pidfile), "%s/vmm.pid", s3.dir);
        CHECK(access(pidfile, F_OK) < 0, "pidfile left behind");
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child process is left");

        printf("PASS\n");
        return 0;
}
