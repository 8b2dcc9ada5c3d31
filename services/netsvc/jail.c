#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "vmm/firecracker/fc_jailer.h"
#include "vmm/vmm_console.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"
#include "caps.h"
#include "log/log.h"
#include "util/macro.h"

/* The smallest console cap a request may ask for (vm.console_log_max's). */
#define JAIL_CONSOLE_LOG_MIN (64u << 10)

/* The owner's uid/gid, banger's roots and the chroot base. The base is in
 * netsvc's own state directory, where only root creates entries: the jailer
 * (root) walks it by path, so it must not lie below a directory the owner
 * can change. The VM files come from the owner's state directory. */
static int jail_opts(const struct daemon *d, uid_t owner_uid, const char *jailer, const char *fc,
                     char base[VMM_PATH_MAX], const char *roots[2], struct fc_jailer_opts *o,
                     struct bg_error *err)
{
        struct passwd *pw = getpwuid(owner_uid);
        if (!pw)
                return bg_error_set(err, ENOENT, "the owner uid %u has no passwd entry", owner_uid);
        size_t n_roots = 0;
        roots[n_roots++] = d->paths.net_state_dir;
        if (!streq(d->paths.state_dir, d->paths.net_state_dir))
                roots[n_roots++] = d->paths.state_dir;
        snprintf(base, VMM_PATH_MAX, "%s/jail", d->paths.net_state_dir);
        *o = (struct fc_jailer_opts){
            .jailer = jailer,
            .exec_file = fc,
            .base_dir = base,
            .uid = owner_uid,
            .gid = pw->pw_gid,
            .roots = roots,
            .n_roots = n_roots,
        };
        return 0;
}

/* Every directory above path: owned by root, and writable by nobody else
 * unless sticky (like /tmp, where others cannot replace root's files). */
static int dirs_root_only(const char *path, const char *key, const char *what, struct bg_error *err)
{
        char dir[PATH_MAX];
        struct stat st;
        snprintf(dir, sizeof(dir), "%s", path);
        for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
                if (slash == dir)
                        slash[1] = '\0';
                else
                        *slash = '\0';
                if (stat(dir, &st) < 0)
                        return bg_error_errno(err, -errno, "%s: stat %s", key, dir);
                if (st.st_uid != 0 || ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
                        return bg_error_set(err, EACCES,
                                            "%s: %s is in %s, which someone other than root can "
                                            "change (uid %u, mode %04o); netsvc runs it as root",
                                            key, what, dir, (unsigned)st.st_uid,
                                            (unsigned)(st.st_mode & 07777));
                if (streq(dir, "/"))
                        break;
        }
        return 0;
}

/* A program netsvc runs as root (the jailer) or hands to it (Firecracker):
 * named by netsvc's own config, never by the request, and only when nobody
 * but root can change it: a regular file owned by root without group/other
 * write, reached through directories (and symlinks) only root can change.
 * out is the path as found (the jailer wants the name "firecracker"), real
 * the file it leads to. */
