#include <string.h>

#include "vm_store.h"
#include "vmm/vmm_console.h"
#include "vmsvc.h"

int main(int argc, char **argv)
{
        /* A VM's console pump (vmm_console.h), started by vm_vmm_launch. */
        if (argc > 1 && strcmp(argv[1], VMM_CONSOLE_PUMP_ARG) == 0)
                return vmm_console_pump_main(argc, argv);

        static const struct daemon_desc desc = {
            .name = "vmsvc",
            .binary = "banger-vmsvc",
            .summary = "banger's VM service: VM lifecycle, VMM drivers, per-VM disks.",
        };
        struct daemon d;
        struct vmsvc v = {.d = &d};
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = daemon_open_db(&d, "vms", vmsvc_migrations, vm_store_n_migrations, &err);
        if (r == 0)
                r = vmsvc_setup(&v, &err);
        if (r == 0)
                r = daemon_run(&d, &err);
        vmsvc_done(&v); /* its operations use the database: first */
        daemon_done(&d);
        return daemon_exit_code(&d, r, &err);
}
