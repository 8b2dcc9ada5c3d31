#include "workspacesvc.h"

int main(int argc, char **argv)
{
        static const struct daemon_desc desc = {
                .name = "workspacesvc",
                .binary = "banger-workspacesvc",
                .summary = "banger's workspace service: workspaces, file sync and Exec in VMs.",
        };
        struct daemon d;
        struct workspacesvc v = {.d = &d};
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = daemon_open_db(&d, "workspaces", workspacesvc_migrations, workspacesvc_n_migrations, &err);
        if (r == 0)
                r = workspacesvc_register(&v, &err);
        if (r == 0)
                r = daemon_run(&d, &err);
        workspacesvc_done(&v);
        daemon_done(&d);
        return daemon_exit_code(&d, r, &err);
}
