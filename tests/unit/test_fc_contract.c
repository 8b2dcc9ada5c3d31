/* The contract server's own tests: it must refuse what Firecracker's API
 * specification forbids, or the driver tests that rely on it prove nothing. */
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

#include "fc_contract_server.h"
#include "util/macro.h"
#include "util/timeutil.h"

static struct fc_contract *contract;
static char tmpdir[64];

struct fx {
        struct fc_contract_state *st;
        char resp[8192];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        struct fc_contract_opts o = {.skip_file_checks = true, .instance_id = "abc"};
        assert_int_equal(fc_contract_state_new(contract, &o, &f->st), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        fc_contract_state_free(f->st);
        free(f);
        return 0;
}

static int req(struct fx *f, const char *method, const char *target, const char *body)
{
        return fc_contract_handle(f->st, method, target, body, body ? strlen(body) : 0, f->resp,
                                  sizeof(f->resp));
}

#define assert_refused(f, method, target, body, needle)                                            \
        do {                                                                                       \
                assert_int_equal(req(f, method, target, body), 400);                               \
                assert_non_null(strstr((f)->resp, "\"fault_message\""));                           \
                if (!strstr((f)->resp, needle))                                                    \
                        fail_msg("answer '%s' lacks '%s'", (f)->resp, needle);                     \
        } while (0)

static void configure_all(struct fx *f)
{
        char vs[128];
        snprintf(vs, sizeof(vs), "{\"guest_cid\":3,\"uds_path\":\"%s/v.sock\"}", tmpdir);
        char path[96];
        snprintf(path, sizeof(path), "%s/v.sock", tmpdir);
        unlink(path);
        assert_int_equal(
            req(f, "PUT", "/logger", "{\"log_path\":\"/tmp/x\",\"level\":\"Warning\"}"), 204);
        assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\":\"/tmp/m\"}"), 204);
        assert_int_equal(
            req(f, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}"), 204);
        assert_int_equal(req(f, "PUT", "/boot-source",
                             "{\"kernel_image_path\":\"/k\",\"initrd_path\":\"/i\","
                             "\"boot_args\":\"console=ttyS0\"}"),
                         204);
        assert_int_equal(req(f, "PUT", "/drives/rootfs",
                             "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\","
                             "\"is_root_device\":false,\"is_read_only\":false,"
                             "\"cache_type\":\"Writeback\"}"),
                         204);
        assert_int_equal(req(f, "PUT", "/network-interfaces/eth0",
                             "{\"iface_id\":\"eth0\",\"host_dev_name\":\"bgtap0\","
                             "\"guest_mac\":\"52:54:00:12:34:56\"}"),
                         204);
        assert_int_equal(req(f, "PUT", "/vsock", vs), 204);
}

static void test_valid_sequence(void **state)
{
        struct fx *f = *state;
        configure_all(f);
        assert_false(fc_contract_started(f->st));
        assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
        assert_true(fc_contract_started(f->st));
        assert_int_equal(req(f, "GET", "/", NULL), 200);
        assert_non_null(strstr(f->resp, "\"Running\""));
        assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}"), 204);
        assert_int_equal(fc_contract_rejected(f->st), 0);
}

