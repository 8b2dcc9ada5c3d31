#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_channel.h"
#include "agent_cmdline.h"
#include "agent_initramfs.h"
#include "agent_netlink.h"
#include "agent_setup.h"
#include "test_agent_fixture.h"
#include "util/fileio.h"

static char *tmpdir(void)
{
        char tmpl[] = "/tmp/banger-agent-setupXXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return strdup(tmpl);
}

static char *slurp(const char *root, const char *rel)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s%s", root, rel);
        char *buf = NULL;
        return read_file_capped(path, 1u << 20, 0, &buf, NULL, NULL) < 0 ? NULL : buf;
}

static void test_hostname_hosts_resolv(void **state)
{
        char *root = tmpdir();
        fixture_write(root, "etc/.keep", "");
        struct agent_config cfg;
        assert_true(agent_config_parse("banger.name=box.example banger.ip=10.1.2.3/24 "
                                       "banger.dns=10.1.2.1,fd00::1",
                                       &cfg, NULL, NULL) == 0);
        assert_int_equal(agent_write_hostname(root, &cfg, 0), 0);
        assert_int_equal(agent_write_hosts(root, &cfg, 0), 0);
        /* resolv.conf as a dangling symlink (systemd-resolved style) is replaced. */
        fixture_link(root, "etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
        assert_int_equal(agent_write_resolv_conf(root, &cfg, 0), 0);

        char *s = slurp(root, "/etc/hostname");
        assert_string_equal(s, "box.example\n");
        free(s);
        s = slurp(root, "/etc/hosts");
        assert_non_null(strstr(s, "127.0.0.1\tlocalhost\n"));
        assert_non_null(strstr(s, "10.1.2.3\tbox.example box\n"));
        free(s);
        s = slurp(root, "/etc/resolv.conf");
        assert_non_null(strstr(s, "nameserver 10.1.2.1\nnameserver fd00::1\n"));
        free(s);
        struct stat st;
        char p[1024];
        snprintf(p, sizeof(p), "%s/etc/resolv.conf", root);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));

        /* Without an IP the name maps to 127.0.1.1; without a name nothing is written. */
        assert_true(agent_config_parse("banger.name=solo", &cfg, NULL, NULL) == 0);
        assert_int_equal(agent_write_hosts(root, &cfg, 0), 0);
        s = slurp(root, "/etc/hosts");
        assert_non_null(strstr(s, "127.0.1.1\tsolo\n"));
        free(s);
        assert_true(agent_config_parse("", &cfg, NULL, NULL) == 0);
        assert_int_equal(agent_write_hostname(root, &cfg, 0), -EINVAL);
        assert_int_equal(agent_write_resolv_conf(root, &cfg, 0), -EINVAL);
        /* A missing /etc is an error, not a crash. */
        assert_true(agent_config_parse("banger.name=x", &cfg, NULL, NULL) == 0);
        assert_int_equal(agent_write_hostname("/nonexistent-banger-root", &cfg, 0), -ENOENT);
        fixture_proc_free(root);
}

