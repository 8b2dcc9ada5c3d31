/* Fuzz target "deb_packages": a Debian Packages index (deb822 stanzas) as a
 * mirror serves it, through what the kernel pull does with it: the
 * metapackage lookup, its Depends followed to the linux-image-<release>
 * package with the version relation honoured (debrepo_kernel_resolve), the
 * checked pool Filename, and dpkg version ordering (which must be
 * antisymmetric and reflexive on the versions found). */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "packages.h"

static void check_pkg(const struct debrepo_package *p)
{
        CHECK(p->package && p->version && p->filename);
        /* a relative path without "." or ".." components */
        CHECK(p->filename[0] && p->filename[0] != '/');
        for (const char *c = p->filename; *c;) {
                size_t l = strcspn(c, "/");
                CHECK(l > 0 && !(l == 1 && c[0] == '.') && !(l == 2 && c[0] == '.' && c[1] == '.'));
                c += l;
                if (*c == '/')
                        c++;
        }
        CHECK(strlen(p->sha256) == 64);
        CHECK(debrepo_version_compare(p->version, p->version) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct debrepo_packages *pk = NULL;
        struct bg_error err = {0};
        int r = debrepo_packages_from_text((const char *)data, size, &pk, &err);
        if (r < 0) {
                CHECK(!pk);
                return 0;
        }
        struct debrepo_kernel k = {0};
        r = debrepo_kernel_resolve(pk, "linux-image-cloud-amd64", &k, &err);
        if (r >= 0) {
                check_pkg(&k.meta);
                check_pkg(&k.image);
                CHECK(k.release && k.release[0]);
                int a = debrepo_version_compare(k.meta.version, k.image.version);
                int b = debrepo_version_compare(k.image.version, k.meta.version);
                CHECK((a < 0 && b > 0) || (a > 0 && b < 0) || (a == 0 && b == 0));
                debrepo_kernel_done(&k);
        } else {
                CHECK(err.msg[0]);
        }
        struct debrepo_package p = {0};
        err = (struct bg_error){0};
        if (debrepo_packages_find(pk, "linux-image-amd64", NULL, &p, &err) >= 0) {
                check_pkg(&p);
                debrepo_package_done(&p);
        }
        debrepo_packages_free(pk);
        return 0;
}
