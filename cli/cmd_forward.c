/* `banger vm forward VM [HOSTPORT:]GUESTPORT…`: TCP ports of a running VM
 * on this host (lib/fwd relays them to the VM's address on the bridge),
 * until Ctrl-C or until the VM stops; with --detach banger-vmsvc keeps them
 * (VmService/Forward) until the VM stops or `vm unforward`. Also how vm show
 * prints those, and `vm ports --open`. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"
#include "fwd/fwd.h"
#include "output.h"
#include "vm_forwards.h"

/* Connections open at once over all ports: a browser opens a few dozen. */
#define FORWARD_MAX_CONNS 256

static int get_vm(struct cli *cli, const char *ref, Banger__V1__Vm **ret, struct rpc_status *st)
{
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = (char *)ref;
        return cli_call(cli, "/banger.v1.VmService/Get", &req.base, &banger__v1__vm__descriptor,
                        (ProtobufCMessage **)ret, 10000, RPC_CALL_IDEMPOTENT, st);
}

/* The address a URL of forward f names: a wildcard listener is reached
 * through loopback. */
static const char *url_host(const Banger__V1__VmForward *f)
{
        return !f->address[0] || strcmp(f->address, "0.0.0.0") == 0 ? "127.0.0.1" : f->address;
}

json_t *cli_vm_forwards_json(const Banger__V1__Vm *vm)
{
        json_t *arr = json_array();
        for (size_t i = 0; i < vm->n_forwards; i++) {
                const Banger__V1__VmForward *f = vm->forwards[i];
                char url[64];
                snprintf(url, sizeof(url), "http://%s:%u", url_host(f), f->host_port);
                json_t *o = json_pack("{s:s,s:i,s:i,s:s}", "address", cli_utf8(f->address),
                                      "host_port", (int)f->host_port, "guest_port",
                                      (int)f->guest_port, "url", cli_utf8(url));
                if (o && f->error[0])
                        json_object_set_new(o, "error", json_string(cli_utf8(f->error)));
                json_array_append_new(arr, o);
        }
        return arr;
}

void cli_vm_forwards_print(const Banger__V1__Vm *vm)
{
        for (size_t i = 0; i < vm->n_forwards; i++) {
                const Banger__V1__VmForward *f = vm->forwards[i];
                printf("%-10s %s:%u -> %u%s%s%s\n", i ? "" : "forwards:", cli_safe(f->address),
                       f->host_port, f->guest_port, f->error[0] ? " (not listening: " : "",
                       cli_safe(f->error), f->error[0] ? ")" : "");
        }
}

int cli_vm_ports_open(struct cli *cli, const char *ref)
{
        Banger__V1__Vm *vm = NULL;
        struct rpc_status st = {0};
        if (get_vm(cli, ref, &vm, &st) < 0)
                return cli_fail_status(&st);
        for (size_t i = 0; i < vm->n_forwards; i++) {
                const Banger__V1__VmForward *f = vm->forwards[i];
                if (!f->error[0])
                        printf("http://%s:%u\n", cli_safe(url_host(f)), f->host_port);
                else if (!cli_quiet())
                        fprintf(stderr, "host port %u -> guest port %u is not listening: %s\n",
                                f->host_port, f->guest_port, cli_safe(f->error));
        }
        fflush(stdout);
        Banger__V1__VmRef req = BANGER__V1__VM_REF__INIT;
        req.ref = vm->id;
        Banger__V1__VmPortsResponse *p = NULL;
        int code = 0;
        if (cli_call(cli, "/banger.v1.VmService/Ports", &req.base,
                     &banger__v1__vm_ports_response__descriptor, (ProtobufCMessage **)&p, 30000,
                     RPC_CALL_IDEMPOTENT, &st) < 0) {
                code = vm->n_forwards ? 0 : cli_fail_status(&st);
                if (vm->n_forwards && !cli_quiet())
                        fprintf(stderr, "(the guest's listening ports are unknown: %s)\n",
                                cli_safe(st.message));
                banger__v1__vm__free_unpacked(vm, NULL);
                return code;
        }
        /* Guest TCP ports nothing forwards: how to (a port bound to the
         * guest's loopback cannot be reached from the host at all). */
        size_t hints = 0;
        for (size_t i = 0; i < p->n_ports && !cli_quiet(); i++) {
                const Banger__V1__VmPort *x = p->ports[i];
                bool fwd = false, seen = false;
                if (strcmp(x->proto, "tcp") != 0 || x->port == 22)
                        continue;
                for (size_t k = 0; k < vm->n_forwards && !fwd; k++)
                        fwd = vm->forwards[k]->guest_port == x->port;
                for (size_t k = 0; k < i && !seen; k++) /* 0.0.0.0 and :: both listed */
                        seen =
                            p->ports[k]->port == x->port && strcmp(p->ports[k]->proto, "tcp") == 0;
                if (fwd || seen)
                        continue;
                hints++;
                if (strncmp(x->address, "127.", 4) == 0 || strcmp(x->address, "::1") == 0)
                        fprintf(stderr,
                                "guest port %u (%s) listens on the guest's loopback only: no "
                                "forward reaches it\n",
                                x->port, x->n_processes ? cli_safe(x->processes[0]) : "?");
                else
                        fprintf(stderr,
                                "guest port %u (%s) is not forwarded: banger vm forward -d %s "
                                "%u\n",
                                x->port, x->n_processes ? cli_safe(x->processes[0]) : "?",
                                cli_safe(vm->name), x->port);
        }
        if (vm->n_forwards == 0 && hints == 0 && !cli_quiet())
                fprintf(stderr, "VM %s has no forwarded ports (banger vm forward -d %s PORT)\n",
                        cli_safe(vm->name), cli_safe(vm->name));
        banger__v1__vm_ports_response__free_unpacked(p, NULL);
        banger__v1__vm__free_unpacked(vm, NULL);
        return 0;
}