static void test_schema_refusals(void **state)
{
        struct fx *f = *state;
        /* unknown field */
        assert_refused(f, "PUT", "/machine-config",
                       "{\"vcpu_count\":2,\"mem_size_mib\":256,\"vcpus\":2}",
                       "unknown field `vcpus`");
        /* wrong type */
        assert_refused(f, "PUT", "/machine-config", "{\"vcpu_count\":\"2\",\"mem_size_mib\":256}",
                       "expected an integer");
        assert_refused(
            f, "PUT", "/drives/rootfs",
            "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":\"no\"}",
            "expected a boolean");
        /* missing required field */
        assert_refused(f, "PUT", "/drives/rootfs",
                       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\"}",
                       "missing field `is_root_device`");
        assert_refused(f, "PUT", "/vsock", "{\"uds_path\":\"/x\"}", "missing field `guest_cid`");
        /* bad enum */
        assert_refused(f, "PUT", "/actions", "{\"action_type\":\"Reboot\"}",
                       "unknown variant `Reboot`");
        assert_refused(f, "PUT", "/drives/rootfs",
                       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":false,"
                       "\"cache_type\":\"Fast\"}",
                       "unknown variant `Fast`");
        /* minimum / maximum */
        assert_refused(f, "PUT", "/machine-config", "{\"vcpu_count\":33,\"mem_size_mib\":256}",
                       "above the maximum");
        assert_refused(f, "PUT", "/vsock", "{\"guest_cid\":2,\"uds_path\":\"/x\"}",
                       "below the minimum");
        assert_refused(f, "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":-5}",
                       "unsigned");
        /* nested through $ref: RateLimiter -> TokenBucket */
        assert_refused(f, "PUT", "/drives/rootfs",
                       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":false,"
                       "\"rate_limiter\":{\"bandwidth\":{\"size\":\"big\",\"refill_time\":1}}}",
                       "body.rate_limiter.bandwidth.size");
        assert_refused(f, "PUT", "/drives/rootfs",
                       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":false,"
                       "\"rate_limiter\":{\"bandwidth\":{\"size\":1}}}",
                       "missing field `refill_time`");
        /* not an object, not JSON, no body */
        assert_refused(f, "PUT", "/metrics", "[1]", "expected an object");
        assert_refused(f, "PUT", "/metrics", "{\"metrics_path\":", "deserializing");
        assert_refused(f, "PUT", "/actions", NULL, "Empty request body");
        /* unknown path and method */
        assert_refused(f, "PUT", "/nonsense", "{}", "Invalid request method and/or path");
        assert_refused(f, "DELETE", "/drives/rootfs", NULL, "Invalid request method and/or path");
        assert_refused(f, "PUT", "/drives", "{}", "Invalid request method and/or path");
        /* path id vs body id */
        assert_refused(f, "PUT", "/drives/work",
                       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":false}",
                       "does not match");
        /* semantic: bad MAC */
        assert_refused(f, "PUT", "/network-interfaces/eth0",
                       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"t\",\"guest_mac\":\"zz\"}",
                       "Invalid MAC");
        assert_int_equal(fc_contract_calls(f->st), fc_contract_rejected(f->st));
}

static void test_order_rules(void **state)
{
        struct fx *f = *state;
        assert_refused(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}",
                       "without kernel configuration");
        assert_refused(f, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}",
                       "before starting");
        assert_refused(f, "PATCH", "/vm", "{\"state\":\"Paused\"}", "before starting");
        configure_all(f);
        assert_refused(f, "PUT", "/metrics", "{\"metrics_path\":\"/tmp/m2\"}", "metrics");
        assert_refused(f, "PUT", "/logger", "{\"log_path\":\"/tmp/x\"}", "only be configured once");
        /* One root device is fine, a second is not. */
        assert_int_equal(req(f, "PUT", "/drives/root1",
                             "{\"drive_id\":\"root1\",\"path_on_host\":\"/d\","
                             "\"is_root_device\":true}"),
                         204);
        assert_refused(f, "PUT", "/drives/root2",
                       "{\"drive_id\":\"root2\",\"path_on_host\":\"/d\",\"is_root_device\":true}",
                       "root block device already exists");
}

static void test_after_start(void **state)
{
        struct fx *f = *state;
        configure_all(f);
        assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
        assert_refused(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}",
                       "already running");
        assert_refused(f, "PUT", "/drives/work",
                       "{\"drive_id\":\"work\",\"path_on_host\":\"/d\",\"is_root_device\":false}",
                       "not supported after starting");
        assert_refused(f, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}",
                       "not supported after starting");
        assert_refused(f, "PUT", "/boot-source", "{\"kernel_image_path\":\"/k\"}",
                       "not supported after starting");
        assert_int_equal(req(f, "PATCH", "/vm", "{\"state\":\"Paused\"}"), 204);
        assert_int_equal(req(f, "GET", "/", NULL), 200);
        assert_non_null(strstr(f->resp, "\"state\":\"Paused\""));
        assert_refused(f, "PATCH", "/vm", "{\"state\":\"Frozen\"}", "unknown variant `Frozen`");
        assert_int_equal(req(f, "PATCH", "/vm", "{\"state\":\"Resumed\"}"), 204);
        assert_int_equal(req(f, "GET", "/", NULL), 200);
        assert_non_null(strstr(f->resp, "\"state\":\"Running\""));
        assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}"), 204);
        assert_int_equal(req(f, "GET", "/machine-config", NULL), 200);
        assert_non_null(strstr(f->resp, "\"vcpu_count\":2"));
}

