/* banger's config schema: defaults, every key's good and bad values, error
 * messages naming file, line and key, [[file_sync]] validation, files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static const char *addr(struct in_addr a, char *buf)
{
        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void load_ok(const char *text, struct bg_config *cfg)
{
        struct bg_error err = {};
        int r = bg_config_load_string("config.toml", text, strlen(text), cfg, &err);
        if (r < 0)
                fail_msg("load of '%s' failed: %s", text, err.msg);
}

/* Returns the message; fails the test if loading succeeds. */
static void load_fails(const char *text, const char *want)
{
        struct bg_error err = {};
        struct bg_config cfg = {.vm.vcpu = 77};
        int r = bg_config_load_string("config.toml", text, strlen(text), &cfg, &err);
        if (r >= 0) {
                bg_config_free(&cfg);
                fail_msg("'%s' was accepted, want error '%s'", text, want);
        }
        assert_int_equal(r, -EINVAL);
        assert_int_equal(cfg.vm.vcpu, 77); /* untouched on failure */
        if (!strstr(err.msg, want))
                fail_msg("for '%s': error '%s' does not contain '%s'", text, err.msg, want);
}

static void check_defaults(const struct bg_config *c)
{
        char b[INET_ADDRSTRLEN];
        assert_int_equal(c->log_level, LOG_LEVEL_INFO);
        assert_int_equal(c->vmm, BG_VMM_AUTO);
        assert_int_equal(c->vm.vcpu, 2);
        assert_int_equal(c->vm.memory_mib, 1024);
        assert_true(c->vm.work_disk_size == 8ULL << 30);
        assert_string_equal(c->vm.default_image, "golden");
        assert_string_equal(c->vm.default_kernel, "debian-cloud-amd64");
        assert_int_equal(c->vm.auto_stop_after, 0);
        assert_string_equal(c->network.bridge, "banger0");
        assert_string_equal(addr(c->network.subnet.addr, b), "172.30.0.1");
        assert_int_equal(c->network.subnet.prefix, 24);
        assert_string_equal(addr(c->network.dns_listen.addr, b), "127.0.0.1");
        assert_int_equal(c->network.dns_listen.port, 42069);
        assert_false(c->network.isolate_vms);
        assert_int_equal(c->network.tap_pool_size, 4);
        assert_string_equal(c->network.uplink, "");
        assert_int_equal(c->image.pull_concurrency, 4);
        assert_int_equal(c->image.insecure_registries.n, 0);
        assert_string_equal(c->kernel.debian_mirror, "");
        assert_string_equal(c->firecracker.binary, "firecracker");
        assert_int_equal(c->firecracker.jailer, BG_TRISTATE_AUTO);
        assert_false(bg_config_jailer_on(c, false)); /* auto: off in user mode */
        assert_true(bg_config_jailer_on(c, true));   /* and on in system mode */
        assert_string_equal(c->ssh.key_path, "");
        assert_string_equal(c->firecracker.jailer_binary, "jailer");
        assert_string_equal(c->qemu.binary, "qemu-system-x86_64");
        assert_int_equal(c->qemu.accel, BG_QEMU_ACCEL_AUTO);
        assert_int_equal(c->file_sync.n, 0);
}

static void test_defaults(void **state)
{
        struct bg_config c;
        assert_int_equal(bg_config_defaults(&c), 0);
        check_defaults(&c);
        bg_config_free(&c);
        assert_null(c.vm.default_image);
        bg_config_free(NULL);

        /* An empty file and a comment-only file are the defaults too. */
        load_ok("", &c);
        check_defaults(&c);
        bg_config_free(&c);
        load_ok("# nothing\n\n[vm]\n[network]\n", &c);
        check_defaults(&c);
        bg_config_free(&c);
}

static void test_schema_table(void **state)
{
        size_t n;
        const struct bg_config_key *keys = bg_config_keys(&n);
        assert_true(n >= 26);
        for (size_t i = 0; i < n; i++) {
                assert_non_null(keys[i].name);
                assert_true(keys[i].type && *keys[i].type);
                assert_true(keys[i].default_text && *keys[i].default_text);
                assert_true(keys[i].description && *keys[i].description);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(keys[i].name, keys[j].name);
                if (strncmp(keys[i].name, "file_sync", 9) == 0)
                        continue;
                /* Each documented default, written into a file, loads. */
                char text[512];
                const char *dot = strchr(keys[i].name, '.');
                if (dot)
                        snprintf(text, sizeof(text), "[%.*s]\n%s = %s\n", (int)(dot - keys[i].name),
                                 keys[i].name, dot + 1, keys[i].default_text);
                else
                        snprintf(text, sizeof(text), "%s = %s\n", keys[i].name,
                                 keys[i].default_text);
                struct bg_config c;
                load_ok(text, &c);
                check_defaults(&c);
                bg_config_free(&c);
        }
}

