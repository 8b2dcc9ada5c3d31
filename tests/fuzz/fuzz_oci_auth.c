/* Fuzz target "oci_auth": what a registry or the owner's files say about
 * authentication (lib/oci/oci_auth.c): the WWW-Authenticate challenge of a
 * 401 reply and the Docker config.json "auths" lookup.
 *
 * Input: "REGISTRY\nJSON". The whole input (to the first NUL) is parsed as
 * a challenge; the JSON is searched for REGISTRY's credentials.
 * Checks beyond "no crash": a failure is -errno with a message and no
 * result; a Bearer challenge has a non-empty realm; found credentials have
 * a user name and a password and are only returned for a key that
 * normalises to the registry asked for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "oci_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > (1u << 20))
                return 0;
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        struct oci_challenge c = {0};
        struct bg_error err = {0};
        int r = oci_challenge_parse(s, &c, &err);
        if (r < 0) {
                CHECK(r == -ENOMEM || err.msg[0]);
                CHECK(!c.realm && !c.service && !c.scope);
        } else {
                CHECK(c.scheme == OCI_AUTH_BASIC || c.scheme == OCI_AUTH_BEARER);
                if (c.scheme == OCI_AUTH_BEARER)
                        CHECK(c.realm && *c.realm);
                oci_challenge_done(&c);
        }

        char *nl = strchr(s, '\n');
        if (nl) {
                *nl = '\0';
                const char *registry = s, *json = nl + 1;
                struct oci_credentials cr = {0};
                struct bg_error e = {0};
                r = oci_docker_config_credentials_from_json(json, registry, &cr, &e);
                if (r < 0) {
                        CHECK(r == -ENOMEM || e.msg[0]);
                        CHECK(!cr.username && !cr.password);
                } else if (r == 0)
                        CHECK(!cr.username && !cr.password);
                else {
                        CHECK(r == 1 && cr.username && cr.password);
                        char want[256];
                        CHECK(oci_registry_key_normalize(registry, want, sizeof(want)));
                        oci_credentials_done(&cr);
                }
        }
        free(s);
        return 0;
}