/* PUT /snapshot/create: post-boot only, and only while paused; writes the
 * state and a memory file of the guest's size. */
static void test_snapshot_create_rules(void **state)
{
        struct fx *f = *state;
        char body[512], st_path[96], mem[96];
        snprintf(st_path, sizeof(st_path), "%s/s.state", tmpdir);
        snprintf(mem, sizeof(mem), "%s/s.mem", tmpdir);
        unlink(st_path);
        unlink(mem);
        snprintf(body, sizeof(body),
                 "{\"snapshot_type\":\"Full\",\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\"}",
                 st_path, mem);
        assert_refused(f, "PUT", "/snapshot/create", body, "before starting");
        configure_all(f);
        assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
        assert_refused(f, "PUT", "/snapshot/create", body,
                       "save/restore unavailable while running");
        assert_int_equal(access(st_path, F_OK), -1);
        assert_int_equal(req(f, "PATCH", "/vm", "{\"state\":\"Paused\"}"), 204);
        /* the schema: required fields, the enum */
        assert_refused(f, "PUT", "/snapshot/create", "{\"snapshot_path\":\"/x\"}",
                       "missing field `mem_file_path`");
        assert_refused(f, "PUT", "/snapshot/create",
                       "{\"snapshot_path\":\"/x\",\"mem_file_path\":\"/y\",\"snapshot_type\":"
                       "\"Incremental\"}",
                       "unknown variant `Incremental`");
        assert_int_equal(req(f, "PUT", "/snapshot/create", body), 204);
        struct stat sb;
        assert_int_equal(stat(mem, &sb), 0);
        assert_int_equal(sb.st_size, 256 << 20); /* configure_all's mem_size_mib */
        assert_int_equal(stat(st_path, &sb), 0);
        assert_true(sb.st_size > 0);
        /* Still paused; a snapshot is no InstanceStart. */
        assert_int_equal(req(f, "GET", "/", NULL), 200);
        assert_non_null(strstr(f->resp, "\"state\":\"Paused\""));
        /* PATCH /drives after start: existing drives only. */
        assert_refused(f, "PATCH", "/drives/nope",
                       "{\"drive_id\":\"nope\",\"path_on_host\":\"/d\"}",
                       "Invalid block device ID");
        assert_int_equal(
            req(f, "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d2\"}"),
            204);
        unlink(st_path);
        unlink(mem);
}

/* Makes s.state + s.mem in tmpdir from a paused, fully configured guest
 * whose vsock uds is tmpdir/v.sock (left bound, like Firecracker's). */
static void snapshot_fixture(void)
{
        struct fc_contract_state *st;
        struct fc_contract_opts o = {.skip_file_checks = true};
        assert_int_equal(fc_contract_state_new(contract, &o, &st), 0);
        struct fx f = {.st = st};
        configure_all(&f);
        assert_int_equal(req(&f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}"), 204);
        assert_int_equal(req(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}"), 204);
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"snapshot_path\":\"%s/s.state\",\"mem_file_path\":\"%s/s.mem\"}", tmpdir,
                 tmpdir);
        assert_int_equal(req(&f, "PUT", "/snapshot/create", body), 204);
        fc_contract_state_free(st); /* closes the vsock listener, keeps the file */
}

static int load(struct fx *f, const char *extra)
{
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"snapshot_path\":\"%s/s.state\",\"mem_backend\":{\"backend_type\":\"File\","
                 "\"backend_path\":\"%s/s.mem\"}%s}",
                 tmpdir, tmpdir, extra);
        return req(f, "PUT", "/snapshot/load", body);
}

