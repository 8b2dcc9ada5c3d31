#include "agent_initramfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "agent_cmdline.h"
#include "agent_log.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/timeutil.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

#define NEWROOT "/newroot"
#define ROOT_WAIT_MS 10000

static const char *const compressed_suffixes[] = {".ko.xz", ".ko.zst", ".ko.gz"};

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

static int try_path(const char *path, char *buf, size_t size)
{
        if (access(path, R_OK) < 0)
                return -ENOENT;
        if (strlen(path) >= size)
                return -ENAMETOOLONG;
        memcpy(buf, path, strlen(path) + 1);
        return 0;
}

int agent_module_resolve(const char *modroot, const char *line, char *buf, size_t size,
                         bool *ret_compressed)
{
        char path[1024];
        if (!line[0])
                return -EINVAL;
        if (line[0] == '/')
                snprintf(path, sizeof(path), "%s", line);
        else
                snprintf(path, sizeof(path), "%s/%s", modroot, line);

        size_t stem = 0;
        bool compressed = false;
        for (size_t i = 0; i < ELEMENTSOF(compressed_suffixes); i++)
                if (ends_with(path, compressed_suffixes[i])) {
                        stem = strlen(path) - strlen(compressed_suffixes[i]);
                        compressed = true;
                }
        if (!compressed) {
                if (!ends_with(path, ".ko"))
                        return -EINVAL;
                stem = strlen(path) - 3;
        }

        int r = try_path(path, buf, size);
        if (r != -ENOENT) {
                if (r == 0)
                        *ret_compressed = compressed;
                return r;
        }
        char alt[1100];
        if (compressed) {
                snprintf(alt, sizeof(alt), "%.*s.ko", (int)stem, path);
                r = try_path(alt, buf, size);
                if (r == 0)
                        *ret_compressed = false;
                return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(compressed_suffixes); i++) {
                snprintf(alt, sizeof(alt), "%.*s%s", (int)stem, path, compressed_suffixes[i]);
                r = try_path(alt, buf, size);
                if (r != -ENOENT) {
                        if (r == 0)
                                *ret_compressed = true;
                        return r;
                }
        }
        return -ENOENT;
}

bool agent_in_initramfs(void)
{
        struct statfs sf;
        if (getpid() != 1 || statfs("/", &sf) < 0)
                return false;
        return sf.f_type == RAMFS_MAGIC || sf.f_type == TMPFS_MAGIC;
}

_Noreturn static void die(const char *fmt, ...) _printf_(1, 2);

_Noreturn static void die(const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        agent_log("%s", msg);
        agent_log("boot failed, rebooting (the VMM exits when run with -no-reboot)");
        sync();
        reboot(RB_AUTOBOOT);
        for (;;)
                pause();
}

static void mount_api(const char *src, const char *target, const char *type, unsigned long flags,
                      const char *data)
{
        if (mkdir(target, 0755) < 0 && errno != EEXIST)
                die("create %s: %m", target);
        if (mount(src, target, type, flags, data) < 0 && errno != EBUSY)
                die("mount %s on %s: %m", type, target);
}

static void ensure_console(void)
{
        if (fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0)
                return;
        int fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd < 0)
                return; /* nowhere to print; carry on */
        for (int i = 0; i < 3; i++)
                if (fcntl(i, F_GETFD) < 0)
                        dup2(fd, i);
        if (fd > 2)
                close(fd);
}

/* Load every module in modules.order. Failures are warnings: a module may be
 * built in; the root wait says what went wrong if a needed one is missing.
 * Returns the number of modules that failed. */
