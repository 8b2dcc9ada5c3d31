/* Fuzz target "deb_release": a Debian archive's InRelease as a mirror (or
 * whoever sits between) serves it: the clearsign framing
 * (debrepo_clearsign_text: exactly one clearsigned message, dash-escaping),
 * then the Release fields and SHA256 index list (debrepo_release_parse), the
 * freshness/suite check and index lookups. The signature itself is gpgv's
 * job and is not fuzzed here.
 *
 * First byte's low bit: 0 = the rest is an InRelease (unwrapped first),
 * 1 = the rest is a bare Release. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "release.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        const char *text = (const char *)data + 1;
        size_t len = size - 1;
        char *signed_text = NULL;
        struct bg_error err = {0};
        if (!(data[0] & 1)) {
                size_t slen = 0;
                int r = debrepo_clearsign_text(text, len, &signed_text, &slen, &err);
                if (r < 0) {
                        CHECK(!signed_text);
                        return 0;
                }
                CHECK(signed_text && slen <= len && signed_text[slen] == '\0');
                text = signed_text;
                len = slen;
        }
        struct debrepo_release rel;
        int r = debrepo_release_parse(text, len, &rel, &err);
        if (r >= 0) {
                for (size_t i = 0; i < rel.n_entries; i++) {
                        const struct debrepo_index_entry *e = &rel.entries[i];
                        CHECK(e->path && e->path[0]);
                        CHECK(strlen(e->sha256) == 64);
                        CHECK(debrepo_release_find(&rel, e->path) != NULL);
                }
                struct bg_error e2 = {0};
                debrepo_release_check(&rel, "bookworm", 1764979200 /* 2025-12-06 */, &e2);
                debrepo_release_find(&rel, "main/binary-amd64/Packages.xz");
                debrepo_release_done(&rel);
        } else {
                CHECK(err.msg[0]);
        }
        free(signed_text);
        return 0;
}
