/* banger-agent: the one static binary banger puts into every guest.
 *
 *   /init (PID 1 on an initramfs)  mount the root disk and switch_root to it
 *   /init with banger.init=agent   the same, then stay PID 1 of the new root
 *                                  (agent_pid1.h): set up, serve, reap
 *   banger-agent init              apply banger.* kernel parameters at boot
 *   banger-agent serve [--virtio-serial NAME | --vsock PORT]
 *                                  answer the host's Health/Ports/Stats/Shutdown/
 *                                  Reidentify
 *   banger-agent recv-tar          unpack a workspace tar sent over TCP (agent_recv.h)
 *   banger-agent version
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_channel.h"
#include "agent_cmdline.h"
#include "agent_enter.h"
#include "agent_initramfs.h"
#include "agent_log.h"
#include "agent_recv.h"
#include "agent_reid.h"
#include "agent_serve.h"
#include "agent_setup.h"
#include "util/timeutil.h"

#define AGENT_VERSION BANGER_AGENT_VERSION " (" BANGER_AGENT_COMMIT ")"
#define DEFAULT_VPORT "org.banger.agent.0"
#define DEFAULT_VSOCK_PORT 1024
#define MAX_VSOCK_CONNECTIONS 16
/* QEMU's exec ports (vmm_qemu.h VMM_QEMU_EXEC_PORT_FMT, vmm.h VMM_EXEC_PORTS_MAX). */
#define EXEC_PORT_FMT "org.banger.exec.%u"
#define EXEC_PORTS_MAX 16

static const char *const disk_paths[] = {"/", "/root"};

static const struct agent_reid_env reid_env = {.root = "/", .system = true, .sys_dir = "/sys"};

static const struct agent_serve_ctx serve_ctx = {
    .proc_root = "/proc",
    .version = AGENT_VERSION,
    .disk_paths = disk_paths,
    .n_disk_paths = 2,
    .stall_ms = 5000,
    .write_timeout_ms = 5000,
    .reid = &reid_env,
};

/* Freezing an ext4 file system flushes its journal and marks it clean, so
 * the host can write to the work disk (file_sync at the next start) without
 * a journal replay; it works with files still open, where a read-only
 * remount would fail. Nothing writes to it after this: the machine reboots. */
static void freeze(const char *path)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        if (ioctl(fd, FIFREEZE, 0) < 0 && errno != EBUSY)
                agent_log("freeze %s: %m", path);
        close(fd);
}

_Noreturn static void reboot_now(void)
{
        agent_log("shutdown requested by the host: syncing and rebooting");
        sync();
        freeze("/root");
        freeze("/");
        reboot(RB_AUTOBOOT);
        agent_log("reboot: %m");
        exit(EXIT_FAILURE);
}

/* After the Shutdown ack: give the host up to ms to read it and hang up, so
 * the reply is not lost in a buffer when the machine goes away. */
static void wait_hangup(int fd, int ms)
{
        for (int waited = 0; waited < ms; waited += 50) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 50) < 0 && errno != EINTR)
                        return;
                if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
                        return;
                if (p.revents & POLLIN) {
                        char buf[256];
                        if (read(fd, buf, sizeof(buf)) <= 0)
                                return;
                }
        }
}

/* Out of sync on a stream we cannot close (virtio-serial): discard input until
 * the host hangs up or stays quiet for 200 ms. */
static void drain(int fd)
{
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int r = poll(&p, 1, 200);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 || !(p.revents & POLLIN))
                        return;
                char buf[4096];
                if (read(fd, buf, sizeof(buf)) <= 0)
                        return;
        }
}

/* Serves the virtio-serial port `name` for ever: the agent channel, or one
 * of the exec ports (org.banger.exec.N, one host connection each, so the
 * host runs several commands at once without holding the agent channel). */
_Noreturn static void serve_vport(const char *name)
{
        bool logged_missing = false;
        for (;;) {
                char dev[256];
                int r = agent_vport_find("/dev", "/sys", name, dev, sizeof(dev));
                int fd = r < 0 ? r : open(dev, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0) {
                        if (!logged_missing)
                                agent_log("virtio-serial port %s: %s; retrying", name,
                                          strerror(r < 0 ? -r : errno));
                        logged_missing = true;
                        sleep_msec(1000);
                        continue;
                }
                agent_log("serving on virtio-serial port %s (%s)", name, dev);
                logged_missing = false;
                (void)agent_serve_announce(fd, 200);
                for (;;) {
                        r = agent_serve_stream(&serve_ctx, fd);
                        if (r == AGENT_SERVE_SHUTDOWN) {
                                wait_hangup(fd, 1000);
                                reboot_now();
                        }
                        if (r == 0) {
                                /* No host connected (reads return EOF, poll says
                                 * HUP): look again shortly. */
                                sleep_msec(100);
                                continue;
                        }
                        if (r == -EMSGSIZE || r == -EPROTO || r == -ETIMEDOUT || r == -EPIPE ||
                            r == -ECONNRESET) {
                                agent_log("virtio-serial %s: %s; resynchronising", name,
                                          strerror(-r));
                                drain(fd);
                                continue;
                        }
                        agent_log("virtio-serial %s: %s; reopening", name, strerror(-r));
                        break;
                }
                close(fd);
                sleep_msec(1000);
        }
}

