#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent_ports.h"
#include "test_agent_fixture.h"

#define TCP BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_TCP
#define UDP BANGER__V1__AGENT_TRANSPORT__AGENT_TRANSPORT_UDP

static int parse_text(const char *text, Banger__V1__AgentTransport t, bool v6,
                      struct agent_socket_list *l)
{
        FILE *f = fmemopen((void *)text, strlen(text), "r");
        assert_non_null(f);
        int r = agent_procnet_parse(f, t, v6, l);
        fclose(f);
        return r;
}

static void test_tcp4(void **state)
{
        struct agent_socket_list l = {0};
        /* Two listeners; the established connection and the garbage line are not. */
        assert_int_equal(parse_text(FIXTURE_TCP, TCP, false, &l), 2);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.items[0].address, "0.0.0.0");
        assert_int_equal(l.items[0].port, 22);
        assert_int_equal(l.items[0].inode, 1001);
        assert_int_equal(l.items[0].uid, 0);
        assert_string_equal(l.items[1].address, "127.0.0.1");
        assert_int_equal(l.items[1].port, 8080);
        assert_int_equal(l.items[1].uid, 1000);
        assert_int_equal(l.items[1].transport, TCP);
        assert_false(l.items[1].ipv6);
        agent_socket_list_clear(&l);
}

static void test_tcp6(void **state)
{
        struct agent_socket_list l = {0};
        assert_int_equal(parse_text(FIXTURE_TCP6, TCP, true, &l), 2);
        assert_string_equal(l.items[0].address, "::");
        assert_int_equal(l.items[0].port, 22);
        assert_string_equal(l.items[1].address, "::1");
        assert_int_equal(l.items[1].port, 631);
        assert_true(l.items[1].ipv6);
        agent_socket_list_clear(&l);
}

static void test_udp(void **state)
{
        struct agent_socket_list l = {0};
        /* The bound one (state 07, no peer) counts, the connected one does not. */
        assert_int_equal(parse_text(FIXTURE_UDP, UDP, false, &l), 1);
        assert_string_equal(l.items[0].address, "127.0.0.53");
        assert_int_equal(l.items[0].port, 53);
        assert_int_equal(l.items[0].uid, 101);
        assert_int_equal(l.items[0].transport, UDP);
        agent_socket_list_clear(&l);
}

static void test_malformed(void **state)
{
        struct agent_socket_list l = {0};
        assert_int_equal(parse_text("", TCP, false, &l), -EBADMSG);
        assert_int_equal(parse_text("not a header\n", TCP, false, &l), -EBADMSG);
        const char *bad = "  sl  local_address rem_address   st\n"
                          "   0: 0000000G:0016 00000000:0000 0A 0:0 0:0 0 0 0 1 1\n"
                          "   1: 00000000:016 00000000:0000 0A 0:0 0:0 0 0 0 1 1\n"
                          "   2: 00000000:0016\n"
                          "   3: 00000000000000000000000000000000:0016 00000000:0000 0A 0:0 "
                          "0:0 0 0 0 1 1\n";
        assert_int_equal(parse_text(bad, TCP, false, &l), 0);
        assert_int_equal(l.n, 0);
        agent_socket_list_clear(&l);
}

static void test_inode_map(void **state)
{
        char *root = fixture_proc_new();
        struct agent_inode_map m = {0};
        assert_int_equal(agent_inode_map_build(root, &m), 0);
        /* 1001, 1004 (pid 100); 1002 twice (pid 200) and once (pid 300). */
        assert_int_equal(m.n, 5);
        assert_int_equal(m.items[0].inode, 1001);
        assert_int_equal(m.items[0].pid, 100);
        assert_string_equal(m.items[0].name, "sshd");
        assert_int_equal(m.items[1].inode, 1002);
        assert_int_equal(m.items[3].pid, 300);
        assert_string_equal(m.items[3].name, "forked-child");
        agent_inode_map_clear(&m);
        assert_int_equal(agent_inode_map_build("/nonexistent/proc", &m), -ENOENT);
        fixture_proc_free(root);
}

static void test_collect(void **state)
{
        char *root = fixture_proc_new();
        Banger__V1__AgentPorts p = BANGER__V1__AGENT_PORTS__INIT;
        assert_int_equal(agent_ports_collect(root, &p), 0);
        /* tcp: 22, 8080; tcp6: 22, 631; udp: 53; no udp6 file */
        assert_int_equal(p.n_ports, 5);
        Banger__V1__AgentPort *ssh = p.ports[0], *web = p.ports[1], *cups = p.ports[3];
        assert_int_equal(ssh->port, 22);
        assert_int_equal(ssh->n_processes, 1);
        assert_string_equal(ssh->processes[0]->name, "sshd");
        assert_int_equal(ssh->processes[0]->pid, 100);
        assert_int_equal(web->port, 8080);
        assert_int_equal(web->n_processes, 2); /* pid 200 (twice) and 300, once each */
        assert_string_equal(web->processes[0]->name, "python3");
        assert_string_equal(web->processes[1]->name, "forked-child");
        assert_int_equal(cups->port, 631);
        assert_int_equal(cups->n_processes, 0);
        assert_int_equal(p.ports[4]->transport, UDP);
        agent_ports_reply_clear(&p);
        assert_int_equal(p.n_ports, 0);
        fixture_proc_free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tcp4),      cmocka_unit_test(test_tcp6),
            cmocka_unit_test(test_udp),       cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_inode_map), cmocka_unit_test(test_collect),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