static void test_sshd_hostkey(void **state)
{
        char *root = tmpdir();
        fixture_write(root, "etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n");
        /* No key on the work disk: no drop-in. */
        assert_int_equal(agent_write_sshd_hostkey(root, 0), 0);
        char *s = slurp(root, AGENT_SSHD_HOSTKEY_DROPIN);
        assert_null(s);

        fixture_write(root, "root/.banger/ssh_host_ed25519_key", "KEY\n");
        char key[1024];
        snprintf(key, sizeof(key), "%s%s", root, AGENT_SSH_HOST_KEY);
        chmod(key, 0644);
        assert_int_equal(agent_write_sshd_hostkey(root, 0), 1);
        s = slurp(root, AGENT_SSHD_HOSTKEY_DROPIN);
        assert_non_null(s);
        assert_non_null(strstr(s, "\nHostKey /root/.banger/ssh_host_ed25519_key\n"));
        free(s);
        struct stat st;
        assert_int_equal(stat(key, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        /* The key went away (fresh work disk): the stale drop-in goes too. */
        unlink(key);
        assert_int_equal(agent_write_sshd_hostkey(root, 0), 0);
        assert_null(slurp(root, AGENT_SSHD_HOSTKEY_DROPIN));
        fixture_proc_free(root);
}

static void test_module_resolve(void **state)
{
        char *root = tmpdir();
        fixture_write(root, "kernel/drivers/virtio/virtio.ko", "x");
        fixture_write(root, "kernel/drivers/virtio/virtio_ring.ko.xz", "x");
        char buf[1024], want[1024];
        bool compressed = true;

        assert_int_equal(agent_module_resolve(root, "kernel/drivers/virtio/virtio.ko", buf,
                                              sizeof(buf), &compressed),
                         0);
        snprintf(want, sizeof(want), "%s/kernel/drivers/virtio/virtio.ko", root);
        assert_string_equal(buf, want);
        assert_false(compressed);

        /* Listed compressed, shipped decompressed. */
        assert_int_equal(agent_module_resolve(root, "kernel/drivers/virtio/virtio.ko.zst", buf,
                                              sizeof(buf), &compressed),
                         0);
        assert_string_equal(buf, want);
        assert_false(compressed);

        /* Listed plain, shipped compressed. */
        assert_int_equal(agent_module_resolve(root, "kernel/drivers/virtio/virtio_ring.ko", buf,
                                              sizeof(buf), &compressed),
                         0);
        assert_true(compressed);
        assert_non_null(strstr(buf, "virtio_ring.ko.xz"));

        /* Absolute paths are used as they are. */
        snprintf(want, sizeof(want), "%s/kernel/drivers/virtio/virtio.ko", root);
        assert_int_equal(agent_module_resolve("/unused", want, buf, sizeof(buf), &compressed), 0);

        assert_int_equal(
            agent_module_resolve(root, "kernel/missing.ko", buf, sizeof(buf), &compressed),
            -ENOENT);
        assert_int_equal(agent_module_resolve(root, "kernel/drivers/virtio/virtio.txt", buf,
                                              sizeof(buf), &compressed),
                         -EINVAL);
        assert_int_equal(agent_module_resolve(root, "", buf, sizeof(buf), &compressed), -EINVAL);
        char small[8];
        assert_int_equal(agent_module_resolve(root, "kernel/drivers/virtio/virtio.ko", small,
                                              sizeof(small), &compressed),
                         -ENAMETOOLONG);
        fixture_proc_free(root);
}

static void test_vport_find(void **state)
{
        char *root = tmpdir();
        char dev[1024], sys[1024], buf[1024], want[1024];
        snprintf(dev, sizeof(dev), "%s/dev", root);
        snprintf(sys, sizeof(sys), "%s/sys", root);
        mkdir(dev, 0755);
        fixture_write(root, "sys/class/virtio-ports/vport0p1/name", "org.qemu.guest_agent.0\n");
        fixture_write(root, "sys/class/virtio-ports/vport1p1/name", "org.banger.agent.0\n");
        assert_int_equal(agent_vport_find(dev, sys, "org.banger.agent.0", buf, sizeof(buf)), 0);
        snprintf(want, sizeof(want), "%s/vport1p1", dev);
        assert_string_equal(buf, want);
        assert_int_equal(agent_vport_find(dev, sys, "org.banger.agent", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(agent_vport_find(dev, "/nonexistent", "x", buf, sizeof(buf)), -ENOENT);
        fixture_proc_free(root);
}

static void test_iface_find(void **state)
{
        char *root = tmpdir();
        fixture_write(root, "class/net/lo/type", "772\n");
        fixture_write(root, "class/net/lo/address", "00:00:00:00:00:00\n");
        fixture_write(root, "class/net/eth1/type", "1\n");
        fixture_write(root, "class/net/eth1/address", "52:54:00:00:00:02\n");
        fixture_write(root, "class/net/eth0/type", "1\n");
        fixture_write(root, "class/net/eth0/address", "52:54:00:00:00:01\n");
        fixture_write(root, "class/net/sit0/type", "776\n");
        fixture_write(root, "class/net/sit0/address", "00:00:00:00\n");
        char name[16];
        assert_int_equal(agent_iface_find(root, NULL, name, sizeof(name)), 0);
        assert_string_equal(name, "eth0");
        const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
        assert_int_equal(agent_iface_find(root, mac, name, sizeof(name)), 0);
        assert_string_equal(name, "eth1");
        const uint8_t other[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x09};
        assert_int_equal(agent_iface_find(root, other, name, sizeof(name)), -ENOENT);
        fixture_proc_free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hostname_hosts_resolv),
            cmocka_unit_test(test_sshd_hostkey),
            cmocka_unit_test(test_module_resolve),
            cmocka_unit_test(test_vport_find),
            cmocka_unit_test(test_iface_find),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
