/* CONFIG/ssh/{config,known_hosts} as banger-vmsvc writes them. */
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

#include "ssh_files.h"
#include "test_tmpdir.h"

static char dir[64];

static char *slurp(const char *name)
{
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        FILE *f = fopen(p, "re");
        assert_non_null(f);
        static char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        return buf;
}

static void test_write(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/bg-sshf-XXXXXX");
        assert_non_null(mkdtemp(dir));
        struct vm_record vms[3] = {0};
        snprintf(vms[0].name, sizeof(vms[0].name), "web");
        snprintf(vms[0].ip, sizeof(vms[0].ip), "172.30.0.2");
        snprintf(vms[0].host_key, sizeof(vms[0].host_key), "ssh-ed25519 AAAAC3Nza web@banger");
        snprintf(vms[1].name, sizeof(vms[1].name), "db"); /* stopped: no address */
        snprintf(vms[1].host_key, sizeof(vms[1].host_key), "ssh-ed25519 AAAAdb");
        snprintf(vms[2].name, sizeof(vms[2].name), "odd");
        snprintf(vms[2].ip, sizeof(vms[2].ip), "172.30.0.9");
        snprintf(vms[2].host_key, sizeof(vms[2].host_key), "not a key at all");
        struct bg_error err = {0};
        assert_int_equal(ssh_files_write(dir, "/k/id_ed25519", vms, 3, &err), 0);

        char *cfg = slurp("config");
        assert_non_null(
            strstr(cfg, "Host web.vm\n    HostName 172.30.0.2\n    HostKeyAlias web.vm\n"));
        assert_null(strstr(cfg, "Host db.vm")); /* no address, no block */
        assert_non_null(strstr(cfg, "Host odd.vm"));
        char *star = strstr(cfg, "Host *.vm");
        assert_non_null(star);
        assert_true(star > strstr(cfg, "Host web.vm")); /* defaults after the hosts */
        assert_non_null(strstr(star, "User root"));
        assert_non_null(strstr(star, "IdentityFile \"/k/id_ed25519\""));
        assert_non_null(strstr(star, "StrictHostKeyChecking yes"));
        char kh_opt[128];
        snprintf(kh_opt, sizeof(kh_opt), "UserKnownHostsFile \"%s/known_hosts\"", dir);
        assert_non_null(strstr(star, kh_opt));

        char *kh = slurp("known_hosts");
        assert_non_null(strstr(kh, "\nweb.vm ssh-ed25519 AAAAC3Nza\n")); /* comment dropped */
        assert_non_null(strstr(kh, "\ndb.vm ssh-ed25519 AAAAdb\n"));
        assert_null(strstr(kh, "odd.vm")); /* not a key line: left out */

        /* rewritten whole: a deleted VM disappears */
        assert_int_equal(ssh_files_write(dir, "/k/id_ed25519", vms + 1, 1, &err), 0);
        assert_null(strstr(slurp("config"), "web.vm"));
        assert_null(strstr(slurp("known_hosts"), "web.vm"));
        /* no temp files left */
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(test_tmpdir_remove(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_write)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
