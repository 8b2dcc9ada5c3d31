/* A fake `firecracker` for the driver tests, built as .../fc-fake/firecracker:
 *   firecracker --version              prints "Firecracker v$FAKE_FC_VERSION"
 *   firecracker --api-sock P --id ID   serves P with the contract server
 *                                      (also --id=ID, the jailer's form)
 * Environment:
 *   FAKE_FC_VERSION        version to report, also in GET / (default 1.16.1)
 *   FAKE_FC_EXIT_AT_START  exit with this code at once, with an error on stderr
 *   FC_CONTRACT_RECORD     call log path
 *   FC_CONTRACT_FAIL       "PUT /drives/rootfs": answer that call 400 …
 *   FC_CONTRACT_FAULT      … with this fault_message
 *   FC_CONTRACT_VSOCK      ok | close | garbage (hybrid vsock behaviour)
 *   FC_CONTRACT_EXIT_CODE  exit code after SendCtrlAltDel (default 0)
 * The spec comes from $BANGER_SHARED_DIR (exit 1 with a message if absent). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fc_contract_server.h"
#include "util/macro.h"

int main(int argc, char **argv)
{
        const char *sock = NULL, *id = NULL;
        signal(SIGPIPE, SIG_IGN);
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--version")) {
                        const char *v = getenv("FAKE_FC_VERSION");
                        if (v && streq(v, "garbage"))
                                printf("this is not firecracker\n");
                        else
                                printf("Firecracker v%s\n\n", v ? v : "1.16.1");
                        return 0;
                } else if (streq(argv[i], "--api-sock") && i + 1 < argc) {
                        sock = argv[++i];
                } else if (streq(argv[i], "--id") && i + 1 < argc) {
                        id = argv[++i];
                } else if (strncmp(argv[i], "--id=", 5) == 0) {
                        id = argv[i] + 5;
                } else {
                        fprintf(stderr, "Error: Arguments parsing error: unexpected '%s'\n",
                                argv[i]);
                        return 153;
                }
        }
        const char *ex = getenv("FAKE_FC_EXIT_AT_START");
        if (ex) {
                fprintf(stderr, "Error: RunWithApi(FailedToBindSocket(\"fake failure\"))\n");
                return atoi(ex);
        }
        if (!sock) {
                fprintf(stderr, "Error: Arguments parsing error: --api-sock is required\n");
                return 153;
        }
        const char *version = getenv("FAKE_FC_VERSION");
        if (!version || streq(version, "garbage"))
                version = "1.16.1";
        printf("Running Firecracker v%s\n", version);
        fflush(stdout);

        char spec[4096], errbuf[512];
        if (fc_contract_spec_path(spec, sizeof(spec)) < 0) {
                fprintf(stderr, "Error: contract spec not found (BANGER_SHARED_DIR)\n");
                return 1;
        }
        struct fc_contract *c = NULL;
        if (fc_contract_load(spec, &c, errbuf, sizeof(errbuf)) < 0) {
                fprintf(stderr, "Error: %s\n", errbuf);
                return 1;
        }
        const char *vs = getenv("FC_CONTRACT_VSOCK");
        const char *code = getenv("FC_CONTRACT_EXIT_CODE");
        struct fc_contract_opts o = {
            .instance_id = id,
            .record_path = getenv("FC_CONTRACT_RECORD"),
            .fail_call = getenv("FC_CONTRACT_FAIL"),
            .fail_message = getenv("FC_CONTRACT_FAULT"),
            .vsock_mode = !vs || streq(vs, "ok") ? FC_VSOCK_OK
                          : streq(vs, "close")   ? FC_VSOCK_CLOSE
                                                 : FC_VSOCK_GARBAGE,
            .exit_code = code ? atoi(code) : 0,
            .root = getenv("FC_CONTRACT_ROOT"),
            .version = version,
        };
        struct fc_contract_state *st = NULL;
        if (fc_contract_state_new(c, &o, &st) < 0) {
                fprintf(stderr, "Error: out of memory\n");
                return 1;
        }
        int r = fc_contract_serve(st, sock, -1);
        if (fc_contract_fatal(st))
                fprintf(stderr, "Error: RunWithApi(BuildMicroVMError(Restore)): %s\n",
                        fc_contract_fatal(st));
        fc_contract_state_free(st);
        fc_contract_free(c);
        if (r < 0) {
                fprintf(stderr, "Error: serving %s: %s\n", sock, strerror(-r));
                return 1;
        }
        printf("Firecracker exiting with code %d\n", r);
        return r;
}