static void test_good_values(void **state)
{
        struct bg_config c;
        char b[INET_ADDRSTRLEN];
        load_ok("log_level = \"debug\"\nvmm = \"firecracker\"\n"
                "[vm]\nvcpu = 32\nmemory_mib = 128\nwork_disk_size = \"64M\"\n"
                "default_image = \"ubuntu:24.04\"\ndefault_kernel = \"k-6.1\"\n"
                "auto_stop_after = \"1h30m\"\n"
                "[network]\nbridge = \"br_test.1-x\"\nsubnet = \"10.1.2.254/23\"\n"
                "dns_listen = \"0.0.0.0:53\"\nisolate_vms = true\ntap_pool_size = 0\n"
                "uplink = \"eth0\"\n"
                "[image]\npull_concurrency = 32\n"
                "insecure_registries = [\"localhost:5000\", \"10.0.0.1\", \"reg.example\", "
                "\"[::1]:5000\"]\n"
                "[kernel]\ndebian_mirror = \"https://deb.debian.org:443/debian\"\n"
                "[firecracker]\nbinary = \"/opt/fc/firecracker\"\njailer = true\n"
                "jailer_binary = \"/opt/fc/jailer\"\n"
                "[qemu]\nbinary = \"/usr/bin/qemu-system-x86_64\"\naccel = \"tcg\"\n",
                &c);
        assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
        assert_int_equal(c.vmm, BG_VMM_FIRECRACKER);
        assert_int_equal(c.vm.vcpu, 32);
        assert_int_equal(c.vm.memory_mib, 128);
        assert_true(c.vm.work_disk_size == 64ULL << 20);
        assert_string_equal(c.vm.default_image, "ubuntu:24.04");
        assert_string_equal(c.vm.default_kernel, "k-6.1");
        assert_int_equal(c.vm.auto_stop_after, 5400);
        assert_string_equal(c.network.bridge, "br_test.1-x");
        assert_string_equal(addr(c.network.subnet.addr, b), "10.1.2.254");
        assert_int_equal(c.network.subnet.prefix, 23);
        assert_string_equal(addr(c.network.dns_listen.addr, b), "0.0.0.0");
        assert_int_equal(c.network.dns_listen.port, 53);
        assert_true(c.network.isolate_vms);
        assert_int_equal(c.network.tap_pool_size, 0);
        assert_string_equal(c.network.uplink, "eth0");
        assert_int_equal(c.image.pull_concurrency, 32);
        assert_int_equal(c.image.insecure_registries.n, 4);
        assert_string_equal(c.image.insecure_registries.items[0], "localhost:5000");
        assert_string_equal(c.image.insecure_registries.items[3], "[::1]:5000");
        assert_string_equal(c.kernel.debian_mirror, "https://deb.debian.org:443/debian");
        assert_string_equal(c.firecracker.binary, "/opt/fc/firecracker");
        assert_int_equal(c.firecracker.jailer, BG_TRISTATE_ON);
        assert_true(bg_config_jailer_on(&c, false));
        assert_string_equal(c.firecracker.jailer_binary, "/opt/fc/jailer");
        assert_string_equal(c.qemu.binary, "/usr/bin/qemu-system-x86_64");
        assert_int_equal(c.qemu.accel, BG_QEMU_ACCEL_TCG);
        bg_config_free(&c);

        /* Other spellings. */
        static const struct {
                const char *text;
                uint64_t disk, stop;
        } more[] = {
            {"[vm]\nwork_disk_size = 1073741824\n", 1ULL << 30, 0},
            {"[vm]\nwork_disk_size = \"2t\"\n", 2ULL << 40, 0},
            {"[vm]\nwork_disk_size = \"65536k\"\n", 64ULL << 20, 0},
            {"[vm]\nauto_stop_after = \"90s\"\n", 8ULL << 30, 90},
            {"[vm]\nauto_stop_after = \"30m\"\n", 8ULL << 30, 1800},
            {"[vm]\nauto_stop_after = \"2h\"\n", 8ULL << 30, 7200},
            {"[vm]\nauto_stop_after = \"1d2h3m4s\"\n", 8ULL << 30, 93784},
            {"[vm]\nauto_stop_after = 600\n", 8ULL << 30, 600},
            {"vm = {auto_stop_after = \"0\"}\n", 8ULL << 30, 0},
            {"vm.auto_stop_after = \"5m\"\n", 8ULL << 30, 300},
        };
        for (size_t i = 0; i < ELEMENTSOF(more); i++) {
                load_ok(more[i].text, &c);
                assert_true(c.vm.work_disk_size == more[i].disk);
                assert_true(c.vm.auto_stop_after == more[i].stop);
                bg_config_free(&c);
        }
        load_ok("[kernel]\ndebian_mirror = "
                "\"http://10.0.0.1/debian\"\n[network]\nsubnet = \"192.168.0.1/30\"\n",
                &c);
        bg_config_free(&c);
}

