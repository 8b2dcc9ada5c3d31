#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "legacy_db.h"
#include "log/log.h"
#include "netsvc.h"
#include "vmm/vmm_console.h"

int main(int argc, char **argv)
{
        /* A jailed Firecracker's console pump: netsvc starts it as the
         * owner, never as root (jail.c). */
        if (argc > 1 && strcmp(argv[1], VMM_CONSOLE_PUMP_ARG) == 0) {
                /* It opens files by path in the owner's VM directory. */
                if (geteuid() == 0) {
                        fprintf(stderr, "banger-netsvc " VMM_CONSOLE_PUMP_ARG
                                        ": runs as a VM's owner, never as root\n");
                        return 2;
                }
                return vmm_console_pump_main(argc, argv);
        }
        static const struct daemon_desc desc = {
            .name = "netsvc",
            .binary = "banger-netsvc",
            .summary = "banger's network service (root): bridge, tap pool, NAT and .vm DNS.",
            .root_service = true,
        };
        struct daemon d;
        struct netsvc v = {0};
        bool started = false;
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = netsvc_check_privileges(&err);
        if (r == 0) {
                char why[512];
                int m = netsvc_legacy_db_import(&d.paths, why, sizeof(why), &err);
                if (m > 0)
                        log_info("moved net.db from %s to %s", d.paths.state_dir,
                                 d.paths.net_state_dir);
                else if (m == 0 && why[0])
                        log_warn("not moving the old net.db: %s; starting with an empty one", why);
                r = m < 0 ? m : 0;
        }
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
