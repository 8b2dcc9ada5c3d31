/* Unit tests of the QEMU VMM driver: the command line it builds, its QMP
 * client against a fake QMP server, adoption (refusing reused and stale
 * PIDs, accepting a process whose executable is named qemu-system-*), exit
 * reasons, and the KVM probe's decisions with fake QEMU scripts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/accel_probe.h"
#include "vmm/qemu/qmp.h"
#include "cmdline_once.h"
#include "util/fileio.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/vmm.h"
#include "vmm/qemu/vmm_qemu.h"
#include "vmm/vmm_log.h"
#include "vmm/vmm_proc.h"
#include "test_tmpdir.h"
#include "skip.h"

/* ---- helpers ---- */

static char *make_tmpdir(void)
{
        char *d = strdup("/tmp/test-vmm-qemu.XXXXXX");
        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void rm_tree(const char *dir)
{
        assert_int_equal(test_tmpdir_remove(dir), 0);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        size_t n = strlen(content);
        assert_int_equal(write(fd, content, n), (ssize_t)n);
        close(fd);
        assert_int_equal(chmod(path, mode), 0);
}

static char *read_file(const char *path)
{
        char *buf = NULL;
        return read_file_capped(path, 1u << 20, 0, &buf, NULL, NULL) < 0 ? NULL : buf;
}

static void base_spec(struct vmm_spec *s)
{
        memset(s, 0, sizeof(*s));
        strcpy(s->id, "0123456789abcdef0123456789abcdef");
        strcpy(s->name, "dev-box");
        strcpy(s->dir, "/var/lib/banger/vms/0123");
        strcpy(s->binary, "/usr/bin/qemu-system-x86_64");
        s->vcpu = 2;
        s->memory_mib = 512;
        strcpy(s->kernel_bzimage, "/k/vmlinuz");
        strcpy(s->initrd, "/k/initrd.img");
        s->boot.modules_disk = true;
        s->n_disks = 3;
        strcpy(s->disks[0].path, "/vm/root.qcow2");
        s->disks[0].format = VMM_DISK_QCOW2;
        strcpy(s->disks[1].path, "/vm/work.ext4");
        s->disks[1].format = VMM_DISK_RAW;
        strcpy(s->disks[2].path, "/k/modules.ext4");
        s->disks[2].format = VMM_DISK_RAW;
        s->disks[2].read_only = true;
        s->vsock_cid = 7;
}

static int argv_find(char **argv, const char *a)
{
        for (int i = 0; argv[i]; i++)
                if (strcmp(argv[i], a) == 0)
                        return i;
        return -1;
}

/* The kernel command line QEMU gets: the value of the one -append (QEMU
 * would take the last of several, so a second one fails the test too). */
static const char *the_append(char **argv)
{
        const char *v = NULL;
        int n = 0;
        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], "-append") == 0) {
                        v = argv[i + 1];
                        n++;
                }
        if (n != 1)
                fail_msg("%d -append options, want one", n);
        return v;
}

/* The value following option `opt` whose value starts with prefix. */
static const char *opt_value(char **argv, const char *opt, const char *prefix)
{
        for (int i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], opt) == 0 && strncmp(argv[i + 1], prefix, strlen(prefix)) == 0)
                        return argv[i + 1];
        return NULL;
}

static void assert_pair(char **argv, const char *opt, const char *value)
{
        const char *v = opt_value(argv, opt, value);
        if (!v || strcmp(v, value) != 0)
                fail_msg("missing '%s %s'", opt, value);
}

/* ---- argv builder ---- */

