/* Jailer chroot staging and cleanup, as netsvc (root) does it. Root only:
 * hard links by file descriptor and chown need privileges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/firecracker/fc_jailer.h"
#include "util/macro.h"
#include "skip.h"

#define OWNER 4242

static char root[64];
static const char *roots[1];

static void touch(const char *path, uid_t uid)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "data", 4), 4);
        close(fd);
        assert_int_equal(chown(path, uid, uid), 0);
}

static void mkdirf(const char *fmt_dir)
{
        assert_true(mkdir(fmt_dir, 0755) == 0 || errno == EEXIST);
}

static int setup(void **state)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/data", root);
        mkdirf(p);
        snprintf(p, sizeof(p), "%s/vm", root);
        mkdirf(p);
        static const char *const files[] = {"vmlinux", "initrd", "root.ext4", "work.ext4",
                                            "modules.ext4"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(p, sizeof(p), "%s/data/%s", root, files[i]);
                touch(p, OWNER);
        }
        struct vmm_spec *s = calloc(1, sizeof(*s));
        *s = (struct vmm_spec){.vcpu = 1, .memory_mib = 256, .n_disks = 3, .vsock_cid = 3};
        snprintf(s->id, sizeof(s->id), "00ff");
        snprintf(s->dir, sizeof(s->dir), "%s/vm", root);
        snprintf(s->kernel_vmlinux, sizeof(s->kernel_vmlinux), "%s/data/vmlinux", root);
        snprintf(s->initrd, sizeof(s->initrd), "%s/data/initrd", root);
        snprintf(s->disks[0].path, sizeof(s->disks[0].path), "%s/data/root.ext4", root);
        snprintf(s->disks[1].path, sizeof(s->disks[1].path), "%s/data/work.ext4", root);
        snprintf(s->disks[2].path, sizeof(s->disks[2].path), "%s/data/modules.ext4", root);
        s->disks[2].read_only = true;
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        free(*state);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'/*", root);
        return system(cmd) == 0 ? 0 : -1;
}

static void plan_for(const struct vmm_spec *s, struct fc_jail_plan *p)
{
        char base[128];
        snprintf(base, sizeof(base), "%s/jail", root);
        struct fc_jailer_opts o = {
            .jailer = "/usr/bin/jailer",
            .exec_file = "/usr/bin/firecracker",
            .base_dir = base,
            .uid = OWNER,
            .gid = OWNER,
            .roots = roots,
            .n_roots = 1,
        };
        struct bg_error err = {0};
        if (fc_jailer_plan(s, &o, p, &err) < 0)
                fail_msg("plan: %s", err.msg);
}

static void test_stage_and_cleanup(void **state)
{
        struct vmm_spec *s = *state;
        struct fc_jail_plan p;
        plan_for(s, &p);
        struct bg_error err = {0};
        if (fc_jailer_stage(&p, &err) < 0)
                fail_msg("stage: %s", err.msg);

        struct stat cst, a, b;
        assert_int_equal(stat(p.chroot_dir, &cst), 0);
        assert_true(S_ISDIR(cst.st_mode));
        assert_int_equal(cst.st_uid, 0); /* the jailer chowns it itself */
        for (unsigned i = 0; i < p.n_links; i++) {
                assert_int_equal(stat(p.links[i].src, &a), 0);
                assert_int_equal(stat(p.links[i].dst, &b), 0);
                assert_int_equal(a.st_ino, b.st_ino); /* a hard link, not a copy */
                assert_int_equal(a.st_nlink, 2);
                assert_int_equal(b.st_uid, OWNER);
        }
        /* Device nodes are left to the jailer (its mknod fails on EEXIST). */
        assert_int_equal(lstat(p.nodes[0].path, &a), -1);
        assert_int_equal(lstat(p.nodes[1].path, &a), -1);
        for (unsigned i = 0; i < p.n_symlinks; i++) {
                char t[600];
                ssize_t n = readlink(p.symlinks[i].path, t, sizeof(t) - 1);
                assert_true(n > 0);
                t[n] = '\0';
                assert_string_equal(t, p.symlinks[i].target);
                assert_int_equal(lstat(p.symlinks[i].path, &a), 0);
                assert_int_equal(a.st_uid, OWNER);
        }

        /* The same jail twice is refused. */
        assert_int_equal(fc_jailer_stage(&p, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "exists already"));

        /* Firecracker (as the owner) could plant things in its chroot:
         * cleanup must not follow them out. */
        char evil[600], keep[256];
        snprintf(evil, sizeof(evil), "%s/escape", p.chroot_dir);
        snprintf(keep, sizeof(keep), "%s/data", root);
        assert_int_equal(symlink(keep, evil), 0);
        snprintf(evil, sizeof(evil), "%s/dev", p.chroot_dir);
        assert_int_equal(mkdir(evil, 0755), 0);
        snprintf(evil, sizeof(evil), "%s/dev/kvm", p.chroot_dir);
        touch(evil, OWNER);

        assert_int_equal(fc_jailer_cleanup(&p, &err), 0);
        assert_int_equal(lstat(p.jail_dir, &a), -1);
        for (unsigned i = 0; i < p.n_links; i++) {
                assert_int_equal(stat(p.links[i].src, &a), 0);
                assert_int_equal(a.st_nlink, 1);
        }
        for (unsigned i = 0; i < p.n_symlinks; i++)
                assert_int_equal(lstat(p.symlinks[i].path, &a), -1);
        /* Cleaning an absent jail is fine. */
        assert_int_equal(fc_jailer_cleanup(&p, &err), 0);
}

