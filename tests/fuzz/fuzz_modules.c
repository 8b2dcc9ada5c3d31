/* Fuzz target "modules": depmod's modules.dep and modules.builtin as read
 * from a kernel package (lib/kernel/modules_dep.c), and the resolution of
 * the modules the initramfs wants into a load order.
 *
 * Input: modules.dep, a NUL, modules.builtin, a NUL, wanted names one a
 * line (no wanted names: the initramfs builder's own list). The result
 * lists each file once; cycles are -ELOOP, never a hang or a crash. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "modules_dep.h"

static const char *const default_wanted[] = {
    "virtio_mmio", "virtio_pci", "virtio_blk", "virtio_net", "vsock",
    "vmw_vsock_virtio_transport", "virtio_console", "ext4",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *text = (const char *)data;
        const char *end = text + size;
        const char *z1 = memchr(text, '\0', size);
        const char *dep = text;
        size_t dep_len = z1 ? (size_t)(z1 - text) : size;
        const char *builtin = NULL, *wanted_text = NULL;
        size_t builtin_len = 0, wanted_len = 0;
        if (z1) {
                builtin = z1 + 1;
                const char *z2 = memchr(builtin, '\0', (size_t)(end - builtin));
                builtin_len = z2 ? (size_t)(z2 - builtin) : (size_t)(end - builtin);
                if (z2) {
                        wanted_text = z2 + 1;
                        wanted_len = (size_t)(end - wanted_text);
                }
        }

        struct modules_dep *d = NULL;
        struct bg_error err = {0};
        int r = modules_dep_parse(dep, dep_len, builtin, builtin_len, &d, &err);
        if (r < 0) {
                CHECK(!d && err.msg[0]);
                return 0;
        }
        CHECK(d);

        /* wanted names: one a line, at most 64 */
        char *wbuf = NULL;
        const char *wanted[64];
        size_t n = 0;
        if (wanted_len > 0) {
                wbuf = strndup(wanted_text, wanted_len);
                CHECK(wbuf);
                char *save = NULL;
                for (char *w = strtok_r(wbuf, "\n", &save); w && n < 64;
                     w = strtok_r(NULL, "\n", &save))
                        wanted[n++] = w;
        }
        const char *const *want = n ? wanted : default_wanted;
        if (!n)
                n = sizeof(default_wanted) / sizeof(default_wanted[0]);

        struct modules_resolution res = {0};
        r = modules_dep_resolve(d, want, n, &res, &err);
        if (r >= 0) {
                CHECK(res.n_builtin + res.n_missing <= n);
                for (size_t i = 0; i < res.n_files; i++) {
                        CHECK(res.files[i]);
                        for (size_t k = 0; k < i; k++)
                                CHECK(strcmp(res.files[i], res.files[k]) != 0);
                        char name[256];
                        int nr = modules_name_normalize(res.files[i], name, sizeof(name));
                        CHECK(nr >= 0 || nr == -ENAMETOOLONG || nr == -EINVAL);
                }
                modules_resolution_done(&res);
        } else {
                CHECK(r == -ELOOP || r == -EINVAL || r == -ENOMEM);
                CHECK(err.msg[0]);
        }
        free(wbuf);
        modules_dep_free(d);
        return 0;
}