/* PUT /snapshot/load: only on a fresh process, with exactly one memory
 * source; overrides must name devices of the snapshot; the snapshot's
 * vsock uds must be free; a failed load is fatal; after a load the guest is
 * paused and only post-boot calls are taken. */
static void test_snapshot_load_rules(void **state)
{
        struct fx *f = *state;
        snapshot_fixture();
        char vsock2[128], extra[384];
        snprintf(vsock2, sizeof(vsock2), "%s/v2.sock", tmpdir);
        unlink(vsock2);
        snprintf(extra, sizeof(extra),
                 ",\"network_overrides\":[{\"iface_id\":\"eth0\",\"host_dev_name\":\"bgtap9\"}],"
                 "\"vsock_override\":{\"uds_path\":\"%s\"}",
                 vsock2);

        /* Not after a boot resource. */
        assert_int_equal(
            req(f, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}"), 204);
        assert_int_equal(load(f, extra), 400);
        assert_non_null(strstr(f->resp, "not allowed after configuring boot-specific resources"));
        assert_null(fc_contract_fatal(f->st));
        teardown(state);
        setup(state);
        f = *state;

        /* Logger and metrics first are fine; the memory source exactly once. */
        assert_int_equal(
            req(f, "PUT", "/logger", "{\"log_path\":\"/tmp/x\",\"level\":\"Warning\"}"), 204);
        assert_int_equal(req(f, "PUT", "/metrics", "{\"metrics_path\":\"/tmp/m\"}"), 204);
        assert_refused(f, "PUT", "/snapshot/load", "{\"snapshot_path\":\"/s\"}",
                       "either `mem_backend` or `mem_file_path` is required");
        assert_refused(f, "PUT", "/snapshot/load",
                       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"mem_backend\":{"
                       "\"backend_type\":\"File\",\"backend_path\":\"/m\"}}",
                       "exclusively");
        /* the schema: NetworkOverride and VsockOverride */
        assert_refused(f, "PUT", "/snapshot/load",
                       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"network_overrides\":["
                       "{\"iface_id\":\"eth0\"}]}",
                       "missing field `host_dev_name`");
        assert_refused(f, "PUT", "/snapshot/load",
                       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\",\"vsock_override\":{"
                       "\"path\":\"/v\"}}",
                       "missing field `uds_path`");
        assert_refused(f, "PUT", "/snapshot/load",
                       "{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":\"Disk\","
                       "\"backend_path\":\"/m\"}}",
                       "unknown variant `Disk`");
        assert_null(fc_contract_fatal(f->st)); /* parse errors are not fatal */

        /* The load, with the clone's tap and socket. */
        assert_int_equal(load(f, extra), 204);
        assert_true(fc_contract_started(f->st));
        assert_true(fc_contract_paused(f->st));
        assert_int_equal(req(f, "GET", "/", NULL), 200);
        assert_non_null(strstr(f->resp, "\"state\":\"Paused\""));
        assert_int_equal(access(vsock2, F_OK), 0); /* bound where the override says */
        assert_int_equal(req(f, "GET", "/machine-config", NULL), 200);
        assert_non_null(strstr(f->resp, "\"mem_size_mib\":256"));
        assert_int_equal(
            req(f, "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/c\"}"),
            204);
        assert_refused(f, "PUT", "/snapshot/load",
                       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}",
                       "not supported after starting");
        assert_refused(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}",
                       "already running");
        assert_refused(f, "PUT", "/vsock", "{\"guest_cid\":3,\"uds_path\":\"/v\"}",
                       "not supported after starting");
        assert_int_equal(req(f, "PATCH", "/vm", "{\"state\":\"Resumed\"}"), 204);
        assert_false(fc_contract_paused(f->st));
        teardown(state);
        unlink(vsock2);

        /* Failed loads are fatal. Without the vsock override the snapshot's
         * uds is still bound by its file: */
        static const char *const bad[] = {
            "",
            "Error binding",
            ",\"network_overrides\":[{\"iface_id\":\"eth1\",\"host_dev_name\":\"t\"}]",
            "Unknown Network Device",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i += 2) {
                setup(state);
                f = *state;
                assert_int_equal(load(f, bad[i]), 400);
                if (!strstr(f->resp, bad[i + 1]))
                        fail_msg("answer '%s' lacks '%s'", f->resp, bad[i + 1]);
                assert_non_null(fc_contract_fatal(f->st));
                assert_false(fc_contract_started(f->st));
                teardown(state);
        }
        /* A memory file shorter than the guest's RAM, a state that is not
         * a snapshot. */
        char p[96];
        snprintf(p, sizeof(p), "%s/s.mem", tmpdir);
        assert_int_equal(truncate(p, 1 << 20), 0);
        setup(state);
        f = *state;
        assert_int_equal(load(f, extra), 400);
        assert_non_null(strstr(f->resp, "offset too large"));
        assert_non_null(fc_contract_fatal(f->st));
        teardown(state);
        snprintf(p, sizeof(p), "%s/s.state", tmpdir);
        FILE *fp = fopen(p, "we");
        fputs("{\"not\":\"a snapshot\"}", fp);
        fclose(fp);
        setup(state);
        f = *state;
        assert_int_equal(load(f, extra), 400);
        assert_non_null(strstr(f->resp, "not a snapshot"));
        unlink(p);
        snprintf(p, sizeof(p), "%s/s.mem", tmpdir);
        unlink(p);
        unlink(vsock2);
}

