/* The kernel command line of a banger VM: how the root disk is found and the
 * banger.* parameters the guest agent reads at boot (guest/files/README.md).
 * Every value is checked here, so nothing a user or an image supplies can
 * smuggle extra parameters in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "util/error.h"

struct vm_boot_params {
        const char *name;      /* DNS label */
        const char *ip;        /* "172.30.0.5"; NULL = no network */
        unsigned prefix;       /* 8..30 */
        const char *gateway;   /* "172.30.0.1" */
        const char *dns;       /* "10.0.0.53" or "1.1.1.1,8.8.8.8", may be NULL */
        const char *mac;       /* "52:54:00:1e:00:05" */
        bool has_modules_disk; /* /dev/vdc holds modules.ext4 */
        const char *agent; /* "virtio-serial:…" or "vsock:PORT"; NULL when the driver adds it */
        bool tcg;          /* add the parameters a TCG guest needs */
};

/* Writes the command line into buf. -EINVAL with a message naming the bad
 * value, -ENAMETOOLONG when it does not fit. */
int vm_cmdline_build(const struct vm_boot_params *p, char *buf, size_t len, struct bg_error *err);