static void test_argv_tcg_serial_no_tap(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG, .vsock = false, .tsc_khz = 2299998};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);

        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_pair(argv, "-M", "microvm,acpi=on,pit=off,pic=off,rtc=on");
        assert_pair(argv, "-accel", "tcg,thread=multi");
        assert_pair(argv, "-cpu", "qemu64");
        assert_pair(argv, "-m", "512M");
        assert_pair(argv, "-smp", "2");
        assert_pair(argv, "-name", "guest=dev-box");
        assert_true(argv_find(argv, "-no-reboot") > 0);
        assert_true(argv_find(argv, "-nodefaults") > 0);
        assert_pair(argv, "-display", "none");
        assert_pair(argv, "-chardev", "file,id=console,path=/var/lib/banger/vms/0123/console.log,append=on");
        assert_pair(argv, "-serial", "chardev:console");
        assert_pair(argv, "-chardev",
                    "socket,id=qmp,path=/var/lib/banger/vms/0123/qmp.sock,server=on,wait=off");
        assert_pair(argv, "-mon", "chardev=qmp,mode=control");
        assert_pair(argv, "-kernel", "/k/vmlinuz");
        assert_pair(argv, "-initrd", "/k/initrd.img");
        assert_pair(argv, "-append",
                    "console=ttyS0 reboot=t panic=-1 tsc_early_khz=2299998 root=/dev/vda rw "
                    "rootfstype=ext4 banger.name=dev-box banger.work=/dev/vdb "
                    "banger.modules=/dev/vdc banger.agent=virtio-serial:org.banger.agent.0");
        /* The whole line comes from one builder: every parameter once. */
        assert_params_once(the_append(argv));

        /* Disks in order, with their formats; the read-only one read-only. */
        int d0 = argv_find(argv, "id=disk0,file=/vm/root.qcow2,format=qcow2,if=none,discard=unmap");
        int d1 = argv_find(argv, "id=disk1,file=/vm/work.ext4,format=raw,if=none,discard=unmap");
        int d2 = argv_find(argv, "id=disk2,file=/k/modules.ext4,format=raw,if=none,readonly=on");
        assert_true(d0 > 0 && d1 > d0 && d2 > d1);
        assert_string_equal(argv[d0 + 2], "virtio-blk-device,drive=disk0");
        assert_string_equal(argv[d2 + 2], "virtio-blk-device,drive=disk2");
        assert_string_equal(argv[d0 - 1], "-drive");

        /* No network, agent over virtio-serial. */
        assert_int_equal(argv_find(argv, "-netdev"), -1);
        assert_pair(argv, "-device", "virtio-serial-device");
        assert_pair(argv, "-chardev",
                    "socket,id=agent,path=/var/lib/banger/vms/0123/agent.sock,server=on,wait=off");
        assert_pair(argv, "-device", "virtserialport,chardev=agent,name=org.banger.agent.0");
        assert_null(opt_value(argv, "-device", "vhost-vsock"));
        vmm_qemu_argv_free(argv);
}

static void test_argv_kvm_tap_vsock(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        strcpy(s.tap, "bgtap3");
        strcpy(s.mac, "52:54:00:ab:cd:ef");
        s.n_disks = 1;
        s.initrd[0] = '\0';
        s.boot.modules_disk = false;
        strcpy(s.boot.ip, "172.30.0.9");
        s.boot.prefix = 24;
        strcpy(s.boot.gateway, "172.30.0.1");
        strcpy(s.boot.dns, "1.1.1.1,8.8.8.8");
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_KVM, .vsock = true, .tsc_khz = 2299998};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-accel", "kvm");
        assert_pair(argv, "-cpu", "host");
        /* Under KVM the guest uses kvmclock: no TSC frequency; no initrd given. */
        assert_pair(argv, "-append",
                    "console=ttyS0 reboot=t panic=-1 root=/dev/vda rw rootfstype=ext4 "
                    "banger.name=dev-box banger.work=/dev/vdb banger.agent=vsock:1024 "
                    "banger.ip=172.30.0.9/24 banger.gw=172.30.0.1 banger.mac=52:54:00:ab:cd:ef "
                    "banger.dns=1.1.1.1,8.8.8.8");
        assert_params_once(the_append(argv));
        assert_int_equal(argv_find(argv, "-initrd"), -1);
        assert_pair(argv, "-netdev", "tap,id=net0,ifname=bgtap3,script=no,downscript=no");
        assert_pair(argv, "-device", "virtio-net-device,netdev=net0,mac=52:54:00:ab:cd:ef");
        assert_pair(argv, "-device", "vhost-vsock-device,guest-cid=7");
        assert_null(opt_value(argv, "-device", "virtio-serial-device"));
        assert_null(opt_value(argv, "-chardev", "socket,id=agent"));
        assert_non_null(opt_value(argv, "-drive", "id=disk0,"));
        assert_null(opt_value(argv, "-drive", "id=disk1,"));
        vmm_qemu_argv_free(argv);
}

static void test_argv_commas_escaped(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        strcpy(s.dir, "/tmp/a,b");
        strcpy(s.disks[0].path, "/img/x,readonly=off");
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-chardev", "socket,id=qmp,path=/tmp/a,,b/qmp.sock,server=on,wait=off");
        assert_pair(argv, "-chardev", "file,id=console,path=/tmp/a,,b/console.log,append=on");
        assert_non_null(
            opt_value(argv, "-drive", "id=disk0,file=/img/x,,readonly=off,format=qcow2,if=none"));
        /* tsc_khz 0: no tsc_early_khz. */
        assert_non_null(
            opt_value(argv, "-append", "console=ttyS0 reboot=t panic=-1 root=/dev/vda"));
        vmm_qemu_argv_free(argv);
}

/* With a console pump the console goes to QEMU's stdout (the pump's pipe),
 * never to a file in the VM's directory. */
static void test_argv_console_pump(void **state)
{
        struct vmm_spec s;
        base_spec(&s);
        s.console_fd = 7;
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(&s, &o, &argv, &err), 0);
        assert_pair(argv, "-chardev", "file,id=console,path=/dev/stdout");
        assert_pair(argv, "-serial", "chardev:console");
        for (char **a = argv; *a; a++)
                assert_null(strstr(*a, "console.log"));
        vmm_qemu_argv_free(argv);
}

