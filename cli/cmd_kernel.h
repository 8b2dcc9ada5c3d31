/* `banger kernel …` (KernelService through the gateway). The command table
 * entries live in commands.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "banger/v1/kernel.pb-c.h"
#include "cli.h"

int cmd_kernel_import(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_pull(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_ops(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);

/* `kernel catalog` (cmd_kernel_catalog.c), and its call, shared with shell
 * completion of `kernel pull NAME`. */
int cmd_kernel_catalog(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cli_kernel_catalog_call(struct cli *cli, bool refresh, uint32_t deadline_ms,
                            Banger__V1__KernelCatalogResponse **ret, struct rpc_status *st);
