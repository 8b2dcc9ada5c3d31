/* Reidentify (guest/agent/agent_reid.c): validation of every field, the files
 * it writes under a temp root, and the whole round trip through the serve loop
 * and the host client (lib/agent) over a socketpair. The system-wide steps
 * (RNG, clock, hostname, network) run only in a guest: e2e_template checks
 * them on real clones. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_client.h"
#include "agent_reid.h"
#include "agent_serve.h"
#include "agent_setup.h"
#include "test_agent_fixture.h"

#define KEY "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
#define PUB "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBanger clone-1"

static uint8_t entropy[64];
static char *dns_list[] = {"172.30.0.1", "9.9.9.9"};

static Banger__V1__AgentReidentifyRequest good(void)
{
        Banger__V1__AgentReidentifyRequest r = BANGER__V1__AGENT_REIDENTIFY_REQUEST__INIT;
        r.hostname = "clone-1";
        r.address = "172.30.0.7/24";
        r.gateway = "172.30.0.1";
        r.n_dns = 2;
        r.dns = dns_list;
        r.mac = "52:54:00:1e:00:07";
        r.time_unix_ns = 1800000000000000000;
        for (size_t i = 0; i < sizeof(entropy); i++)
                entropy[i] = (uint8_t)(i * 7 + 1);
        r.entropy.data = entropy;
        r.entropy.len = sizeof(entropy);
        r.ssh_host_key = KEY;
        r.ssh_host_key_pub = PUB;
        r.machine_id = "0123456789abcdef0123456789abcdef";
        r.authorized_keys = "ssh-ed25519 AAAAowner banger-owner\n";
        return r;
}

static void test_valid_request_passes(void **state)
{
        Banger__V1__AgentReidentifyRequest r = good();
        char msg[256] = "";
        assert_int_equal(agent_reid_validate(&r, msg, sizeof(msg)), 0);
}

static void expect_invalid(Banger__V1__AgentReidentifyRequest *r, const char *needle)
{
        char msg[256] = "";
        assert_int_equal(agent_reid_validate(r, msg, sizeof(msg)), -EINVAL);
        if (!strstr(msg, needle))
                fail_msg("message '%s' does not mention '%s'", msg, needle);
}

static void test_each_bad_field_is_refused(void **state)
{
        Banger__V1__AgentReidentifyRequest r;
        r = good(), r.hostname = "";
        expect_invalid(&r, "hostname");
        r = good(), r.hostname = "bad_name!";
        expect_invalid(&r, "name");
        r = good(), r.hostname = "a b";
        expect_invalid(&r, "hostname");
        r = good(), r.address = "172.30.0.7";
        expect_invalid(&r, "ip");
        r = good(), r.address = "300.1.1.1/24";
        expect_invalid(&r, "ip");
        r = good(), r.gateway = "gw";
        expect_invalid(&r, "gw");
        r = good(), r.mac = "52:54:00:1e:00";
        expect_invalid(&r, "mac");
        r = good(), r.mac = "52:54:00:1e:00:07 banger.work=/dev/vda";
        expect_invalid(&r, "mac");
        char *bad_dns[] = {"::1"};
        r = good(), r.dns = bad_dns, r.n_dns = 1;
        expect_invalid(&r, "DNS");
        char *many[] = {"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"};
        r = good(), r.dns = many, r.n_dns = 4;
        expect_invalid(&r, "DNS");
        r = good(), r.time_unix_ns = 0;
        expect_invalid(&r, "time");
        r = good(), r.entropy.len = 31;
        expect_invalid(&r, "entropy");
        r = good(), r.ssh_host_key = "not a key";
        expect_invalid(&r, "ssh_host_key");
        r = good(), r.ssh_host_key = "-----BEGIN OPENSSH PRIVATE KEY-----\n\x01\n";
        expect_invalid(&r, "ssh_host_key");
        r = good(), r.ssh_host_key_pub = "ssh-ed25519 AAAA\nssh-rsa BBBB";
        expect_invalid(&r, "ssh_host_key_pub");
        r = good(), r.machine_id = "0123456789ABCDEF0123456789abcdef";
        expect_invalid(&r, "machine_id");
        r = good(), r.machine_id = "00000000000000000000000000000000";
        expect_invalid(&r, "machine_id");
        r = good(), r.authorized_keys = "";
        expect_invalid(&r, "authorized_keys");
}

static char *read_all(const char *root, const char *rel)
{
        char path[1024];
        snprintf(path, sizeof(path), "%s%s", root, rel);
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        static char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return buf;
}

static mode_t mode_of(const char *root, const char *rel)
{
        char path[1024];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s", root, rel);
        assert_int_equal(stat(path, &st), 0);
        return st.st_mode & 07777;
}

static char *new_root(bool with_ssh)
{
        char *root = strdup("/tmp/bg-reid.XXXXXX");
        assert_non_null(mkdtemp(root));
        fixture_write(root, "etc/hostname", "template\n");
        fixture_write(root, "etc/machine-id", "ffffffffffffffffffffffffffffffff\n");
        fixture_write(root, "root/.banger/ssh_host_ed25519_key", "old key\n");
        if (with_ssh)
                fixture_write(root, "etc/ssh/sshd_config", "# sshd\n");
        return root;
}

static void rm_root(char *root)
{
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
        free(root);
}

static void test_files_are_written(void **state)
{
        char *root = new_root(true);
        struct agent_reid_env env = {.root = root, .system = false, .sys_dir = "/sys"};
        Banger__V1__AgentReidentifyRequest r = good();
        Banger__V1__AgentReidentified out = BANGER__V1__AGENT_REIDENTIFIED__INIT;
        char msg[256] = "";
        assert_int_equal(agent_reid_apply(&env, &r, &out, msg, sizeof(msg)), 0);
        assert_int_equal(out.n_warnings, 0);
        assert_string_equal(read_all(root, "/etc/hostname"), "clone-1\n");
        assert_non_null(strstr(read_all(root, "/etc/hosts"), "172.30.0.7\tclone-1"));
        assert_non_null(strstr(read_all(root, "/etc/resolv.conf"), "nameserver 9.9.9.9"));
        assert_string_equal(read_all(root, "/etc/machine-id"),
                            "0123456789abcdef0123456789abcdef\n");
        assert_int_equal(mode_of(root, "/etc/machine-id"), 0444);
        assert_string_equal(read_all(root, "/root/.banger/ssh_host_ed25519_key"), KEY);
        assert_int_equal(mode_of(root, "/root/.banger/ssh_host_ed25519_key"), 0600);
        assert_string_equal(read_all(root, "/root/.banger/ssh_host_ed25519_key.pub"), PUB "\n");
        assert_string_equal(read_all(root, "/root/.ssh/authorized_keys"),
                            "ssh-ed25519 AAAAowner banger-owner\n");
        assert_int_equal(mode_of(root, "/root/.ssh/authorized_keys"), 0600);
        assert_int_equal(mode_of(root, "/root/.ssh"), 0700);
        assert_non_null(strstr(read_all(root, AGENT_SSHD_HOSTKEY_DROPIN), "HostKey"));
        agent_reid_out_clear(&out);
        rm_root(root);
}

static void test_no_sshd_is_a_warning(void **state)
{
        char *root = new_root(false);
        struct agent_reid_env env = {.root = root, .system = false, .sys_dir = "/sys"};
        Banger__V1__AgentReidentifyRequest r = good();
        Banger__V1__AgentReidentified out = BANGER__V1__AGENT_REIDENTIFIED__INIT;
        char msg[256] = "";
        assert_int_equal(agent_reid_apply(&env, &r, &out, msg, sizeof(msg)), 0);
        assert_int_equal(out.n_warnings, 1);
        assert_non_null(strstr(out.warnings[0], "sshd"));
        agent_reid_out_clear(&out);
        rm_root(root);
}

static void test_invalid_request_changes_nothing(void **state)
{
        char *root = new_root(true);
        struct agent_reid_env env = {.root = root, .system = false, .sys_dir = "/sys"};
        Banger__V1__AgentReidentifyRequest r = good();
        r.machine_id = "xyz";
        Banger__V1__AgentReidentified out = BANGER__V1__AGENT_REIDENTIFIED__INIT;
        char msg[256] = "";
        assert_int_equal(agent_reid_apply(&env, &r, &out, msg, sizeof(msg)), -EINVAL);
        assert_string_equal(read_all(root, "/etc/hostname"), "template\n");
        assert_string_equal(read_all(root, "/root/.banger/ssh_host_ed25519_key"), "old key\n");
        agent_reid_out_clear(&out);
        rm_root(root);
}

struct server {
        struct agent_serve_ctx ctx;
        int lfd;
        pthread_t thread;
};

static void *serve_thread(void *arg)
{
        struct server *s = arg;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
                agent_serve_stream(&s->ctx, fd);
                close(fd);
        }
        return NULL;
}

/* Through the real serve loop and the host client: a good request answers
 * AgentReidentified, a bad one an AgentError the client turns into -EINVAL
 * with the agent's reason, and an agent without a reid env refuses. */
