/* ImageService.Pull (registry -> blob cache -> ext4) and PruneCache. */
#pragma once

#include <stddef.h>

#include "banger/v1/image.pb-c.h"
#include "banger/v1/rpc.pb-c.h"
#include "oci_ref.h"
#include "rpc/rpc.h"
#include "util/error.h"

struct imagesvc;

/* The name an image pulled from ref gets when none is given: the
 * repository's last component, '-', the tag (or the digest's first 12 hex),
 * lowercased, other characters as '-'. -EINVAL when nothing usable is left. */
int image_default_name(const struct oci_ref *ref, char *buf, size_t len, struct bg_error *err);

int imagesvc_image_pull(struct imagesvc *v, const Banger__V1__PullImageRequest *in,
                        Banger__V1__Operation *out, const struct rpc_call *call,
                        struct bg_error *err);
int imagesvc_image_prune_cache(struct imagesvc *v, const Banger__V1__PruneImageCacheRequest *in,
                               Banger__V1__PruneImageCacheResponse *out,
                               const struct rpc_call *call, struct bg_error *err);
