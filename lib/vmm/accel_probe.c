#include "vmm/accel_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"
#include "util/timeutil.h"
#include "vmm/qemu/qemu_machine.h"
#include "vmm/vmm_cmdline.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"

#define CACHE_MAGIC "banger-accel-probe 1"

_printf_(3, 4) static void say(char *why, size_t len, const char *fmt, ...)
{
        if (!why || !len)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
}

/* The cheap checks: 0 when /dev/kvm looks usable, else -errno and why. */
static int kvm_device_usable(char *why, size_t len)
{
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                say(why, len, "/dev/kvm: %s", strerror(-r));
                return r;
        }
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        if (v != KVM_API_VERSION) {
                say(why, len, "/dev/kvm: KVM API version %d, QEMU needs %d", v, KVM_API_VERSION);
                return -ENOTSUP;
        }
        _cleanup_close_ int vm = ioctl(fd, KVM_CREATE_VM, 0);
        if (vm < 0) {
                int r = -errno;
                say(why, len, "/dev/kvm: cannot create a VM: %s", strerror(-r));
                return r;
        }
        return 0;
}

static bool file_contains(const char *path, const char *needle)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        /* The markers sit in the first few hundred lines of a boot log. */
        char buf[262144];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        return strstr(buf, needle) != NULL;
}

static void remove_tmpdir(const char *dir)
{
        static const char *const names[] = {"console.log", "qemu.log"};
        char path[4096];
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                (void)unlink(path);
        }
        (void)rmdir(dir);
}

int accel_probe_kvm_boot(const char *qemu, const char *bzimage, const char *initrd,
                         const char *workdir, uint64_t banner_ms, uint64_t finish_ms, char *why,
                         size_t why_len)
{
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s/accel-probe.XXXXXX", workdir && *workdir ? workdir : "/tmp");
        if (!mkdtemp(tmp)) {
                int r = -errno;
                say(why, why_len, "create a directory under %s: %s", workdir, strerror(-r));
                return r;
        }
        char console[4200], log[4200], chardev[8500];
        snprintf(console, sizeof(console), "%s/console.log", tmp);
        snprintf(log, sizeof(log), "%s/qemu.log", tmp);
        /* The temporary path holds no comma unless workdir does: escape it. */
        size_t o = 0;
        o += (size_t)snprintf(chardev, sizeof(chardev), "file,id=console,path=");
        for (const char *c = console; *c && o + 2 < sizeof(chardev); c++) {
                chardev[o++] = *c;
                if (*c == ',')
                        chardev[o++] = ',';
        }
        chardev[o] = '\0';

        /* No root device: a kernel that runs ends in "Kernel panic - not
         * syncing: VFS: Unable to mount root fs", and panic=-1 with
         * -no-reboot then ends QEMU (vmm_cmdline_probe). */
        char cmdline[96];
        (void)vmm_cmdline_probe("ttyS0", cmdline, sizeof(cmdline));
        const char *argv[32];
        size_t n = 0;
        argv[n++] = qemu;
        argv[n++] = "-M";
        argv[n++] = VMM_QEMU_MACHINE;
        argv[n++] = "-accel";
        argv[n++] = "kvm";
        argv[n++] = "-cpu";
        argv[n++] = "host";
        argv[n++] = "-m";
        argv[n++] = "256M";
        argv[n++] = "-smp";
        argv[n++] = "1";
        argv[n++] = "-no-reboot";
        argv[n++] = "-no-user-config";
        argv[n++] = "-nodefaults";
        argv[n++] = "-display";
        argv[n++] = "none";
        argv[n++] = "-chardev";
        argv[n++] = chardev;
        argv[n++] = "-serial";
        argv[n++] = "chardev:console";
        argv[n++] = "-kernel";
        argv[n++] = bzimage;
        if (initrd && *initrd) {
                argv[n++] = "-initrd";
                argv[n++] = initrd;
        }
        argv[n++] = "-append";
        argv[n++] = cmdline;
        argv[n] = NULL;

        pid_t pid;
        int r = vmm_spawn((char *const *)argv, log, &pid);
        if (r < 0) {
                say(why, why_len, "start %s: %s", qemu, strerror(-r));
                remove_tmpdir(tmp);
                return r;
        }

        uint64_t t0 = now_mono_msec();
        int usable = -1, status = 0;
        bool exited = false;
        while (usable < 0) {
                sleep_msec(50);
                uint64_t el = now_mono_msec() - t0;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        exited = true;
                bool banner = file_contains(console, "Linux version");
                if (banner && (exited || file_contains(console, "Kernel panic - not syncing"))) {
                        usable = 1;
                        say(why, why_len, "KVM booted %s in %.1f s", bzimage, (double)el / 1000);
                } else if (exited) {
                        char tail[160];
                        vmm_log_tail(log, tail, sizeof(tail));
                        usable = 0;
                        if (WIFEXITED(status))
                                say(why, why_len,
                                    "QEMU with -accel kvm exited with status %d before the kernel "
                                    "ran%s%s",
                                    WEXITSTATUS(status), tail[0] ? ": " : "", tail);
                        else
                                say(why, why_len, "QEMU with -accel kvm died of signal %d",
                                    WTERMSIG(status));
                } else if (!banner && el >= banner_ms) {
                        usable = 0;
                        say(why, why_len,
                            "under KVM the kernel printed nothing in %.1f s (this host's KVM "
                            "cannot run it, e.g. a PVM-only host)",
                            (double)banner_ms / 1000);
                } else if (el >= finish_ms) {
                        usable = 0;
                        say(why, why_len,
                            "under KVM the kernel started but did not finish booting in %.1f s",
                            (double)finish_ms / 1000);
                }
        }
        /* Bounded: a QEMU stuck in the kernel must not hang the probe. */
        if (!exited)
                (void)vmm_proc_kill(pid, 0, 5000, true);
        remove_tmpdir(tmp);
        return usable;
}

