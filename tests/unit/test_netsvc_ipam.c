/* IPAM over net.db: stable leases, the high-water mark ("never the same IP
 * twice" while unused addresses remain, across releases and restarts),
 * reuse of the address released longest ago once the subnet is used up,
 * requested addresses, purge. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leases.h"
#include "netdb.h"
#include "test_tmpdir.h"

struct fx {
        char dir[64];
        char path[96];
        sqlite3 *db;
        struct ipam_net net;
        struct in_addr gw;
};

static void fx_open(struct fx *f)
{
        struct bg_error err = {0};
        int r = store_open(f->path, netsvc_migrations, netsvc_n_migrations, &f->db, &err);
        if (r < 0)
                fail_msg("store_open: %s", err.msg);
}

static void fx_setup(struct fx *f, const char *cidr)
{
        snprintf(f->dir, sizeof(f->dir), "/tmp/netsvc-ipam.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/net.db", f->dir);
        fx_open(f);
        struct bg_error err = {0};
        assert_int_equal(ipam_cidr_parse(cidr, &f->gw, &f->net, &err), 0);
}

static void fx_reopen(struct fx *f)
{
        store_close(f->db);
        fx_open(f);
}

static void fx_done(struct fx *f)
{
        store_close(f->db);
        assert_int_equal(test_tmpdir_remove(f->dir), 0);
}

/* Leases name and returns its address as text (static buffer per call site). */
static const char *lease_ip(struct fx *f, const char *name, bool *created)
{
        static char buf[8][INET_ADDRSTRLEN];
        static int k;
        struct lease l;
        struct bg_error err = {0};
        int r = lease_get_or_create(f->db, &f->net, f->gw, name, NULL, &l, created, &err);
        if (r < 0)
                fail_msg("lease %s: %s", name, err.msg);
        k = (k + 1) % 8;
        snprintf(buf[k], sizeof(buf[k]), "%s", l.ip_str);
        return buf[k];
}

static void release(struct fx *f, const char *name, bool expect)
{
        bool released = !expect;
        struct bg_error err = {0};
        assert_int_equal(lease_release(f->db, name, &released, &err), 0);
        assert_int_equal(released, expect);
}

static void test_stable_and_never_twice(void **state)
{
        struct fx f;
        fx_setup(&f, "172.30.0.1/24");
        bool created;
        assert_string_equal(lease_ip(&f, "a", &created), "172.30.0.2");
        assert_true(created);
        assert_string_equal(lease_ip(&f, "b", &created), "172.30.0.3");
        assert_string_equal(lease_ip(&f, "a", &created), "172.30.0.2");
        assert_false(created);

        struct lease l;
        struct bg_error err = {0};
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "a", NULL, &l, NULL, &err), 0);
        assert_string_equal(l.mac, "52:54:00:1e:00:02");
        assert_string_equal(l.vm_name, "a");

        release(&f, "a", true);
        release(&f, "a", false);
        /* .2 was released: a new name does not get it ... */
        assert_string_equal(lease_ip(&f, "c", &created), "172.30.0.4");
        /* ... not even the same name coming back ... */
        assert_string_equal(lease_ip(&f, "a", &created), "172.30.0.5");
        /* ... nor after a restart. */
        release(&f, "c", true);
        fx_reopen(&f);
        assert_string_equal(lease_ip(&f, "d", &created), "172.30.0.6");
        assert_string_equal(lease_ip(&f, "b", &created), "172.30.0.3");
        assert_false(created);

        struct in_addr a;
        assert_int_equal(lease_lookup(f.db, "d", &a), 1);
        assert_string_equal(inet_ntoa(a), "172.30.0.6");
        assert_int_equal(lease_lookup(f.db, "c", &a), 0);
        fx_done(&f);
}

