#include "log/log.h"
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
        struct netsvc v = {0};
        bool started = false;
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = netsvc_check_privileges(&err);
        if (r == 0)
                r = daemon_open_db(&d, "net", netsvc_migrations, netsvc_n_migrations, &err);
        if (r == 0)
                r = netsvc_init(&v, &d, &err);
        /* Reconcile and set up before serving: callers never see a half-built
         * network. The pool warms in the background. */
        if (r == 0) {
                r = netsvc_start(&v, &err);
                started = r == 0;
        }
        if (r == 0)
                r = netsvc_register(&v, &err);
        if (r == 0)
                r = daemon_run(&d, &err);
        /* daemon_run returns after the server stopped: no handler is running. */
        if (started || v.pool)
                netsvc_stop(&v);
        daemon_done(&d);
        return daemon_exit_code(&d, r, &err);
}