static void expect_rejected(const struct vmm_spec *s, const struct vmm_qemu_opts *o,
                            const char *msg_part)
{
        char **argv = NULL;
        struct bg_error err = {0};
        assert_int_equal(vmm_qemu_build_argv(s, o, &argv, &err), -EINVAL);
        assert_null(argv);
        if (!strstr(err.msg, msg_part))
                fail_msg("error '%s' lacks '%s'", err.msg, msg_part);
}

static void test_argv_rejects(void **state)
{
        struct vmm_spec s;
        struct vmm_qemu_opts o = {.accel = VMM_ACCEL_TCG};
        struct vmm_qemu_opts auto_o = {.accel = VMM_ACCEL_AUTO};
        base_spec(&s);
        expect_rejected(&s, &auto_o, "kvm or tcg");
        base_spec(&s);
        s.n_disks = 5;
        expect_rejected(&s, &o, "5 disks");
        base_spec(&s);
        strcpy(s.tap, "bg tap");
        expect_rejected(&s, &o, "tap name 'bg tap'");
        base_spec(&s);
        strcpy(s.tap, "bg0");
        strcpy(s.mac, "52:54:00:zz:00:01");
        expect_rejected(&s, &o, "MAC address");
        base_spec(&s);
        s.vsock_cid = 2;
        struct vmm_qemu_opts vs = {.accel = VMM_ACCEL_KVM, .vsock = true};
        expect_rejected(&s, &vs, "vsock CID 2");
        base_spec(&s);
        memset(s.dir, 'x', 100);
        s.dir[0] = '/';
        s.dir[100] = '\0';
        expect_rejected(&s, &o, "too long for a unix socket");
        base_spec(&s);
        strcpy(s.dir, "relative/dir");
        expect_rejected(&s, &o, "not an absolute path");
        base_spec(&s);
        s.vcpu = 0;
        expect_rejected(&s, &o, "vcpu count 0");
        base_spec(&s);
        s.memory_mib = 16;
        expect_rejected(&s, &o, "memory 16 MiB");
        base_spec(&s);
        strcpy(s.name, "dev box");
        expect_rejected(&s, &o, "VM name");
        base_spec(&s);
        strcpy(s.boot.init, "/sbin/init\nrdinit=/bin/sh");
        expect_rejected(&s, &o, "init");
        base_spec(&s);
        s.disks[1].path[0] = '\0';
        expect_rejected(&s, &o, "disk 1 has no path");
        base_spec(&s);
        s.kernel_bzimage[0] = '\0';
        expect_rejected(&s, &o, "no kernel");
}

/* ---- QMP client against a fake server ---- */

struct fake_qmp {
        int fd;
        const char *greeting;
        int mode;               /* 0: full script; 1: greeting only, then close */
        char commands[16][128]; /* what the client executed, in order */
        int n_commands;
};

static bool read_line(int fd, char *buf, size_t len)
{
        size_t o = 0;
        while (o + 1 < len) {
                char c;
                ssize_t n = read(fd, &c, 1);
                if (n <= 0)
                        return false;
                if (c == '\n')
                        break;
                buf[o++] = c;
        }
        buf[o] = '\0';
        return true;
}

static void send_str(int fd, const char *s)
{
        size_t n = strlen(s);
        assert_int_equal(write(fd, s, n), (ssize_t)n);
}

/* Extracts "execute" and "id" from a command line the client sent. */
static void parse_cmd(const char *line, char *cmd, size_t len, long long *id)
{
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        assert_non_null(j);
        snprintf(cmd, len, "%s", json_string_value(json_object_get(j, "execute")));
        *id = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
}