static void test_reuse_oldest_when_used_up(void **state)
{
        struct fx f;
        fx_setup(&f, "10.9.0.1/29"); /* guests .2 .. .6 */
        char name[8];
        for (int i = 2; i <= 6; i++) {
                snprintf(name, sizeof(name), "v%d", i);
                char want[16];
                snprintf(want, sizeof(want), "10.9.0.%d", i);
                assert_string_equal(lease_ip(&f, name, NULL), want);
        }
        struct lease l;
        struct bg_error err = {0};
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "full", NULL, &l, NULL, &err),
                         -ENOSPC);
        assert_non_null(strstr(err.msg, "10.9.0.0/29"));

        release(&f, "v5", true);
        release(&f, "v3", true);
        fx_reopen(&f);
        /* Oldest released first (.5 before .3), never a leased one. */
        assert_string_equal(lease_ip(&f, "w1", NULL), "10.9.0.5");
        release(&f, "v4", true);
        assert_string_equal(lease_ip(&f, "w2", NULL), "10.9.0.3");
        assert_string_equal(lease_ip(&f, "w3", NULL), "10.9.0.4");
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "w4", NULL, &l, NULL, &err),
                         -ENOSPC);

        size_t n = 0;
        assert_int_equal(lease_count(f.db, &n, &err), 0);
        assert_int_equal(n, 5);
        struct lease *all = NULL;
        assert_int_equal(lease_list(f.db, &all, &n, &err), 0);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++) {
                char want[16];
                snprintf(want, sizeof(want), "10.9.0.%zu", i + 2);
                assert_string_equal(all[i].ip_str, want); /* ordered by address */
        }
        free(all);
        assert_int_equal(lease_purge(f.db, &n, &err), 0);
        assert_int_equal(n, 5);
        assert_int_equal(lease_count(f.db, &n, &err), 0);
        assert_int_equal(n, 0);
        fx_done(&f);
}

static void test_requested(void **state)
{
        struct fx f;
        fx_setup(&f, "172.30.0.1/24");
        struct lease l;
        struct bg_error err = {0};
        struct in_addr want;
        inet_pton(AF_INET, "172.30.0.9", &want);
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "r", &want, &l, NULL, &err), 0);
        assert_string_equal(l.ip_str, "172.30.0.9");
        /* Same name, same address: fine; another name: refused naming the holder. */
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "r", &want, &l, NULL, &err), 0);
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "s", &want, &l, NULL, &err),
                         -EEXIST);
        assert_non_null(strstr(err.msg, "'r'"));
        /* Same name, another address: refused. */
        struct in_addr other;
        inet_pton(AF_INET, "172.30.0.20", &other);
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "r", &other, &l, NULL, &err),
                         -EEXIST);
        /* Automatic allocation continues above what was handed out. */
        assert_string_equal(lease_ip(&f, "auto", NULL), "172.30.0.10");
        /* Outside the subnet, the gateway, network and broadcast: refused. */
        const char *bad[] = {"10.0.0.5", "172.30.0.1", "172.30.0.0", "172.30.0.255", "172.30.1.2"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                inet_pton(AF_INET, bad[i], &other);
                bg_error_clear(&err);
                assert_int_equal(
                    lease_get_or_create(f.db, &f.net, f.gw, "x", &other, &l, NULL, &err), -EINVAL);
                assert_non_null(strstr(err.msg, bad[i]));
        }
        /* Bad names never reach the database. */
        assert_int_equal(lease_get_or_create(f.db, &f.net, f.gw, "Bad", NULL, &l, NULL, &err),
                         -EINVAL);
        assert_int_equal(lease_release(f.db, "-x", NULL, &err), -EINVAL);
        fx_done(&f);
}

static void test_subnet_change(void **state)
{
        struct fx f;
        fx_setup(&f, "172.30.0.1/24");
        assert_string_equal(lease_ip(&f, "a", NULL), "172.30.0.2");
        /* Reconfigured subnet: the old lease is replaced by one inside it. */
        struct bg_error err = {0};
        assert_int_equal(ipam_cidr_parse("10.40.0.1/24", &f.gw, &f.net, &err), 0);
        assert_string_equal(lease_ip(&f, "a", NULL), "10.40.0.2");
        assert_string_equal(lease_ip(&f, "b", NULL), "10.40.0.3");
        fx_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_stable_and_never_twice),
            cmocka_unit_test(test_reuse_oldest_when_used_up),
            cmocka_unit_test(test_requested),
            cmocka_unit_test(test_subnet_change),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
