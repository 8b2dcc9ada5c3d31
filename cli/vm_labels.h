/* `--label KEY=VALUE` on vm create and vm run: the CreateVmRequest's labels
 * map, and labels in `vm show` / --json. */
#pragma once

#include <jansson.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"

/* Fills req->labels from the command's --label flags (checked here for an
 * early error; the service checks again, with its configured caps). The
 * entries are malloc'ed: free them with cli_vm_labels_free(req). Returns 0
 * or an exit code after printing the error. */
int cli_vm_labels_from_flags(struct cli *cli, Banger__V1__CreateVmRequest *req);
void cli_vm_labels_free(Banger__V1__CreateVmRequest *req);

/* {"key": "value", ...} for --json. */
json_t *cli_vm_labels_json(const Banger__V1__Vm *vm);
/* "k=v,k2=v2" ("" for none): a list cell; the caller frees it. */
char *cli_vm_labels_join(const Banger__V1__Vm *vm);

/* A VM as --json prints it (cmd_vm.c). */
json_t *cli_vm_json(const Banger__V1__Vm *v);
