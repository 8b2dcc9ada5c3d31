/* vmsvc identity: a per-VM ed25519 host key, written with authorized_keys onto
 * a work disk made exactly as vmsvc makes it; read back through libext2fs and
 * checked with ssh-keygen and e2fsck. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk/disk.h"
#include "ext4/ext4.h"
#include "identity.h"
#include "test_tmpdir.h"

static char dir[64];

static void test_host_key(void **state)
{
        struct vm_host_key k;
        struct bg_error err = {0};
        assert_int_equal(identity_host_key_new("web-1", &k, &err), 0);
        assert_non_null(strstr(k.private_openssh, "BEGIN OPENSSH PRIVATE KEY"));
        assert_int_equal(strncmp(k.public_line, "ssh-ed25519 AAAA", 16), 0);
        assert_non_null(strstr(k.public_line, " banger-host-web-1"));
        /* ssh-keygen derives the same public key from the private one */
        char path[128], cmd[512], out[512];
        snprintf(path, sizeof(path), "%s/key", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(k.private_openssh, f);
        fclose(f);
        chmod(path, 0600);
        snprintf(cmd, sizeof(cmd), "ssh-keygen -y -f %s", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(out, sizeof(out), p))
                out[0] = '\0';
        /* ssh-keygen (openssh-client) read the key and printed its public half */
        assert_int_equal(pclose(p), 0);
        char *nl = strchr(out, '\n');
        if (nl)
                *nl = '\0';
        /* ssh-keygen prints "ssh-ed25519 BASE64" (maybe with a comment) */
        char *sp = strchr(out + 12, ' ');
        size_t keylen = sp ? (size_t)(sp - out) : strlen(out);
        assert_memory_equal(out, k.public_line, keylen);
        /* two keys differ */
        struct vm_host_key k2;
        assert_int_equal(identity_host_key_new("web-1", &k2, &err), 0);
        assert_string_not_equal(k.public_line, k2.public_line);
        identity_host_key_done(&k);
        identity_host_key_done(&k2);
        assert_null(k.private_openssh);
}

static void test_work_disk_identity(void **state)
{
        char img[128], out[4096];
        snprintf(img, sizeof(img), "%s/work.ext4", dir);
        struct bg_error err = {0};
        if (disk_make_work("mkfs.ext4", img, 64ull << 20, NULL, &err) < 0)
                fail_msg("disk_make_work: %s", err.msg);
        struct vm_host_key k;
        assert_int_equal(identity_host_key_new("db", &k, &err), 0);
        const char *keys = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample owner@host\n";
        assert_int_equal(identity_write_work_disk(img, keys, &k, &err), 0);

        char *fsck[] = {"e2fsck", "-fn", img, NULL};
        assert_int_equal(disk_run(fsck, out, sizeof(out)), 0);

        struct ext4_fs *fs;
        assert_int_equal(ext4_open(img, &fs, &err), 0);
        struct ext4_stat st;
        assert_int_equal(ext4_lookup(fs, "/.ssh", &st, &err), 0);
        assert_int_equal(st.mode, S_IFDIR | 0700);
        assert_int_equal(st.uid, 0);
        assert_int_equal(ext4_lookup(fs, "/.ssh/authorized_keys", &st, &err), 0);
        assert_int_equal(st.mode, S_IFREG | 0600);
        assert_int_equal(ext4_lookup(fs, "/.banger/ssh_host_ed25519_key", &st, &err), 0);
        assert_int_equal(st.mode, S_IFREG | 0600);
        void *data;
        size_t len;
        assert_int_equal(ext4_read_file(fs, "/.ssh/authorized_keys", &data, &len, &err), 0);
        assert_string_equal(data, keys);
        free(data);
        assert_int_equal(ext4_read_file(fs, "/.banger/ssh_host_ed25519_key.pub", &data, &len, &err),
                         0);
        assert_int_equal(strncmp(data, k.public_line, strlen(k.public_line)), 0);
        free(data);
        ext4_free(fs);

        /* written again (restart of a create): replaced, still clean */
        assert_int_equal(identity_write_work_disk(img, keys, &k, &err), 0);
        assert_int_equal(disk_run(fsck, out, sizeof(out)), 0);
        /* not an ext4 image: a clear error naming the file */
        assert_true(identity_write_work_disk("/nonexistent.img", keys, &k, &err) < 0);
        assert_non_null(strstr(err.msg, "/nonexistent.img"));
        identity_host_key_done(&k);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "ident") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_host_key),
            cmocka_unit_test(test_work_disk_identity),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
