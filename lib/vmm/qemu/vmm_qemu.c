/* The QEMU microvm driver.
 *
 * QEMU runs as a direct child of the caller, in its own session (so it
 * outlives vmsvc and no terminal signal reaches it), with stdin from
 * /dev/null and stdout/stderr in DIR/vmm.log. The caller reaps it: when
 * alive() turns 0, waitpid(pid, &status, WNOHANG) gives the status for
 * exit_reason(); an adopted QEMU is no child of the caller, whose
 * exit_reason() then gets -1 and answers from the logs alone.
 *
 * Stopping: the primary path is the guest agent's Shutdown (vmsvc, through
 * lib/agent), which syncs and reboots; with -no-reboot and reboot=t the
 * reboot makes QEMU exit. request_stop() is the fallback without the agent:
 * an ACPI power-button press (QMP system_powerdown), which powers off guests
 * that handle it (systemd-logind, acpid) and is ignored by the rest; then
 * kill(). */
#include "vmm/qemu/vmm_qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/accel_probe.h"
#include "vmm/qemu/qmp.h"
#include "vmm/vmm_cmdline.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

/* The guest's TSC rate under TCG when the host's cannot be measured (not an
 * x86 host): what banger told every TCG guest before it measured. */
#define QEMU_TCG_TSC_KHZ_FALLBACK 2000000

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, vmm_qemu_argv_free);

/* The TSC frequency of this host (the one a TCG guest sees: QEMU's TCG rdtsc
 * reads the host TSC), measured against CLOCK_MONOTONIC_RAW over 20 ms. */
static uint32_t host_tsc_khz(void)
{
#if defined(__x86_64__)
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC_RAW, &a);
        uint64_t t0 = __rdtsc();
        sleep_msec(20);
        clock_gettime(CLOCK_MONOTONIC_RAW, &b);
        uint64_t t1 = __rdtsc();
        uint64_t ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)b.tv_nsec -
                      (uint64_t)a.tv_nsec;
        if (ns == 0 || t1 <= t0)
                return 0;
        uint64_t khz = (t1 - t0) * 1000000ull / ns;
        return khz > UINT32_MAX ? 0 : (uint32_t)khz;
#else
        return 0;
#endif
}

/* Exec port sockets of an earlier run: a client must not find a stale one. */
static void unlink_exec_sockets(const char *dir)
{
        for (unsigned i = 0; i < VMM_EXEC_PORTS_MAX; i++) {
                char name[32], path[VMM_PATH_MAX + 32];
                snprintf(name, sizeof(name), VMM_FILE_EXEC_FMT, i);
                (void)vmm_path(path, sizeof(path), dir, name);
                (void)unlink(path);
        }
}

static bool vhost_vsock_usable(void)
{
        _cleanup_close_ int fd = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
        return fd >= 0;
}

static bool shell_safe(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "_./:=,@%+-",
                            *s))
                        return false;
        return true;
}

/* Starts vmm.log afresh with the command line, shell-quoted, as a note. */
static int write_log_header(const char *path, char *const argv[], struct bg_error *err)
{
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        if (!f)
                return bg_error_errno(err, -errno, "create %s", path);
        char ts[32];
        format_iso8601_ms(now_real_msec(), ts, sizeof(ts));
        fprintf(f, "# banger: starting QEMU at %s\n#", ts);
        for (char *const *a = argv; *a; a++) {
                if (shell_safe(*a)) {
                        fprintf(f, " %s", *a);
                        continue;
                }
                fputs(" '", f);
                for (const char *c = *a; *c; c++) {
                        if (*c == '\'')
                                fputs("'\\''", f);
                        else
                                fputc(*c, f);
                }
                fputc('\'', f);
        }
        fputc('\n', f);
        if (fflush(f) != 0)
                return bg_error_errno(err, -errno, "write %s", path);
        return 0;
}

/* ---- the driver ---- */

static void qemu_exit_reason(const struct vmm_spec *spec, int wait_status, char *buf, size_t len);

