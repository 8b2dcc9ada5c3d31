#include "in_use.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "banger/v1/vm.pb-c.h"
#include "rpc/rpc.h"
#include "util/macro.h"

#define IN_USE_DEADLINE_MS 5000

int imagesvc_check_unused(struct imagesvc *v, enum in_use_kind kind, const char *name,
                          struct bg_error *err)
{
        const char *what = kind == IN_USE_IMAGE ? "image" : "kernel";
        char url[512];
        struct rpc_client *c = NULL;
        struct rpc_status st = {0};
        Banger__V1__ListVmsRequest req = BANGER__V1__LIST_VMS_REQUEST__INIT;
        Banger__V1__ListVmsResponse *resp = NULL;

        int r = bg_paths_socket_url(&v->d->paths, "vmsvc", url, sizeof(url));
        if (r >= 0)
                r = rpc_client_open(url, NULL, &c, err);
        if (r >= 0) {
                struct rpc_call_opts o = {.deadline_ms = IN_USE_DEADLINE_MS,
                                          .connect_wait_ms = 2000,
                                          .flags = RPC_CALL_IDEMPOTENT};
                r = rpc_call(c, "/banger.v1.VmService/List", &req.base,
                             &banger__v1__list_vms_response__descriptor, (ProtobufCMessage **)&resp,
                             &o, &st);
                if (r < 0)
                        bg_error_set(err, -r, "%s", st.message);
        }
        rpc_client_close(c);
        if (r < 0)
                return bg_error_set(err, EBUSY,
                                    "cannot tell whether a VM uses %s %s: vmsvc does not answer "
                                    "(%.120s); start banger (banger daemon start) and try again",
                                    what, name, err->msg);

        char users[200] = "";
        size_t n = 0, len = 0;
        for (size_t i = 0; i < resp->n_vms; i++) {
                const Banger__V1__Vm *vm = resp->vms[i];
                if (!streq(kind == IN_USE_IMAGE ? vm->image : vm->kernel, name))
                        continue;
                if (len < sizeof(users) - 1)
                        len += (size_t)snprintf(users + len, sizeof(users) - len, "%s%s",
                                                n ? ", " : "", vm->name);
                n++;
        }
        banger__v1__list_vms_response__free_unpacked(resp, NULL);
        if (n)
                return bg_error_set(err, EBUSY, "%s %s is used by %zu VM%s (%s); delete %s first",
                                    what, name, n, n == 1 ? "" : "s", users,
                                    n == 1 ? "it" : "them");
        return 0;
}
