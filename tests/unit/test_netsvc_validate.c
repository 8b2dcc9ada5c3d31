/* netsvc argument validation (VM names, guest addresses, tap names), the
 * tap state names, and the NetService method table against its descriptor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "banger/v1/net.pb-c.h"
#include "hostnet/ifname.h"
#include "netsvc.h"
#include "validate.h"

static void test_vm_names(void **state)
{
        static const char *good[] = {
            "a",
            "web",
            "web-1",
            "0",
            "9lives",
            "a-b-c",
            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk", /* 63 */
        };
        static const char *bad[] = {
            "",       "-a",
            "a-",     "-",
            "Web",    "web_1",
            "web.vm", "a b",
            "a/b",    "ä",
            "a\n",    "../etc",
            "a;rm",   "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", /* 64 */
        };
        struct bg_error err = {0};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_true(netsvc_vm_name_is_valid(good[i]));
                assert_int_equal(netsvc_validate_vm_name(good[i], &err), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                bg_error_clear(&err);
                assert_false(netsvc_vm_name_is_valid(bad[i]));
                assert_int_equal(netsvc_validate_vm_name(bad[i], &err), -EINVAL);
                assert_true(err.msg[0] != '\0');
        }
        assert_false(netsvc_vm_name_is_valid(NULL));
        /* Messages never carry raw control bytes. */
        assert_int_equal(netsvc_validate_vm_name("x\x1b[31m", &err), -EINVAL);
        assert_null(strchr(err.msg, '\x1b'));
        assert_non_null(strstr(err.msg, "\\x1b"));
}

static void test_guest_ips(void **state)
{
        struct ipam_net net;
        struct in_addr gw, a;
        struct bg_error err = {0};
        assert_int_equal(ipam_cidr_parse("172.30.0.1/24", &gw, &net, &err), 0);
        static const char *good[] = {"172.30.0.2", "172.30.0.254", "172.30.0.100"};
        static const char *bad[] = {
            "172.30.0.1",    "172.30.0.0", "172.30.0.255", "172.30.1.2", "10.0.0.1", "", "172.30.0",
            "172.30.0.2/24", "::1",        "172.30.0.256", "1.2.3.4.5",  "localhost"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(netsvc_validate_guest_ip(&net, gw, good[i], &a, &err), 0);
                assert_string_equal(inet_ntoa(a), good[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                bg_error_clear(&err);
                assert_int_equal(netsvc_validate_guest_ip(&net, gw, bad[i], &a, &err), -EINVAL);
                assert_true(err.msg[0] != '\0');
        }
        assert_int_equal(netsvc_validate_guest_ip(&net, gw, NULL, &a, &err), -EINVAL);
}

static void test_tap_names(void **state)
{
        static const char *good[] = {"bgt1", "bgt999999999", "bg-a", "bg0123456789abc"};
        static const char *bad[] = {"eth0", "banger0", "bg",   "bgT1", "bg_1", "bg0123456789abcd",
                                    "lo",   "bg t",    "bg/x", ""};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_true(ifname_is_tap(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(ifname_is_tap(bad[i]));
}

static void test_tap_states(void **state)
{
        for (int i = 0; i < _TAP_STATE_MAX; i++) {
                const char *s = tap_state_to_string((enum tap_state)i);
                assert_non_null(s);
                assert_int_equal(tap_state_from_string(s), i);
        }
        assert_null(tap_state_to_string(_TAP_STATE_MAX));
        assert_int_equal(tap_state_from_string("in-use"), -EINVAL);
        assert_int_equal(tap_state_from_string(NULL), -EINVAL);
}

static void test_method_table(void **state)
{
        struct bg_error err = {0};
        assert_int_equal(rpc_check_method_table(&banger__v1__net_service__descriptor,
                                                netsvc_net_methods, netsvc_n_net_methods, &err),
                         0);
        assert_int_equal(netsvc_n_net_methods, banger__v1__net_service__descriptor.n_methods);
        assert_string_equal(netsvc_net_methods[0].name, "Health");
        /* A table missing its last method is refused. */
        assert_true(rpc_check_method_table(&banger__v1__net_service__descriptor, netsvc_net_methods,
                                           netsvc_n_net_methods - 1, &err) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vm_names),     cmocka_unit_test(test_guest_ips),
            cmocka_unit_test(test_tap_names),    cmocka_unit_test(test_tap_states),
            cmocka_unit_test(test_method_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
