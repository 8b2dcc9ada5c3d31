/* The Firecracker VMM driver: spawns `firecracker --api-sock DIR/api.sock
 * --id ID` in its own session, then configures the microVM over the API
 * socket (fc_api.c) and starts it. Exit is watched through the process
 * (pidfd), never by polling the API.
 *
 * The launched process is a child of the caller (vmsvc), so the caller gets
 * its wait status (reap it with waitpid/waitid and hand the status to
 * exit_reason); after a vmsvc restart it is adopted from DIR/vmm.pid, or from
 * the jailer's firecracker.pid reachable as DIR/firecracker.pid. */
#include "vmm/firecracker/vmm_firecracker.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/firecracker/fc_api.h"
#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/firecracker/fc_jailer.h"

#define DEV_NULL "/dev/null"

/* ---- small helpers ---------------------------------------------------- */

/* dir + "/" + name, without doubling the slash of "/" (jailed view). */
static int path_join(char *buf, size_t len, const char *dir, const char *name)
{
        size_t dl = strlen(dir);
        int n = snprintf(buf, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool hex_id_valid(const char *id)
{
        size_t n = strlen(id);
        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
                        return false;
        return true;
}

static bool mac_valid(const char *mac)
{
        if (strlen(mac) != 17)
                return false;
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (mac[i] != ':')
                                return false;
                } else if (!isxdigit((unsigned char)mac[i])) {
                        return false;
                }
        }
        return true;
}

static void close_from(int lowfd)
{
        if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
                return;
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
                close((int)fd);
}

int fc_find_binary(const char *name, char *buf, size_t len)
{
        if (!name || !*name)
                return -ENOENT;
        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return -errno;
                return snprintf(buf, len, "%s", name) >= (int)len ? -ENAMETOOLONG : 0;
        }
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        const char *p = path;
        while (*p) {
                size_t n = strcspn(p, ":");
                char cand[PATH_MAX];
                if (n > 0 &&
                    snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name) < (int)sizeof(cand)) {
                        struct stat st;
                        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                                return snprintf(buf, len, "%s", cand) >= (int)len ? -ENAMETOOLONG
                                                                                  : 0;
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

/* ---- versions ----------------------------------------------------------- */

int fc_version_parse(const char *text, unsigned *ret_major, unsigned *ret_minor,
                     unsigned *ret_patch)
{
        if (!text)
                return -EINVAL;
        const char *p = strstr(text, "Firecracker");
        if (!p)
                return -EINVAL;
        p += strlen("Firecracker");
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p != 'v')
                return -EINVAL;
        p++;
        unsigned v[3];
        for (int i = 0; i < 3; i++) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                char *end;
                errno = 0;
                unsigned long x = strtoul(p, &end, 10);
                if (errno || x > 100000)
                        return -EINVAL;
                v[i] = (unsigned)x;
                p = end;
                if (i < 2) {
                        if (*p != '.')
                                return -EINVAL;
                        p++;
                }
        }
        if (*p && !isspace((unsigned char)*p) && *p != '-' && *p != '+')
                return -EINVAL;
        *ret_major = v[0];
        *ret_minor = v[1];
        *ret_patch = v[2];
        return 0;
}

static int version_cmp(unsigned a1, unsigned a2, unsigned a3, unsigned b1, unsigned b2, unsigned b3)
{
        if (a1 != b1)
                return a1 < b1 ? -1 : 1;
        if (a2 != b2)
                return a2 < b2 ? -1 : 1;
        if (a3 != b3)
                return a3 < b3 ? -1 : 1;
        return 0;
}

bool fc_version_supported(unsigned major, unsigned minor, unsigned patch)
{
        return version_cmp(major, minor, patch, FC_VERSION_MIN_MAJOR, FC_VERSION_MIN_MINOR,
                           FC_VERSION_MIN_PATCH) >= 0;
}

bool fc_version_tested(unsigned major, unsigned minor, unsigned patch)
{
        return fc_version_supported(major, minor, patch) &&
               (major < FC_TESTED_MAX_MAJOR ||
                (major == FC_TESTED_MAX_MAJOR && minor <= FC_TESTED_MAX_MINOR));
}