static void test_stage_refusals(void **state)
{
        struct vmm_spec *s = *state;
        struct fc_jail_plan p;
        struct bg_error err = {0};
        struct stat st;
        char path[256], other[256];

        /* A symlink where a disk should be. */
        snprintf(path, sizeof(path), "%s/data/work.ext4", root);
        unlink(path);
        assert_int_equal(symlink("/etc/shadow", path), 0);
        plan_for(s, &p);
        assert_true(fc_jailer_stage(&p, &err) < 0);
        assert_non_null(strstr(err.msg, "is not a regular file"));
        assert_int_equal(lstat(p.jail_dir, &st), -1); /* rolled back */
        unlink(path);
        touch(path, OWNER);

        /* A symlinked directory in the middle of a path. */
        snprintf(other, sizeof(other), "%s/elsewhere", root);
        mkdirf(other);
        snprintf(path, sizeof(path), "%s/elsewhere/vmlinux", root);
        touch(path, OWNER);
        snprintf(path, sizeof(path), "%s/link", root);
        assert_int_equal(symlink(other, path), 0);
        struct vmm_spec s2 = *s;
        snprintf(s2.kernel_vmlinux, sizeof(s2.kernel_vmlinux), "%s/link/vmlinux", root);
        plan_for(&s2, &p);
        assert_true(fc_jailer_stage(&p, &err) < 0);
        assert_non_null(strstr(err.msg, "symlinks are not followed"));
        assert_int_equal(lstat(p.jail_dir, &st), -1);

        /* A file that does not belong to the owner. */
        snprintf(path, sizeof(path), "%s/data/initrd", root);
        assert_int_equal(chown(path, 0, 0), 0);
        plan_for(s, &p);
        assert_true(fc_jailer_stage(&p, &err) < 0);
        assert_non_null(strstr(err.msg, "belongs to uid 0"));
        assert_int_equal(lstat(p.jail_dir, &st), -1);
        assert_int_equal(chown(path, OWNER, OWNER), 0);

        /* Not a regular file. */
        snprintf(path, sizeof(path), "%s/data/root.ext4", root);
        unlink(path);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(chown(path, OWNER, OWNER), 0);
        plan_for(s, &p);
        assert_true(fc_jailer_stage(&p, &err) < 0);
        assert_non_null(strstr(err.msg, "not a regular file"));
        assert_int_equal(lstat(p.jail_dir, &st), -1);
}

int main(void)
{
        if (geteuid() != 0)
                return test_skip_main("not-root",
                                      "jailer staging needs root (hard links by fd, chown)");
        snprintf(root, sizeof(root), "/tmp/bgfcj.XXXXXX");
        if (!mkdtemp(root))
                return 1;
        roots[0] = root;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_stage_and_cleanup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stage_refusals, setup, teardown),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        rmdir(root);
        return r;
}
