/* Snapshot templates: building, choosing and deleting them.
 *
 * A template is built like a VM (its own directory under STATE/templates/<id>
 * with root.qcow2 / root.img and work.ext4) but with its RAM in a file
 * (TPL_FILE_MEM, mapped shared). Once its agent answers and sshd listens, the
 * guest unmounts its work disk (each clone gets a copy of its own, written by
 * the host like a cold boot's and mounted by Reidentify), then it is paused
 * and its device state saved (TPL_FILE_STATE); the VMM is stopped and the
 * disks are never written again. Clones (vm_clone.h) map the
 * RAM file privately, so the pages they only read stay shared between them.
 *
 * vm.template = "auto" keeps one template per (image content, kernel
 * content, vcpu, memory, work disk size, VMM): the first VM of a kind boots
 * cold and starts a build in the background; later ones are clones. At most
 * vm.auto_templates are kept; the least recently used one without clones is
 * removed first. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "banger/v1/template.pb-c.h"
#include "ops/ops.h"
#include "template_store.h"
#include "vm_lifecycle.h"

#define TPL_FILE_MEM "mem"
#define TPL_FILE_STATE "state"
/* How many exec ports (vmm_spec.exec_ports) the snapshot's device set has, in
 * decimal; absent in templates built before exec ports (none). */
#define TPL_FILE_EXEC_PORTS "exec-ports"

/* Notes n exec ports in template directory tdir. */
int tpl_exec_ports_write(const char *tdir, unsigned n, struct bg_error *err);
/* The exec ports of the template in tdir: 0 when not noted; -EINVAL (message
 * in err) for a note that is not a number up to VMM_EXEC_PORTS_MAX. */
int tpl_exec_ports_read(const char *tdir, unsigned *ret, struct bg_error *err);

struct tpl_env {
        struct vm_env *vm;         /* the VMs' environment: db, lock, deps, drivers */
        struct ops_registry *ops;  /* template builds run as operations */
        uint32_t max_auto;         /* config vm.auto_templates */
        const char *default_image; /* config vm.default_image */
        const char *default_kernel;
};

extern const char *const tpl_build_stages[];
extern const size_t tpl_n_build_stages;

/* What a new template is made from. */
struct tpl_request {
        char name[64];
        char image[256];
        char kernel[128];
        uint32_t vcpu;
        uint32_t memory_mib;
        uint64_t work_disk_bytes;
        char from_vm[64]; /* a stopped VM's disks; "" = fresh from image + kernel */
        bool is_auto;
        char auto_key[65];
};

/* Checks the request, inserts the row (state building) and starts the build
 * operation; out gets the Operation (as ops_start_fill). */
int tpl_create(struct tpl_env *te, const struct tpl_request *req, Banger__V1__Operation *out,
               struct bg_error *err);
/* Refused (-EBUSY, naming them) while VMs cloned from it exist, and while it
 * is being built. Removes its directory and row. */
int tpl_delete(struct tpl_env *te, const char *ref, struct tpl_record *ret_deleted,
               struct bg_error *err);
/* The Template message of t (heap strings; the caller frees the message). */
int tpl_fill(const struct tpl_env *te, const struct tpl_record *t, Banger__V1__Template *out);
/* The directory of template id. */
int tpl_dir(const struct tpl_env *te, const char *id, char *buf, size_t len);

/* Which template a new VM should be cloned from. mode is config vm.template
 * ("auto", "off" or a template name) unless the request names one
 * (explicit) or asks for a cold boot (cold). 1 with *ret when it is a clone,
 * 0 for a cold boot (then, in auto mode, *want_auto is set when a template
 * for this kind should be built once this VM is up). Errors: an explicit or
 * configured template that does not exist or does not fit. */
int tpl_pick(struct tpl_env *te, const char *mode, const char *explicit_name, bool cold,
             const char *image, const char *kernel, uint32_t vcpu, uint32_t memory_mib,
             uint64_t work_disk_bytes, struct tpl_record *ret, struct tpl_request *want_auto,
             struct bg_error *err);

/* Starts the background build of an automatic template (dedup: one per key),
 * first removing the least recently used automatic templates without clones
 * so that at most max_auto remain. Failures are logged. */
void tpl_auto_build(struct tpl_env *te, const struct tpl_request *req);

/* Start-up: a template left in state building by a vmsvc that died has its
 * builder VMM killed, its tap and lease given back and turns to error. */
void tpl_reconcile(struct tpl_env *te);
