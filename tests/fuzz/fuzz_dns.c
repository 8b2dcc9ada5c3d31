/* Fuzz target "dns": netsvc's `.vm` DNS server core (lib/hostnet/dns.c,
 * dns_answer) over any UDP/TCP payload a client on the bridge can send.
 * An answer must be a well-formed DNS response (ldns parses it) carrying the
 * query's id with QR set; anything shorter than a header or with QR set is
 * dropped. Names known to the fake lookup: web, db-1. */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "hostnet/dns.h"

static int lookup(void *ud, const char *name, struct in_addr *ret)
{
        CHECK(name && strlen(name) <= 63);
        if (strcmp(name, "web") == 0)
                return inet_pton(AF_INET, "172.30.0.5", ret) == 1 ? 1 : -EINVAL;
        if (strcmp(name, "db-1") == 0)
                return inet_pton(AF_INET, "172.30.0.6", ret) == 1 ? 1 : -EINVAL;
        if (strcmp(name, "broken") == 0)
                return -EIO;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t *out = NULL;
        size_t out_len = 0;
        int r = dns_answer(data, size, 5, lookup, NULL, &out, &out_len);
        CHECK(r == 0 || r == 1 || r == -ENOMEM);
        if (r != 1) {
                CHECK(out == NULL);
                return 0;
        }
        CHECK(size >= 12 && (data[2] & 0x80) == 0); /* never answers a response */
        CHECK(out && out_len >= 12 && out_len <= 65535);
        CHECK(out[0] == data[0] && out[1] == data[1]); /* the query's id */
        CHECK(out[2] & 0x80);                          /* QR */
        ldns_pkt *p = NULL;
        CHECK(ldns_wire2pkt(&p, out, out_len) == LDNS_STATUS_OK);
        ldns_pkt_free(p);
        free(out);
        return 0;
}