static void *fake_qmp_thread(void *arg)
{
        struct fake_qmp *f = arg;
        char line[1024], cmd[128], out[512];
        long long id;
        send_str(f->fd, f->greeting);
        if (f->mode == 1) {
                close(f->fd);
                return NULL;
        }
        while (read_line(f->fd, line, sizeof(line))) {
                parse_cmd(line, cmd, sizeof(cmd), &id);
                snprintf(f->commands[f->n_commands++], sizeof(f->commands[0]), "%s", cmd);
                if (strcmp(cmd, "qmp_capabilities") == 0) {
                        snprintf(out, sizeof(out), "{\"return\": {}, \"id\": %lld}\r\n", id);
                        send_str(f->fd, out);
                } else if (strcmp(cmd, "query-status") == 0) {
                        /* An event, a stale answer, then the answer in two pieces. */
                        send_str(f->fd,
                                 "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                                 "\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}}\r\n");
                        snprintf(out, sizeof(out),
                                 "{\"return\": {\"status\": \"paused\"}, \"id\": %lld}\r\n",
                                 id - 1);
                        send_str(f->fd, out);
                        snprintf(out, sizeof(out),
                                 "{\"return\": {\"status\": \"running\", \"running\": true}, "
                                 "\"id\": %lld}\r\n",
                                 id);
                        size_t half = strlen(out) / 2;
                        assert_int_equal(write(f->fd, out, half), (ssize_t)half);
                        sleep_msec(20);
                        send_str(f->fd, out + half);
                } else if (strcmp(cmd, "system_powerdown") == 0) {
                        snprintf(out, sizeof(out),
                                 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no ACPI "
                                 "device\"}, \"id\": %lld}\r\n",
                                 id);
                        send_str(f->fd, out);
                } else if (strcmp(cmd, "slow") == 0) {
                        /* No answer at all: the client must time out. */
                } else if (strcmp(cmd, "bye") == 0) {
                        break;
                } else {
                        snprintf(out, sizeof(out),
                                 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The "
                                 "command %s has not been found\"}, \"id\": %lld}\r\n",
                                 cmd, id);
                        send_str(f->fd, out);
                }
        }
        close(f->fd);
        return NULL;
}

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n";

static void test_qmp_session(void **state)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        struct fake_qmp f = {.fd = sv[1], .greeting = greeting};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, fake_qmp_thread, &f), 0);

        struct qmp *q = NULL;
        struct bg_error err = {0};
        assert_int_equal(qmp_open_fd(sv[0], 2000, &q, &err), 0);

        json_t *ret = NULL;
        assert_int_equal(qmp_execute(q, "query-status", NULL, 2000, &ret, &err), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
        json_decref(ret);

        bg_error_clear(&err);
        assert_int_equal(qmp_execute(q, "no-such-thing", NULL, 2000, NULL, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err.msg, "QMP no-such-thing: The command no-such-thing has not"));

        bg_error_clear(&err);
        assert_int_equal(qmp_execute(q, "system_powerdown", NULL, 2000, NULL, &err), -EIO);
        assert_string_equal(err.msg, "QMP system_powerdown: no ACPI device");

        bg_error_clear(&err);
        uint64_t t0 = now_mono_msec();
        assert_int_equal(qmp_execute(q, "slow", NULL, 200, NULL, &err), -ETIMEDOUT);
        uint64_t took = now_mono_msec() - t0;
        assert_true(took >= 190 && took < 2000);

        /* Arguments reach the server; the server then hangs up. */
        json_t *args = json_pack("{s:b}", "force", 1);
        bg_error_clear(&err);
        assert_int_equal(qmp_execute(q, "bye", args, 2000, NULL, &err), -ECONNRESET);
        json_decref(args);
        pthread_join(t, NULL);
        q = qmp_free(q);

        assert_int_equal(f.n_commands, 6);
        assert_string_equal(f.commands[0], "qmp_capabilities");
        assert_string_equal(f.commands[1], "query-status");
        assert_string_equal(f.commands[5], "bye");
}

static void test_qmp_bad_greeting(void **state)
{
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        struct fake_qmp f = {.fd = sv[1], .greeting = "{\"hello\": 1}\n", .mode = 1};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, fake_qmp_thread, &f), 0);
        struct qmp *q = NULL;
        struct bg_error err = {0};
        assert_int_equal(qmp_open_fd(sv[0], 2000, &q, &err), -EPROTO);
        assert_null(q);
        assert_non_null(strstr(err.msg, "not a QMP greeting"));
        pthread_join(t, NULL);

        /* Not JSON at all. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        f = (struct fake_qmp){.fd = sv[1], .greeting = "QEMU 7.2 monitor\n", .mode = 1};
        assert_int_equal(pthread_create(&t, NULL, fake_qmp_thread, &f), 0);
        bg_error_clear(&err);
        assert_int_equal(qmp_open_fd(sv[0], 2000, &q, &err), -EPROTO);
        assert_non_null(strstr(err.msg, "malformed JSON"));
        pthread_join(t, NULL);

        /* A greeting, then the connection closes before capabilities. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        f = (struct fake_qmp){.fd = sv[1], .greeting = greeting, .mode = 1};
        assert_int_equal(pthread_create(&t, NULL, fake_qmp_thread, &f), 0);
        bg_error_clear(&err);
        int r = qmp_open_fd(sv[0], 2000, &q, &err);
        assert_true(r == -ECONNRESET);
        pthread_join(t, NULL);

        /* Silence: no greeting in time. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        bg_error_clear(&err);
        assert_int_equal(qmp_open_fd(sv[0], 100, &q, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "no greeting"));
        close(sv[1]);
}

struct listener {
        int lfd;
        struct fake_qmp f;
};

static void *accept_thread(void *arg)
{
        struct listener *l = arg;
        l->f.fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(l->f.fd >= 0);
        return fake_qmp_thread(&l->f);
}

static void test_qmp_unix_socket(void **state)
{
        char *dir = make_tmpdir();
        char path[256];
        snprintf(path, sizeof(path), "%s/qmp.sock", dir);
        struct qmp *q = NULL;
        struct bg_error err = {0};
        assert_int_equal(qmp_open(path, 500, &q, &err), -ENOENT);
        assert_non_null(strstr(err.msg, path));

        struct listener l = {.f = {.greeting = greeting}};
        l.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        assert_int_equal(bind(l.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(l.lfd, 1), 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, accept_thread, &l), 0);
        bg_error_clear(&err);
        assert_int_equal(qmp_open(path, 2000, &q, &err), 0);
        assert_int_equal(qmp_execute(q, "bye", NULL, 2000, NULL, &err), -ECONNRESET);
        pthread_join(t, NULL);
        qmp_free(q);
        close(l.lfd);
        rm_tree(dir);
        free(dir);
}

/* ---- query, pause, resume through the driver ---- */

