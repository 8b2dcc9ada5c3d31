/* `banger vm forward VM [HOSTPORT:]GUESTPORT…`: TCP ports of a running VM
 * on this host (lib/fwd relays them to the VM's address on the bridge),
 * until Ctrl-C or until the VM stops. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "fwd/fwd.h"
#include "output.h"

/* Connections open at once over all ports: a browser opens a few dozen. */
#define FORWARD_MAX_CONNS 256

static int get_vm(struct cli *cli, const char *ref, Banger__V1__Vm **ret, struct rpc_status *st)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = (char *)ref;
        return cli_call(cli, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                        (ProtobufCMessage **)ret, 10000, RPC_CALL_IDEMPOTENT, st);
}

int cmd_vm_forward(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        struct fwd_rule rules[FWD_MAX_RULES];
        struct bg_error err = {0};
        const char *addr =
            cli_flag_value(cli, "address") ? cli_flag_value(cli, "address") : "127.0.0.1";
        size_t n = (size_t)argc - 1;
        if (n > FWD_MAX_RULES)
                return cli_fail(RPC_INVALID_ARGUMENT, "at most %d ports at once", FWD_MAX_RULES);
        if (strlen(addr) >= sizeof(rules[0].listen_addr))
                return cli_fail(RPC_INVALID_ARGUMENT, "--address '%s' is not an IPv4 address",
                                addr);
        for (size_t i = 0; i < n; i++) {
                memset(&rules[i], 0, sizeof(rules[i]));
                if (fwd_parse_spec(argv[i + 1], &rules[i].listen_port, &rules[i].target_port,
                                   &err) < 0)
                        return cli_fail(RPC_INVALID_ARGUMENT, "%s", err.msg);
                snprintf(rules[i].listen_addr, sizeof(rules[i].listen_addr), "%s", addr);
        }

        Banger__V1__Vm *vm = NULL;
        struct rpc_status st = {0};
        if (get_vm(cli, argv[0], &vm, &st) < 0)
                return cli_fail_status(&st);
        if (strcmp(vm->state, "running") != 0 || !vm->ip[0] ||
            strlen(vm->ip) >= sizeof(rules[0].target_addr)) {
                int r = cli_fail(RPC_FAILED_PRECONDITION, "VM %s is %s, not running", vm->name,
                                 vm->state);
                banger__v1__vm__free_unpacked(vm, NULL);
                return r;
        }
        char name[64], id[33];
        snprintf(name, sizeof(name), "%s", vm->name);
        snprintf(id, sizeof(id), "%s", vm->id);
        for (size_t i = 0; i < n; i++)
                snprintf(rules[i].target_addr, sizeof(rules[i].target_addr), "%s", vm->ip);
        banger__v1__vm__free_unpacked(vm, NULL);

        /* Signals are taken synchronously below, in this thread. */
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        struct fwd *f = NULL;
        if (fwd_start(rules, n, FORWARD_MAX_CONNS, &f, &err) < 0) {
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                return cli_fail(rpc_code_from_errno(err.code), "%s", err.msg);
        }
        for (size_t i = 0; i < n; i++)
                printf("%s:%u -> %s:%u (%s.vm)\n", addr, fwd_port(f, i), rules[i].target_addr,
                       rules[i].target_port, cli_safe(name));
        fflush(stdout);
        if (!cli_quiet())
                fprintf(stderr, "forwarding until Ctrl-C or until VM %s stops\n", cli_safe(name));

        /* Until a signal, or the VM stops or goes (checked every 2 s). */
        int code = 0;
        for (;;) {
                struct timespec ts = {.tv_sec = 2};
                int sig = sigtimedwait(&set, NULL, &ts);
                if (sig > 0)
                        break;
                if (get_vm(cli, id, &vm, &st) < 0) {
                        if (st.code == RPC_NOT_FOUND) {
                                code = cli_fail(RPC_NOT_FOUND, "VM %s was deleted", name);
                                break;
                        }
                        continue; /* vmsvc restarting: keep the ports */
                }
                bool running =
                    strcmp(vm->state, "running") == 0 || strcmp(vm->state, "paused") == 0;
                char state[32];
                snprintf(state, sizeof(state), "%s", vm->state);
                banger__v1__vm__free_unpacked(vm, NULL);
                if (!running) {
                        code = cli_fail(RPC_FAILED_PRECONDITION, "VM %s is %s: forwarding ended",
                                        name, state);
                        break;
                }
        }
        fwd_stop(f);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return code;
}
