/* vmsvc's detached forwards (forwards.c, forward_store.c) over a real
 * vms.db and real sockets: the "VM" is a row in state running whose address
 * is 127.0.0.1, its "guest port" a local echo server. Relaying, the
 * vm.max_forwards cap, a host port in use or forwarded already (all or
 * none), the rows surviving a restart of the manager (listening again on
 * the same ports), a VM that stops losing its forwards (rows and
 * listeners), and vm unforward. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "forward_store.h"
#include "forwards.h"
#include "store/store.h"
#include "test_echo_server.h"
#include "test_tmpdir.h"
#include "vm_lifecycle.h"
#include "vm_store.h"

static char dir[64];
static const char *const VM_ID = "0123456789abcdef0123456789abcdef";

struct fixture {
        sqlite3 *db;
        pthread_mutex_t mu;
        struct vm_env env;
        int echo_fd;
        uint16_t echo_port;
        pthread_t echo;
        struct forwards *fw;
};

/* 0 when something listens on 127.0.0.1:port, else -errno of connect. */
static int try_dial(uint16_t port, int *ret_fd)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
        return 0;
}

/* A byte through host port `port` comes back from the echo server. */
static bool relays(uint16_t port)
{
        int fd;
        if (try_dial(port, &fd) < 0)
                return false;
        char x = 0;
        bool ok = write(fd, "z", 1) == 1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ok = ok && poll(&p, 1, 5000) == 1 && read(fd, &x, 1) == 1 && x == 'z';
        close(fd);
        return ok;
}

static void set_state(struct fixture *f, enum vm_state s)
{
        struct vm_record r;
        struct bg_error err = {0};
        assert_int_equal(vm_store_resolve(f->db, VM_ID, &r, &err), 0);
        r.state = s;
        assert_int_equal(vm_store_update(f->db, &r, &err), 0);
}

static struct forwards *manager(struct fixture *f, uint32_t max_per_vm)
{
        struct forwards_limits lim = {
            .max_per_vm = max_per_vm, .max_conns = 8, .idle_timeout_ms = 60000};
        struct forwards *fw = NULL;
        struct bg_error err = {0};
        assert_int_equal(forwards_new(&f->env, &lim, &fw, &err), 0);
        return fw;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char path[128];
        snprintf(path, sizeof(path), "%s/vms-%d.db", dir, rand());
        struct bg_error err = {0};
        assert_int_equal(store_open(path, vm_store_migrations, vm_store_n_migrations, &f->db, &err),
                         0);
        pthread_mutex_init(&f->mu, NULL);
        f->env.db = f->db;
        f->env.mu = &f->mu;
        struct vm_record r = {.state = VM_RUNNING, .vcpu = 1, .memory_mib = 128};
        snprintf(r.id, sizeof(r.id), "%s", VM_ID);
        snprintf(r.name, sizeof(r.name), "web");
        snprintf(r.ip, sizeof(r.ip), "127.0.0.1");
        assert_int_equal(vm_store_insert(f->db, &r, &err), 0);
        f->echo_fd = listen_any(&f->echo_port);
        pthread_create(&f->echo, NULL, echo_server, (void *)(intptr_t)f->echo_fd);
        f->fw = manager(f, 3);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        forwards_free(f->fw);
        shutdown(f->echo_fd, SHUT_RDWR);
        close(f->echo_fd);
        pthread_join(f->echo, NULL);
        sqlite3_close(f->db);
        free(f);
        return 0;
}

static int add(struct fixture *f, uint32_t host, uint32_t guest, struct bg_error *err)
{
        Banger__V1__VmForward v;
        banger__v1__vm_forward__init(&v);
        v.host_port = host;
        v.guest_port = guest;
        Banger__V1__VmForward *vp = &v;
        char id[33];
        return forwards_add(f->fw, "web", &vp, 1, id, err);
}

/* The host ports VM web's forwards listen on, as vm show gets them. */
static size_t shown(struct fixture *f, uint16_t *ports, size_t max)
{
        Banger__V1__Vm vm;
        banger__v1__vm__init(&vm);
        assert_int_equal(forwards_fill(f->fw, VM_ID, &vm), 0);
        size_t n = vm.n_forwards;
        for (size_t i = 0; i < n; i++) {
                if (i < max)
                        ports[i] = (uint16_t)vm.forwards[i]->host_port;
                assert_int_equal(vm.forwards[i]->guest_port, f->echo_port);
                assert_string_equal(vm.forwards[i]->address, "127.0.0.1");
                free(vm.forwards[i]->address);
                free(vm.forwards[i]->error);
                free(vm.forwards[i]);
        }
        free(vm.forwards);
        return n;
}

static size_t rows(struct fixture *f)
{
        struct forward_row *r = NULL;
        size_t n = 0;
        struct bg_error err = {0};
        assert_int_equal(forward_store_list(f->db, NULL, &r, &n, &err), 0);
        free(r);
        return n;
}

