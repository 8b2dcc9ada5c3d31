/* A VM cloned from a snapshot template (template.h) instead of booted:
 *   reserve   the row, the template, the VM's directory
 *   network   an address and a tap of its own
 *   disks     a qcow2 overlay over the template's frozen root (a copy for
 *             Firecracker) and a copy of its work disk, with the clone's
 *             [[file_sync]] entries, git identity and workspace written in
 *             like a cold boot's (the template unmounted it before it was
 *             saved)
 *   restore   the VMM maps the template's RAM file copy-on-write, loads its
 *             device state and resumes the guest where the template stopped
 *   identity  the agent mounts the work disk and gives the guest its own
 *             hostname, address, MAC, clock, RNG state, SSH host key and
 *             machine-id (Reidentify)
 * Each step has its undo, as for a cold create. A clone that stops boots cold
 * from its own disks afterwards; its root disk still reads through the
 * template's, so a template with clones is not deleted. */
#pragma once

#include "steps.h"
#include "template.h"
#include "template_store.h"
#include "vm_lifecycle.h"

extern const char *const vm_clone_stages[];
extern const size_t vm_n_clone_stages;

/* rec (state created) is already in vms.db; t is a ready template. */
int vm_clone(struct vm_env *env, const char *id, const struct tpl_record *t, const char *ws_host,
             const char *ws_guest, const struct vm_progress *p, struct bg_error *err);