static int load_modules(void)
{
        _cleanup_fclose_ FILE *f = fopen(AGENT_MODULES_ORDER, "re");
        if (!f) {
                if (errno != ENOENT)
                        agent_log("open %s: %m", AGENT_MODULES_ORDER);
                return 0;
        }
        struct utsname u;
        uname(&u);
        char modroot[256];
        snprintf(modroot, sizeof(modroot), "/lib/modules/%s", u.release);

        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        int failed = 0;
        while (getline(&line, &cap, f) >= 0) {
                line[strcspn(line, "\r\n")] = '\0';
                if (!line[0] || line[0] == '#')
                        continue;
                char path[1024];
                bool compressed = false;
                int r = agent_module_resolve(modroot, line, path, sizeof(path), &compressed);
                if (r < 0) {
                        agent_log("module %s: %s", line,
                                  r == -EINVAL ? "not a .ko file" : strerror(-r));
                        failed++;
                        continue;
                }
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        agent_log("open module %s: %m", path);
                        failed++;
                        continue;
                }
                if (syscall(SYS_finit_module, fd, "",
                            compressed ? MODULE_INIT_COMPRESSED_FILE : 0) < 0 &&
                    errno != EEXIST) {
                        agent_log("load module %s: %m%s", path,
                                  compressed && errno == EINVAL
                                      ? " (kernel cannot decompress modules; ship them as .ko)"
                                      : "");
                        failed++;
                }
        }
        return failed;
}

static void wait_root(const char *root, int modules_failed)
{
        for (unsigned waited = 0;; waited += 20) {
                struct stat st;
                if (stat(root, &st) == 0) {
                        if (!S_ISBLK(st.st_mode))
                                die("root=%s is not a block device", root);
                        return;
                }
                if (waited >= ROOT_WAIT_MS)
                        die("root device %s did not appear within %u s%s", root,
                            ROOT_WAIT_MS / 1000,
                            modules_failed ? " (some modules failed to load, see above)" : "");
                sleep_msec(20);
        }
}

static void mount_root(const char *cmdline, const char *root)
{
        char fstype[64] = "", flags_s[256] = "";
        (void)agent_cmdline_get(cmdline, "rootfstype", fstype, sizeof(fstype));
        (void)agent_cmdline_get(cmdline, "rootflags", flags_s, sizeof(flags_s));
        /* The kernel's default is read-only unless "rw" is given. */
        unsigned long flags = agent_cmdline_has_flag(cmdline, "rw") ? 0 : MS_RDONLY;
        const char *data = flags_s[0] ? flags_s : NULL;

        if (mkdir(NEWROOT, 0755) < 0 && errno != EEXIST)
                die("create %s: %m", NEWROOT);
        if (fstype[0]) {
                if (mount(root, NEWROOT, fstype, flags, data) < 0)
                        die("mount root %s (%s): %m", root, fstype);
                return;
        }
        /* No rootfstype=: try every block filesystem the kernel knows. */
        _cleanup_fclose_ FILE *f = fopen("/proc/filesystems", "re");
        if (!f)
                die("read /proc/filesystems: %m");
        char line[128];
        int last = ENODEV;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "nodev", 5) == 0)
                        continue;
                char type[64];
                if (sscanf(line, " %63s", type) != 1)
                        continue;
                if (mount(root, NEWROOT, type, flags, data) == 0)
                        return;
                last = errno;
        }
        die("mount root %s: no filesystem type worked (last error: %s); set rootfstype=", root,
            strerror(last));
}

/* Remove the initramfs's files (they would pin RAM for the VM's lifetime),
 * staying on the initramfs device: what is mounted elsewhere is skipped. */
static int delete_entry(int dfd, const char *name, const struct stat *st, bool post, void *userdata,
                        struct bg_error *err)
{
        const dev_t *dev = userdata;
        if (st->st_dev != *dev)
                return FS_WALK_SKIP;
        bool dir = S_ISDIR(st->st_mode);
        if (dir == post && !streq(name, "/"))
                (void)unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0); /* best effort */
        return 0;
}