/* Waits for QMP to answer, or QEMU to die, until deadline. */
static int wait_qmp(const struct vmm_spec *spec, pid_t pid, uint64_t start_time,
                    const char *qmp_path, uint64_t deadline, struct qmp **ret, struct bg_error *err)
{
        for (;;) {
                int status;
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        char why[BG_ERROR_MSG_MAX];
                        qemu_exit_reason(spec, status, why, sizeof(why));
                        return bg_error_set(err, EIO, "%s", why);
                }
                if (w < 0 && !vmm_proc_alive(pid, start_time)) {
                        /* Reaped elsewhere (a SIGCHLD handler of the caller). */
                        char why[BG_ERROR_MSG_MAX];
                        qemu_exit_reason(spec, -1, why, sizeof(why));
                        return bg_error_set(err, EIO, "QEMU exited during start-up%s%s",
                                            why[0] ? ": " : "", why);
                }
                uint64_t now = now_mono_msec();
                if (now >= deadline) {
                        char tail[160], log[VMM_PATH_MAX + 16];
                        (void)vmm_path(log, sizeof(log), spec->dir, VMM_FILE_LOG);
                        vmm_log_tail(log, tail, sizeof(tail));
                        return bg_error_set(err, ETIMEDOUT,
                                            "QEMU did not answer on QMP within %d s%s%s",
                                            VMM_QEMU_QMP_WAIT_MS / 1000, tail[0] ? ": " : "", tail);
                }
                struct bg_error qerr = {0};
                uint64_t left = deadline - now;
                int r = qmp_open(qmp_path, left < 2000 ? left : 2000, ret, &qerr);
                if (r >= 0)
                        return 0;
                if (r != -ENOENT && r != -ECONNREFUSED && r != -ECONNRESET && r != -ETIMEDOUT) {
                        *err = qerr;
                        return r;
                }
                sleep_msec(20);
        }
}

/* x-ignore-shared: RAM in a shared memory-backend-file is not part of the
 * migration stream (it stays in the file), so a snapshot's state file holds
 * only the devices and CPUs (~100 KB). */
static int ignore_shared(struct qmp *q, struct bg_error *err)
{
        _cleanup_(json_decrefp) json_t *args = json_pack(
            "{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared", "state", 1);
        if (!args)
                return bg_error_set(err, ENOMEM, "out of memory");
        return qmp_execute(q, "migrate-set-capabilities", args, VMM_QEMU_QMP_CALL_MS, NULL, err);
}

/* Polls query-migrate until the migration completed or failed. */
static int wait_migration(struct qmp *q, uint64_t timeout_ms, struct bg_error *err)
{
        uint64_t deadline = now_mono_msec() + timeout_ms;
        for (unsigned delay = 2;; delay = delay < 50 ? delay * 2 : 50) {
                _cleanup_(json_decrefp) json_t *st = NULL;
                int r = qmp_execute(q, "query-migrate", NULL, VMM_QEMU_QMP_CALL_MS, &st, err);
                if (r < 0)
                        return r;
                const char *status = json_string_value(json_object_get(st, "status"));
                if (status && streq(status, "completed"))
                        return 0;
                if (status && (streq(status, "failed") || streq(status, "cancelled"))) {
                        const char *why = json_string_value(json_object_get(st, "error-desc"));
                        return bg_error_set(err, EIO, "migration %s%s%s", status, why ? ": " : "",
                                            why ? why : "");
                }
                if (now_mono_msec() >= deadline)
                        return bg_error_set(err, ETIMEDOUT,
                                            "migration not done after %" PRIu64 " s (status %s)",
                                            timeout_ms / 1000, status ? status : "none");
                sleep_msec(delay);
        }
}

/* Loads a snapshot's device state into a QEMU started with -incoming defer;
 * the guest is left paused (it was when the snapshot was taken). */
