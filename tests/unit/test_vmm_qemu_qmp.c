/* Unit tests of the QEMU VMM driver's QMP client against a fake QMP server
 * (a session, a bad greeting, the unix socket) and of query, pause and resume
 * through the driver. */
#include "test_vmm_qemu_fixture.h"

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
        char *dir = test_tmpdir_new("vmm-qemu");
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
        test_tmpdir_drop(dir);
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

        char *dir = test_tmpdir_new("vmm-qemu");
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
        test_tmpdir_drop(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_qmp_session),
            cmocka_unit_test(test_qmp_bad_greeting),
            cmocka_unit_test(test_qmp_unix_socket),
            cmocka_unit_test(test_query_pause_resume),
        };
        return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