/* A QEMU monitor on DIR/qmp.sock that keeps its run state across
 * connections (the driver opens one per command): stop pauses, cont runs. */
struct qmp_vm {
        int lfd;
        int conns; /* connections to serve before the thread ends */
        char status[32];
        char commands[16][32];
        int n_commands;
};

static void *qmp_vm_thread(void *arg)
{
        struct qmp_vm *vm = arg;
        for (int c = 0; c < vm->conns; c++) {
                int fd = accept4(vm->lfd, NULL, NULL, SOCK_CLOEXEC);
                assert_true(fd >= 0);
                send_str(fd, greeting);
                char line[1024], cmd[128], out[256];
                long long id;
                while (read_line(fd, line, sizeof(line))) {
                        parse_cmd(line, cmd, sizeof(cmd), &id);
                        if (strcmp(cmd, "qmp_capabilities") != 0 && vm->n_commands < 16)
                                snprintf(vm->commands[vm->n_commands++], sizeof(vm->commands[0]),
                                         "%s", cmd);
                        if (strcmp(cmd, "query-status") == 0) {
                                snprintf(out, sizeof(out),
                                         "{\"return\": {\"status\": \"%s\", \"running\": %s}, "
                                         "\"id\": %lld}\r\n",
                                         vm->status,
                                         strcmp(vm->status, "running") == 0 ? "true" : "false", id);
                        } else {
                                if (strcmp(cmd, "stop") == 0)
                                        strcpy(vm->status, "paused");
                                else if (strcmp(cmd, "cont") == 0)
                                        strcpy(vm->status, "running");
                                snprintf(out, sizeof(out), "{\"return\": {}, \"id\": %lld}\r\n", id);
                        }
                        send_str(fd, out);
                }
                close(fd);
        }
        return NULL;
}

static void test_query_pause_resume(void **state)
{
        const struct vmm_driver *d = &vmm_qemu_driver;
        assert_true(d->caps & VMM_CAP_PAUSE);
        assert_true(d->caps & VMM_CAP_SNAPSHOT);
        assert_false(d->caps & VMM_CAP_HOTPLUG);
        assert_non_null(d->snapshot);
        assert_int_equal(d->agent_transports,
                         VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_SERIAL_UNIX) |
                             VMM_AGENT_TRANSPORT_BIT(VMM_AGENT_VSOCK));
        assert_non_null(d->query);
        assert_non_null(d->pause);
        assert_non_null(d->resume);

        char *dir = make_tmpdir();
        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        struct qmp_vm vm = {.conns = 6, .status = "running"};
        vm.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp.sock", dir);
        assert_int_equal(bind(vm.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(vm.lfd, 4), 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, qmp_vm_thread, &vm), 0);

        /* The "VMM" is this process: alive, with its real start time. */
        struct vmm_handle h = {.pid = getpid()};
        assert_int_equal(proc_start_time(getpid(), &h.start_time), 0);
        struct vmm_status st;
        struct bg_error err = {0};
        assert_int_equal(d->query(&s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_RUNNING);
        assert_string_equal(st.detail, "running");
        assert_int_equal(d->pause(&s, &h, &err), 0);
        assert_int_equal(d->query(&s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_PAUSED);
        assert_string_equal(st.detail, "paused");
        assert_int_equal(d->resume(&s, &h, &err), 0);
        assert_int_equal(d->query(&s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_RUNNING);
        /* What QEMU reports beyond running/paused/prelaunch is "other". */
        strcpy(vm.status, "guest-panicked");
        assert_int_equal(d->query(&s, &h, &st, &err), 0);
        assert_int_equal(st.state, VMM_RUN_OTHER);
        assert_string_equal(st.detail, "guest-panicked");
        pthread_join(t, NULL);
        assert_int_equal(vm.n_commands, 6);
        assert_string_equal(vm.commands[1], "stop");
        assert_string_equal(vm.commands[3], "cont");

        /* A handle whose process is gone: nothing is asked. */
        h.start_time++;
        bg_error_clear(&err);
        assert_int_equal(d->pause(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "not running"));
        assert_int_equal(d->query(&s, &h, &st, &err), -ESRCH);
        close(vm.lfd);
        rm_tree(dir);
        free(dir);
}

/* ---- adoption, liveness, kill ---- */

static void write_pidfile_raw(const char *dir, pid_t pid, uint64_t start)
{
        char path[256], line[64];
        snprintf(path, sizeof(path), "%s/vmm.pid", dir);
        snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)pid, start);
        write_file(path, line, 0644);
}