static void test_relay_and_caps(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {0};
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        uint16_t p[4];
        assert_int_equal(shown(f, p, 4), 1);
        assert_true(p[0] > 0);
        assert_true(relays(p[0]));

        /* A host port something else holds: EEXIST naming it; nothing added. */
        uint16_t busy;
        int bfd = listen_any(&busy);
        assert_int_equal(add(f, busy, f->echo_port, &err), -EEXIST);
        char want[64];
        snprintf(want, sizeof(want), "127.0.0.1:%u", busy);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "Address already in use"));
        close(bfd);
        /* One forwarded already. */
        assert_int_equal(add(f, p[0], 7, &err), -EEXIST);
        assert_non_null(strstr(err.msg, "is forwarded to VM web already"));
        assert_int_equal(shown(f, p, 4), 1);
        assert_int_equal(rows(f), 1);

        /* vm.max_forwards = 3: two more fit, a fourth does not. */
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        assert_int_equal(add(f, 0, f->echo_port, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "at most 3 (config vm.max_forwards)"));
        assert_int_equal(shown(f, p, 4), 3);
        assert_int_equal(rows(f), 3);

        /* A VM that is not running gets none. */
        set_state(f, VM_STOPPED);
        assert_int_equal(add(f, 0, f->echo_port, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "VM web is stopped, not running"));
}

static void test_restart_keeps_them(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {0};
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        uint16_t p[2];
        assert_int_equal(shown(f, p, 2), 2);
        /* vmsvc goes away: the listeners close, the rows stay. */
        forwards_free(f->fw);
        assert_int_equal(try_dial(p[0], NULL), -ECONNREFUSED);
        assert_int_equal(rows(f), 2);
        /* The next one listens again on the same ports. */
        f->fw = manager(f, 3);
        forwards_restore(f->fw);
        uint16_t q[2];
        assert_int_equal(shown(f, q, 2), 2);
        assert_true((q[0] == p[0] && q[1] == p[1]) || (q[0] == p[1] && q[1] == p[0]));
        assert_true(relays(p[0]));
        assert_true(relays(p[1]));

        /* The VM stops: its forwards go, rows and listeners, and stay gone. */
        set_state(f, VM_STOPPING);
        forwards_sync(f->fw);
        assert_int_equal(rows(f), 0);
        assert_int_equal(shown(f, q, 2), 0);
        assert_int_equal(try_dial(p[0], NULL), -ECONNREFUSED);
        assert_int_equal(try_dial(p[1], NULL), -ECONNREFUSED);
        set_state(f, VM_RUNNING);
        forwards_sync(f->fw);
        assert_int_equal(shown(f, q, 2), 0);

        /* Rows of a VM that stopped while no vmsvc ran are dropped at restore. */
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        forwards_free(f->fw);
        set_state(f, VM_STOPPED);
        f->fw = manager(f, 3);
        forwards_restore(f->fw);
        assert_int_equal(rows(f), 0);
        assert_int_equal(shown(f, q, 2), 0);
}

static void test_unforward(void **state)
{
        struct fixture *f = *state;
        struct bg_error err = {0};
        char id[33];
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        uint16_t p[2];
        assert_int_equal(shown(f, p, 2), 2);
        uint32_t bad[2] = {p[0], p[0] == 1 ? 2 : 1};
        assert_int_equal(forwards_remove(f->fw, "web", bad, 2, false, id, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "has no forward on host port"));
        assert_int_equal(rows(f), 2); /* none removed */
        uint32_t one = p[0];
        assert_int_equal(forwards_remove(f->fw, "web", &one, 1, false, id, &err), 0);
        assert_string_equal(id, VM_ID);
        assert_int_equal(try_dial(p[0], NULL), -ECONNREFUSED);
        assert_true(relays(p[1]));
        assert_int_equal(rows(f), 1);
        assert_int_equal(forwards_remove(f->fw, "web", NULL, 0, true, id, &err), 0);
        assert_int_equal(try_dial(p[1], NULL), -ECONNREFUSED);
        assert_int_equal(rows(f), 0);
        /* Deleting the VM's row deletes its forward rows too. */
        assert_int_equal(add(f, 0, f->echo_port, &err), 0);
        assert_int_equal(vm_store_delete(f->db, VM_ID, &err), 0);
        assert_int_equal(rows(f), 0);
        forwards_sync(f->fw);
        assert_int_equal(shown(f, p, 2), 0);
}

int main(void)
{
        if (test_tmpdir_make(dir, sizeof(dir), "forwards") < 0)
                return 1;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_relay_and_caps, setup, teardown),
            cmocka_unit_test_setup_teardown(test_restart_keeps_them, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unforward, setup, teardown),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        return test_tmpdir_remove(dir) < 0 ? 1 : r;
}