static void test_client_round_trip(void **state)
{
        char *root = new_root(true);
        struct agent_reid_env env = {.root = root, .system = false, .sys_dir = "/sys"};
        char sock[300];
        snprintf(sock, sizeof(sock), "%s/agent.sock", root);
        for (int with_env = 1; with_env >= 0; with_env--) {
                struct server s = {0};
                s.ctx = (struct agent_serve_ctx){.proc_root = "/proc",
                                                 .version = "test",
                                                 .stall_ms = 500,
                                                 .write_timeout_ms = 1000,
                                                 .reid = with_env ? &env : NULL};
                s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
                unlink(sock);
                assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(listen(s.lfd, 1), 0);
                pthread_create(&s.thread, NULL, serve_thread, &s);
                struct agent_conn *c = NULL;
                struct bg_error err = {0};
                assert_int_equal(agent_conn_open_unix(sock, 2000, &c, &err), 0);
                Banger__V1__AgentReidentifyRequest r = good();
                Banger__V1__AgentResponse *resp = NULL;
                int x = agent_reidentify(c, &r, 2000, &resp, &err);
                if (with_env) {
                        assert_int_equal(x, 0);
                        assert_non_null(resp->reidentify);
                        agent_response_free(resp);
                        r.mac = "zz";
                        x = agent_reidentify(c, &r, 2000, &resp, &err);
                        assert_int_equal(x, -EINVAL);
                        assert_non_null(strstr(err.msg, "mac"));
                } else {
                        assert_int_equal(x, -ENOTSUP);
                        assert_non_null(strstr(err.msg, "reidentify"));
                }
                agent_conn_free(c);
                pthread_join(s.thread, NULL);
                close(s.lfd);
        }
        rm_root(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_request_passes),
            cmocka_unit_test(test_each_bad_field_is_refused),
            cmocka_unit_test(test_files_are_written),
            cmocka_unit_test(test_no_sshd_is_a_warning),
            cmocka_unit_test(test_invalid_request_changes_nothing),
            cmocka_unit_test(test_client_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
