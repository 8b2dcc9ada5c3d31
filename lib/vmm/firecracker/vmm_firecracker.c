/* The Firecracker VMM driver: spawns `firecracker --api-sock DIR/api.sock
 * --id ID` in its own session, then configures the microVM over the API
 * socket (fc_api.c) and starts it, or loads a template's snapshot into it.
 * Exit is watched through the process (pidfd), never by polling the API.
 *
 * Templates (VMM_CAP_SNAPSHOT, Firecracker >= FC_SNAPSHOT_MIN):
 *  - a template boots like any VM: Firecracker has no file-backed RAM at
 *    boot, so spec->mem.path is not where the RAM lives but where
 *    snapshot() will write it (nothing is created at launch);
 *  - snapshot() pauses the guest and has Firecracker write its device
 *    state and its whole RAM (PUT /snapshot/create, Full);
 *  - a clone is launched with spec->restore: fc_restore() loads the state
 *    with the template's RAM file mapped private (copy-on-write) and gives
 *    it its own tap, agent socket and disks; it returns paused.
 * Not under the jailer: a clone's chroot would need the template's state
 * and RAM, and a hard link there would let any jailed clone write the RAM
 * file every later clone maps (docs/firecracker.md, "Templates"). A
 * template's launch, a restore and a snapshot are refused there before
 * anything starts.
 *
 * The launched process is a child of the caller (vmsvc), so the caller gets
 * its wait status (reap it with waitpid/waitid and hand the status to
 * exit_reason); after a vmsvc restart it is adopted from DIR/vmm.pid, or from
 * the jailer's firecracker.pid reachable as DIR/firecracker.pid. */
#include "vmm/firecracker/vmm_firecracker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/firecracker/fc_api.h"
#include "vmm/firecracker/fc_config.h"
#include "vmm/firecracker/fc_jailer.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

/* Files of the VM dir beyond vmm.h's: the API socket, Firecracker's own log
 * (PUT /logger) and the jailer's pidfile (a bare pid). */
#define FC_API_SOCK "api.sock"
#define FC_LOG "fc.log"
#define FC_JAIL_PIDFILE "firecracker.pid"

/* ---- exit codes --------------------------------------------------------- */

static const struct {
        int code;
        const char *name;
        const char *text;
} exit_codes[] = {
    {0, "Ok", "clean exit: the guest powered off or rebooted"},
    {1, "GenericError", "generic error"},
    {2, "UnexpectedError", "unexpected internal error"},
    {148, "BadSyscall", "stopped by seccomp after a restricted system call"},
    {149, "SIGBUS", "stopped after a SIGBUS (bus error, e.g. a truncated memory file)"},
    {150, "SIGSEGV", "stopped after a SIGSEGV (segmentation fault)"},
    {151, "SIGXFSZ", "stopped after a SIGXFSZ (file size limit exceeded)"},
    {152, "BadConfiguration", "bad microVM configuration"},
    {153, "ArgParsing", "command line arguments rejected"},
    {154, "SIGXCPU", "stopped after a SIGXCPU (CPU time limit exceeded)"},
    {155, "SIGPIPE", "stopped after a SIGPIPE (broken pipe)"},
    {156, "SIGHUP", "stopped after a SIGHUP"},
    {157, "SIGILL", "stopped after a SIGILL (illegal instruction)"},
};

const char *fc_exit_code_to_string(int code)
{
        for (size_t i = 0; i < ELEMENTSOF(exit_codes); i++)
                if (exit_codes[i].code == code)
                        return exit_codes[i].name;
        return NULL;
}

int fc_exit_code_from_string(const char *name)
{
        for (size_t i = 0; name && i < ELEMENTSOF(exit_codes); i++)
                if (streq(exit_codes[i].name, name))
                        return exit_codes[i].code;
        return -EINVAL;
}

const char *fc_exit_code_describe(int code)
{
        for (size_t i = 0; i < ELEMENTSOF(exit_codes); i++)
                if (exit_codes[i].code == code)
                        return exit_codes[i].text;
        return NULL;
}

/* How long PUT /snapshot/create may take: Firecracker writes the whole RAM
 * (and syncs it) before it answers. */