/* --detach: VmService/Forward, then the forwards it made, one line each. */
static int forward_detached(struct cli *cli, const char *ref, const struct fwd_rule *rules,
                            size_t n, const char *addr_flag)
{
        Banger__V1__Vm *before = NULL, *vm = NULL;
        struct rpc_status st = {0};
        if (get_vm(cli, ref, &before, &st) < 0)
                return cli_fail_status(&st);
        Banger__V1__VmForward fv[FWD_MAX_RULES];
        Banger__V1__VmForward *fp[FWD_MAX_RULES];
        for (size_t i = 0; i < n; i++) {
                banger__v1__vm_forward__init(&fv[i]);
                fv[i].address = (char *)(addr_flag ? addr_flag : "");
                fv[i].host_port = rules[i].listen_port;
                fv[i].guest_port = rules[i].target_port;
                fp[i] = &fv[i];
        }
        Banger__V1__ForwardRequest req = BANGER__V1__FORWARD_REQUEST__INIT;
        req.ref = before->id;
        req.forwards = fp;
        req.n_forwards = n;
        if (cli_call(cli, "/banger.v1.VmService/Forward", &req.base, &banger__v1__vm__descriptor,
                     (ProtobufCMessage **)&vm, 30000, 0, &st) < 0) {
                banger__v1__vm__free_unpacked(before, NULL);
                return cli_fail_status(&st);
        }
        for (size_t i = 0; i < vm->n_forwards; i++) {
                const Banger__V1__VmForward *f = vm->forwards[i];
                bool old = false;
                for (size_t k = 0; k < before->n_forwards && !old; k++)
                        old = before->forwards[k]->host_port == f->host_port &&
                              strcmp(before->forwards[k]->address, f->address) == 0;
                if (!old)
                        printf("%s:%u -> %s:%u (%s.vm)\n", cli_safe(f->address), f->host_port,
                               cli_safe(vm->ip), f->guest_port, cli_safe(vm->name));
        }
        if (!cli_quiet())
                fprintf(stderr,
                        "banger-vmsvc forwards them until VM %s stops (banger vm unforward %s "
                        "HOSTPORT removes one)\n",
                        cli_safe(vm->name), cli_safe(vm->name));
        banger__v1__vm__free_unpacked(vm, NULL);
        banger__v1__vm__free_unpacked(before, NULL);
        return 0;
}

int cmd_vm_unforward(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        bool all = cli_flag(cli, "all");
        size_t n = (size_t)argc - 1;
        if (!all && n == 0)
                return cli_fail(RPC_INVALID_ARGUMENT,
                                "name the host ports to stop forwarding, or --all");
        if (all && n)
                return cli_fail(RPC_INVALID_ARGUMENT, "--all or host ports, not both");
        uint32_t *ports = calloc(n ? n : 1, sizeof(*ports));
        if (!ports)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; i < n; i++) {
                char *end;
                errno = 0;
                unsigned long v = strtoul(argv[i + 1], &end, 10);
                if (errno || *end || end == argv[i + 1] || v == 0 || v > 65535 ||
                    argv[i + 1][0] < '0' || argv[i + 1][0] > '9') {
                        free(ports);
                        return cli_fail(RPC_INVALID_ARGUMENT,
                                        "'%.40s' is not a host port (1-65535)",
                                        cli_safe(argv[i + 1]));
                }
                ports[i] = (uint32_t)v;
        }
        Banger__V1__UnforwardRequest req = BANGER__V1__UNFORWARD_REQUEST__INIT;
        req.ref = argv[0];
        req.host_ports = ports;
        req.n_host_ports = n;
        req.all = all;
        Banger__V1__Vm *vm = NULL;
        struct rpc_status st = {0};
        int r = cli_call(cli, "/banger.v1.VmService/Unforward", &req.base,
                         &banger__v1__vm__descriptor, (ProtobufCMessage **)&vm, 30000, 0, &st);
        free(ports);
        if (r < 0)
                return cli_fail_status(&st);
        if (!cli_quiet())
                fprintf(stderr, "VM %s: %zu forward%s left\n", cli_safe(vm->name), vm->n_forwards,
                        vm->n_forwards == 1 ? "" : "s");
        banger__v1__vm__free_unpacked(vm, NULL);
        return 0;
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
        if (cli_flag(cli, "detach"))
                return forward_detached(cli, argv[0], rules, n, cli_flag_value(cli, "address"));

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