static int trusted_program(const char *name, const char *key, char out[PATH_MAX],
                           char real[PATH_MAX], struct bg_error *err)
{
        int r = vmm_find_binary(name, out, PATH_MAX);
        if (r < 0)
                return bg_error_errno(err, r, "%s = \"%s\" (netsvc's config): not found", key,
                                      name);
        if (out[0] != '/')
                return bg_error_set(err, EINVAL, "%s: %s is not an absolute path", key, out);
        if (!realpath(out, real))
                return bg_error_errno(err, -errno, "%s: %s", key, out);
        struct stat st;
        if (stat(real, &st) < 0)
                return bg_error_errno(err, -errno, "%s: stat %s", key, real);
        if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
                return bg_error_set(err, EACCES,
                                    "%s: %s must be a regular file owned by root and not "
                                    "writable by group or others (it is %s, uid %u, mode %04o); "
                                    "netsvc runs it as root",
                                    key, real, S_ISREG(st.st_mode) ? "a file" : "not a file",
                                    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        r = dirs_root_only(real, key, real, err);
        if (r >= 0 && !streq(out, real))
                r = dirs_root_only(out, key, out, err);
        return r;
}

/* The request may name the programs (vmsvc does, from the same config);
 * anything other than netsvc's own choice is refused. */
static int same_program(const char *requested, const char *trusted, const char *trusted_real,
                        const char *key, struct bg_error *err)
{
        char real[PATH_MAX];
        if (!requested || !requested[0])
                return 0;
        if (realpath(requested, real) && streq(real, trusted_real))
                return 0;
        return bg_error_set(err, EACCES,
                            "JailStart runs %s from netsvc's config (%s), not '%.200s' from the "
                            "request; set %s in /etc/banger/config.toml (or the config netsvc "
                            "reads) instead",
                            key, trusted, requested, key);
}

static int plan_from(const struct daemon *d, uid_t owner_uid, const Banger__V1__NetJailSpec *in,
                     struct fc_jail_plan *p, struct bg_error *err)
{
        char jailer[PATH_MAX], fc[PATH_MAX], jailer_real[PATH_MAX], fc_real[PATH_MAX];
        int tr = trusted_program(d->cfg.firecracker.jailer_binary, "firecracker.jailer_binary",
                                 jailer, jailer_real, err);
        if (tr >= 0)
                tr = trusted_program(d->cfg.firecracker.binary, "firecracker.binary", fc, fc_real,
                                     err);
        if (tr >= 0)
                tr =
                    same_program(in->jailer, jailer, jailer_real, "firecracker.jailer_binary", err);
        if (tr >= 0)
                tr = same_program(in->firecracker, fc, fc_real, "firecracker.binary", err);
        if (tr < 0)
                return tr;
        struct vmm_spec spec;
        memset(&spec, 0, sizeof(spec));
        if (strlen(in->vm_id) >= sizeof(spec.id) || strlen(in->vm_dir) >= sizeof(spec.dir) ||
            strlen(in->kernel_vmlinux) >= sizeof(spec.kernel_vmlinux) ||
            strlen(in->initrd) >= sizeof(spec.initrd) || in->n_disks > VMM_MAX_DISKS ||
            in->n_disks_read_only > in->n_disks)
                return bg_error_set(err, EINVAL,
                                    "jail spec: a field is too long or too many disks");
        snprintf(spec.id, sizeof(spec.id), "%s", in->vm_id);
        snprintf(spec.dir, sizeof(spec.dir), "%s", in->vm_dir);
        snprintf(spec.kernel_vmlinux, sizeof(spec.kernel_vmlinux), "%s", in->kernel_vmlinux);
        snprintf(spec.initrd, sizeof(spec.initrd), "%s", in->initrd);
        spec.vcpu = in->vcpu;
        spec.memory_mib = in->memory_mib;
        /* The guest CID, tap and boot arguments go to Firecracker over its
         * API (vmsvc); staging needs only the files. */
        spec.vsock_cid = 3;
        for (size_t i = 0; i < in->n_disks; i++) {
                if (strlen(in->disks[i]) >= sizeof(spec.disks[i].path))
                        return bg_error_set(err, EINVAL, "jail spec: disk path too long");
                snprintf(spec.disks[i].path, sizeof(spec.disks[i].path), "%s", in->disks[i]);
                spec.disks[i].format = VMM_DISK_RAW;
                spec.disks[i].read_only = i < in->n_disks_read_only && in->disks_read_only[i];
        }
        spec.n_disks = (unsigned)in->n_disks;
        char base[VMM_PATH_MAX];
        const char *roots[2];
        struct fc_jailer_opts o;
        int r = jail_opts(d, owner_uid, jailer, fc, base, roots, &o, err);
        if (r < 0)
                return r;
        return fc_jailer_plan(&spec, &o, p, err);
}

/* The console pump of a jailed VM (vmm_console.h): this binary run with
 * VMM_CONSOLE_PUMP_ARG as the owner (never root: it writes by path in the
 * owner's VM directory, DIR/console.log and DIR/vmm.log), in a session of its
 * own, with the read end of a pipe as stdin. Returns the write end (O_CLOEXEC)
 * for Firecracker's stdout once the pump wrote DIR/console-pump.pid; from
 * then on the guest's console is capped at max like an unjailed VM's, and
 * vmsvc waits for and stops this pump as for its own. */
static int start_console_pump(const struct fc_jail_plan *p, uint64_t max, int *ret_fd,
                              struct bg_error *err)
{
        char maxs[24], log[VMM_PATH_MAX + 16];
        snprintf(maxs, sizeof(maxs), "%" PRIu64, max);
        if (vmm_path(log, sizeof(log), p->vm_dir, VMM_FILE_LOG) < 0)
                return bg_error_set(err, ENAMETOOLONG, "VM directory '%s' too long", p->vm_dir);
        char *const argv[] = {(char *)"banger-netsvc", (char *)VMM_CONSOLE_PUMP_ARG,
                              (char *)p->vm_dir, maxs, NULL};
        char *const envp[] = {NULL};
        int cp[2];
        if (pipe2(cp, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "console pipe");
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(cp[0]), close(cp[1]);
                return bg_error_errno(err, -e, "fork the console pump");
        }
        if (pid == 0) {
                /* Only async-signal-safe calls from here (netsvc has threads). */
                setsid();
                if (setgroups(0, NULL) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0 ||
                    getuid() == 0)
                        _exit(125);
                /* The owner from here: every open below is the owner's. */
                int out = open(
                    log, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (out < 0)
                        out = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (dup2(cp[0], 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                        _exit(126);
                for (int fd = 3; fd < 1024; fd++)
                        close(fd);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                execve("/proc/self/exe", argv, envp);
                _exit(127);
        }
        close(cp[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                close(cp[1]);
                return bg_error_set(err, EIO,
                                    "the console pump of VM %s did not start as uid %u (exit "
                                    "status %d; see %s)",
                                    p->id, (unsigned)p->uid, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                                    log);
        }
        *ret_fd = cp[1];
        return 0;
}

/* Double fork: the jailer is nobody's child here (no zombie in netsvc) and
 * has its own session (it outlives netsvc). Its stdout is console (>= 0, the
 * console pump's pipe: Firecracker's stdout is the guest's serial console;
 * the jailer keeps stdio without --daemonize) or else log, its stderr log.
 * Returns its pid once exec succeeded, or the exec error. */
static int spawn_detached(const char *const argv[], const char *log, int console, pid_t *ret,
                          struct bg_error *err)
{
        int pidp[2], errp[2];
        if (pipe2(pidp, O_CLOEXEC) < 0)
                return bg_error_errno(err, -errno, "pipe");
        if (pipe2(errp, O_CLOEXEC) < 0) {
                close(pidp[0]);
                close(pidp[1]);
                return bg_error_errno(err, -errno, "pipe");
        }
        pid_t mid = fork();
        if (mid < 0) {
                int e = errno;
                close(pidp[0]), close(pidp[1]), close(errp[0]), close(errp[1]);
                return bg_error_errno(err, -e, "fork");
        }
        if (mid == 0) {
                close(pidp[0]);
                close(errp[0]);
                setsid();
                pid_t pid = fork();
                if (pid == 0) {
                        sigset_t none;
                        sigemptyset(&none);
                        sigprocmask(SIG_SETMASK, &none, NULL);
                        signal(SIGPIPE, SIG_DFL);
                        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        int out =
                            open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
                        if (out < 0)
                                out = open("/dev/null", O_WRONLY | O_CLOEXEC);
                        dup2(in, 0);
                        dup2(console >= 0 ? console : out, 1);
                        dup2(out, 2);
                        for (int fd = 3; fd < 1024; fd++)
                                if (fd != errp[1])
                                        close(fd);
                        execv(argv[0], (char *const *)argv);
                        int e = errno;
                        (void)!write(errp[1], &e, sizeof(e));
                        _exit(127);
                }
                (void)!write(pidp[1], &pid, sizeof(pid));
                _exit(pid > 0 ? 0 : 1);
        }
        close(pidp[1]);
        close(errp[1]);
        int st;
        while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
                ;
        pid_t pid = -1;
        ssize_t n = read(pidp[0], &pid, sizeof(pid));
        close(pidp[0]);
        int e = 0;
        ssize_t en = read(errp[0], &e, sizeof(e)); /* EOF at exec: it started */
        close(errp[0]);
        if (n != sizeof(pid) || pid <= 0)
                return bg_error_set(err, EAGAIN, "could not start the jailer");
        if (en == sizeof(e))
                return bg_error_errno(err, -e, "run %s", argv[0]);
        *ret = pid;
        return 0;
}

/* What the jailer does as root before it drops to the owner: a mount
 * namespace and pivot_root, mknod of the devices, chown, setuid/setgid.
 * netsvc's systemd unit keeps only CAP_NET_ADMIN; say so
 * instead of failing inside the jailer. */
static int jailer_privileges(struct bg_error *err)
{
        static const struct {
                int cap;
                const char *name;
        } needed[] = {{CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {CAP_SYS_CHROOT, "CAP_SYS_CHROOT"},
                      {CAP_MKNOD, "CAP_MKNOD"},         {CAP_SETUID, "CAP_SETUID"},
                      {CAP_SETGID, "CAP_SETGID"},       {CAP_CHOWN, "CAP_CHOWN"}};
        char missing[200] = "";
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                int has = netsvc_cap_effective(needed[i].cap, err);
                if (has < 0)
                        return has;
                if (!has)
                        n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s",
                                              n ? " " : "", needed[i].name);
        }
        if (n)
                return bg_error_set(err, EPERM,
                                    "the jailer needs %s, which banger-netsvc does not have here "
                                    "(its systemd unit keeps only CAP_NET_ADMIN); see "
                                    "docs/firecracker.md, \"Jailer mode\", or set "
                                    "firecracker.jailer = false",
                                    missing);
        return 0;
}

bool netsvc_jail_usable(const struct daemon *d, uid_t owner_uid, char *why, size_t len)
{
        struct bg_error e = {0};
        char path[PATH_MAX], real[PATH_MAX];
        int r = jailer_privileges(&e);
        if (r >= 0)
                r = trusted_program(d->cfg.firecracker.jailer_binary, "firecracker.jailer_binary",
                                    path, real, &e);
        if (r >= 0)
                r = trusted_program(d->cfg.firecracker.binary, "firecracker.binary", path, real,
                                    &e);
        if (r >= 0 && owner_uid == 0)
                r = bg_error_set(&e, EPERM,
                                 "the owner is root, and Firecracker must not run as root in the "
                                 "jail");
        snprintf(why, len, "%s", r < 0 ? e.msg : "");
        return r >= 0;
}

int netsvc_jail_start(const struct daemon *d, uid_t owner_uid, const Banger__V1__NetJailSpec *in,
                      Banger__V1__NetJailStartResponse *out, struct bg_error *err)
{
        int pr = jailer_privileges(err);
        if (pr < 0)
                return pr;
        if (in->console_log_max && in->console_log_max < JAIL_CONSOLE_LOG_MIN)
                return bg_error_set(err, EINVAL,
                                    "console_log_max %" PRIu64 " is under %u bytes "
                                    "(vm.console_log_max takes at least 64K)",
                                    (uint64_t)in->console_log_max, JAIL_CONSOLE_LOG_MIN);
        struct fc_jail_plan *p = calloc(1, sizeof(*p));
        if (!p)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r = plan_from(d, owner_uid, in, p, err);
        if (r >= 0) {
                /* A chroot left by a run that ended is replaced. */
                struct bg_error e = {0};
                if (fc_jailer_cleanup(p, &e) < 0)
                        log_warn("jail of %s: %s", in->vm_id, e.msg);
                r = fc_jailer_stage(p, err);
        }
        const char *argv[FC_JAIL_MAX_ARGS];
        struct fc_jail_argbuf ab;
        if (r >= 0)
                r = fc_jailer_argv(p, &ab, argv, err);
        if (r >= 0) {
                char log[VMM_PATH_MAX + 16];
                snprintf(log, sizeof(log), "%s/jailer.log", p->jail_dir);
                pid_t pid = 0;
                int console = -1;
                r = start_console_pump(p, in->console_log_max ? in->console_log_max : 16u << 20,
                                       &console, err);
                if (r >= 0)
                        r = spawn_detached(argv, log, console, &pid, err);
                /* The jailer holds its own copy; without one the pump ends. */
                if (console >= 0)
                        close(console);
                if (r >= 0) {
                        out->pid = pid;
                        log_info("jailer for VM %s started: pid %d, chroot %s", in->vm_id, (int)pid,
                                 p->chroot_dir);
                }
        }
        if (r < 0 && p->id[0]) {
                struct bg_error e = {0};
                fc_jailer_cleanup(p, &e);
        }
        free(p);
        return r;
}

int netsvc_jail_clean(const struct daemon *d, uid_t owner_uid,
                      const Banger__V1__NetJailCleanRequest *in, struct bg_error *err)
{
        /* Cleanup needs only where things are; a plan of the paths alone. */
        struct fc_jail_plan *p = calloc(1, sizeof(*p));
        if (!p)
                return bg_error_set(err, ENOMEM, "out of memory");
        char base[VMM_PATH_MAX];
        const char *roots[2];
        struct fc_jailer_opts o;
        int r = jail_opts(d, owner_uid, "/usr/bin/jailer", "/usr/bin/firecracker", base, roots, &o,
                          err);
        if (r >= 0)
                r = fc_jailer_plan_paths(in->vm_id, in->vm_dir, &o, p, err);
        if (r >= 0)
                r = fc_jailer_cleanup(p, err);
        free(p);
        return r;
}