static void move_api_mount(const char *path)
{
        char target[64];
        struct stat st;
        snprintf(target, sizeof(target), NEWROOT "%s", path);
        if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
                if (mount(path, target, NULL, MS_MOVE, NULL) < 0)
                        die("move %s to the root filesystem: %m", path);
        } else {
                agent_log("%s missing on the root filesystem; detaching it", path);
                umount2(path, MNT_DETACH);
        }
}

/* The agent as init runs on images that may lack these mount points. */
static void ensure_dir(const char *path)
{
        char p[64];
        snprintf(p, sizeof(p), NEWROOT "%s", path);
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                agent_log("create %s: %m", p);
}

_Noreturn void agent_initramfs_run(int argc, char **argv, agent_pid1_spawn_fn spawn, void *userdata)
{
        mount_api("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        ensure_console();
        mount_api("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount_api("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

        char cmdline[4096] = "";
        _cleanup_fclose_ FILE *f = fopen("/proc/cmdline", "re");
        if (!f || !fgets(cmdline, sizeof(cmdline), f))
                die("read /proc/cmdline: %m");
        cmdline[strcspn(cmdline, "\n")] = '\0';

        int modules_failed = load_modules();

        char root[256], init[256] = "";
        int r = agent_cmdline_get(cmdline, "root", root, sizeof(root));
        if (r <= 0)
                die("no usable root= on the kernel command line");
        if (strncmp(root, "/dev/", 5) != 0)
                die("root=%s: only /dev/... device paths are supported", root);
        r = agent_cmdline_get(cmdline, "init", init, sizeof(init));
        if (r < 0 || (r > 0 && init[0] != '/'))
                die("init=%s: must be an absolute path", init);

        wait_root(root, modules_failed);
        mount_root(cmdline, root);

        bool agent_init = agent_pid1_requested(cmdline);
        /* Pick the real init before leaving the initramfs, to fail clearly. */
        if (agent_init) {
                static const char *const dirs[] = {"/dev", "/proc", "/sys", "/etc", "/root"};
                for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                        ensure_dir(dirs[i]);
        } else if (!init[0]) {
                static const char *const candidates[] = {"/sbin/init", "/etc/init", "/bin/init",
                                                         "/lib/systemd/systemd"};
                for (size_t i = 0; i < ELEMENTSOF(candidates) && !init[0]; i++) {
                        char p[512];
                        struct stat st;
                        snprintf(p, sizeof(p), NEWROOT "%s", candidates[i]);
                        if (lstat(p, &st) == 0)
                                snprintf(init, sizeof(init), "%s", candidates[i]);
                }
                if (!init[0])
                        die("no init on %s (tried /sbin/init, /etc/init, /bin/init, "
                            "/lib/systemd/systemd); set init=, or boot the image with banger's "
                            "agent as init (banger vm create --init agent)",
                            root);
        } else {
                char p[512];
                struct stat st;
                snprintf(p, sizeof(p), NEWROOT "%s", init);
                if (lstat(p, &st) < 0)
                        die("init=%s does not exist on %s", init, root);
        }

        struct stat rootst;
        if (stat("/", &rootst) < 0)
                die("stat /: %m");
        move_api_mount("/dev");
        move_api_mount("/proc");
        move_api_mount("/sys");
        struct bg_error e = {0};
        if (fs_walk_at(AT_FDCWD, "/", delete_entry, &rootst.st_dev, &e) < 0)
                agent_log("clearing the initramfs: %s", e.msg);

        if (chdir(NEWROOT) < 0)
                die("chdir %s: %m", NEWROOT);
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                die("move the root filesystem to /: %m");
        if (chroot(".") < 0 || chdir("/") < 0)
                die("chroot into the root filesystem: %m");
        if (agent_init)
                agent_pid1_run(cmdline, spawn, userdata);

        char **args = calloc((size_t)argc + 1, sizeof(char *));
        if (!args)
                die("out of memory");
        args[0] = init;
        for (int i = 1; i < argc; i++)
                args[i] = argv[i];
        execv(init, args);
        die("exec %s: %m", init);
}