static void test_adopt_refuses(void **state)
{
        char *dir = make_tmpdir();
        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        struct vmm_handle h = {.pid = 4242};
        struct bg_error err = {0};

        /* No pidfile. */
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_int_equal(h.pid, 4242); /* untouched on failure */

        /* A live process that is not QEMU (this test) with its real start time:
         * a reused PID. */
        uint64_t me;
        assert_int_equal(proc_start_time(getpid(), &me), 0);
        write_pidfile_raw(dir, getpid(), me);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "not QEMU"));

        /* Same PID, another start time. */
        write_pidfile_raw(dir, getpid(), me + 1);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "another process"));

        /* A stale pidfile: the process has exited and been reaped. */
        pid_t c = fork();
        if (c == 0)
                _exit(0);
        uint64_t cst = 0;
        (void)proc_start_time(c, &cst);
        assert_int_equal(waitpid(c, NULL, 0), c);
        write_pidfile_raw(dir, c, cst);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        assert_non_null(strstr(err.msg, "is gone"));

        /* alive() on a handle whose start time does not match. */
        struct vmm_handle mine = {.pid = getpid(), .start_time = me + 1};
        assert_int_equal(vmm_qemu_driver.alive(&mine), 0);
        mine.start_time = me;
        assert_int_equal(vmm_qemu_driver.alive(&mine), 1);
        rm_tree(dir);
        free(dir);
}

static char self_exe[4096];

/* A process whose executable is named qemu-system-x86_64 (a copy of this
 * test, started with --fake-qemu): adopt accepts it, kill ends it. */
static void test_adopt_accepts_qemu_named_process(void **state)
{
        char *dir = make_tmpdir();
        char exe[512], log[512], cmd[1200];
        snprintf(exe, sizeof(exe), "%s/qemu-system-x86_64", dir);
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self_exe, exe);
        assert_int_equal(system(cmd), 0);

        char *argv[] = {
            exe, "--fake-qemu", "-accel", "kvm", "-device", "vhost-vsock-device,guest-cid=9", NULL};
        pid_t pid;
        assert_int_equal(vmm_spawn(argv, log, &pid), 0);
        /* Own session; output in the log. */
        char *out = NULL;
        for (int i = 0; i < 500; i++) {
                free(out);
                out = read_file(log);
                if (out && strstr(out, "fake qemu ready"))
                        break;
                sleep_msec(10);
        }
        assert_non_null(out);
        assert_non_null(strstr(out, "fake qemu ready"));
        free(out);
        assert_int_equal(getsid(pid), pid);

        char pidfile[512];
        snprintf(pidfile, sizeof(pidfile), "%s/vmm.pid", dir);
        struct bg_error err = {0};
        assert_int_equal(pidfile_write(pidfile, pid, &err), 0);

        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        struct vmm_handle h = {0};
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), 0);
        assert_int_equal(h.pid, pid);
        assert_string_equal(h.accel, "kvm");
        assert_int_equal(h.agent_transport, VMM_AGENT_VSOCK);
        assert_int_equal(h.agent_port, VMM_QEMU_AGENT_VSOCK_PORT);
        assert_int_equal(vmm_qemu_driver.alive(&h), 1);

        assert_int_equal(vmm_qemu_driver.kill(&h, &err), 0);
        assert_int_equal(vmm_qemu_driver.alive(&h), 0);
        /* kill reaped its child: nothing left to wait for. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        /* Killing what is gone is fine; adopting it is not. */
        assert_int_equal(vmm_qemu_driver.kill(&h, &err), 0);
        bg_error_clear(&err);
        assert_int_equal(vmm_qemu_driver.adopt(&s, &h, &err), -ESRCH);
        rm_tree(dir);
        free(dir);
}

/* ---- exit reasons ---- */

