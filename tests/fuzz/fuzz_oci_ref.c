/* Fuzz target "oci_ref": image references as a user or an index names them
 * ("name:tag", "registry:port/path", "@sha256:..."), platform strings and
 * config.json "auths" keys (lib/oci/oci_ref.c, oci_registry_key_normalize).
 *
 * Input: the text (cut at the first NUL).
 * Checks beyond "no crash": a failure is -EINVAL with a message; a parsed
 * reference has a registry and repository, a tag or a digest, prints in
 * canonical form and parses back to the same parts (print, parse, print is
 * stable); a normalised key is lowercase, without '/', and fits. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "oci_auth.h"
#include "oci_ref.h"

static bool str_eq(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > 4096)
                return 0;
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        struct oci_ref ref;
        struct bg_error err = {0};
        int r = oci_ref_parse(s, &ref, &err);
        if (r < 0)
                CHECK(r == -EINVAL && err.msg[0]);
        else {
                CHECK(ref.registry && *ref.registry && ref.repository && *ref.repository);
                CHECK(ref.tag || ref.digest);
                char *canon = oci_ref_to_string(&ref);
                CHECK(canon);
                struct oci_ref again;
                struct bg_error e2 = {0};
                if (oci_ref_parse(canon, &again, &e2) < 0) {
                        fprintf(stderr, "canonical '%s' of '%s' does not parse: %s\n", canon, s,
                                e2.msg);
                        abort();
                }
                CHECK(str_eq(ref.registry, again.registry));
                CHECK(str_eq(ref.repository, again.repository));
                CHECK(str_eq(ref.tag, again.tag));
                CHECK(str_eq(ref.digest, again.digest));
                char *canon2 = oci_ref_to_string(&again);
                CHECK(canon2 && strcmp(canon, canon2) == 0);
                CHECK(oci_registry_endpoint(ref.registry) != NULL);
                (void)oci_registry_is_loopback(ref.registry);
                free(canon);
                free(canon2);
                oci_ref_done(&again);
                oci_ref_done(&ref);
        }

        struct oci_platform p;
        struct bg_error perr = {0};
        r = oci_platform_parse(s, &p, &perr);
        if (r < 0)
                CHECK(perr.msg[0]);
        else
                CHECK(p.os[0] && p.arch[0] && memchr(p.variant, '\0', sizeof(p.variant)));

        static const size_t sizes[] = {1, 9, 10, 256};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                char out[256];
                memset(out, 'X', sizeof(out));
                if (oci_registry_key_normalize(s, out, sizes[i])) {
                        size_t n = strlen(out);
                        CHECK(n > 0 && n < sizes[i]);
                        CHECK(!strchr(out, '/'));
                        for (size_t k = 0; k < n; k++)
                                CHECK(!isupper((unsigned char)out[k]));
                }
        }
        free(s);
        return 0;
}