_Noreturn static void *exec_port_thread(void *arg)
{
        serve_vport(arg);
}

/* The agent channel, and beside it every exec port the VMM gave this guest
 * (a VM made before exec ports, or a clone of such a template, has none). */
_Noreturn static void serve_virtio_serial(const char *name)
{
        static char exec_names[EXEC_PORTS_MAX][32];
        /* The ports appear together: once the channel is there, so are they. */
        char dev[256];
        for (unsigned tries = 0; agent_vport_find("/dev", "/sys", name, dev, sizeof(dev)) < 0;
             tries++) {
                if (tries == 0)
                        agent_log("virtio-serial port %s not there yet; waiting", name);
                sleep_msec(200);
        }
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        unsigned n = 0;
        for (unsigned i = 0; i < EXEC_PORTS_MAX; i++) {
                snprintf(exec_names[i], sizeof(exec_names[i]), EXEC_PORT_FMT, i);
                if (agent_vport_find("/dev", "/sys", exec_names[i], dev, sizeof(dev)) < 0)
                        continue;
                pthread_t t;
                int r = pthread_create(&t, &attr, exec_port_thread, exec_names[i]);
                if (r != 0)
                        agent_log("start exec port %s: %s", exec_names[i], strerror(r));
                else
                        n++;
        }
        if (n)
                agent_log("serving %u exec port(s)", n);
        serve_vport(name);
}

static atomic_int vsock_connections;

static void *vsock_connection(void *arg)
{
        int fd = (int)(intptr_t)arg;
        int r = agent_serve_stream(&serve_ctx, fd);
        if (r == AGENT_SERVE_SHUTDOWN) {
                wait_hangup(fd, 1000);
                reboot_now();
        }
        if (r < 0)
                agent_log("vsock connection: %s", strerror(-r));
        close(fd);
        atomic_fetch_sub(&vsock_connections, 1);
        return NULL;
}

_Noreturn static void serve_vsock(uint32_t port)
{
        int lfd;
        bool logged = false;
        while ((lfd = agent_vsock_listen(port)) < 0) {
                if (!logged)
                        agent_log("listen on vsock port %u: %s; retrying", port, strerror(-lfd));
                logged = true;
                sleep_msec(1000);
        }
        agent_log("serving on vsock port %u", port);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno != EINTR && errno != ECONNABORTED)
                                agent_log("accept on vsock port %u: %m", port);
                        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                                sleep_msec(100);
                        continue;
                }
                if (atomic_fetch_add(&vsock_connections, 1) >= MAX_VSOCK_CONNECTIONS) {
                        atomic_fetch_sub(&vsock_connections, 1);
                        close(fd);
                        continue;
                }
                pthread_t t;
                int r = pthread_create(&t, &attr, vsock_connection, (void *)(intptr_t)fd);
                if (r != 0) {
                        agent_log("start connection thread: %s", strerror(r));
                        atomic_fetch_sub(&vsock_connections, 1);
                        close(fd);
                }
        }
}

static int read_cmdline(char *buf, size_t size)
{
        FILE *f = fopen("/proc/cmdline", "re");
        if (!f)
                return -errno;
        if (!fgets(buf, (int)size, f))
                buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static int usage(FILE *out, int code)
{
        fprintf(out,
                "usage: banger-agent init\n"
                "       banger-agent serve [--virtio-serial NAME | --vsock PORT]\n"
                "       banger-agent recv-tar\n"
                "       banger-agent enter --root=DIR [--cgroup=DIR] [--cwd=DIR] "
                "[--user=UID:GID [--groups=G,...]]\n"
                "                          [--no-new-privs] -- COMMAND...\n"
                "       banger-agent version\n"
                "As /init on an initramfs (PID 1) it mounts root= and switches to its "
                "init;\nwith banger.init=agent it stays the VM's init itself (does what init "
                "and serve do,\nand reaps orphans).\n"
                "serve defaults to banger.agent= on the kernel command line, else the "
                "virtio-serial port " DEFAULT_VPORT " if present, else vsock port %d.\n"
                "recv-tar reads a token line on stdin, prints \"banger-recv PORT\", and unpacks\n"
                "the tar that follows the token on the first TCP connection to PORT that sends\n"
                "it into the current directory (banger's workspace copy).\n"
                "enter runs COMMAND in the cgroup v2 directory --cgroup (passed over where\n"
                "there is no cgroup v2), with DIR as its root (chroot), in cwd, as UID:GID with\n"
                "the groups given (none without --groups), looked up in the environment's "
                "PATH\ninside DIR (a pod's container in its sandbox's VM).\n",
                DEFAULT_VSOCK_PORT);
        return code;
}

static void set_oom_score_adj(const char *v)
{
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, v, strlen(v)) < 0)
                agent_log("set oom_score_adj %s: %m", v);
        if (fd >= 0)
                close(fd);
}