int fc_version(const char *binary, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_patch,
               struct bg_error *err)
{
        char exe[PATH_MAX];
        int r = fc_find_binary(binary, exe, sizeof(exe));
        if (r < 0)
                return bg_error_errno(err, r, "find '%s'", binary ? binary : "");
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "pipe");
        _cleanup_close_ int rd = pfd[0];
        char *const argv[] = {exe, (char *)"--version", NULL};
        pid_t pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pfd[1]);
                return bg_error_errno(err, r, "fork");
        }
        if (pid == 0) {
                int nul = open(DEV_NULL, O_RDWR);
                if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(nul, 2) < 0)
                        _exit(127);
                close_from(3);
                execv(exe, argv);
                _exit(127);
        }
        close(pfd[1]);

        char out[1024];
        size_t len = 0;
        uint64_t deadline = now_mono_msec() + 5000;
        bool timed_out = false;
        for (;;) {
                uint64_t now = now_mono_msec();
                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                struct pollfd p = {.fd = rd, .events = POLLIN};
                int pr = poll(&p, 1, (int)(deadline - now));
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr <= 0) {
                        timed_out = pr == 0;
                        break;
                }
                ssize_t n = read(rd, out + len, sizeof(out) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len == sizeof(out) - 1)
                        break;
        }
        out[len] = '\0';
        if (timed_out)
                kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (timed_out)
                return bg_error_set(err, ETIMEDOUT, "'%s --version' did not answer within 5 s",
                                    exe);
        unsigned a, b, c;
        if (fc_version_parse(out, &a, &b, &c) < 0)
                return bg_error_set(err, EBADMSG,
                                    "'%s --version' printed no Firecracker version: '%.*s'", exe,
                                    (int)strcspn(out, "\n"), out);
        *ret_major = a;
        *ret_minor = b;
        *ret_patch = c;
        return 0;
}

int fc_usable_kvm(const char *binary, const char *kvm_path, char *why, size_t why_len)
{
        char exe[PATH_MAX];
        int r = fc_find_binary(binary, exe, sizeof(exe));
        if (r < 0) {
                snprintf(why, why_len, "%s not found%s", binary && *binary ? binary : "firecracker",
                         binary && strchr(binary, '/') ? "" : " in PATH");
                return 0;
        }
        struct bg_error e = {0};
        unsigned a, b, c;
        r = fc_version(exe, &a, &b, &c, &e);
        if (r < 0) {
                snprintf(why, why_len, "%s", e.msg);
                return 0;
        }
        if (!fc_version_supported(a, b, c)) {
                snprintf(why, why_len, "%s is Firecracker v%u.%u.%u, older than %d.%d.%d", exe, a,
                         b, c, FC_VERSION_MIN_MAJOR, FC_VERSION_MIN_MINOR, FC_VERSION_MIN_PATCH);
                return 0;
        }
        int fd = open(kvm_path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, why_len, "%s: %s", kvm_path, strerror(errno));
                return 0;
        }
        close(fd);
        snprintf(why, why_len, "%s is Firecracker v%u.%u.%u%s", exe, a, b, c,
                 fc_version_tested(a, b, c) ? "" : " (newer than the tested " FC_TESTED_RANGE ")");
        return 1;
}

int fc_usable(const char *binary, char *why, size_t why_len)
{
        return fc_usable_kvm(binary, "/dev/kvm", why, why_len);
}

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

/* ---- checks and boot arguments ------------------------------------------ */

int fc_check_vcpu(uint32_t vcpu, struct bg_error *err)
{
        if (vcpu == 0 || vcpu > FC_VCPU_MAX || (vcpu > 1 && vcpu % 2))
                return bg_error_set(err, EINVAL,
                                    "Firecracker needs 1 or an even number of vCPUs up to %d, "
                                    "not %" PRIu32,
                                    FC_VCPU_MAX, vcpu);
        return 0;
}

/* Value of the last "key=value" word of a kernel command line (no quoting:
 * banger.agent values never contain spaces). */
