/* Detached forwards of a VM (vm forward --detach, VmService/Forward) as
 * vm show prints them, and `vm ports --open` (cmd_forward.c). */
#pragma once

#include <jansson.h>

#include "banger/v1/vm.pb-c.h"
#include "cli.h"

/* [{"address","host_port","guest_port","url","error"}] for --json. */
json_t *cli_vm_forwards_json(const Banger__V1__Vm *vm);
/* "forwards:  127.0.0.1:8080 -> 80", one line each, for vm show. */
void cli_vm_forwards_print(const Banger__V1__Vm *vm);
/* vm ports VM --open: the URL of each forward, then a hint for listening
 * guest TCP ports without one. Returns the exit code. */
int cli_vm_ports_open(struct cli *cli, const char *ref);