static void test_injected_failure_and_files(void **state)
{
        (void)state;
        struct fc_contract_state *st;
        struct fc_contract_opts o = {.fail_call = "PUT /machine-config",
                                     .fail_message = "injected: no memory for you"};
        assert_int_equal(fc_contract_state_new(contract, &o, &st), 0);
        char resp[1024];
        const char *mc = "{\"vcpu_count\":2,\"mem_size_mib\":256}";
        assert_int_equal(
            fc_contract_handle(st, "PUT", "/machine-config", mc, strlen(mc), resp, sizeof(resp)),
            400);
        assert_non_null(strstr(resp, "injected: no memory for you"));
        /* files are checked unless told not to */
        const char *bs = "{\"kernel_image_path\":\"/nonexistent/vmlinux\"}";
        assert_int_equal(
            fc_contract_handle(st, "PUT", "/boot-source", bs, strlen(bs), resp, sizeof(resp)), 400);
        assert_non_null(strstr(resp, "/nonexistent/vmlinux"));
        fc_contract_state_free(st);
}

/* ---- over the socket --------------------------------------------------- */

struct srv {
        struct fc_contract_state *st;
        char sock[108];
        int stop[2];
        int ret;
};

static void *serve_thread(void *p)
{
        struct srv *s = p;
        s->ret = fc_contract_serve(s->st, s->sock, s->stop[0]);
        return NULL;
}

static int dial(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        for (int i = 0; i < 200; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return fd;
                close(fd);
                sleep_msec(10);
        }
        return -1;
}

/* Reads until needle arrived (or EOF). */
static void read_until(int fd, char *buf, size_t len, const char *needle)
{
        size_t n = 0;
        buf[0] = '\0';
        while (n < len - 1 && !strstr(buf, needle)) {
                ssize_t r = read(fd, buf + n, len - 1 - n);
                if (r <= 0)
                        break;
                n += (size_t)r;
                buf[n] = '\0';
        }
}