/* FNV-1a, to name the cache file after the key. */
static uint64_t fnv1a(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ull;
        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 0x100000001b3ull;
        }
        return h;
}

static int cache_key(const char *qemu, const char *bzimage, char *buf, size_t len, char *why,
                     size_t why_len)
{
        struct utsname u;
        uname(&u);
        char boot_id[64] = "";
        _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
        if (f && fgets(boot_id, sizeof(boot_id), f))
                boot_id[strcspn(boot_id, "\n")] = '\0';
        struct stat q, k;
        if (stat(qemu, &q) < 0) {
                int r = -errno;
                say(why, why_len, "%s: %s", qemu, strerror(-r));
                return r;
        }
        if (stat(bzimage, &k) < 0) {
                int r = -errno;
                say(why, why_len, "kernel %s: %s", bzimage, strerror(-r));
                return r;
        }
        snprintf(buf, len, "host=%s boot=%s qemu=%s:%jd:%jd kernel=%s:%jd:%jd", u.release, boot_id,
                 qemu, (intmax_t)q.st_size, (intmax_t)q.st_mtime, bzimage, (intmax_t)k.st_size,
                 (intmax_t)k.st_mtime);
        return 0;
}

/* 0 and *ret when path holds an answer for key; -ENOENT otherwise. */
static int cache_read(const char *path, const char *key, enum vmm_accel *ret, char *why,
                      size_t why_len)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -ENOENT;
        char magic[64], k[8192], accel[16], reason[512] = "";
        if (!fgets(magic, sizeof(magic), f) || !fgets(k, sizeof(k), f) ||
            !fgets(accel, sizeof(accel), f))
                return -ENOENT;
        if (!fgets(reason, sizeof(reason), f))
                reason[0] = '\0';
        magic[strcspn(magic, "\n")] = k[strcspn(k, "\n")] = accel[strcspn(accel, "\n")] = '\0';
        reason[strcspn(reason, "\n")] = '\0';
        if (!streq(magic, CACHE_MAGIC) || !streq(k, key))
                return -ENOENT;
        if (streq(accel, "kvm"))
                *ret = VMM_ACCEL_KVM;
        else if (streq(accel, "tcg"))
                *ret = VMM_ACCEL_TCG;
        else
                return -ENOENT;
        say(why, why_len, "%s (cached)", reason);
        return 0;
}

static void cache_write(const char *path, const char *key, enum vmm_accel accel, const char *why)
{
        _cleanup_free_ char *text = NULL;
        int n = asprintf(&text, "%s\n%s\n%s\n%s\n", CACHE_MAGIC, key,
                         accel == VMM_ACCEL_KVM ? "kvm" : "tcg", why);
        if (n < 0)
                return;
        struct bg_error ign = {0};
        (void)write_file_atomic(path, text, (size_t)n, 0644, &ign);
}

int accel_probe(const char *qemu, const char *bzimage, const char *initrd, const char *cache_dir,
                enum vmm_accel *ret, char *why, size_t why_len)
{
        char bin[4096];
        int r = vmm_find_binary(qemu, bin, sizeof(bin));
        if (r < 0) {
                say(why, why_len, "QEMU binary '%s': %s", qemu ? qemu : "", strerror(-r));
                return r;
        }
        if (!bzimage || access(bzimage, R_OK) < 0) {
                r = bzimage ? -errno : -ENOENT;
                say(why, why_len, "kernel '%s': %s", bzimage ? bzimage : "", strerror(-r));
                return r;
        }
        if (kvm_device_usable(why, why_len) < 0) {
                *ret = VMM_ACCEL_TCG;
                return 0;
        }

        char key[8192], path[4200], lockpath[4200];
        _cleanup_close_ int lock = -1;
        bool cached = cache_dir && *cache_dir;
        if (cached) {
                r = cache_key(bin, bzimage, key, sizeof(key), why, why_len);
                if (r < 0)
                        return r;
                snprintf(path, sizeof(path), "%s/accel-%016" PRIx64, cache_dir, fnv1a(key));
                snprintf(lockpath, sizeof(lockpath), "%s/accel-probe.lock", cache_dir);
                if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST) {
                        r = -errno;
                        say(why, why_len, "create %s: %s", cache_dir, strerror(-r));
                        return r;
                }
                lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (lock < 0) {
                        r = -errno;
                        say(why, why_len, "%s: %s", lockpath, strerror(-r));
                        return r;
                }
                while (flock(lock, LOCK_EX) < 0)
                        if (errno != EINTR) {
                                r = -errno;
                                say(why, why_len, "lock %s: %s", lockpath, strerror(-r));
                                return r;
                        }
                if (cache_read(path, key, ret, why, why_len) >= 0)
                        return 1;
        }

        r = accel_probe_kvm_boot(bin, bzimage, initrd, cached ? cache_dir : NULL,
                                 ACCEL_PROBE_BANNER_MS, ACCEL_PROBE_FINISH_MS, why, why_len);
        if (r < 0)
                return r;
        *ret = r ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
        if (cached)
                cache_write(path, key, *ret, why);
        return 0;
}
