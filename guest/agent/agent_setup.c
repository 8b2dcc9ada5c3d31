#include "agent_setup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent_log.h"
#include "agent_netlink.h"
#include "util/fileio.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/timeutil.h"

/* How long `init` waits for a disk or the network interface to appear. */
#define AGENT_DEVICE_WAIT_MS 5000

static void join(char *buf, size_t size, const char *root, const char *rel)
{
        size_t rl = strlen(root);
        while (rl > 0 && root[rl - 1] == '/')
                rl--;
        snprintf(buf, size, "%.*s%s", (int)rl, root, rel);
}

int agent_write_file_atomic(const char *root, const char *rel, const char *content, mode_t mode,
                            unsigned flags)
{
        char path[1024];
        join(path, sizeof(path), root, rel);
        return write_file_atomic_flags(path, content, strlen(content), mode, flags, NULL);
}

int agent_write_hostname(const char *root, const struct agent_config *cfg, unsigned flags)
{
        if (!cfg->name[0])
                return -EINVAL;
        char buf[AGENT_NAME_MAX + 2];
        snprintf(buf, sizeof(buf), "%s\n", cfg->name);
        return agent_write_file_atomic(root, "/etc/hostname", buf, 0644, flags);
}

int agent_write_hosts(const char *root, const struct agent_config *cfg, unsigned flags)
{
        if (!cfg->name[0])
                return -EINVAL;
        char ip[INET_ADDRSTRLEN] = "127.0.1.1";
        if (cfg->has_ip)
                inet_ntop(AF_INET, &cfg->ip, ip, sizeof(ip));
        /* The short name too, when banger.name is a FQDN. */
        char shortname[AGENT_NAME_MAX + 1];
        snprintf(shortname, sizeof(shortname), "%s", cfg->name);
        shortname[strcspn(shortname, ".")] = '\0';
        char buf[1024];
        snprintf(buf, sizeof(buf),
                 "# Written by banger-agent at boot from banger.name/banger.ip.\n"
                 "127.0.0.1\tlocalhost\n"
                 "%s\t%s%s%s\n"
                 "::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "ff02::1\tip6-allnodes\n"
                 "ff02::2\tip6-allrouters\n",
                 ip, cfg->name, streq(shortname, cfg->name) ? "" : " ",
                 streq(shortname, cfg->name) ? "" : shortname);
        return agent_write_file_atomic(root, "/etc/hosts", buf, 0644, flags);
}

int agent_write_resolv_conf(const char *root, const struct agent_config *cfg, unsigned flags)
{
        if (cfg->n_dns == 0)
                return -EINVAL;
        char buf[512];
        size_t off = (size_t)snprintf(buf, sizeof(buf),
                                      "# Written by banger-agent at boot from banger.dns.\n");
        for (size_t i = 0; i < cfg->n_dns && off < sizeof(buf); i++)
                off +=
                    (size_t)snprintf(buf + off, sizeof(buf) - off, "nameserver %s\n", cfg->dns[i]);
        return agent_write_file_atomic(root, "/etc/resolv.conf", buf, 0644, flags);
}

