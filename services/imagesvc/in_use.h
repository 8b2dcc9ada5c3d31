/* Whether VMs use an image or a kernel: asked of banger-vmsvc (the owner of
 * the VM records) before either is deleted. */
#pragma once

#include "imagesvc.h"
#include "util/error.h"

enum in_use_kind { IN_USE_IMAGE, IN_USE_KERNEL };

/* 0 when no VM and no template uses it; -EBUSY (FAILED_PRECONDITION) naming
 * the VMs or templates when some do, or when vmsvc cannot be asked (a VM may
 * be running from it). Automatic templates (vm.template = "auto") that no
 * VM was cloned from are deleted on the way: they only stand for the image
 * or kernel as it is. */
int imagesvc_check_unused(struct imagesvc *v, enum in_use_kind kind, const char *name,
                          struct bg_error *err);