static bool cmdline_last(const char *cmdline, const char *key, char *buf, size_t len)
{
        size_t kl = strlen(key);
        bool found = false;
        const char *p = cmdline;
        while (*p) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n == 2 && strncmp(p, "--", 2) == 0)
                        break;
                if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
                        snprintf(buf, len, "%.*s", (int)(n - kl - 1), p + kl + 1);
                        found = true;
                }
                p += n;
        }
        return found;
}

int fc_boot_args(const char *cmdline, char *buf, size_t len, uint32_t *ret_port,
                 struct bg_error *err)
{
        uint32_t port = FC_AGENT_VSOCK_PORT;
        char agent[128];
        bool has_agent = cmdline_last(cmdline, "banger.agent", agent, sizeof(agent));
        if (has_agent) {
                char *end;
                errno = 0;
                unsigned long v =
                    strncmp(agent, "vsock:", 6) == 0 && isdigit((unsigned char)agent[6])
                        ? strtoul(agent + 6, &end, 10)
                        : 0;
                if (v == 0 || errno || *end || v > UINT32_MAX)
                        return bg_error_set(err, EINVAL,
                                            "banger.agent=%s cannot work under Firecracker: it "
                                            "needs vsock:PORT",
                                            agent);
                port = (uint32_t)v;
        }
        size_t cl = strspn(cmdline, " ");
        int n =
            snprintf(buf, len, "%s%s%s", FC_BOOT_ARGS_BASE, cmdline[cl] ? " " : "", cmdline + cl);
        if (n >= 0 && (size_t)n < len && !has_agent)
                n += snprintf(buf + n, len - (size_t)n, " banger.agent=vsock:%" PRIu32, port);
        if (n < 0 || (size_t)n >= len || n >= FC_CMDLINE_MAX)
                return bg_error_set(err, E2BIG,
                                    "kernel command line too long for Firecracker (%d bytes, "
                                    "limit %d)",
                                    n, FC_CMDLINE_MAX - 1);
        if (ret_port)
                *ret_port = port;
        return 0;
}

int fc_check_spec(const struct vmm_spec *spec, struct bg_error *err)
{
        if (!hex_id_valid(spec->id))
                return bg_error_set(err, EINVAL, "VM id '%s' is not 1-32 lowercase hex digits",
                                    spec->id);
        int r = fc_check_vcpu(spec->vcpu, err);
        if (r < 0)
                return r;
        if (spec->memory_mib < 16)
                return bg_error_set(err, EINVAL, "memory of %" PRIu32 " MiB is too small",
                                    spec->memory_mib);
        if (!spec->kernel_vmlinux[0])
                return bg_error_set(err, EINVAL,
                                    "Firecracker boots an uncompressed vmlinux, and this kernel "
                                    "has none");
        if (spec->n_disks > VMM_MAX_DISKS)
                return bg_error_set(err, EINVAL, "%u disks, at most %d", spec->n_disks,
                                    VMM_MAX_DISKS);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                if (!spec->disks[i].path[0])
                        return bg_error_set(err, EINVAL, "disk %u has no path", i);
                if (spec->disks[i].format != VMM_DISK_RAW)
                        return bg_error_set(err, EINVAL,
                                            "disk %u '%s' is qcow2: Firecracker needs raw disks", i,
                                            spec->disks[i].path);
        }
        if (spec->tap[0] && !mac_valid(spec->mac))
                return bg_error_set(err, EINVAL, "guest MAC '%s' is not aa:bb:cc:dd:ee:ff",
                                    spec->mac);
        if (spec->vsock_cid < 3)
                return bg_error_set(err, EINVAL,
                                    "vsock CID %" PRIu32 " is reserved (the agent needs >= 3)",
                                    spec->vsock_cid);
        char p[VMM_PATH_MAX + 16];
        if (!spec->dir[0] || path_join(p, sizeof(p), spec->dir, "agent.sock") < 0 ||
            strlen(p) > FC_UNIX_PATH_MAX)
                return bg_error_set(err, ENAMETOOLONG,
                                    "VM directory '%s' is too long for unix sockets (%d bytes)",
                                    spec->dir, FC_UNIX_PATH_MAX);
        char args[FC_CMDLINE_MAX + 64];
        return fc_boot_args(spec->cmdline, args, sizeof(args), NULL, err);
}

