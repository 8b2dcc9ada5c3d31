/* Verbs that take many VMs (`vm stop a b c`, `vm delete $(banger vm list -q)`):
 * every VM is acted on even when another fails; each failure is one line on
 * stderr naming its VM; the exit code is 0 when all succeeded, else the
 * failures' code when they share one, else 1 (docs/exit-codes.md). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cli.h"

/* What acting on one VM gave: on success out (a line for stdout, or NULL)
 * and/or json (its --json object); on failure st. */
struct cli_multi_result {
        bool ok;
        char *out;
        json_t *json;
        struct rpc_status st;
};

/* Acts on ref; fills res. Called from worker threads when parallel. */
typedef void (*cli_multi_fn)(struct cli *cli, const char *ref, void *userdata,
                             struct cli_multi_result *res);

/* Runs fn for each of refs: up to 8 at a time when parallel, else in order
 * (stopping, after a cancelled one, before the next: Ctrl-C means all).
 * Prints the results in the order given: successes' out lines (--json: the
 * object for one VM, an array for several), failures as "banger: REF:
 * message" (just "banger: message" for a single VM, as before). Returns the
 * exit code. */
int cli_multi_run(struct cli *cli, int n, char **refs, bool parallel, cli_multi_fn fn,
                  void *userdata);

/* The exit code for these results (0, the shared code, else 1). */
int cli_multi_exit(const struct cli_multi_result *res, size_t n);
