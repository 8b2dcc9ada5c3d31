#include "netsvc.h"

int main(int argc, char **argv)
{
        static const struct daemon_desc desc = {
                .name = "netsvc",
                .binary = "banger-netsvc",
                .summary = "banger's network service (root): bridge, tap pool, NAT and .vm DNS.",
                .socket_for_owner = true,
        };
        struct daemon d;
        struct netsvc v = {.d = &d};
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = netsvc_check_privileges(&err);
        if (r == 0)
                r = daemon_open_db(&d, "net", netsvc_migrations, netsvc_n_migrations, &err);
        if (r == 0)
                r = netsvc_register(&v, &err);
        if (r == 0)
                r = daemon_run(&d, &err);
        daemon_done(&d);
        return daemon_exit_code(&d, r, &err);
}