int agent_write_sshd_hostkey(const char *root, unsigned flags)
{
        char key[1024], etc_ssh[1024], dropin_dir[1024], dropin[1024];
        join(key, sizeof(key), root, AGENT_SSH_HOST_KEY);
        join(etc_ssh, sizeof(etc_ssh), root, "/etc/ssh");
        join(dropin_dir, sizeof(dropin_dir), root, "/etc/ssh/sshd_config.d");
        join(dropin, sizeof(dropin), root, AGENT_SSHD_HOSTKEY_DROPIN);

        struct stat st;
        if (lstat(key, &st) < 0 || !S_ISREG(st.st_mode)) {
                if (unlink(dropin) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        if (stat(etc_ssh, &st) < 0)
                return -errno; /* no sshd in this image */
        if (mkdir(dropin_dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* sshd refuses group/world-readable private keys. */
        if (chmod(key, 0600) < 0)
                return -errno;
        int r =
            agent_write_file_atomic(root, AGENT_SSHD_HOSTKEY_DROPIN,
                                    "# Written by banger-agent: the VM's pinned host key from its "
                                    "work disk.\n"
                                    "HostKey " AGENT_SSH_HOST_KEY "\n",
                                    0644, flags);
        return r < 0 ? r : 1;
}

static bool wait_for_path(const char *path, unsigned timeout_ms)
{
        for (unsigned waited = 0;; waited += 50) {
                if (access(path, F_OK) == 0)
                        return true;
                if (waited >= timeout_ms)
                        return false;
                sleep_msec(50);
        }
}

static void warn_cb(const char *message, void *userdata)
{
        agent_log("%s", message);
}

static int setup_network(const struct agent_config *cfg)
{
        int lo = (int)if_nametoindex("lo");
        if (lo > 0) {
                int r = agent_link_set_up(lo);
                if (r < 0)
                        agent_log("bring up lo: %s", strerror(-r));
        }
        if (!cfg->has_ip)
                return 0;

        char ifname[IF_NAMESIZE] = "";
        int r = -ENOENT;
        for (unsigned waited = 0; waited <= AGENT_DEVICE_WAIT_MS; waited += 50) {
                r = agent_iface_find("/sys", cfg->has_mac ? cfg->mac : NULL, ifname,
                                     sizeof(ifname));
                if (r != -ENOENT)
                        break;
                sleep_msec(50);
        }
        if (r < 0) {
                agent_log("no network interface%s found: %s",
                          cfg->has_mac ? " with banger.mac" : "", strerror(-r));
                return r;
        }
        int idx = (int)if_nametoindex(ifname);
        if (idx <= 0) {
                agent_log("interface %s vanished", ifname);
                return -ENODEV;
        }
        char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &cfg->ip, ip, sizeof(ip));
        r = agent_link_set_up(idx);
        if (r < 0) {
                agent_log("bring up %s: %s", ifname, strerror(-r));
                return r;
        }
        r = agent_addr_add(idx, cfg->ip, cfg->prefix);
        if (r < 0) {
                agent_log("add address %s/%u to %s: %s", ip, cfg->prefix, ifname, strerror(-r));
                return r;
        }
        agent_log("%s: %s/%u", ifname, ip, cfg->prefix);
        if (cfg->has_gw) {
                inet_ntop(AF_INET, &cfg->gw, gw, sizeof(gw));
                r = agent_route_add_default(idx, cfg->gw);
                if (r < 0) {
                        agent_log("add default route via %s on %s: %s", gw, ifname, strerror(-r));
                        return r;
                }
                agent_log("default route via %s", gw);
        }
        return 0;
}

/* /root keeps the mode the work disk brought (the image's, 0700 on Debian,
 * through its work seed) minus group and other write, which sshd's
 * StrictModes refuses. */
static int root_home_mode(void)
{
        struct stat st;
        if (stat("/root", &st) < 0)
                return -1;
        return chmod("/root", st.st_mode & 07755 & ~(mode_t)022);
}

static int mount_disk(const char *dev, const char *target, unsigned long flags, const char *what)
{
        if (!wait_for_path(dev, AGENT_DEVICE_WAIT_MS)) {
                agent_log("%s disk %s did not appear within %u ms", what, dev,
                          AGENT_DEVICE_WAIT_MS);
                return -ENOENT;
        }
        int r = mkdir_p(target, 0755);
        if (r < 0) {
                agent_log("create %s: %s", target, strerror(-r));
                return r;
        }
        /* A fresh work disk comes from mkfs with lazy_itable_init: without
         * noinit_itable the kernel zeroes its inode tables in the background
         * on first mount, which slows the first boot (the tables are marked
         * unused, so skipping that is safe). */
        const char *data = (flags & MS_RDONLY) ? NULL : "noinit_itable";
        if (mount(dev, target, "ext4", flags, data) < 0) {
                r = -errno;
                agent_log("mount %s disk %s at %s: %s", what, dev, target, strerror(-r));
                return r;
        }
        agent_log("mounted %s disk %s at %s", what, dev, target);
        return 0;
}

int agent_work_mount(const char *dev)
{
        int r = mount_disk(dev, "/root", MS_NOSUID | MS_NODEV, "work");
        if (r < 0)
                return r;
        if (chown("/root", 0, 0) < 0 || root_home_mode() < 0) {
                r = -errno;
                agent_log("set owner and mode of /root: %m");
                return r;
        }
        /* The image's /root/.hushlogin is hidden by the work disk: keep
         * logins quiet on it too. */
        int fd = open("/root/.hushlogin", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0)
                close(fd);
        return 0;
}

bool agent_work_mounted(void)
{
        struct stat root, top;
        return stat("/root", &root) == 0 && stat("/", &top) == 0 && root.st_dev != top.st_dev;
}

/* The first few processes whose working directory or an open file is under
 * /root, as "name[pid]" into buf: why /root is busy. */
static void root_users(char *buf, size_t len)
{
        buf[0] = '\0';
        DIR *proc = opendir("/proc");
        if (!proc)
                return;
        size_t used = 0, n = 0;
        struct dirent *de;
        while ((de = readdir(proc)) && n < 5) {
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                char p[300], target[512], comm[64] = "?";
                bool uses = false;
                snprintf(p, sizeof(p), "/proc/%s/cwd", de->d_name);
                ssize_t l = readlink(p, target, sizeof(target) - 1);
                if (l > 0) {
                        target[l] = '\0';
                        uses = strncmp(target, "/root", 5) == 0 && (target[5] == '/' || !target[5]);
                }
                snprintf(p, sizeof(p), "/proc/%s/fd", de->d_name);
                DIR *fds = uses ? NULL : opendir(p);
                struct dirent *fe;
                while (fds && !uses && (fe = readdir(fds))) {
                        snprintf(p, sizeof(p), "/proc/%s/fd/%s", de->d_name, fe->d_name);
                        l = readlink(p, target, sizeof(target) - 1);
                        if (l > 0) {
                                target[l] = '\0';
                                uses = strncmp(target, "/root/", 6) == 0;
                        }
                }
                if (fds)
                        closedir(fds);
                if (!uses)
                        continue;
                snprintf(p, sizeof(p), "/proc/%s/comm", de->d_name);
                FILE *f = fopen(p, "re");
                if (f) {
                        if (fgets(comm, sizeof(comm), f))
                                comm[strcspn(comm, "\n")] = '\0';
                        fclose(f);
                }
                int w =
                    snprintf(buf + used, len - used, "%s%s[%s]", n ? ", " : "", comm, de->d_name);
                if (w < 0 || (size_t)w >= len - used)
                        break;
                used += (size_t)w;
                n++;
        }
        closedir(proc);
}

int agent_work_unmount(char *why, size_t len)
{
        why[0] = '\0';
        if (!agent_work_mounted())
                return 0;
        sync();
        if (umount2("/root", 0) == 0) {
                agent_log("unmounted the work disk from /root");
                return 0;
        }
        int r = -errno;
        if (r == -EBUSY) {
                char users[400];
                root_users(users, sizeof(users));
                snprintf(why, len, "/root is in use%s%s", users[0] ? " by " : "", users);
        } else {
                snprintf(why, len, "unmount /root: %s", strerror(-r));
        }
        agent_log("%s", why);
        return r;
}

int agent_setup_run(const char *cmdline)
{
        struct agent_config cfg;
        int failed = 0, r;

        r = agent_config_parse(cmdline, &cfg, warn_cb, NULL);
        if (r < 0) {
                agent_log("parse kernel command line: %s", strerror(-r));
                return 1;
        }

        if (cfg.name[0]) {
                if (sethostname(cfg.name, strlen(cfg.name)) < 0) {
                        agent_log("set hostname '%s': %m", cfg.name);
                        failed++;
                }
                if ((r = agent_write_hostname("/", &cfg, 0)) < 0) {
                        agent_log("write /etc/hostname: %s", strerror(-r));
                        failed++;
                }
                if ((r = agent_write_hosts("/", &cfg, 0)) < 0) {
                        agent_log("write /etc/hosts: %s", strerror(-r));
                        failed++;
                }
        } else {
                agent_log("no banger.name, hostname left as is");
        }

        if (setup_network(&cfg) < 0)
                failed++;
        if (cfg.n_dns > 0 && (r = agent_write_resolv_conf("/", &cfg, 0)) < 0) {
                agent_log("write /etc/resolv.conf: %s", strerror(-r));
                failed++;
        }

        if (cfg.modules[0]) {
                struct utsname u;
                char target[512];
                uname(&u);
                snprintf(target, sizeof(target), "/lib/modules/%s", u.release);
                if (mount_disk(cfg.modules, target, MS_RDONLY | MS_NOSUID | MS_NODEV, "modules") <
                    0)
                        failed++;
        }

        if (cfg.work[0] && agent_work_mount(cfg.work) < 0)
                failed++;

        r = agent_write_sshd_hostkey("/", 0);
        if (r < 0) {
                agent_log("pin sshd host key %s: %s", AGENT_SSH_HOST_KEY, strerror(-r));
                failed++;
        } else if (r > 0) {
                agent_log("sshd uses host key %s", AGENT_SSH_HOST_KEY);
        }
        return failed;
}
