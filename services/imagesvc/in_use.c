#include "in_use.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "banger/v1/template.pb-c.h"
#include "banger/v1/vm.pb-c.h"
#include "log/log.h"
#include "rpc/rpc.h"
#include "util/macro.h"

#define IN_USE_DEADLINE_MS 5000

static int vmsvc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *in,
                      const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, bool idempotent,
                      struct bg_error *err)
{
        struct rpc_status st = {0};
        struct rpc_call_opts o = {.deadline_ms = IN_USE_DEADLINE_MS,
                                  .connect_wait_ms = 2000,
                                  .flags = idempotent ? RPC_CALL_IDEMPOTENT : 0};
        int r = rpc_call(c, method, in, od, out, &o, &st);
        if (r < 0)
                bg_error_set(err, -r, "%s", st.message);
        return r;
}

/* Appends name to a ", "-separated list in buf. */
static void add_name(char *buf, size_t len, size_t *n, const char *name)
{
        size_t used = strlen(buf);
        if (used < len - 1)
                snprintf(buf + used, len - used, "%s%s", *n ? ", " : "", name);
        (*n)++;
}

int imagesvc_check_unused(struct imagesvc *v, enum in_use_kind kind, const char *name,
                          struct bg_error *err)
{
        const char *what = kind == IN_USE_IMAGE ? "image" : "kernel";
        char url[512];
        struct rpc_client *c = NULL;
        struct bg_error e = {0};
        Banger__V1__ListVmsRequest req = BANGER__V1__LIST_VMS_REQUEST__INIT;
        Banger__V1__ListVmsResponse *resp = NULL;
        Banger__V1__ListTemplatesRequest treq = BANGER__V1__LIST_TEMPLATES_REQUEST__INIT;
        Banger__V1__ListTemplatesResponse *tresp = NULL;

        int r = bg_paths_socket_url(&v->d->paths, "vmsvc", url, sizeof(url));
        if (r >= 0)
                r = rpc_client_open(url, NULL, &c, &e);
        if (r >= 0)
                r = vmsvc_call(c, "/banger.v1.VmService/List", &req.base,
                               &banger__v1__list_vms_response__descriptor,
                               (ProtobufCMessage **)&resp, true, &e);
        if (r >= 0)
                r = vmsvc_call(c, "/banger.v1.TemplateService/List", &treq.base,
                               &banger__v1__list_templates_response__descriptor,
                               (ProtobufCMessage **)&tresp, true, &e);
        if (r < 0) {
                if (resp)
                        banger__v1__list_vms_response__free_unpacked(resp, NULL);
                rpc_client_close(c);
                return bg_error_set(err, EBUSY,
                                    "cannot tell whether a VM uses %s %s: vmsvc does not answer "
                                    "(%.120s); start banger (banger daemon start) and try again",
                                    what, name, e.msg);
        }

        char users[200] = "", tusers[200] = "";
        size_t n = 0, nt = 0;
        for (size_t i = 0; i < resp->n_vms; i++) {
                const Banger__V1__Vm *vm = resp->vms[i];
                if (streq(kind == IN_USE_IMAGE ? vm->image : vm->kernel, name))
                        add_name(users, sizeof(users), &n, vm->name);
        }
        /* Templates read through the image (their root disks) and attach the
         * kernel's modules disk to every clone. An automatic one nobody
         * cloned goes with the image; others keep it. */
        for (size_t i = 0; n == 0 && i < tresp->n_templates; i++) {
                const Banger__V1__Template *t = tresp->templates[i];
                if (!streq(kind == IN_USE_IMAGE ? t->image : t->kernel, name))
                        continue;
                if (t->auto_ && t->n_clones == 0 && !streq(t->state, "building")) {
                        Banger__V1__TemplateRef ref = BANGER__V1__TEMPLATE_REF__INIT;
                        ProtobufCMessage *out = NULL;
                        ref.ref = t->id;
                        bg_error_clear(&e);
                        if (vmsvc_call(c, "/banger.v1.TemplateService/Delete", &ref.base,
                                       &banger__v1__delete_template_response__descriptor, &out,
                                       false, &e) == 0) {
                                log_info("automatic template %s removed with %s %s", t->name, what,
                                         name);
                                protobuf_c_message_free_unpacked(out, NULL);
                                continue;
                        }
                        log_warn("automatic template %s: %s", t->name, e.msg);
                }
                add_name(tusers, sizeof(tusers), &nt, t->name);
        }
        banger__v1__list_vms_response__free_unpacked(resp, NULL);
        banger__v1__list_templates_response__free_unpacked(tresp, NULL);
        rpc_client_close(c);
        if (n)
                return bg_error_set(err, EBUSY, "%s %s is used by %zu VM%s (%s); delete %s first",
                                    what, name, n, n == 1 ? "" : "s", users,
                                    n == 1 ? "it" : "them");
        if (nt)
                return bg_error_set(err, EBUSY,
                                    "%s %s is used by template%s %s; delete %s first (banger "
                                    "template delete)",
                                    what, name, nt == 1 ? "" : "s", tusers,
                                    nt == 1 ? "it" : "them");
        return 0;
}