static void test_exit_reason(void **state)
{
        char *dir = make_tmpdir();
        char log[256], con[256], buf[256];
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        snprintf(con, sizeof(con), "%s/console.log", dir);
        struct vmm_spec s;
        base_spec(&s);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);

        /* Nothing at all. */
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "");

        write_file(log,
                   "# banger: starting QEMU at 2025-01-01T00:00:00.000Z\n"
                   "# /usr/bin/qemu-system-x86_64 -M microvm\n"
                   "qemu-system-x86_64: -netdev tap,id=net0,ifname=bg3,script=no,downscript=no: "
                   "could not open /dev/net/tun: Operation not permitted\r\n\n",
                   0644);
        vmm_qemu_driver.exit_reason(&s, 1 << 8, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU exited with status 1: qemu-system-x86_64: -netdev "
                                 "tap,id=net0,ifname=bg3,script=no,downscript=no: could not open "
                                 "/dev/net/tun: Operation not permitted (see `banger doctor`, "
                                 "row tun)");

        write_file(log, "# banger: starting QEMU\n# qemu-system-x86_64\n", 0644);
        vmm_qemu_driver.exit_reason(&s, SIGKILL, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU was killed by signal 9 (SIGKILL)");
        vmm_qemu_driver.exit_reason(&s, 0, buf, sizeof(buf));
        assert_string_equal(buf, "QEMU exited: the guest powered off or rebooted");
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "");

        write_file(
            con,
            "[    1.0] Run /init as init process\n"
            "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n"
            "[    2.2] Kernel Offset: 0x1 from 0xffffffff81000000\n",
            0644);
        vmm_qemu_driver.exit_reason(&s, 0, buf, sizeof(buf));
        assert_string_equal(buf, "guest kernel panic: Kernel panic - not syncing: Attempted to "
                                 "kill init! exitcode=0x00000100");
        vmm_qemu_driver.exit_reason(&s, -1, buf, sizeof(buf));
        assert_string_equal(buf, "guest kernel panic: Kernel panic - not syncing: Attempted to "
                                 "kill init! exitcode=0x00000100");
        rm_tree(dir);
        free(dir);
}

static void test_log_tail(void **state)
{
        char *dir = make_tmpdir();
        char log[256], buf[64];
        snprintf(log, sizeof(log), "%s/vmm.log", dir);
        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "");
        write_file(log, "first\nqemu: could not open kernel file '/x': No such file\n", 0644);
        vmm_log_tail(log, buf, sizeof(buf));
        /* Truncated to the buffer. */
        assert_string_equal(buf, "qemu: could not open kernel file '/x': No such file");
        char small[10];
        vmm_log_tail(log, small, sizeof(small));
        assert_string_equal(small, "qemu: cou");
        write_file(log, "no newline at the end", 0644);
        vmm_log_tail(log, buf, sizeof(buf));
        assert_string_equal(buf, "no newline at the end");
        rm_tree(dir);
        free(dir);
}

/* ---- the KVM probe with fake QEMUs ---- */

/* A shell script standing in for QEMU: finds the console file in its
 * arguments and runs `body` with it in $con. */
static void fake_qemu(const char *path, const char *body)
{
        char script[2048];
        snprintf(script, sizeof(script),
                 "#!/bin/sh\n"
                 "for a; do case $a in file,id=console,path=*) con=${a#file,id=console,path=};; "
                 "esac; done\n"
                 "%s\n",
                 body);
        write_file(path, script, 0755);
}

static void assert_dir_empty_of_probes(const char *dir)
{
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "ls -d '%s'/accel-probe.* >/dev/null 2>&1", dir);
        assert_int_not_equal(system(cmd), 0);
}