#define FC_SNAPSHOT_TIMEOUT_MS(mib) (30000 + (uint64_t)(mib)*20)

/* ---- process handling --------------------------------------------------- */

static int fc_alive(const struct vmm_handle *h)
{
        return vmm_proc_alive(h->pid, h->start_time);
}

/* The caller reaps: the wait status says SIGKILL (exit_reason). */
static int fc_kill(const struct vmm_handle *h, struct bg_error *err)
{
        if (h->pid <= 0)
                return bg_error_set(err, EINVAL, "no Firecracker process to kill");
        int r = vmm_proc_kill(h->pid, h->start_time, FC_KILL_TIMEOUT_MS, false);
        if (r == -ETIMEDOUT)
                return bg_error_set(err, ETIMEDOUT,
                                    "Firecracker pid %d still running %d ms after SIGKILL",
                                    (int)h->pid, FC_KILL_TIMEOUT_MS);
        if (r < 0)
                return bg_error_errno(err, r, "kill Firecracker pid %d", (int)h->pid);
        return 0;
}

/* Kills and reaps a child that failed during launch, and removes what it
 * left in the VM dir. */
static void abandon_child(const struct vmm_spec *spec, pid_t pid, bool reaped)
{
        if (!reaped)
                (void)vmm_proc_kill(pid, 0, FC_KILL_TIMEOUT_MS, true);
        char p[VMM_PATH_MAX + 16];
        static const char *const names[] = {VMM_FILE_PID, FC_API_SOCK, VMM_FILE_AGENT};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (vmm_path(p, sizeof(p), spec->dir, names[i]) == 0)
                        unlink(p);
}

/* Last line of a log file that looks like an error (Firecracker's
 * ":ERROR:" level or "Error:" on stderr), else its last line. */
static bool log_last_error(const char *path, char *buf, size_t len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        char tail[8192];
        off_t size = lseek(fd, 0, SEEK_END);
        off_t start = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;
        ssize_t n = pread(fd, tail, sizeof(tail) - 1, start);
        if (n <= 0)
                return false;
        tail[n] = '\0';
        const char *last = NULL, *last_err = NULL;
        size_t last_len = 0, err_len = 0;
        for (char *line = tail; *line;) {
                size_t l = strcspn(line, "\n");
                if (l > 0 && !(start > 0 && line == tail)) {
                        last = line;
                        last_len = l;
                        char save = line[l];
                        line[l] = '\0';
                        if (strstr(line, "ERROR") || strstr(line, "Error") ||
                            strstr(line, "error")) {
                                last_err = line;
                                err_len = l;
                        }
                        line[l] = save;
                }
                line += l;
                if (*line)
                        line++;
        }
        if (last_err) {
                last = last_err;
                last_len = err_len;
        }
        if (!last)
                return false;
        /* Firecracker's log lines read "TIMESTAMP [id:thread:LEVEL:file] text":
         * keep the text. */
        const char *b = memchr(last, '[', last_len);
        const char *e = b ? memmem(b, last_len - (size_t)(b - last), "] ", 2) : NULL;
        if (b && e && b - last < 40) {
                last_len -= (size_t)(e + 2 - last);
                last = e + 2;
        }
        snprintf(buf, len, "%.*s", (int)last_len, last);
        return true;
}

static void fc_exit_reason(const struct vmm_spec *spec, int wait_status, char *buf, size_t len)
{
        if (len == 0)
                return;
        buf[0] = '\0';
        size_t off = 0;
        bool clean = false;
        if (wait_status >= 0 && WIFEXITED(wait_status)) {
                int code = WEXITSTATUS(wait_status);
                const char *name = fc_exit_code_to_string(code);
                const char *text = fc_exit_code_describe(code);
                clean = code == 0;
                if (name)
                        off = (size_t)snprintf(buf, len, "Firecracker exited with code %d (%s: %s)",
                                               code, name, text);
                else
                        off = (size_t)snprintf(buf, len, "Firecracker exited with code %d", code);
        } else if (wait_status >= 0 && WIFSIGNALED(wait_status)) {
                vmm_signal_reason("Firecracker", WTERMSIG(wait_status), buf, len);
                off = strlen(buf);
        }
        if (off >= len || clean)
                return;
        /* Why, in Firecracker's own words: its log, then its stderr. */
        char p[VMM_PATH_MAX + 16], line[256];
        bool got = false;
        if (vmm_path(p, sizeof(p), spec->dir, FC_LOG) == 0)
                got = log_last_error(p, line, sizeof(line));
        if (!got && vmm_path(p, sizeof(p), spec->dir, VMM_FILE_LOG) == 0)
                got = log_last_error(p, line, sizeof(line));
        if (got)
                snprintf(buf + off, len - off, "%s%s", off ? ": " : "", line);
}

