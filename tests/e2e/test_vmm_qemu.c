/* Drives vmm_qemu_driver against a real kernel (see test_vmm_qemu.sh):
 *  1. the accel probe answers within its bound (TCG on hosts whose KVM cannot
 *     run a stock kernel), and from its cache the second time;
 *  2. launch boots the guest; the agent answers Health over agent.sock;
 *  3. after forgetting the handle, adopt finds the same process;
 *  4. request_stop is accepted by QEMU; the agent's Shutdown makes QEMU exit
 *     by itself within 10 s, and exit_reason says so;
 *  5. a second launch is ended by kill, leaving no process;
 *  6. a launch with a bad kernel path fails quoting QEMU and leaves nothing;
 *  7. snapshot and restore: a guest booted with its RAM in a shared file is
 *     snapshotted (device state ~100 KB, RAM stays in the file) and killed; a
 *     new QEMU maps that file privately, loads the state and, resumed,
 *     answers Health as the same guest within seconds; a restore from a
 *     missing state file fails and leaves nothing running.
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

#include "vmm/accel_probe.h"
#include "agent_client.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"
#include "vmm/qemu/vmm_qemu.h"

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

static struct vmm_handle live[6];
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
        if (n_live < 6)
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
        snprintf(s->name, sizeof(s->name), "e2e-qemu"); /* the guest's hostname */
        snprintf(s->dir, sizeof(s->dir), "%s/%s", workdir, name);
        mkdir(s->dir, 0700);
        snprintf(s->binary, sizeof(s->binary), "qemu-system-x86_64");
        s->vcpu = 2;
        s->memory_mib = 512;
        snprintf(s->kernel_bzimage, sizeof(s->kernel_bzimage), "%s", args[1]);
        snprintf(s->initrd, sizeof(s->initrd), "%s", args[2]);
        snprintf(s->boot.init, sizeof(s->boot.init), "/sbin/e2e-init");
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
                sleep_msec(200);
        }
        printf("agent: Health after %.1f s: hostname %s kernel %s\n", secs(now_mono_msec() - t0),
               health->health->hostname, health->health->kernel_release);
        CHECK(streq(health->health->hostname, "e2e-qemu"), "hostname %s", health->health->hostname);
        CHECK(file_has(s1.dir, "console.log", "mounted work disk /dev/vdb"),
              "the work disk is not /dev/vdb");
        CHECK(file_has(s1.dir, "console.log", "[vdc]"), "no third disk /dev/vdc");

        /* 2b. Pause and resume through QMP; the guest answers again after. */
        struct vmm_status vs;
        CHECK(drv->caps & VMM_CAP_PAUSE, "QEMU driver without VMM_CAP_PAUSE");
        r = drv->query(&s1, &h, &vs, &err);
        CHECK(r == 0 && vs.state == VMM_RUN_RUNNING, "query: %d %s (%s)", r, vs.detail, err.msg);
        r = drv->pause(&s1, &h, &err);
        CHECK(r == 0, "pause: %s", err.msg);
        r = drv->query(&s1, &h, &vs, &err);
        CHECK(r == 0 && vs.state == VMM_RUN_PAUSED, "query after pause: %d %s (%s)", r, vs.detail,
              err.msg);
        r = drv->resume(&s1, &h, &err);
        CHECK(r == 0, "resume: %s", err.msg);
        r = drv->query(&s1, &h, &vs, &err);
        CHECK(r == 0 && vs.state == VMM_RUN_RUNNING, "query after resume: %d %s (%s)", r, vs.detail,
              err.msg);
        agent_response_free(TAKE_PTR(health));
        r = agent_health(c, 10000, &health, &err);
        CHECK(r >= 0, "agent Health after resume: %s", err.msg);
        printf("pause/resume: %s, agent answers\n", vs.detail);

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
                sleep_msec(50);
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

        /* 7. Snapshot, then restore into a new process. */
        CHECK(drv->caps & VMM_CAP_SNAPSHOT, "QEMU driver without VMM_CAP_SNAPSHOT");
        struct vmm_spec t;
        make_spec(&t, "tpl", argv);
        t.accel = accel;
        snprintf(t.mem.path, sizeof(t.mem.path), "%s/tpl/mem", workdir);
        t.mem.shared = true;
        struct vmm_handle ht;
        bg_error_clear(&err);
        r = drv->launch(&t, &ht, &err);
        CHECK(r == 0, "template launch: %s", err.msg);
        track(&ht);
        c = agent_conn_free(c);
        agent_response_free(TAKE_PTR(health));
        deadline = now_mono_msec() + 90000;
        for (;;) {
                bg_error_clear(&err);
                c = agent_conn_free(c);
                r = agent_conn_open_unix(ht.agent_path, 5000, &c, &err);
                if (r >= 0)
                        r = agent_health(c, 2000, &health, &err);
                if (r >= 0)
                        break;
                CHECK(drv->alive(&ht), "template QEMU died while booting");
                CHECK(now_mono_msec() < deadline, "template: no Health in 90 s: %s", err.msg);
                sleep_msec(200);
        }
        uint64_t boot_id_len = strlen(health->health->boot_id);
        char boot_id[64];
        snprintf(boot_id, sizeof(boot_id), "%s", health->health->boot_id);
        c = agent_conn_free(c);
        char state[600], mem_other[600];
        snprintf(state, sizeof(state), "%s/tpl/state", workdir);
        snprintf(mem_other, sizeof(mem_other), "%s/tpl/other", workdir);
        bg_error_clear(&err);
        CHECK(drv->snapshot(&t, &ht, state, mem_other, &err) == -EINVAL,
              "snapshot to another memory file: %s", err.msg);
        t0 = now_mono_msec();
        r = drv->snapshot(&t, &ht, state, t.mem.path, &err);
        CHECK(r == 0, "snapshot: %s", err.msg);
        struct stat sst;
        CHECK(stat(state, &sst) == 0 && sst.st_size > 0 && sst.st_size < 8 * 1024 * 1024 &&
                  (sst.st_mode & 0777) == 0600,
              "state file: %lld bytes", (long long)sst.st_size);
        printf("snapshot: %lld bytes of device state in %" PRIu64 " ms\n", (long long)sst.st_size,
               now_mono_msec() - t0);
        bg_error_clear(&err);
        CHECK(drv->snapshot(&t, &ht, state, t.mem.path, &err) < 0,
              "snapshot over an existing state");
        r = drv->kill(&ht, &err);
        CHECK(r == 0, "kill template: %s", err.msg);

        struct vmm_spec cl;
        make_spec(&cl, "clone", argv);
        cl.accel = accel;
        snprintf(cl.mem.path, sizeof(cl.mem.path), "%s", t.mem.path);
        cl.mem.shared = false;
        snprintf(cl.restore, sizeof(cl.restore), "%s", state);
        struct vmm_handle hc;
        t0 = now_mono_msec();
        bg_error_clear(&err);
        r = drv->launch(&cl, &hc, &err);
        CHECK(r == 0, "restore: %s", err.msg);
        track(&hc);
        uint64_t restore_ms = now_mono_msec() - t0;
        r = drv->query(&cl, &hc, &vs, &err);
        CHECK(r == 0 && vs.state == VMM_RUN_PAUSED, "restored guest is %s (%s)", vs.detail,
              err.msg);
        r = drv->resume(&cl, &hc, &err);
        CHECK(r == 0, "resume restored: %s", err.msg);
        agent_response_free(TAKE_PTR(health));
        r = agent_conn_open_unix(hc.agent_path, 5000, &c, &err);
        if (r >= 0)
                r = agent_health(c, 10000, &health, &err);
        CHECK(r >= 0, "restored agent Health: %s", err.msg);
        uint64_t ready_ms = now_mono_msec() - t0;
        CHECK(strlen(health->health->boot_id) == boot_id_len &&
                  streq(health->health->boot_id, boot_id),
              "restored guest has boot id %s, the template had %s", health->health->boot_id,
              boot_id);
        printf("restore: state loaded in %" PRIu64 " ms, agent answers %" PRIu64
               " ms after launch (same boot id)\n",
               restore_ms, ready_ms);
        c = agent_conn_free(c);
        r = drv->kill(&hc, &err);
        CHECK(r == 0, "kill clone: %s", err.msg);

        struct vmm_spec bad;
        make_spec(&bad, "badrestore", argv);
        bad.accel = accel;
        snprintf(bad.mem.path, sizeof(bad.mem.path), "%s", t.mem.path);
        snprintf(bad.restore, sizeof(bad.restore), "%s/tpl/no-such-state", workdir);
        struct vmm_handle hb;
        bg_error_clear(&err);
        r = drv->launch(&bad, &hb, &err);
        CHECK(r < 0 && strstr(err.msg, "no-such-state"), "restore from a missing state: %d %s", r,
              err.msg);
        snprintf(pidfile, sizeof(pidfile), "%s/vmm.pid", bad.dir);
        CHECK(access(pidfile, F_OK) < 0, "pidfile left behind by a failed restore");
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
              "a child process is left by a failed restore");
        printf("restore from a missing state: %s\n", err.msg);

        printf("PASS\n");
        return 0;
}