static void test_probe_boot_decisions(void **state)
{
        char *dir = make_tmpdir();
        char qemu[256], kernel[256], why[256];
        snprintf(qemu, sizeof(qemu), "%s/qemu-fake", dir);
        snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
        write_file(kernel, "not a kernel", 0644);

        /* A kernel that runs: banner then the no-root panic. */
        fake_qemu(qemu,
                  "printf 'Probing EDD\\n[0.0] Linux version 6.1.0\\n' >\"$con\"\n"
                  "printf '[0.9] Kernel panic - not syncing: VFS: Unable to mount root fs\\n' "
                  ">>\"$con\"\nexec sleep 30");
        uint64_t t0 = now_mono_msec();
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 1);
        assert_true(now_mono_msec() - t0 < 1500);
        assert_non_null(strstr(why, "KVM booted"));
        assert_dir_empty_of_probes(dir);

        /* A kernel that runs and QEMU exits after the panic (panic=-1). */
        fake_qemu(qemu, "printf 'Linux version 6.1.0\\n' >\"$con\"; exit 0");
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 1);

        /* A PVM-only host: nothing on the console, QEMU spins. */
        fake_qemu(qemu, "printf 'PPrroobbiinngg  EEDDDD\\n' >\"$con\"; exec sleep 30");
        t0 = now_mono_msec();
        assert_int_equal(accel_probe_kvm_boot(qemu, kernel, NULL, dir, 300, 3000, why, sizeof(why)),
                         0);
        uint64_t took = now_mono_msec() - t0;
        assert_true(took >= 300 && took < 1500);
        assert_non_null(strstr(why, "printed nothing"));

        /* Started but stuck. */
        fake_qemu(qemu, "printf 'Linux version 6.1.0\\n' >\"$con\"; exec sleep 30");
        assert_int_equal(accel_probe_kvm_boot(qemu, kernel, NULL, dir, 200, 400, why, sizeof(why)),
                         0);
        assert_non_null(strstr(why, "did not finish"));

        /* QEMU refuses KVM. */
        fake_qemu(qemu,
                  "echo 'qemu-fake: failed to initialize kvm: Permission denied' >&2; exit 1");
        assert_int_equal(
            accel_probe_kvm_boot(qemu, kernel, NULL, dir, 2000, 3000, why, sizeof(why)), 0);
        assert_non_null(strstr(why,
                               "exited with status 1 before the kernel ran: qemu-fake: failed to "
                               "initialize kvm: Permission denied"));
        assert_dir_empty_of_probes(dir);
        /* No child left behind. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        rm_tree(dir);
        free(dir);
}

static void test_probe_cache(void **state)
{
        char *dir = make_tmpdir();
        char qemu[256], kernel[256], count[256], why[256], body[512];
        snprintf(qemu, sizeof(qemu), "%s/qemu-fake", dir);
        snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
        snprintf(count, sizeof(count), "%s/runs", dir);
        write_file(kernel, "not a kernel", 0644);
        snprintf(body, sizeof(body),
                 "echo run >>'%s'\nprintf 'Linux version 6.1.0\\nKernel panic - not syncing: x\\n' "
                 ">\"$con\"\nexec sleep 30",
                 count);
        fake_qemu(qemu, body);

        enum vmm_accel a = VMM_ACCEL_AUTO;
        /* Missing pieces are errors, not answers. */
        assert_int_equal(accel_probe("/nonexistent/qemu", kernel, NULL, dir, &a, why, sizeof(why)),
                         -ENOENT);
        assert_int_equal(accel_probe(qemu, "/nonexistent/vmlinuz", NULL, dir, &a, why, sizeof(why)),
                         -ENOENT);
        assert_non_null(strstr(why, "/nonexistent/vmlinuz"));
        assert_int_equal(a, VMM_ACCEL_AUTO);

        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), kvm_errno = errno;
        if (fd < 0) {
                /* The cheap check decides, and is not cached. */
                assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
                assert_int_equal(a, VMM_ACCEL_TCG);
                assert_non_null(strstr(why, "/dev/kvm"));
                assert_int_equal(access(count, F_OK), -1);
                rm_tree(dir);
                free(dir);
                test_skip("no-kvm", "/dev/kvm: %s; the KVM half of the probe cache is not run",
                          strerror(kvm_errno));
        }
        close(fd);
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
        assert_int_equal(a, VMM_ACCEL_KVM);
        a = VMM_ACCEL_AUTO;
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 1);
        assert_int_equal(a, VMM_ACCEL_KVM);
        assert_non_null(strstr(why, "(cached)"));
        char *runs = read_file(count);
        assert_string_equal(runs, "run\n");
        free(runs);
        /* Without a cache dir it boots again. */
        assert_int_equal(accel_probe(qemu, kernel, NULL, NULL, &a, why, sizeof(why)), 0);
        runs = read_file(count);
        assert_string_equal(runs, "run\nrun\n");
        free(runs);
        /* A different kernel file is another key. */
        write_file(kernel, "another kernel, longer", 0644);
        assert_int_equal(accel_probe(qemu, kernel, NULL, dir, &a, why, sizeof(why)), 0);
        rm_tree(dir);
        free(dir);
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "--fake-qemu") == 0) {
                fprintf(stderr, "fake qemu ready\n");
                for (;;)
                        pause();
        }
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (n < 0)
                return 1;
        self_exe[n] = '\0';

        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_argv_tcg_serial_no_tap),
            cmocka_unit_test(test_argv_kvm_tap_vsock),
            cmocka_unit_test(test_argv_commas_escaped),
            cmocka_unit_test(test_argv_console_pump),
            cmocka_unit_test(test_argv_rejects),
            cmocka_unit_test(test_qmp_session),
            cmocka_unit_test(test_qmp_bad_greeting),
            cmocka_unit_test(test_qmp_unix_socket),
            cmocka_unit_test(test_query_pause_resume),
            cmocka_unit_test(test_adopt_refuses),
            cmocka_unit_test(test_adopt_accepts_qemu_named_process),
            cmocka_unit_test(test_exit_reason),
            cmocka_unit_test(test_log_tail),
            cmocka_unit_test(test_probe_boot_decisions),
            cmocka_unit_test(test_probe_cache),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
