/* TemplateService: the RPC handler table (vmsvc_template_methods in vmsvc.h)
 * and its handlers, over template.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banger/v1/template.pb-c.h"
#include "log/log.h"
#include "util/macro.h"
#include "util/names.h"
#include "vmsvc.h"

/* Names of the VMs cloned from t, for Template.clones. */
static int fill_clones(struct vmsvc *v, const struct tpl_record *t, Banger__V1__Template *out,
                       struct bg_error *err)
{
        struct vm_record *all = NULL;
        size_t n = 0;
        int r = vm_load_all(&v->env, &all, &n, err);
        if (r < 0)
                return r;
        out->clones = calloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; out->clones && i < n; i++)
                if (streq(all[i].template_id, t->id) &&
                    !(out->clones[out->n_clones++] = strdup(all[i].name))) {
                        free(all);
                        return bg_error_set(err, ENOMEM, "out of memory");
                }
        free(all);
        return out->clones ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

static int reply(struct vmsvc *v, const struct tpl_record *t, Banger__V1__Template *out,
                 struct bg_error *err)
{
        if (tpl_fill(&v->tpl, t, out) < 0)
                return bg_error_set(err, ENOMEM, "out of memory");
        return fill_clones(v, t, out, err);
}

static int tpl_create_h(struct vmsvc *v, const Banger__V1__CreateTemplateRequest *in,
                        Banger__V1__Operation *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        const struct bg_config *cfg = &v->d->cfg;
        struct tpl_request req = {0};
        if (!in->name[0])
                return bg_error_set(err, EINVAL, "a template needs a name");
        int r = bg_name_check_dns_label("template name", in->name, err);
        if (r < 0)
                return r;
        snprintf(req.name, sizeof(req.name), "%s", in->name);
        if (in->from_vm[0]) {
                if (in->image[0] || in->kernel[0] || in->vcpu || in->memory_mib)
                        return bg_error_set(err, EINVAL,
                                            "a template made --from a VM takes its image, kernel, "
                                            "vcpu and memory from the VM");
                struct vm_record src;
                if ((r = vm_load(&v->env, in->from_vm, &src, err)) < 0)
                        return r;
                /* A template is built around the guest's sshd (template.c). */
                if (src.agent_init)
                        return bg_error_set(err, EINVAL,
                                            "VM %s has banger's agent as init (no sshd): it "
                                            "cannot be made a template",
                                            src.name);
                snprintf(req.from_vm, sizeof(req.from_vm), "%s", src.name);
        } else {
                const char *image = in->image[0] ? in->image : cfg->vm.default_image;
                const char *kernel = in->kernel[0] ? in->kernel : cfg->vm.default_kernel;
                if (strlen(image) >= sizeof(req.image) || strlen(kernel) >= sizeof(req.kernel) ||
                    bg_name_check_dns_label("kernel name", kernel, err) < 0)
                        return bg_error_set(err, EINVAL, "image or kernel name is not valid");
                snprintf(req.image, sizeof(req.image), "%s", image);
                snprintf(req.kernel, sizeof(req.kernel), "%s", kernel);
        }
        req.vcpu = in->vcpu ? in->vcpu : cfg->vm.vcpu;
        req.memory_mib = in->memory_mib ? in->memory_mib : cfg->vm.memory_mib;
        req.work_disk_bytes = cfg->vm.work_disk_size;
        if (req.vcpu < 1 || req.vcpu > 32)
                return bg_error_set(err, EINVAL, "vcpu %u is outside 1..32", req.vcpu);
        if (req.memory_mib < 128 || req.memory_mib > 262144)
                return bg_error_set(err, EINVAL, "memory %u MiB is outside 128..262144",
                                    req.memory_mib);
        return tpl_create(&v->tpl, &req, out, err);
}

static int tpl_list_h(struct vmsvc *v, const Banger__V1__ListTemplatesRequest *in,
                      Banger__V1__ListTemplatesResponse *out, const struct rpc_call *call,
                      struct bg_error *err)
{
        struct tpl_record *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&v->mu);
        int r = tpl_store_list(v->d->db, &all, &n, err);
        pthread_mutex_unlock(&v->mu);
        if (r < 0)
                return r;
        out->templates = calloc(n ? n : 1, sizeof(*out->templates));
        for (size_t i = 0; out->templates && r >= 0 && i < n; i++) {
                Banger__V1__Template *t = calloc(1, sizeof(*t));
                if (!t) {
                        r = bg_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                banger__v1__template__init(t);
                out->templates[out->n_templates++] = t;
                r = reply(v, &all[i], t, err);
        }
        free(all);
        if (!out->templates)
                return bg_error_set(err, ENOMEM, "out of memory");
        return r;
}

static int tpl_get_h(struct vmsvc *v, const Banger__V1__TemplateRef *in, Banger__V1__Template *out,
                     const struct rpc_call *call, struct bg_error *err)
{
        struct tpl_record t;
        pthread_mutex_lock(&v->mu);
        int r = tpl_store_resolve(v->d->db, in->ref, &t, err);
        pthread_mutex_unlock(&v->mu);
        return r < 0 ? r : reply(v, &t, out, err);
}

static int tpl_delete_h(struct vmsvc *v, const Banger__V1__TemplateRef *in,
                        Banger__V1__DeleteTemplateResponse *out, const struct rpc_call *call,
                        struct bg_error *err)
{
        struct tpl_record t;
        int r = tpl_delete(&v->tpl, in->ref, &t, err);
        if (r < 0)
                return r;
        out->id = strdup(t.id);
        out->name = strdup(t.name);
        return out->id && out->name ? 0 : bg_error_set(err, ENOMEM, "out of memory");
}

const struct rpc_method_impl vmsvc_template_methods[] = {
    RPC_METHOD("Create", tpl_create_h),
    RPC_METHOD("List", tpl_list_h),
    RPC_METHOD("Get", tpl_get_h),
    RPC_METHOD("Delete", tpl_delete_h),
    RPC_METHOD("GetOperation", vmsvc_get_op_h),
    RPC_METHOD("CancelOperation", vmsvc_cancel_op_h),
    RPC_METHOD("ListOperations", vmsvc_list_ops_h),
};
const size_t vmsvc_n_template_methods = ELEMENTSOF(vmsvc_template_methods);
