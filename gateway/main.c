#include "gateway.h"

int main(int argc, char **argv)
{
        static const struct daemon_desc desc = {
            .name = "gateway",
            .binary = "banger-gateway",
            .summary = "banger's gateway: the one public socket; authenticates callers and "
                       "routes\ncalls to vmsvc, imagesvc, workspacesvc and netsvc.",
            .public_socket = true,
        };
        struct daemon d;
        struct gateway g = {.d = &d};
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = gateway_setup(&g, &err);
        if (r == 0) {
                rpc_server_set_forward(d.srv, gateway_forward, &g);
                rpc_server_set_route(d.srv, gateway_route, &g);
                rpc_server_set_relayed(d.srv, gateway_relayed, &g);
                r = daemon_run(&d, &err);
        }
        daemon_done(&d);
        gateway_teardown(&g);
        return daemon_exit_code(&d, r, &err);
}
