/* fake_gateway: a gateway whose VmService answers as a hostile guest would
 * make it answer (issue #19, attack 8): hostnames, process names, URLs,
 * errors and console output full of terminal escape sequences, bidi
 * overrides, C1 controls and bytes that are not UTF-8.
 *
 *   fake_gateway URL        serve until SIGTERM/SIGINT
 *
 * List, Get, Ports, AgentHealth, Stats and Logs answer with those strings
 * (and WorkspaceService/List with a workspace of that VM, for vm list);
 * Delete fails with a status message carrying them; anything else is
 * UNIMPLEMENTED. test_cli_escape.sh drives the real CLI against it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banger/v1/agent.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "banger/v1/workspace.pb-c.h"
#include "rpc/rpc.h"

/* What a hostile guest (or a compromised service) sends. */
#define EVIL_NAME "web\033]0;pwned\007\033[2J"
#define EVIL_HOST                                                                                  \
        "host\033]0;owned\007\xc2\x9b"                                                             \
        "31m\xe2\x80\xae"                                                                          \
        "drowssap"
#define EVIL_PROC "nginx\033[1;1H\033[Kfake-prompt$ \x9b"
#define EVIL_URL "http://x.vm/\033]8;;http://evil/\033\\click\033]8;;\033\\"
#define EVIL_ERROR "no such VM\n\033[31mroot password: hunter2\033[0m"
#define EVIL_PATH "/src/repo\033[2J"
#define EVIL_CONSOLE "Booting\r\n\033]0;console-title\007\033[2Jlogin: \xe2\x98\x83\n"

static int reply(const ProtobufCMessage *body, enum rpc_code code, const char *msg, nng_msg **ret)
{
        Banger__V1__Status st = BANGER__V1__STATUS__INIT;
        st.code = (Banger__V1__StatusCode)code;
        st.message = (char *)msg;
        st.op_id = "0123456789abcdef";
        Banger__V1__Response resp = BANGER__V1__RESPONSE__INIT;
        resp.status = &st;
        uint8_t *b = NULL;
        if (body) {
                size_t n = protobuf_c_message_get_packed_size(body);
                b = malloc(n ? n : 1);
                if (!b)
                        return -ENOMEM;
                protobuf_c_message_pack(body, b);
                resp.body.data = b;
                resp.body.len = n;
        }
        size_t n = banger__v1__response__get_packed_size(&resp);
        nng_msg *m = NULL;
        int r = nng_msg_alloc(&m, n) == 0 ? 0 : -ENOMEM;
        if (r == 0)
                banger__v1__response__pack(&resp, nng_msg_body(m));
        free(b);
        if (r == 0)
                *ret = m;
        return r;
}

static void evil_vm(Banger__V1__Vm *v)
{
        banger__v1__vm__init(v);
        v->id = "0123456789abcdef0123456789abcdef";
        v->name = EVIL_NAME;
        v->state = "running\033[5m";
        v->error = EVIL_ERROR;
        v->vcpu = 2;
        v->memory_mib = 1024;
        v->image = "golden\033[8m";
        v->kernel = "debian\xff\xfe";
        v->vmm = "qemu";
        v->ip = "172.30.0.5";
        v->mac = "52:54:00:1e:00:05";
        v->tap = "bgt7";
        v->host_key = "ssh-ed25519 AAAA\033]52;c;ZXZpbA==\007";
}

static int forward(void *ud, const Banger__V1__Request *req, const struct rpc_call *call,
                   nng_msg **ret_reply, struct bg_error *err)
{
        (void)ud, (void)call, (void)err;
        const char *m = req->method;
        Banger__V1__Vm vm;
        evil_vm(&vm);
        if (strcmp(m, "/banger.v1.VmService/List") == 0) {
                Banger__V1__ListVmsResponse r = BANGER__V1__LIST_VMS_RESPONSE__INIT;
                Banger__V1__Vm *vms[] = {&vm};
                r.vms = vms;
                r.n_vms = 1;
                return reply(&r.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.VmService/Get") == 0)
                return reply(&vm.base, RPC_OK, "", ret_reply);
        if (strcmp(m, "/banger.v1.VmService/Ports") == 0) {
                Banger__V1__VmPort p = BANGER__V1__VM_PORT__INIT;
                p.proto = "tcp";
                p.address = "0.0.0.0\033[A";
                p.port = 80;
                char *procs[] = {EVIL_PROC};
                p.processes = procs;
                p.n_processes = 1;
                p.url = EVIL_URL;
                Banger__V1__VmPort *ps[] = {&p};
                Banger__V1__VmPortsResponse r = BANGER__V1__VM_PORTS_RESPONSE__INIT;
                r.ports = ps;
                r.n_ports = 1;
                return reply(&r.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.VmService/AgentHealth") == 0) {
                Banger__V1__AgentHealth h = BANGER__V1__AGENT_HEALTH__INIT;
                h.hostname = EVIL_HOST;
                h.kernel_release = "6.1\033[?1049h";
                h.agent_version = "0.1.0\r\033[K";
                h.boot_id = "b";
                h.uptime_ms = 1000;
                return reply(&h.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.VmService/Stats") == 0) {
                Banger__V1__VmStats s = BANGER__V1__VM_STATS__INIT;
                s.name = EVIL_NAME;
                return reply(&s.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.VmService/Logs") == 0) {
                Banger__V1__VmLogsResponse l = BANGER__V1__VM_LOGS_RESPONSE__INIT;
                l.data.data = (uint8_t *)EVIL_CONSOLE;
                l.data.len = strlen(EVIL_CONSOLE);
                l.next_offset = l.data.len;
                l.size = l.data.len;
                return reply(&l.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.WorkspaceService/List") == 0) {
                Banger__V1__Workspace w = BANGER__V1__WORKSPACE__INIT;
                w.vm_id = vm.id;
                w.vm_name = vm.name;
                w.host_path = EVIL_PATH;
                w.guest_path = "/root/repo";
                Banger__V1__Workspace *ws[] = {&w};
                Banger__V1__ListWorkspacesResponse r = BANGER__V1__LIST_WORKSPACES_RESPONSE__INIT;
                r.workspaces = ws;
                r.n_workspaces = 1;
                return reply(&r.base, RPC_OK, "", ret_reply);
        }
        if (strcmp(m, "/banger.v1.VmService/Delete") == 0)
                return reply(NULL, RPC_NOT_FOUND, EVIL_ERROR, ret_reply);
        return reply(NULL, RPC_UNIMPLEMENTED, "not faked", ret_reply);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s URL\n", argv[0]);
                return 2;
        }
        struct bg_error err = {0};
        struct rpc_server_config cfg = {
            .url = argv[1], .name = "fake_gateway", .socket_uid = -1, .replace_socket = true};
        struct rpc_server *s = NULL;
        if (rpc_server_new(&cfg, &s, &err) < 0) {
                fprintf(stderr, "fake_gateway: %s\n", err.msg);
                return 1;
        }
        rpc_server_set_forward(s, forward, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (rpc_server_start(s, &err) < 0) {
                fprintf(stderr, "fake_gateway: %s\n", err.msg);
                rpc_server_stop(s);
                return 1;
        }
        int sig;
        sigwait(&set, &sig);
        rpc_server_stop(s);
        return 0;
}
