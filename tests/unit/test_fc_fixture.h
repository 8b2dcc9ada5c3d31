/* Shared by the Firecracker driver tests (test_fc_driver.c, test_fc_template.c):
 * a temp directory with a kernel, an initrd and three disks, a VM spec per
 * test whose binary is the fake `firecracker` (the contract server), the call
 * log it records, and a stand-in for netsvc's JailStart. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_client.h"
#include "cmdline_once.h"
#include "fc_contract_server.h"
#include "util/macro.h"
#include "util/pidfile.h"
#include "util/timeutil.h"
#include "vmm/firecracker/fc_config.h"
#include "vmm/firecracker/vmm_firecracker.h"

static char tmp[64];
static const struct vmm_driver *drv = &vmm_firecracker_driver;

static inline void put_file(const char *name)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", tmp, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
}

static inline int setup(void **state)
{
        struct vmm_spec *s = calloc(1, sizeof(*s));
        *s = (struct vmm_spec){.vcpu = 2, .memory_mib = 256, .n_disks = 3, .vsock_cid = 3};
        snprintf(s->id, sizeof(s->id), "0123456789abcdef0123456789abcdef");
        snprintf(s->name, sizeof(s->name), "t1");
        snprintf(s->dir, sizeof(s->dir), "%s/vm", tmp);
        snprintf(s->binary, sizeof(s->binary), "%s", FC_FAKE_BINARY);
        snprintf(s->kernel_vmlinux, sizeof(s->kernel_vmlinux), "%s/vmlinux", tmp);
        snprintf(s->initrd, sizeof(s->initrd), "%s/initrd", tmp);
        static const char *const disks[] = {"root.ext4", "work.ext4", "modules.ext4"};
        for (int i = 0; i < 3; i++)
                snprintf(s->disks[i].path, sizeof(s->disks[i].path), "%s/%s", tmp, disks[i]);
        s->disks[2].read_only = true;
        snprintf(s->tap, sizeof(s->tap), "bgtap0");
        snprintf(s->mac, sizeof(s->mac), "52:54:00:12:34:56");
        snprintf(s->boot.ip, sizeof(s->boot.ip), "172.30.0.7");
        s->boot.prefix = 24;
        snprintf(s->boot.gateway, sizeof(s->boot.gateway), "172.30.0.1");
        s->boot.modules_disk = true;
        assert_int_equal(mkdir(s->dir, 0755), 0);
        char rec[128];
        snprintf(rec, sizeof(rec), "%s/calls.log", s->dir);
        setenv("FC_CONTRACT_RECORD", rec, 1);
        *state = s;
        return 0;
}

static inline int teardown(void **state)
{
        free(*state);
        static const char *const vars[] = {"FC_CONTRACT_FAIL",      "FC_CONTRACT_FAULT",
                                           "FC_CONTRACT_VSOCK",     "FC_CONTRACT_EXIT_CODE",
                                           "FAKE_FC_EXIT_AT_START", "FAKE_FC_VERSION"};
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                unsetenv(vars[i]);
        /* Nothing the driver started may be left behind. */
        int st;
        while (waitpid(-1, &st, WNOHANG) > 0)
                ;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s/vm'", tmp);
        return system(cmd) == 0 ? 0 : -1;
}

/* The recorded calls, one string per line (caller frees lines and array). */
static inline size_t read_calls(const struct vmm_spec *s, char ***ret)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/calls.log", s->dir);
        FILE *f = fopen(p, "re");
        char **lines = NULL;
        size_t n = 0;
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
                line[strcspn(line, "\n")] = '\0';
                lines = realloc(lines, (n + 1) * sizeof(*lines));
                lines[n++] = strdup(line);
        }
        free(line);
        if (f)
                fclose(f);
        *ret = lines;
        return n;
}

static inline void free_calls(char **l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

static inline int wait_exit(pid_t pid)
{
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        return st;
}

/* A stand-in for netsvc's JailStart: stages a chroot the way fc_jailer does
 * (hard links, DIR symlinks into it) and starts the fake Firecracker as if
 * chrooted there (FC_CONTRACT_ROOT makes it resolve paths below it). */
struct jail_t {
        char chroot[256];
        int starts, cleans;
        bool fail_start;
};

static inline int fake_jail_start(void *ud, const struct vmm_spec *spec, pid_t *ret_pid,
                                  struct bg_error *err)
{
        struct jail_t *j = ud;
        j->starts++;
        if (j->fail_start)
                return bg_error_set(err, EPERM, "netsvc refused the jail");
        char p[512], q[512];
        snprintf(j->chroot, sizeof(j->chroot), "%s/jail-root", tmp);
        assert_int_equal(mkdir(j->chroot, 0755), 0);
        snprintf(p, sizeof(p), "%s/vmlinux", j->chroot);
        assert_int_equal(link(spec->kernel_vmlinux, p), 0);
        snprintf(p, sizeof(p), "%s/initrd", j->chroot);
        assert_int_equal(link(spec->initrd, p), 0);
        for (unsigned i = 0; i < spec->n_disks; i++) {
                snprintf(p, sizeof(p), "%s/vd%c", j->chroot, 'a' + i);
                assert_int_equal(link(spec->disks[i].path, p), 0);
        }
        static const char *const names[] = {"api.sock", "agent.sock", "fc.log"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(p, sizeof(p), "%s/%s", spec->dir, names[i]);
                snprintf(q, sizeof(q), "%s/%s", j->chroot, names[i]);
                unlink(p);
                assert_int_equal(symlink(q, p), 0);
        }
        snprintf(q, sizeof(q), "%s/api.sock", j->chroot);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setsid();
                setenv("FC_CONTRACT_ROOT", j->chroot, 1);
                execl(FC_FAKE_BINARY, "firecracker", "--api-sock", q, "--id", spec->id, NULL);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

static inline void fake_jail_clean(void *ud, const struct vmm_spec *spec)
{
        (void)spec;
        struct jail_t *j = ud;
        j->cleans++;
        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", j->chroot);
        assert_int_equal(system(cmd), 0);
}

/* Before the tests: the spec's files in a fresh temp directory (0), or a
 * set-up failure said on stdout (-1). */
static inline int fc_fixture_init(void)
{
        char spec[4096];
        if (fc_contract_spec_path(spec, sizeof(spec)) < 0) {
                printf("FAIL: set-up: no Firecracker API spec under BANGER_SHARED_DIR=%s/ref "
                       "(the shared/ folder beside the checkout)\n",
                       getenv("BANGER_SHARED_DIR") ? getenv("BANGER_SHARED_DIR") : "");
                return -1;
        }
        signal(SIGPIPE, SIG_IGN);
        snprintf(tmp, sizeof(tmp), "/tmp/bgfcd.XXXXXX");
        if (!mkdtemp(tmp))
                return -1;
        static const char *const files[] = {"vmlinux", "initrd", "root.ext4", "work.ext4",
                                            "modules.ext4"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                put_file(files[i]);
        return 0;
}

/* After the tests: the temp directory removed; r, or 1 if that failed. */
static inline int fc_fixture_done(int r)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmp);
        if (system(cmd) != 0)
                r = r ? r : 1;
        return r;
}
