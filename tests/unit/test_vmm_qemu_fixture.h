/* Shared by the QEMU driver's unit tests (test_vmm_qemu.c,
 * test_vmm_qemu_argv.c, test_vmm_qemu_qmp.c): temp directories, files, and
 * a VM spec every test starts from. */
#pragma once

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

static inline void write_file(const char *path, const char *content, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        size_t n = strlen(content);
        assert_int_equal(write(fd, content, n), (ssize_t)n);
        close(fd);
        assert_int_equal(chmod(path, mode), 0);
}

static inline void base_spec(struct vmm_spec *s)
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