/* ---- API configuration -------------------------------------------------- */

static const char *drive_id(unsigned i)
{
        static const char *const ids[VMM_MAX_DISKS] = {"rootfs", "work", "modules", "disk3"};
        return ids[i];
}

static int put(struct fc_api *api, const char *path, json_t *body, struct bg_error *err)
{
        if (!body)
                return bg_error_set(err, ENOMEM, "PUT %s: out of memory", path);
        int r = fc_api_put(api, path, body, err);
        json_decref(body);
        return r;
}

int fc_configure_and_start(const char *api_sock, const struct vmm_spec *v, struct bg_error *err)
{
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = fc_api_new(api_sock, FC_API_TIMEOUT_MS, &api, err);
        if (r < 0)
                return r;
        char p1[VMM_PATH_MAX + 32], p2[VMM_PATH_MAX + 32];
        if (path_join(p1, sizeof(p1), v->dir, "fc.log") < 0 ||
            path_join(p2, sizeof(p2), v->dir, "metrics.json") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);

        r = put(api, "/logger",
                json_pack("{s:s, s:s, s:b, s:b}", "log_path", p1, "level", "Warning", "show_level",
                          1, "show_log_origin", 0),
                err);
        if (r < 0)
                return r;
        r = put(api, "/metrics", json_pack("{s:s}", "metrics_path", p2), err);
        if (r < 0)
                return r;
        r = put(api, "/machine-config",
                json_pack("{s:I, s:I, s:b}", "vcpu_count", (json_int_t)v->vcpu, "mem_size_mib",
                          (json_int_t)v->memory_mib, "smt", 0),
                err);
        if (r < 0)
                return r;

        char args[FC_CMDLINE_MAX + 64];
        r = fc_boot_args(v->cmdline, args, sizeof(args), NULL, err);
        if (r < 0)
                return r;
        json_t *boot =
            json_pack("{s:s, s:s}", "kernel_image_path", v->kernel_vmlinux, "boot_args", args);
        if (boot && v->initrd[0] &&
            json_object_set_new(boot, "initrd_path", json_string(v->initrd)) < 0) {
                json_decref(boot);
                boot = NULL;
        }
        r = put(api, "/boot-source", boot, err);
        if (r < 0)
                return r;

        /* The banger initramfs mounts root= itself, so no drive is
         * Firecracker's root device; drives appear in this order as
         * /dev/vda, vdb, vdc. */
        for (unsigned i = 0; i < v->n_disks; i++) {
                const struct vmm_disk *d = &v->disks[i];
                char path[64];
                snprintf(path, sizeof(path), "/drives/%s", drive_id(i));
                json_t *drive =
                    json_pack("{s:s, s:s, s:b, s:b}", "drive_id", drive_id(i), "path_on_host",
                              d->path, "is_root_device", 0, "is_read_only", d->read_only);
                /* Writeback honours the guest's flushes: `sync` before stop
                 * reaches the host file. */
                if (drive && !d->read_only &&
                    json_object_set_new(drive, "cache_type", json_string("Writeback")) < 0) {
                        json_decref(drive);
                        drive = NULL;
                }
                r = put(api, path, drive, err);
                if (r < 0)
                        return r;
        }
        if (v->tap[0]) {
                r = put(api, "/network-interfaces/eth0",
                        json_pack("{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name", v->tap,
                                  "guest_mac", v->mac),
                        err);
                if (r < 0)
                        return r;
        }
        if (path_join(p1, sizeof(p1), v->dir, "agent.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", v->dir);
        r = put(api, "/vsock",
                json_pack("{s:I, s:s}", "guest_cid", (json_int_t)v->vsock_cid, "uds_path", p1),
                err);
        if (r < 0)
                return r;
        return put(api, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"), err);
}

/* ---- process handling --------------------------------------------------- */

static int pidfd_open_checked(const struct vmm_handle *h)
{
        int fd = (int)syscall(SYS_pidfd_open, h->pid, 0);
        if (fd < 0)
                return -errno;
        /* The pidfd pins this process: if the start time still matches now,
         * it is ours and cannot be recycled under us. */
        uint64_t st;
        if (proc_start_time(h->pid, &st) < 0 || st != h->start_time) {
                close(fd);
                return -ESRCH;
        }
        return fd;
}

static int fc_alive(const struct vmm_handle *h)
{
        uint64_t st;
        if (h->pid <= 0 || proc_start_time(h->pid, &st) < 0)
                return 0;
        return st == h->start_time;
}

/* Waits until the process exited (a zombie counts: it only waits to be
 * reaped), through its pidfd, or /proc when pidfds are unavailable. */
static int wait_gone(const struct vmm_handle *h, int pidfd, uint64_t timeout_ms)
{
        uint64_t deadline = now_mono_msec() + timeout_ms;
        for (;;) {
                if (pidfd >= 0) {
                        uint64_t now = now_mono_msec();
                        struct pollfd p = {.fd = pidfd, .events = POLLIN};
                        int r = poll(&p, 1, now >= deadline ? 0 : (int)(deadline - now));
                        if (r > 0)
                                return 0;
                        if (r < 0 && errno != EINTR)
                                return -errno;
                } else {
                        if (!fc_alive(h))
                                return 0;
                        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
                }
                if (now_mono_msec() >= deadline)
                        return fc_alive(h) ? -ETIMEDOUT : 0;
        }
}

static int fc_kill(const struct vmm_handle *h, struct bg_error *err)
{
        if (h->pid <= 0)
                return bg_error_set(err, EINVAL, "no Firecracker process to kill");
        _cleanup_close_ int pidfd = pidfd_open_checked(h);
        if (pidfd == -ESRCH)
                return 0; /* already gone */
        if (pidfd >= 0) {
                if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                        return bg_error_errno(err, -errno, "kill Firecracker pid %d", (int)h->pid);
        } else {
                if (!fc_alive(h))
                        return 0;
                if (kill(h->pid, SIGKILL) < 0 && errno != ESRCH)
                        return bg_error_errno(err, -errno, "kill Firecracker pid %d", (int)h->pid);
        }
        int r = wait_gone(h, pidfd, FC_KILL_TIMEOUT_MS);
        if (r < 0)
                return bg_error_errno(err, r,
                                      "Firecracker pid %d still running %d ms after SIGKILL",
                                      (int)h->pid, FC_KILL_TIMEOUT_MS);
        return 0;
}

/* Kills and reaps a child that failed during launch, and removes what it
 * left in the VM dir. */
static void abandon_child(const struct vmm_spec *spec, pid_t pid, bool reaped)
{
        if (!reaped) {
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        char p[VMM_PATH_MAX + 16];
        static const char *const names[] = {"vmm.pid", "api.sock", "agent.sock"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (path_join(p, sizeof(p), spec->dir, names[i]) == 0)
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
                int sig = WTERMSIG(wait_status);
                off = (size_t)snprintf(buf, len, "Firecracker was killed by signal %d (SIG%s)", sig,
                                       sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
        }
        if (off >= len || clean)
                return;
        /* Why, in Firecracker's own words: its log, then its stderr. */
        char p[VMM_PATH_MAX + 16], line[256];
        bool got = false;
        if (path_join(p, sizeof(p), spec->dir, "fc.log") == 0)
                got = log_last_error(p, line, sizeof(line));
        if (!got && path_join(p, sizeof(p), spec->dir, "vmm.log") == 0)
                got = log_last_error(p, line, sizeof(line));
        if (got)
                snprintf(buf + off, len - off, "%s%s", off ? ": " : "", line);
}

/* Firecracker through the jailer: netsvc stages the chroot (with DIR/api.sock,
 * agent.sock, fc.log and firecracker.pid symlinked into it) and starts it;
 * Firecracker is then configured with the paths it sees inside. Its pid is
 * not our child: liveness comes from /proc, not waitpid. */
static int launch_jailed(const struct vmm_spec *spec, uint32_t port, struct vmm_handle *ret,
                         struct bg_error *err)
{
        char api_sock[VMM_PATH_MAX + 16], agent_sock[VMM_PATH_MAX + 16], pidfile[VMM_PATH_MAX + 16];
        if (path_join(api_sock, sizeof(api_sock), spec->dir, "api.sock") < 0 ||
            path_join(agent_sock, sizeof(agent_sock), spec->dir, "agent.sock") < 0 ||
            path_join(pidfile, sizeof(pidfile), spec->dir, "vmm.pid") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        pid_t pid = 0;
        int r = spec->jail_start(spec->jail_ud, spec, &pid, err);
        if (r < 0)
                return bg_error_prefix(err, "start the jailer");
        struct vmm_handle h = {.pid = pid, .agent_transport = VMM_AGENT_HYBRID_VSOCK,
                               .agent_port = port};
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
                if (h.start_time && fc_alive(&h))
                        kill(pid, SIGKILL);
                for (int i = 0; i < 100 && h.start_time && fc_alive(&h); i++)
                        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
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

static int fc_launch(const struct vmm_spec *spec, struct vmm_handle *ret, struct bg_error *err)
{
        int r = fc_check_spec(spec, err);
        if (r < 0)
                return r;
        uint32_t port;
        char args[FC_CMDLINE_MAX + 64];
        r = fc_boot_args(spec->cmdline, args, sizeof(args), &port, err);
        if (r < 0)
                return r;
        if (spec->jail_start)
                return launch_jailed(spec, port, ret, err);
        char exe[PATH_MAX];
        const char *bin = spec->binary[0] ? spec->binary : "firecracker";
        r = fc_find_binary(bin, exe, sizeof(exe));
        if (r < 0)
                return bg_error_errno(err, r, "Firecracker binary '%s'%s", bin,
                                      strchr(bin, '/') ? "" : " not found in PATH");

        char api_sock[VMM_PATH_MAX + 16], agent_sock[VMM_PATH_MAX + 16], pidfile[VMM_PATH_MAX + 16],
            logpath[VMM_PATH_MAX + 16];
        if (path_join(api_sock, sizeof(api_sock), spec->dir, "api.sock") < 0 ||
            path_join(agent_sock, sizeof(agent_sock), spec->dir, "agent.sock") < 0 ||
            path_join(pidfile, sizeof(pidfile), spec->dir, "vmm.pid") < 0 ||
            path_join(logpath, sizeof(logpath), spec->dir, "vmm.log") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        /* Firecracker refuses to bind over leftovers of an earlier run. */
        if (unlink(api_sock) < 0 && errno != ENOENT)
                return bg_error_errno(err, -errno, "remove stale %s", api_sock);
        if (unlink(agent_sock) < 0 && errno != ENOENT)
                return bg_error_errno(err, -errno, "remove stale %s", agent_sock);

        _cleanup_close_ int logfd =
            open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
        if (logfd < 0)
                return bg_error_errno(err, -errno, "open %s", logpath);
        _cleanup_close_ int nullfd = open(DEV_NULL, O_RDONLY | O_CLOEXEC);
        if (nullfd < 0)
                return bg_error_errno(err, -errno, "open " DEV_NULL);
        int epipe[2];
        if (pipe2(epipe, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "pipe");
        _cleanup_close_ int erd = epipe[0];
        _cleanup_close_ int ewr = epipe[1];

        char id[sizeof(spec->id)];
        snprintf(id, sizeof(id), "%s", spec->id);
        char *const argv[] = {exe, (char *)"--api-sock", api_sock, (char *)"--id", id, NULL};

        pid_t pid = fork();
        if (pid < 0)
                return bg_error_errno(err, -errno, "fork");
        if (pid == 0) {
                /* Child: own session, stdin /dev/null, output to vmm.log,
                 * nothing else inherited. Async-signal-safe calls only. */
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGPIPE, SIG_DFL);
                if (setsid() < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
                    dup2(logfd, 2) < 0 || dup2(ewr, 3) < 0)
                        goto fail;
                close_from(4);
                fcntl(3, F_SETFD, FD_CLOEXEC);
                execv(exe, argv);
        fail:;
                int e = errno;
                ssize_t _unused_ w = write(3, &e, sizeof(e));
                _exit(127);
        }
        close(TAKE_FD(ewr));
        int child_errno = 0;
        ssize_t n;
        while ((n = read(erd, &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
                ;
        if (n > 0) {
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return bg_error_errno(err, -child_errno, "execute %s", exe);
        }

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
        r = fc_configure_and_start(api_sock, spec, err);
        if (r < 0) {
                abandon_child(spec, pid, false);
                return r;
        }

        struct vmm_handle h = {
            .pid = pid,
            .agent_transport = VMM_AGENT_HYBRID_VSOCK,
            .agent_port = port,
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

static int fc_request_stop(const struct vmm_spec *spec, const struct vmm_handle *h,
                           struct bg_error *err)
{
        if (!fc_alive(h))
                return bg_error_set(err, ESRCH, "Firecracker (pid %d) is not running", (int)h->pid);
        char api_sock[VMM_PATH_MAX + 16];
        if (path_join(api_sock, sizeof(api_sock), spec->dir, "api.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        _cleanup_(fc_api_freep) struct fc_api *api = NULL;
        int r = fc_api_new(api_sock, FC_API_TIMEOUT_MS, &api, err);
        if (r < 0)
                return r;
        return put(api, "/actions", json_pack("{s:s}", "action_type", "SendCtrlAltDel"), err);
}

/* basename of /proc/PID/exe is "firecracker" (an upgraded binary reads
 * "firecracker (deleted)"). */
static bool exe_is_firecracker(pid_t pid)
{
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
                return false;
        target[n] = '\0';
        const char *del = " (deleted)";
        size_t dl = strlen(del);
        if ((size_t)n > dl && streq(target + n - dl, del))
                target[n - dl] = '\0';
        const char *base = strrchr(target, '/');
        return streq(base ? base + 1 : target, "firecracker");
}

/* /proc/PID/cmdline carries "--id ID" or "--id=ID" (the jailer's form). */
static bool cmdline_has_id(pid_t pid, const char *id)
{
        char path[64], buf[8192];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
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
        if (path_join(p, sizeof(p), spec->dir, "vmm.pid") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", spec->dir);
        int r = pidfile_read(p, &pid, &start);
        if (r == -ENOENT) {
                /* Jailer: firecracker.pid holds the bare pid (the jailer
                 * execs into Firecracker, same pid). */
                if (path_join(p, sizeof(p), spec->dir, "firecracker.pid") < 0)
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
        } else if (r < 0) {
                return bg_error_errno(err, r, "read %s", p);
        }
        uint64_t now_start;
        if (proc_start_time(pid, &now_start) < 0 || now_start != start)
                return bg_error_set(err, ESRCH, "Firecracker of VM %s (pid %d) is gone", spec->id,
                                    (int)pid);
        if (!exe_is_firecracker(pid))
                return bg_error_set(err, ESRCH,
                                    "pid %d of VM %s is not Firecracker any more (pid reused)",
                                    (int)pid, spec->id);
        char args[FC_CMDLINE_MAX + 64];
        uint32_t port;
        r = fc_boot_args(spec->cmdline, args, sizeof(args), &port, err);
        if (r < 0)
                return r;
        struct vmm_handle h = {
            .pid = pid,
            .start_time = start,
            .agent_transport = VMM_AGENT_HYBRID_VSOCK,
            .agent_port = port,
        };
        if (path_join(h.agent_path, sizeof(h.agent_path), spec->dir, "agent.sock") < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory too long");
        snprintf(h.accel, sizeof(h.accel), "kvm");
        *ret = h;
        return 0;
}

const struct vmm_driver vmm_firecracker_driver = {
    .name = "firecracker",
    .launch = fc_launch,
    .request_stop = fc_request_stop,
    .kill = fc_kill,
    .alive = fc_alive,
    .adopt = fc_adopt,
    .exit_reason = fc_exit_reason,
};

const char *fc_auto_pick(const char *binary, const char *kvm_path, char *why, size_t why_len)
{
        return fc_usable_kvm(binary, kvm_path, why, why_len) == 1 ? "firecracker" : "qemu";
}