static int migrate_incoming(struct qmp *q, const char *state, struct bg_error *err)
{
        int r = ignore_shared(q, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(state, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return bg_error_errno(err, -errno, "open %s", state);
        r = qmp_pass_fd(q, fd, "banger-state", VMM_QEMU_QMP_CALL_MS, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "uri", "fd:banger-state");
        if (!args)
                return bg_error_set(err, ENOMEM, "out of memory");
        r = qmp_execute(q, "migrate-incoming", args, VMM_QEMU_QMP_CALL_MS, NULL, err);
        if (r < 0)
                return r;
        return wait_migration(q, VMM_QEMU_MIGRATE_WAIT_MS, err);
}

static int qemu_launch(const struct vmm_spec *spec_in, struct vmm_handle *ret, struct bg_error *err)
{
        struct vmm_spec spec = *spec_in;
        int r = vmm_find_binary(spec_in->binary, spec.binary, sizeof(spec.binary));
        if (r < 0)
                return bg_error_errno(err, r, "QEMU binary '%s'", spec_in->binary);

        struct vmm_qemu_opts opts = {.accel = spec.accel};
        if (opts.accel == VMM_ACCEL_AUTO) {
                char why[BG_ERROR_MSG_MAX];
                r = accel_probe(spec.binary, spec.kernel_bzimage, spec.initrd, NULL, &opts.accel,
                                why, sizeof(why));
                if (r < 0)
                        return bg_error_set(err, -r, "choosing KVM or TCG: %s", why);
        }
        /* A guest reads its vsock CID once, at boot: a clone restored from a
         * template would keep the template's. Templates and clones talk to
         * the agent over virtio-serial. */
        opts.vsock = spec.vsock_cid >= 3 && !spec.mem.path[0] && vhost_vsock_usable();
        if (opts.accel == VMM_ACCEL_TCG) {
                opts.tsc_khz = host_tsc_khz();
                if (!opts.tsc_khz)
                        opts.tsc_khz = QEMU_TCG_TSC_KHZ_FALLBACK;
        }

        _cleanup_(vmm_qemu_argv_freep) char **argv = NULL;
        r = vmm_qemu_build_argv(&spec, &opts, &argv, err);
        if (r < 0)
                return r;

        char pidfile[VMM_PATH_MAX + 16], qmp_path[VMM_PATH_MAX + 16], agent[VMM_PATH_MAX + 16],
            log[VMM_PATH_MAX + 16];
        (void)vmm_path(pidfile, sizeof(pidfile), spec.dir, VMM_FILE_PID);
        (void)vmm_path(qmp_path, sizeof(qmp_path), spec.dir, VMM_QEMU_QMP_SOCK);
        (void)vmm_path(agent, sizeof(agent), spec.dir, VMM_FILE_AGENT);
        (void)vmm_path(log, sizeof(log), spec.dir, VMM_FILE_LOG);

        /* A live VMM of this VM must not be started twice. */
        pid_t old;
        if (pidfile_check(pidfile, &old) > 0)
                return bg_error_set(err, EBUSY, "a VMM of this VM is already running (pid %d)",
                                    (int)old);
        (void)unlink(pidfile);
        (void)unlink(qmp_path);
        (void)unlink(agent);
        unlink_exec_sockets(spec.dir);

        r = write_log_header(log, argv, err);
        if (r < 0)
                return r;
        pid_t pid;
        r = vmm_spawn_console(argv, log, spec.console_fd > 0 ? spec.console_fd : -1, &pid);
        if (r < 0)
                return bg_error_errno(err, r, "start %s", spec.binary);

        _cleanup_(qmp_freep) struct qmp *q = NULL;
        uint64_t start = 0;
        r = proc_start_time(pid, &start);
        if (r < 0)
                start = 0; /* gone already: wait_qmp says why */
        r = pidfile_write(pidfile, pid, err);
        if (r >= 0)
                r = wait_qmp(&spec, pid, start, qmp_path, now_mono_msec() + VMM_QEMU_QMP_WAIT_MS,
                             &q, err);
        _cleanup_(json_decrefp) json_t *kvm = NULL;
        if (r >= 0) {
                r = qmp_execute(q, "query-kvm", NULL, 5000, &kvm, err);
                if (r < 0)
                        bg_error_prefix(err, "QEMU started but");
        }
        if (r >= 0 && spec.restore[0]) {
                r = migrate_incoming(q, spec.restore, err);
                if (r < 0)
                        bg_error_prefix(err, "restore %s", spec.restore);
        }
        if (r >= 0 && !vmm_proc_alive(pid, start))
                r = bg_error_set(err, ESRCH, "QEMU exited right after start-up");
        if (r < 0) {
                (void)vmm_proc_kill(pid, 0, VMM_QEMU_KILL_WAIT_MS, true);
                (void)unlink(pidfile);
                (void)unlink(qmp_path);
                (void)unlink(agent);
                unlink_exec_sockets(spec.dir);
                return r;
        }

        struct vmm_handle h = {
            .pid = pid,
            .start_time = start,
            .agent_transport = opts.vsock ? VMM_AGENT_VSOCK : VMM_AGENT_SERIAL_UNIX,
            .agent_port = opts.vsock ? VMM_QEMU_AGENT_VSOCK_PORT : 0,
        };
        if (!opts.vsock)
                snprintf(h.agent_path, sizeof(h.agent_path), "%s", agent);
        snprintf(h.accel, sizeof(h.accel), "%s",
                 json_is_true(json_object_get(kvm, "enabled")) ? "kvm" : "tcg");
        *ret = h;
        return 0;
}

/* A QMP connection of its own to the running QEMU of spec (QEMU serves
 * several monitors' clients one after the other). */
static int qmp_connect(const struct vmm_spec *spec, const struct vmm_handle *h, struct qmp **ret,
                       struct bg_error *err)
{
        if (!vmm_proc_alive(h->pid, h->start_time))
                return bg_error_set(err, ESRCH, "QEMU (pid %d) is not running", (int)h->pid);
        char qmp_path[VMM_PATH_MAX + 16];
        (void)vmm_path(qmp_path, sizeof(qmp_path), spec->dir, VMM_QEMU_QMP_SOCK);
        return qmp_open(qmp_path, VMM_QEMU_QMP_CALL_MS, ret, err);
}

/* One QMP command to the running QEMU of spec, on a connection of its own. */
static int qmp_one(const struct vmm_spec *spec, const struct vmm_handle *h, const char *command,
                   json_t **ret, struct bg_error *err)
{
        _cleanup_(qmp_freep) struct qmp *q = NULL;
        int r = qmp_connect(spec, h, &q, err);
        if (r < 0)
                return r;
        return qmp_execute(q, command, NULL, VMM_QEMU_QMP_CALL_MS, ret, err);
}

static int qemu_request_stop(const struct vmm_spec *spec, const struct vmm_handle *h,
                             struct bg_error *err)
{
        return qmp_one(spec, h, "system_powerdown", NULL, err);
}

/* query-status's "status": running, paused, prelaunch (not started), and
 * the others (guest-panicked, shutdown, ...) as VMM_RUN_OTHER. */
static int status_parse(const char *status, struct vmm_status *ret)
{
        if (!status || !*status)
                return -EINVAL;
        struct vmm_status st = {.state = VMM_RUN_OTHER};
        if (streq(status, "running"))
                st.state = VMM_RUN_RUNNING;
        else if (streq(status, "paused"))
                st.state = VMM_RUN_PAUSED;
        else if (streq(status, "prelaunch"))
                st.state = VMM_RUN_NOT_STARTED;
        snprintf(st.detail, sizeof(st.detail), "%s", status);
        *ret = st;
        return 0;
}

static int qemu_query(const struct vmm_spec *spec, const struct vmm_handle *h,
                      struct vmm_status *ret, struct bg_error *err)
{
        _cleanup_(json_decrefp) json_t *st = NULL;
        int r = qmp_one(spec, h, "query-status", &st, err);
        if (r < 0)
                return r;
        const char *status = json_string_value(json_object_get(st, "status"));
        if (status_parse(status, ret) < 0)
                return bg_error_set(err, EPROTO, "QMP query-status: answer has no \"status\"");
        return 0;
}

static int qemu_pause(const struct vmm_spec *spec, const struct vmm_handle *h, struct bg_error *err)
{
        return qmp_one(spec, h, "stop", NULL, err);
}

static int qemu_resume(const struct vmm_spec *spec, const struct vmm_handle *h,
                       struct bg_error *err)
{
        return qmp_one(spec, h, "cont", NULL, err);
}

static int qemu_snapshot(const struct vmm_spec *spec, const struct vmm_handle *h,
                         const char *state_path, const char *mem_path, struct bg_error *err)
{
        if (!spec->mem.path[0] || !spec->mem.shared || !streq(spec->mem.path, mem_path))
                return bg_error_set(err, EINVAL,
                                    "a QEMU snapshot keeps the guest's memory in its shared "
                                    "memory file: start the VM with mem.path = %s, shared",
                                    mem_path);
        _cleanup_(qmp_freep) struct qmp *q = NULL;
        int r = qmp_connect(spec, h, &q, err);
        if (r < 0)
                return r;
        if ((r = qmp_execute(q, "stop", NULL, VMM_QEMU_QMP_CALL_MS, NULL, err)) < 0 ||
            (r = ignore_shared(q, err)) < 0)
                return r;
        _cleanup_close_ int fd =
            open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s", state_path);
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "uri", "fd:banger-state");
        if (!args)
                r = bg_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = qmp_pass_fd(q, fd, "banger-state", VMM_QEMU_QMP_CALL_MS, err);
        if (r >= 0)
                r = qmp_execute(q, "migrate", args, VMM_QEMU_QMP_CALL_MS, NULL, err);
        if (r >= 0)
                r = wait_migration(q, VMM_QEMU_MIGRATE_WAIT_MS, err);
        /* The RAM file holds the rest: both must be on disk before the
         * snapshot counts. */
        if (r >= 0 && fsync(fd) < 0)
                r = bg_error_errno(err, -errno, "sync %s", state_path);
        if (r >= 0) {
                _cleanup_close_ int mfd = open(mem_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (mfd < 0 || fsync(mfd) < 0)
                        r = bg_error_errno(err, -errno, "sync %s", mem_path);
        }
        if (r < 0)
                (void)unlink(state_path);
        return r;
}

static int qemu_alive(const struct vmm_handle *h)
{
        return vmm_proc_alive(h->pid, h->start_time);
}

static int qemu_kill(const struct vmm_handle *h, struct bg_error *err)
{
        if (h->pid <= 0)
                return bg_error_set(err, EINVAL, "no VMM process to kill");
        /* QEMU is reaped here when it is our child: nothing needs its status
         * after a kill. */
        int r = vmm_proc_kill(h->pid, h->start_time, VMM_QEMU_KILL_WAIT_MS, true);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT, "QEMU (pid %d) still exists %d s after SIGKILL",
                                    (int)h->pid, VMM_QEMU_KILL_WAIT_MS / 1000);
        if (r < 0)
                return bg_error_errno(err, r, "kill QEMU (pid %d)", (int)h->pid);
        return 0;
}

static int qemu_adopt(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        char pidfile[VMM_PATH_MAX + 16];
        (void)vmm_path(pidfile, sizeof(pidfile), spec->dir, VMM_FILE_PID);
        pid_t pid;
        uint64_t start;
        int r = vmm_proc_adopt(pidfile, "QEMU", "qemu-system", false, &pid, &start, err);
        if (r < 0)
                return r;

        _cleanup_free_ char *cmd = NULL;
        size_t len = 0;
        r = vmm_proc_cmdline(pid, &cmd, &len);
        if (r < 0)
                return bg_error_errno(err, r, "read /proc/%d/cmdline", (int)pid);
        bool vsock = false, kvm = false;
        for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
                const char *a = cmd + off;
                if (strncmp(a, "vhost-vsock-device", 18) == 0)
                        vsock = true;
                if (streq(a, "-accel") && off + strlen(a) + 1 < len &&
                    strncmp(a + strlen(a) + 1, "kvm", 3) == 0)
                        kvm = true;
        }
        struct vmm_handle h = {
            .pid = pid,
            .start_time = start,
            .agent_transport = vsock ? VMM_AGENT_VSOCK : VMM_AGENT_SERIAL_UNIX,
            .agent_port = vsock ? VMM_QEMU_AGENT_VSOCK_PORT : 0,
        };
        if (!vsock)
                (void)vmm_path(h.agent_path, sizeof(h.agent_path), spec->dir, VMM_FILE_AGENT);
        snprintf(h.accel, sizeof(h.accel), "%s", kvm ? "kvm" : "tcg");
        *ret = h;
        return 0;
}