static int cmd_serve(int argc, char **argv)
{
        enum agent_channel_kind kind = AGENT_CHANNEL_NONE;
        char name[AGENT_PATH_MAX] = "";
        uint32_t port = 0;

        if (argc == 4 && streq(argv[2], "--virtio-serial")) {
                char spec[AGENT_PATH_MAX + 16];
                snprintf(spec, sizeof(spec), "virtio-serial:%s", argv[3]);
                if (agent_channel_parse(spec, &kind, name, sizeof(name), &port) < 0) {
                        fprintf(stderr, "banger-agent: bad port name '%s'\n", argv[3]);
                        return 2;
                }
        } else if (argc == 4 && streq(argv[2], "--vsock")) {
                char spec[64];
                snprintf(spec, sizeof(spec), "vsock:%s", argv[3]);
                if (agent_channel_parse(spec, &kind, name, sizeof(name), &port) < 0) {
                        fprintf(stderr, "banger-agent: bad vsock port '%s'\n", argv[3]);
                        return 2;
                }
        } else if (argc != 2) {
                return usage(stderr, 2);
        }

        if (kind == AGENT_CHANNEL_NONE) {
                char cmdline[4096] = "", value[AGENT_PATH_MAX + 32];
                if (read_cmdline(cmdline, sizeof(cmdline)) == 0 &&
                    agent_cmdline_get(cmdline, "banger.agent", value, sizeof(value)) > 0 &&
                    agent_channel_parse(value, &kind, name, sizeof(name), &port) < 0) {
                        agent_log("banger.agent='%s' is not usable, using the default", value);
                        kind = AGENT_CHANNEL_NONE;
                }
        }
        if (kind == AGENT_CHANNEL_NONE) {
                char dev[256];
                if (agent_vport_find("/dev", "/sys", DEFAULT_VPORT, dev, sizeof(dev)) == 0) {
                        kind = AGENT_CHANNEL_VIRTIO_SERIAL;
                        snprintf(name, sizeof(name), "%s", DEFAULT_VPORT);
                } else {
                        kind = AGENT_CHANNEL_VSOCK;
                        port = DEFAULT_VSOCK_PORT;
                }
        }
        signal(SIGPIPE, SIG_IGN);
        /* A command that runs the guest out of memory must not take the
         * agent with it: the kernel picks another process (the commands the
         * agent starts go back to 0, agent_exec.c). */
        set_oom_score_adj("-1000");
        if (kind == AGENT_CHANNEL_VIRTIO_SERIAL)
                serve_virtio_serial(name);
        serve_vsock(port);
}

/* The agent as the VM's init (agent_pid1.h) keeps a child running the very
 * code `banger-agent serve` runs under the image's systemd unit. */
static pid_t spawn_server(void *userdata)
{
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *args[] = {"banger-agent", "serve", NULL};
                _exit(cmd_serve(2, args));
        }
        return pid;
}

int main(int argc, char **argv)
{
        if (agent_in_initramfs())
                agent_initramfs_run(argc, argv, spawn_server, NULL);

        if (argc < 2)
                return usage(stderr, 2);
        if (streq(argv[1], "init")) {
                char cmdline[4096];
                int r = read_cmdline(cmdline, sizeof(cmdline));
                if (r < 0) {
                        agent_log("read /proc/cmdline: %s", strerror(-r));
                        return 0; /* never fatal for boot */
                }
                int failed = agent_setup_run(cmdline);
                if (failed)
                        agent_log("setup finished with %d step(s) skipped", failed);
                return 0;
        }
        if (streq(argv[1], "serve"))
                return cmd_serve(argc, argv);
        if (streq(argv[1], "recv-tar") && argc == 2) {
                struct agent_recv_opts o = {.in_fd = STDIN_FILENO,
                                            .out_fd = STDOUT_FILENO,
                                            .accept_ms = 15000,
                                            .token_ms = 5000};
                return agent_recv_tar(&o);
        }
        if (streq(argv[1], "enter"))
                return agent_enter_main(argc - 1, argv + 1);
        if (streq(argv[1], "version")) {
                printf("banger-agent %s\n", AGENT_VERSION);
                return 0;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help"))
                return usage(stdout, 0);
        return usage(stderr, 2);
}
