/* containerd-shim-banger-v2: see shim.h and docs/kubernetes.md. */
#include <stdio.h>
#include <string.h>

#include "shim.h"
#include "util/version.h"

int main(int argc, char **argv)
{
        struct shim_opts o;
        const char *action = NULL;
        if (shim_parse_args(argc, argv, &o, &action) < 0) {
                fprintf(stderr, "usage: containerd-shim-banger-v2 -namespace NS -id ID [-address "
                                "ADDR] [-bundle DIR] [-debug] start|delete\n"
                                "containerd runs this program (runtime io.containerd.banger.v2); "
                                "see docs/kubernetes.md.\n");
                return 2;
        }
        if (strcmp(action, "version") == 0) {
                printf("containerd-shim-banger-v2:\n  Version: %s\n  Revision: %s\n",
                       BANGER_VERSION, BANGER_COMMIT);
                return 0;
        }
        if (strcmp(action, "start") == 0)
                return shim_cmd_start(&o, argc, argv);
        if (strcmp(action, "delete") == 0)
                return shim_cmd_delete(&o);
        int fd = shim_listen_fd_from_env();
        if (fd < 0) {
                fprintf(stderr, "containerd-shim-banger-v2: no listening socket; containerd runs "
                                "the shim with `start`\n");
                return 2;
        }
        return shim_serve(&o, fd);
}