static void qemu_exit_reason(const struct vmm_spec *spec, int wait_status, char *buf, size_t len)
{
        char log[VMM_PATH_MAX + 16], tail[200], panic[200];
        (void)vmm_path(log, sizeof(log), spec->dir, VMM_FILE_LOG);
        vmm_log_tail(log, tail, sizeof(tail));
        vmm_console_panic(spec->dir, panic, sizeof(panic));
        const char *sep = tail[0] ? ": " : "";

        /* The one host-setup failure users meet: say where the fix is. */
        const char *hint = strstr(tail, "/dev/net/tun") ? " (see `banger doctor`, row tun)" : "";
        if (wait_status >= 0 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) != 0)
                snprintf(buf, len, "QEMU exited with status %d%s%s%s", WEXITSTATUS(wait_status),
                         sep, tail, hint);
        else if (wait_status >= 0 && WIFSIGNALED(wait_status))
                vmm_signal_reason("QEMU", WTERMSIG(wait_status), buf, len);
        else if (panic[0])
                snprintf(buf, len, "guest kernel panic: %s", panic);
        else if (wait_status >= 0 && WIFEXITED(wait_status))
                snprintf(buf, len, "QEMU exited: the guest powered off or rebooted%s%s", sep, tail);
        else
                snprintf(buf, len, "%s", tail);
}

const struct vmm_driver vmm_qemu_driver = {
    .name = "qemu",
    .caps = VMM_CAP_PAUSE | VMM_CAP_SNAPSHOT,
    .agent_transports =
        VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_SERIAL_UNIX) | VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_VSOCK),
    .launch = qemu_launch,
    .request_stop = qemu_request_stop,
    .kill = qemu_kill,
    .alive = qemu_alive,
    .adopt = qemu_adopt,
    .exit_reason = qemu_exit_reason,
    .query = qemu_query,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .snapshot = qemu_snapshot,
};
