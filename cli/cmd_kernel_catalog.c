/* `banger kernel catalog`: what `banger kernel pull NAME` can fetch without
 * --catalog (KernelService/Catalog: the Debian suite's linux-image-*
 * packages). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "banger/v1/kernel.pb-c.h"
#include "cmd_kernel.h"
#include "cmd_ops.h"
#include "format.h"

/* Reading the mirror's index for the first time downloads a few MB. */
#define CATALOG_DEADLINE_MS 180000

static json_t *entry_json(const Banger__V1__KernelCatalogEntry *e)
{
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:b}", "name", cli_utf8(e->name), "package",
                         cli_utf8(e->package), "image_package", cli_utf8(e->image_package),
                         "version", cli_utf8(e->version), "release", cli_utf8(e->release), "size",
                         (json_int_t)e->size, "tracks_latest", e->tracks_latest);
}

int cli_kernel_catalog_call(struct cli *cli, bool refresh, uint32_t deadline_ms,
                            Banger__V1__KernelCatalogResponse **ret, struct rpc_status *st)
{
        Banger__V1__KernelCatalogRequest req = BANGER__V1__KERNEL_CATALOG_REQUEST__INIT;
        req.refresh = refresh;
        return cli_call(cli, "/banger.v1.KernelService/Catalog", &req.base,
                        &banger__v1__kernel_catalog_response__descriptor, (ProtobufCMessage **)ret,
                        deadline_ms, RPC_CALL_IDEMPOTENT, st);
}

int cmd_kernel_catalog(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
        Banger__V1__KernelCatalogResponse *resp = NULL;
        struct rpc_status st = {0};
        if (cli_kernel_catalog_call(cli, cli_flag(cli, "refresh"), CATALOG_DEADLINE_MS, &resp,
                                    &st) < 0)
                return cli_fail_status(&st);
        if (cli_flag(cli, "json")) {
                json_t *a = json_array();
                for (size_t i = 0; i < resp->n_entries; i++)
                        json_array_append_new(a, entry_json(resp->entries[i]));
                cli_print_json(json_pack("{s:s,s:I,s:o}", "origin", cli_utf8(resp->origin),
                                         "fetched_unix_ms", (json_int_t)resp->fetched_unix_ms,
                                         "entries", a));
        } else {
                size_t wn = strlen("NAME"), wr = strlen("RELEASE"), wv = strlen("VERSION");
                for (size_t i = 0; i < resp->n_entries; i++) {
                        const Banger__V1__KernelCatalogEntry *e = resp->entries[i];
                        wn = strlen(e->name) > wn ? strlen(e->name) : wn;
                        wr = strlen(e->release) > wr ? strlen(e->release) : wr;
                        wv = strlen(e->version) > wv ? strlen(e->version) : wv;
                }
                printf("%-*s  %-*s  %-*s  %8s  %s\n", (int)wn, "NAME", (int)wr, "RELEASE", (int)wv,
                       "VERSION", "SIZE", "PULLS");
                for (size_t i = 0; i < resp->n_entries; i++) {
                        const Banger__V1__KernelCatalogEntry *e = resp->entries[i];
                        char size[32];
                        cli_format_bytes(size, sizeof(size), e->size);
                        printf("%-*s  %-*s  %-*s  %8s  %s\n", (int)wn, cli_safe(e->name), (int)wr,
                               cli_safe(e->release), (int)wv, cli_safe(e->version), size,
                               e->tracks_latest ? "the newest release of this flavour"
                                                : "this release");
                }
                printf("%zu kernels from %s.\n", resp->n_entries, cli_safe(resp->origin));
        }
        banger__v1__kernel_catalog_response__free_unpacked(resp, NULL);
        return 0;
}