static void test_http_framing(void **state)
{
        (void)state;
        struct srv s = {0};
        char rec[96];
        snprintf(rec, sizeof(rec), "%s/calls.log", tmpdir);
        struct fc_contract_opts o = {.skip_file_checks = true, .record_path = rec, .exit_code = 7};
        assert_int_equal(fc_contract_state_new(contract, &o, &s.st), 0);
        snprintf(s.sock, sizeof(s.sock), "%s/api.sock", tmpdir);
        unlink(s.sock);
        unlink(rec);
        assert_int_equal(pipe(s.stop), 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, serve_thread, &s), 0);
        int fd = dial(s.sock);
        assert_true(fd >= 0);

        /* Two requests pipelined on one keep-alive connection. */
        const char *two = "PUT /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                          "application/json\r\nContent-Length: 25\r\n\r\n"
                          "{\"metrics_path\":\"/tmp/m\"}"
                          "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                          "12\r\n\r\n{\"vcpus\": 1}";
        assert_int_equal(write(fd, two, strlen(two)), (ssize_t)strlen(two));
        char buf[4096];
        read_until(fd, buf, sizeof(buf), "fault_message\":\"body: missing field `mem_size_mib`\"}");
        assert_non_null(strstr(buf, "HTTP/1.1 204"));
        assert_non_null(strstr(buf, "HTTP/1.1 400"));

        /* Expect: 100-continue gets its interim answer before the body. */
        const char *head = "PUT /actions HTTP/1.1\r\nHost: localhost\r\nExpect: "
                           "100-continue\r\nContent-Length: 33\r\n\r\n";
        assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
        read_until(fd, buf, sizeof(buf), "100 Continue\r\n\r\n");
        assert_non_null(strstr(buf, "HTTP/1.1 100 Continue"));
        const char *body = "{\"action_type\":\"InstanceStart\"}  ";
        assert_int_equal(write(fd, body, 33), 33);
        read_until(fd, buf, sizeof(buf), "\r\n\r\n");
        /* No boot source yet: refused, like Firecracker. */
        assert_non_null(strstr(buf, "HTTP/1.1 400"));
        close(fd);

        /* A chunked body is not Firecracker's HTTP. */
        fd = dial(s.sock);
        const char *chunked =
            "PUT /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_int_equal(write(fd, chunked, strlen(chunked)), (ssize_t)strlen(chunked));
        read_until(fd, buf, sizeof(buf), "}");
        assert_non_null(strstr(buf, "HTTP/1.1 400"));
        close(fd);

        assert_int_equal(write(s.stop[1], "x", 1), 1);
        pthread_join(t, NULL);
        assert_int_equal(s.ret, -ECANCELED);

        FILE *f = fopen(rec, "re");
        assert_non_null(f);
        char line[512];
        assert_non_null(fgets(line, sizeof(line), f));
        assert_string_equal(line, "PUT /metrics 204 {\"metrics_path\":\"/tmp/m\"}\n");
        assert_non_null(fgets(line, sizeof(line), f));
        assert_string_equal(line, "PUT /machine-config 400 {\"vcpus\":1}\n");
        assert_non_null(fgets(line, sizeof(line), f));
        assert_string_equal(line, "PUT /actions 400 {\"action_type\":\"InstanceStart\"}\n");
        fclose(f);
        close(s.stop[0]);
        close(s.stop[1]);
        fc_contract_state_free(s.st);
        unlink(s.sock);
        unlink(rec);
}

int main(void)
{
        char spec[4096], errbuf[512];
        if (fc_contract_spec_path(spec, sizeof(spec)) < 0) {
                printf("FAIL: set-up: no Firecracker API spec under BANGER_SHARED_DIR=%s/ref "
                       "(the shared/ folder beside the checkout)\n",
                       getenv("BANGER_SHARED_DIR") ? getenv("BANGER_SHARED_DIR") : "");
                return 1;
        }
        if (fc_contract_load(spec, &contract, errbuf, sizeof(errbuf)) < 0) {
                fprintf(stderr, "cannot load %s: %s\n", spec, errbuf);
                return 1;
        }
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/bgfcc.XXXXXX");
        if (!mkdtemp(tmpdir))
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_valid_sequence, setup, teardown),
            cmocka_unit_test_setup_teardown(test_schema_refusals, setup, teardown),
            cmocka_unit_test_setup_teardown(test_order_rules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_after_start, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_create_rules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_load_rules, setup, teardown),
            cmocka_unit_test(test_injected_failure_and_files),
            cmocka_unit_test(test_http_framing),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        char p[96];
        snprintf(p, sizeof(p), "%s/v.sock", tmpdir);
        unlink(p);
        rmdir(tmpdir);
        fc_contract_free(contract);
        return r;
}