static void test_bad_values(void **state)
{
        static const struct {
                const char *text, *want;
        } cases[] = {
            {"log_level = \"verbose\"\n",
             "config.toml:1: log_level: \"verbose\" is not one of debug, info, warn, error"},
            {"vmm = \"kvmtool\"\n", "config.toml:1: vmm: \"kvmtool\" is not one of auto, "
                                    "qemu, firecracker"},
            {"vmm = 1\n", "config.toml:1: vmm: expected a string, got integer"},
            {"[vm]\nvcpu = \"4\"\n", "config.toml:2: vm.vcpu: expected an integer, got string"},
            {"[vm]\nvcpu = 0\n", "config.toml:2: vm.vcpu: 0 is out of range (1..32)"},
            {"[vm]\nvcpu = 33\n", "vm.vcpu: 33 is out of range (1..32)"},
            {"[vm]\nvcpu = 2.0\n", "vm.vcpu: expected an integer, got float"},
            {"[vm]\nmemory_mib = 127\n", "vm.memory_mib: 127 is out of range (128..262144)"},
            {"[vm]\nmemory_mib = 262145\n", "vm.memory_mib: 262145 is out of range"},
            {"[vm]\nwork_disk_size = \"32M\"\n",
             "vm.work_disk_size: 33554432 bytes is below the minimum 64M"},
            {"[vm]\nwork_disk_size = \"8X\"\n",
             "vm.work_disk_size: \"8X\" is not a size like 8G, 512M or 1073741824"},
            {"[vm]\nwork_disk_size = \"8 G\"\n", "is not a size like"},
            {"[vm]\nwork_disk_size = \"G\"\n", "is not a size like"},
            {"[vm]\nwork_disk_size = \"99999999999T\"\n", "is too large"},
            {"[vm]\nwork_disk_size = -1\n", "vm.work_disk_size: -1 is negative"},
            {"[vm]\nwork_disk_size = true\n",
             "vm.work_disk_size: expected a size like \"8G\" or an integer of bytes, got "
             "boolean"},
            {"[vm]\ndefault_image = \"\"\n", "vm.default_image: must not be empty"},
            {"[vm]\ndefault_image = \"a b\"\n", "vm.default_image: \"a b\" is not a name"},
            {"[vm]\ndefault_kernel = \"x\\u0000y\"\n",
             "vm.default_kernel: \"x\\x00y\" contains a NUL character"},
            {"[vm]\nauto_stop_after = \"90\"\n",
             "vm.auto_stop_after: \"90\" is not a duration like 90s, 30m, 2h or 1h30m"},
            {"[vm]\nauto_stop_after = \"30m1h\"\n", "is not a duration"},
            {"[vm]\nauto_stop_after = \"1h1h\"\n", "is not a duration"},
            {"[vm]\nauto_stop_after = \"\"\n", "is not a duration"},
            {"[vm]\nauto_stop_after = \"-5m\"\n", "is not a duration"},
            {"[vm]\nauto_stop_after = -5\n", "vm.auto_stop_after: -5 is negative"},
            {"[network]\nbridge = \"\"\n", "network.bridge: \"\" is not a network interface "
                                           "name"},
            {"[network]\nbridge = \"waytoolongbridge0\"\n", "is not a network interface name"},
            {"[network]\nbridge = \"br/0\"\n", "is not a network interface name"},
            {"[network]\nbridge = \"..\"\n", "is not a network interface name"},
            {"[network]\nuplink = \"eth 0\"\n", "network.uplink: \"eth 0\" is not a network"},
            {"\n[network]\n\nsubnet = \"172.30.0.0/33\"\n",
             "config.toml:4: network.subnet: \"172.30.0.0/33\" is not an IPv4 CIDR like "
             "172.30.0.1/24"},
            {"[network]\nsubnet = \"172.30.0.1/31\"\n",
             "network.subnet: \"172.30.0.1/31\": the prefix length must be between 8 and 30"},
            {"[network]\nsubnet = \"10.0.0.1/7\"\n", "prefix length must be between 8 and 30"},
            {"[network]\nsubnet = \"172.30.0.0/24\"\n", "is a network address"},
            {"[network]\nsubnet = \"172.30.0.255/24\"\n", "is the broadcast address"},
            {"[network]\nsubnet = \"172.30.0.1\"\n", "is not an IPv4 CIDR"},
            {"[network]\nsubnet = \"172.30.0.01/24\"\n", "is not an IPv4 CIDR"},
            {"[network]\nsubnet = \"256.30.0.1/24\"\n", "is not an IPv4 CIDR"},
            {"[network]\nsubnet = \"172.30.0.1/024\"\n", "is not an IPv4 CIDR"},
            {"[network]\ndns_listen = \"127.0.0.1\"\n",
             "network.dns_listen: \"127.0.0.1\" is not an IPv4 address and port like "
             "127.0.0.1:42069"},
            {"[network]\ndns_listen = \"127.0.0.1:0\"\n", "is not an IPv4 address and port"},
            {"[network]\ndns_listen = \"127.0.0.1:65536\"\n", "is not an IPv4 address and "
                                                              "port"},
            {"[network]\ndns_listen = \"localhost:53\"\n", "is not an IPv4 address and port"},
            {"[network]\nisolate_vms = \"yes\"\n",
             "network.isolate_vms: expected a boolean, got string"},
            {"[network]\ntap_pool_size = 257\n", "network.tap_pool_size: 257 is out of range "
                                                 "(0..256)"},
            {"[network]\ntap_pool_size = -1\n", "is out of range (0..256)"},
            {"[image]\npull_concurrency = 0\n", "image.pull_concurrency: 0 is out of range "
                                                "(1..32)"},
            {"[image]\ninsecure_registries = \"a\"\n",
             "image.insecure_registries: expected an array of strings, got string"},
            {"[image]\ninsecure_registries = [\n  \"ok\",\n  \"bad host\"\n]\n",
             "config.toml:4: image.insecure_registries: \"bad host\" is not a host or "
             "host:port"},
            {"[image]\ninsecure_registries = [\"reg:99999\"]\n", "is not a host or host:port"},
            {"[image]\ninsecure_registries = [\"-reg\"]\n", "is not a host or host:port"},
            {"[image]\ninsecure_registries = [\"http://reg\"]\n", "is not a host or "
                                                                  "host:port"},
            {"[image]\ninsecure_registries = [1]\n",
             "image.insecure_registries: expected a string, got integer"},
            {"[kernel]\ndebian_mirror = \"ftp://x/debian\"\n",
             "kernel.debian_mirror: \"ftp://x/debian\" is not an http(s) URL"},
            {"[kernel]\ndebian_mirror = \"http://\"\n", "is not an http(s) URL"},
            {"[kernel]\ndebian_mirror = \"http://a b/\"\n", "is not an http(s) URL"},
            {"[firecracker]\nbinary = \"\"\n", "firecracker.binary: must not be empty"},
            {"[firecracker]\njailer = 1\n", "firecracker.jailer: expected true, false or "
                                            "\"auto\", got integer"},
            {"[firecracker]\njailer = \"yes\"\n", "firecracker.jailer: expected true, false or "
                                                  "\"auto\", got another string"},
            {"[ssh]\nkey_path = \"id_rsa\"\n",
             "ssh.key_path: \"id_rsa\" must be an absolute path or start with ~/"},
            {"[firecracker]\njailer_binary = \"a\\nb\"\n",
             "firecracker.jailer_binary: \"a\\x0ab\" is not a program name or path"},
            {"[qemu]\nbinary = []\n", "qemu.binary: expected a string, got array"},
            {"[qemu]\naccel = \"hvf\"\n", "qemu.accel: \"hvf\" is not one of auto, kvm, tcg"},
            /* Removed: it was never served (remote use goes through ssh). */
            {"[gateway]\nlisten_tcp = \"tcp://0.0.0.0:7070\"\n",
             "config.toml:1: unknown key gateway"},
            {"vm = 3\n", "config.toml:1: vm: expected a table, got integer"},
            {"[vm]\n[vm.sub]\n", "config.toml:2: unknown key vm.sub"},
            {"[nope]\n", "config.toml:1: unknown key nope"},
            {"x = 1\n", "config.toml:1: unknown key x"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                load_fails(cases[i].text, cases[i].want);
}

static void test_unknown_key_line(void **state)
{
        load_fails("# banger\n[vm]\ncpus = 4\n", "config.toml:3: unknown key vm.cpus");
        struct bg_error err = {};
        struct bg_config c;
        const char *text = "log_level = \"info\"\n\n[network]\nbridge = \"banger0\"\nsubnett = 1\n";
        assert_int_equal(
            bg_config_load_string("/etc/banger/config.toml", text, strlen(text), &c, &err),
            -EINVAL);
        assert_string_equal(err.msg, "/etc/banger/config.toml:5: unknown key network.subnett");
}

static void test_syntax_error(void **state)
{
        struct bg_error err = {};
        struct bg_config c;
        const char *text = "[vm]\nvcpu = 4\nmemory_mib = = 2\n";
        assert_int_equal(bg_config_load_string("config.toml", text, strlen(text), &c, &err),
                         -EINVAL);
        assert_string_equal(err.msg, "config.toml:3:14: expected a value, got '='");
        load_fails("[vm]\nvcpu = 1\nvcpu = 2\n", "config.toml:3:1: key 'vcpu' defined twice");
}

static void test_file_sync(void **state)
{
        struct bg_config c;
        load_ok("[[file_sync]]\nhost = \"~/.gitconfig\"\nguest = \"~/.gitconfig\"\n"
                "\n[[file_sync]]\nhost = \"/etc/hosts\"\nguest = \"/root/etc/hosts\"\n"
                "mode = 0o644\n"
                "[[file_sync]]\nhost = \"~/.ssh\"\nguest = \"~/.ssh\"\nmode = \"0700\"\n"
                "[[file_sync]]\nhost = \"/a\"\nguest = \"~/b\"\nmode = 384\n",
                &c);
        assert_int_equal(c.file_sync.n, 4);
        assert_string_equal(c.file_sync.items[0].host, "~/.gitconfig");
        assert_string_equal(c.file_sync.items[0].guest, "~/.gitconfig");
        assert_false(c.file_sync.items[0].has_mode);
        assert_int_equal(c.file_sync.items[0].mode, 0600);
        assert_int_equal(c.file_sync.items[0].line, 1);
        assert_true(c.file_sync.items[1].has_mode);
        assert_int_equal(c.file_sync.items[1].mode, 0644);
        assert_int_equal(c.file_sync.items[1].line, 5);
        assert_int_equal(c.file_sync.items[2].mode, 0700);
        assert_int_equal(c.file_sync.items[3].mode, 0600);
        bg_config_free(&c);

        load_ok("file_sync = [{host = \"/x\", guest = \"/root/x/y.z\"}]\n", &c);
        assert_int_equal(c.file_sync.n, 1);
        bg_config_free(&c);

        static const struct {
                const char *entry, *want;
        } cases[] = {
            {"guest = \"~/x\"", "config.toml:1: file_sync: entry has no host"},
            {"host = \"/x\"", "config.toml:1: file_sync: entry has no guest"},
            {"host = \"/x\"\nguest = \"~/x\"\nowner = \"me\"",
             "config.toml:4: unknown key file_sync.owner"},
            {"host = 1\nguest = \"~/x\"", "config.toml:2: file_sync.host: expected a string, "
                                          "got integer"},
            {"host = \"rel/path\"\nguest = \"~/x\"",
             "file_sync.host: \"rel/path\" must be an absolute path or start with ~/"},
            {"host = \"~bob/x\"\nguest = \"~/x\"", "file_sync.host: \"~bob/x\": ~user paths"},
            {"host = \"~/\"\nguest = \"~/x\"", "must be an absolute path or start with ~/"},
            {"host = \"\"\nguest = \"~/x\"", "must be an absolute path or start with ~/"},
            {"host = \"/x\"\nguest = \"/etc/passwd\"",
             "config.toml:3: file_sync.guest: \"/etc/passwd\" must start with ~/ or /root/"},
            {"host = \"/x\"\nguest = \"x\"", "must start with ~/ or /root/"},
            {"host = \"/x\"\nguest = \"/root\"", "must start with ~/ or /root/"},
            {"host = \"/x\"\nguest = \"~bob/x\"",
             "file_sync.guest: \"~bob/x\": ~user paths are not supported"},
            {"host = \"/x\"\nguest = \"~\"", "~user paths are not supported"},
            {"host = \"/x\"\nguest = \"~/\"", "must name a path below ~/ or /root/"},
            {"host = \"/x\"\nguest = \"/root/\"", "must name a path below ~/ or /root/"},
            {"host = \"/x\"\nguest = \"~/../etc\"", "must not contain . or .. components"},
            {"host = \"/x\"\nguest = \"/root/a/../../etc\"", "must not contain . or .."},
            {"host = \"/x\"\nguest = \"~/a/./b\"", "must not contain . or .."},
            {"host = \"/x\"\nguest = \"~/a//b\"", "has an empty path component"},
            {"host = \"/x\"\nguest = \"~/a/\"", "has an empty path component"},
            {"host = \"/x\"\nguest = \"~//a\"", "has an empty path component"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = 0o10000",
             "config.toml:4: file_sync.mode: 4096 is out of range (0..0o7777)"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = -1", "is out of range (0..0o7777)"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = \"0800\"",
             "file_sync.mode: \"0800\" is not an octal mode like \"0600\""},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = \"\"", "is not an octal mode"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = \"17777\"", "is out of range (0..07777)"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = \"rw\"", "is not an octal mode"},
            {"host = \"/x\"\nguest = \"~/a\"\nmode = true",
             "file_sync.mode: expected an integer like 0o600 or a string like \"0600\", got "
             "boolean"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char text[512];
                snprintf(text, sizeof(text), "[[file_sync]]\n%s\n", cases[i].entry);
                load_fails(text, cases[i].want);
        }
        load_fails("[file_sync]\nhost = \"/x\"\n",
                   "config.toml:1: file_sync: expected an array of tables ([[file_sync]]), got "
                   "table");
        load_fails("file_sync = [1]\n", "file_sync: expected an array of tables, got an array "
                                        "holding integer");
}

static void test_files(void **state)
{
        char dir[] = "/tmp/test_config.XXXXXX";
        char path[256];
        struct bg_config c;
        struct bg_error err = {};
        assert_non_null(mkdtemp(dir));

        /* Missing file: defaults. */
        snprintf(path, sizeof(path), "%s/missing.toml", dir);
        assert_int_equal(bg_config_load_file(path, &c, &err), 0);
        check_defaults(&c);
        bg_config_free(&c);

        snprintf(path, sizeof(path), "%s/config.toml", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        const char *text = "[vm]\nvcpu = 6\n[network]\nbridge = \"x\"\ncolor = 1\n";
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        assert_int_equal(bg_config_load_file(path, &c, &err), -EINVAL);
        char want[512];
        snprintf(want, sizeof(want), "%s:5: unknown key network.color", path);
        assert_string_equal(err.msg, want);

        assert_int_equal(truncate(path, 14), 0);
        assert_int_equal(bg_config_load_file(path, &c, &err), 0);
        assert_int_equal(c.vm.vcpu, 6);
        bg_config_free(&c);

        /* A directory is not a config file. */
        bg_error_clear(&err);
        assert_int_equal(bg_config_load_file(dir, &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not a regular file"));

        unlink(path);
        rmdir(dir);
}

static void test_enum_round_trip(void **state)
{
        for (int i = 0; i < _BG_VMM_MAX; i++)
                assert_int_equal(bg_vmm_from_string(bg_vmm_to_string(i)), i);
        for (int i = 0; i < _BG_QEMU_ACCEL_MAX; i++)
                assert_int_equal(bg_qemu_accel_from_string(bg_qemu_accel_to_string(i)), i);
        assert_null(bg_vmm_to_string(_BG_VMM_MAX));
        assert_int_equal(bg_vmm_from_string("xen"), -EINVAL);
        assert_int_equal(bg_qemu_accel_from_string(NULL), -EINVAL);

        /* The config's log levels are the logger's. */
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                char text[64];
                struct bg_config c;
                snprintf(text, sizeof(text), "log_level = \"%s\"\n", levels[i]);
                load_ok(text, &c);
                assert_int_equal(c.log_level, log_level_from_string(levels[i]));
                bg_config_free(&c);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),         cmocka_unit_test(test_schema_table),
            cmocka_unit_test(test_good_values),      cmocka_unit_test(test_bad_values),
            cmocka_unit_test(test_unknown_key_line), cmocka_unit_test(test_syntax_error),
            cmocka_unit_test(test_file_sync),        cmocka_unit_test(test_files),
            cmocka_unit_test(test_enum_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