/* Firecracker through the jailer: netsvc stages the chroot (with DIR/api.sock,
 * agent.sock, fc.log and firecracker.pid symlinked into it) and starts it;
 * Firecracker is then configured with the paths it sees inside. Its pid is
 * not our child: liveness comes from /proc, not waitpid. */
static int launch_jailed(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        char api_sock[VMM_PATH_MAX + 16], agent_sock[VMM_PATH_MAX + 16], pidfile[VMM_PATH_MAX + 16];
        if (vmm_path(api_sock, sizeof(api_sock), spec->dir, FC_API_SOCK) < 0 ||
            vmm_path(agent_sock, sizeof(agent_sock), spec->dir, VMM_FILE_AGENT) < 0 ||
            vmm_path(pidfile, sizeof(pidfile), spec->dir, VMM_FILE_PID) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        pid_t pid = 0;
        int r = spec->jail_start(spec->jail_ud, spec, &pid, err);
        if (r < 0)
                return bg_error_prefix(err, "start the jailer");
        struct vmm_handle h = {
            .pid = pid,
            .agent_transport = VMM_AGENT_HYBRID_VSOCK,
            .agent_port = FC_AGENT_VSOCK_PORT,
        };
        r = proc_start_time(pid, &h.start_time);
        if (r >= 0)
                r = pidfile_write(pidfile, pid, err);
        uint64_t deadline = now_mono_msec() + FC_SOCKET_TIMEOUT_MS;
        while (r >= 0) {
                struct bg_error e = {0};
                if (fc_api_wait_socket(api_sock, 0, 100, NULL, &e) == 0)
                        break;
                if (!fc_alive(&h)) {
                        char why[200];
                        fc_exit_reason(spec, -1, why, sizeof(why));
                        r = bg_error_set(err, ECHILD, "Firecracker in the jail did not start%s%s",
                                         why[0] ? ": " : "", why);
                } else if (now_mono_msec() >= deadline) {
                        r = bg_error_set(err, ETIMEDOUT, "%s", e.msg);
                }
        }
        if (r >= 0) {
                struct vmm_spec jailed;
                fc_jailed_spec(spec, &jailed);
                r = fc_configure_and_start(api_sock, &jailed, err);
        }
        if (r < 0) {
                if (h.start_time)
                        (void)vmm_proc_kill(pid, h.start_time, FC_KILL_TIMEOUT_MS, false);
                unlink(pidfile);
                if (spec->jail_clean)
                        spec->jail_clean(spec->jail_ud, spec);
                return r;
        }
        snprintf(h.agent_path, sizeof(h.agent_path), "%s", agent_sock);
        snprintf(h.accel, sizeof(h.accel), "kvm");
        *ret = h;
        return 0;
}

/* Templates and the jailer do not mix (the file comment says why). */
static int refuse_jailed_template(const char *what, struct bg_error *err)
{
        return bg_error_set(err, ENOTSUP,
                            "%s: templates are not available with firecracker.jailer = true (a "
                            "clone's jail cannot safely hold the template's memory); set "
                            "firecracker.jailer = false, or boot cold (vm.template = \"off\")",
                            what);
}

static int fc_launch(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        int r = fc_check_spec(spec, err);
        if (r < 0)
                return r;
        if (spec->jail_start && (spec->restore[0] || spec->mem.path[0]))
                return refuse_jailed_template(
                    spec->restore[0] ? "restore a template's clone" : "make a template", err);
        /* Refused boot arguments start nothing (a restored guest booted
         * long ago: it has none). */
        char args[VMM_CMDLINE_MAX];
        r = spec->restore[0] ? 0 : fc_boot_args(spec, args, sizeof(args), err);
        if (r < 0)
                return r;
        if (spec->jail_start)
                return launch_jailed(spec, ret, err);
        char exe[PATH_MAX];
        const char *bin = spec->binary[0] ? spec->binary : "firecracker";
        r = vmm_find_binary(bin, exe, sizeof(exe));
        if (r < 0)
                return bg_error_errno(err, r, "Firecracker binary '%s'%s", bin,
                                      strchr(bin, '/') ? "" : " not found in PATH");

        char api_sock[VMM_PATH_MAX + 16], agent_sock[VMM_PATH_MAX + 16], pidfile[VMM_PATH_MAX + 16],
            logpath[VMM_PATH_MAX + 16];
        if (vmm_path(api_sock, sizeof(api_sock), spec->dir, FC_API_SOCK) < 0 ||
            vmm_path(agent_sock, sizeof(agent_sock), spec->dir, VMM_FILE_AGENT) < 0 ||
            vmm_path(pidfile, sizeof(pidfile), spec->dir, VMM_FILE_PID) < 0 ||
            vmm_path(logpath, sizeof(logpath), spec->dir, VMM_FILE_LOG) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        /* Firecracker refuses to bind over leftovers of an earlier run. */
        if (unlink(api_sock) < 0 && errno != ENOENT)
                return bg_error_errno(err, -errno, "remove stale %s", api_sock);
        if (unlink(agent_sock) < 0 && errno != ENOENT)
                return bg_error_errno(err, -errno, "remove stale %s", agent_sock);

        char id[sizeof(spec->id)];
        snprintf(id, sizeof(id), "%s", spec->id);
        char *const argv[] = {exe, (char *)"--api-sock", api_sock, (char *)"--id", id, NULL};
        pid_t pid;
        /* Firecracker's stdout is the guest's serial console. */
        r = vmm_spawn_console(argv, logpath, spec->console_fd > 0 ? spec->console_fd : -1, &pid);
        if (r < 0)
                return bg_error_errno(err, r, "execute %s", exe);

        int status = -1;
        r = pidfile_write(pidfile, pid, err);
        if (r < 0 && waitpid(pid, &status, WNOHANG) == pid)
                r = -ECHILD; /* exited at once: say why below */
        else if (r < 0) {
                abandon_child(spec, pid, false);
                return r;
        }
        if (r == 0)
                r = fc_api_wait_socket(api_sock, pid, FC_SOCKET_TIMEOUT_MS, &status, err);
        if (r < 0) {
                if (r == -ECHILD) {
                        char why[200];
                        fc_exit_reason(spec, status, why, sizeof(why));
                        bg_error_set(err, ECHILD, "Firecracker did not start: %s", why);
                }
                abandon_child(spec, pid, r == -ECHILD);
                return r;
        }
        r = spec->restore[0] ? fc_restore(api_sock, spec, err)
                             : fc_configure_and_start(api_sock, spec, err);
        if (r < 0) {
                abandon_child(spec, pid, false);
                return r;
        }

        struct vmm_handle h = {
            .pid = pid,
            .agent_transport = VMM_AGENT_HYBRID_VSOCK,
            .agent_port = FC_AGENT_VSOCK_PORT,
        };
        r = proc_start_time(pid, &h.start_time);
        if (r < 0) {
                int st = -1;
                bool reaped = waitpid(pid, &st, WNOHANG) == pid;
                if (reaped) {
                        char why[200];
                        fc_exit_reason(spec, st, why, sizeof(why));
                        bg_error_set(err, ECHILD, "Firecracker stopped right after start: %s", why);
                } else {
                        bg_error_errno(err, r, "read start time of Firecracker pid %d", (int)pid);
                }
                abandon_child(spec, pid, reaped);
                return -err->code;
        }
        snprintf(h.agent_path, sizeof(h.agent_path), "%s", agent_sock);
        snprintf(h.accel, sizeof(h.accel), "kvm");
        *ret = h;
        return 0;
}

/* A client of the running Firecracker's API socket. */
static int api_open(const struct vmm_spec *spec, const struct vmm_handle *h, struct fc_api **ret,
                    struct bg_error *err)
{
        if (!fc_alive(h))
                return bg_error_set(err, ESRCH, "Firecracker (pid %d) is not running", (int)h->pid);
        char api_sock[VMM_PATH_MAX + 16];
        if (vmm_path(api_sock, sizeof(api_sock), spec->dir, FC_API_SOCK) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        return fc_api_new(api_sock, FC_API_TIMEOUT_MS, ret, err);
}

static int fc_request_stop(const struct vmm_spec *spec, const struct vmm_handle *h,
                           struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = api_open(spec, h, &api, err);
        if (r < 0)
                return r;
        return fc_api_put_new(api, "/actions", json_pack("{s:s}", "action_type", "SendCtrlAltDel"),
                              err);
}

/* GET / answers InstanceInfo; its "state" is "Not started", "Running" or
 * "Paused". */
static int fc_query(const struct vmm_spec *spec, const struct vmm_handle *h, struct vmm_status *ret,
                    struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = api_open(spec, h, &api, err);
        if (r < 0)
                return r;
        _cleanup_(json_decrefp) json_t *info = NULL;
        r = fc_api_get(api, "/", &info, err);
        if (r < 0)
                return r;
        const char *state = json_string_value(json_object_get(info, "state"));
        if (!state || !*state)
                return bg_error_set(err, EPROTO, "Firecracker GET /: answer has no \"state\"");
        struct vmm_status st = {.state = VMM_RUN_OTHER};
        if (streq(state, "Running"))
                st.state = VMM_RUN_RUNNING;
        else if (streq(state, "Paused"))
                st.state = VMM_RUN_PAUSED;
        else if (streq(state, "Not started"))
                st.state = VMM_RUN_NOT_STARTED;
        snprintf(st.detail, sizeof(st.detail), "%s", state);
        *ret = st;
        return 0;
}

/* PATCH /vm {"state": "Paused" | "Resumed"}. */
static int vm_state(const struct vmm_spec *spec, const struct vmm_handle *h, const char *state,
                    struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = api_open(spec, h, &api, err);
        if (r < 0)
                return r;
        return fc_api_patch_new(api, "/vm", json_pack("{s:s}", "state", state), err);
}

static int fc_pause(const struct vmm_spec *spec, const struct vmm_handle *h, struct bg_error *err)
{
        return vm_state(spec, h, "Paused", err);
}

static int fc_resume(const struct vmm_spec *spec, const struct vmm_handle *h, struct bg_error *err)
{
        return vm_state(spec, h, "Resumed", err);
}

/* Creates path for Firecracker to fill: it must not exist (Firecracker
 * would write into an existing file in place, and a RAM file that clones
 * map privately must never change under them). */
static int create_new(const char *path, struct bg_error *err)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return bg_error_errno(err, -errno, "create %s", path);
        close(fd);
        return 0;
}

/* GET / (the version), both files created, PATCH /vm Paused, then PUT
 * /snapshot/create {Full, state_path, mem_path}: Firecracker writes the
 * device state and the whole RAM and syncs both before it answers. The
 * guest stays paused; on failure the files are removed. */
static int fc_snapshot(const struct vmm_spec *spec, const struct vmm_handle *h,
                       const char *state_path, const char *mem_path, struct bg_error *err)
{
        if (spec->jail_start)
                return refuse_jailed_template("snapshot", err);
        if (!state_path || state_path[0] != '/' || !mem_path || mem_path[0] != '/')
                return bg_error_set(err, EINVAL,
                                    "snapshot files must be absolute paths ('%s', '%s')",
                                    state_path ? state_path : "", mem_path ? mem_path : "");
        if (streq(state_path, mem_path))
                return bg_error_set(err, EINVAL, "snapshot state and memory are both '%s'",
                                    state_path);
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = api_open(spec, h, &api, err);
        if (r < 0)
                return r;
        r = fc_check_snapshot_support(api, "make a template", err);
        if (r < 0)
                return r;
        r = create_new(state_path, err);
        if (r < 0)
                return r;
        r = create_new(mem_path, err);
        if (r < 0) {
                (void)unlink(state_path);
                return r;
        }
        r = fc_api_patch_new(api, "/vm", json_pack("{s:s}", "state", "Paused"), err);
        /* A client of its own: this call takes as long as writing the RAM. */
        _cleanup_(fc_api_freep) struct fc_api *slow = NULL;
        char api_sock[VMM_PATH_MAX + 16];
        (void)vmm_path(api_sock, sizeof(api_sock), spec->dir, FC_API_SOCK);
        if (r >= 0)
                r = fc_api_new(api_sock, FC_SNAPSHOT_TIMEOUT_MS(spec->memory_mib), &slow, err);
        if (r >= 0)
                r = fc_api_put_new(slow, "/snapshot/create",
                                   json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full",
                                             "snapshot_path", state_path, "mem_file_path",
                                             mem_path),
                                   err);
        if (r < 0) {
                (void)unlink(state_path);
                (void)unlink(mem_path);
        }
        return r;
}

/* /proc/PID/cmdline carries "--id ID" or "--id=ID" (the jailer's form). */
static bool cmdline_has_id(pid_t pid, const char *id)
{
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        if (vmm_proc_cmdline(pid, &buf, &n) < 0)
                return false;
        char want[64];
        snprintf(want, sizeof(want), "--id=%s", id);
        bool prev_id = false;
        for (char *a = buf; a < buf + n; a += strlen(a) + 1) {
                if (streq(a, want) || (prev_id && streq(a, id)))
                        return true;
                prev_id = streq(a, "--id");
        }
        return false;
}

static int fc_adopt(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        char p[VMM_PATH_MAX + 32];
        pid_t pid = 0;
        uint64_t start = 0;
        if (vmm_path(p, sizeof(p), spec->dir, VMM_FILE_PID) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        int r = 0;
        if (access(p, F_OK) == 0 || errno != ENOENT) {
                r = vmm_proc_adopt(p, "Firecracker", "firecracker", true, &pid, &start, err);
                if (r < 0)
                        return r;
        } else {
                /* Jailer: firecracker.pid holds the bare pid (the jailer
                 * execs into Firecracker, same pid). */
                if (vmm_path(p, sizeof(p), spec->dir, FC_JAIL_PIDFILE) < 0)
                        return bg_error_set(err, ENAMETOOLONG, "VM directory too long");
                _cleanup_fclose_ FILE *f = fopen(p, "re");
                if (!f)
                        return errno == ENOENT
                                   ? bg_error_set(err, ESRCH, "no Firecracker pidfile in %s",
                                                  spec->dir)
                                   : bg_error_errno(err, -errno, "open %s", p);
                int v;
                if (fscanf(f, "%d", &v) != 1 || v <= 0)
                        return bg_error_set(err, EBADMSG, "%s is malformed", p);
                pid = v;
                if (proc_start_time(pid, &start) < 0 || !cmdline_has_id(pid, spec->id))
                        return bg_error_set(err, ESRCH, "Firecracker of VM %s is gone", spec->id);
                r = vmm_proc_verify(pid, start, "Firecracker", "firecracker", true, err);
                if (r < 0)
                        return r;
        }
        struct vmm_handle h = {
            .pid = pid,
            .start_time = start,
            .agent_transport = VMM_AGENT_HYBRID_VSOCK,
            .agent_port = FC_AGENT_VSOCK_PORT,
        };
        if (vmm_path(h.agent_path, sizeof(h.agent_path), spec->dir, VMM_FILE_AGENT) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory too long");
        snprintf(h.accel, sizeof(h.accel), "kvm");
        *ret = h;
        return 0;
}

const struct vmm_driver vmm_firecracker_driver = {
    .name = "firecracker",
    .caps = VMM_CAP_PAUSE | VMM_CAP_SNAPSHOT,
    .agent_transports = VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_HYBRID_VSOCK),
    .launch = fc_launch,
    .request_stop = fc_request_stop,
    .kill = fc_kill,
    .alive = fc_alive,
    .adopt = fc_adopt,
    .exit_reason = fc_exit_reason,
    .query = fc_query,
    .pause = fc_pause,
    .resume = fc_resume,
    .snapshot = fc_snapshot,
};
