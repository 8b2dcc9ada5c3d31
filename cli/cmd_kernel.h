/* `banger kernel …` (KernelService through the gateway). The command table
 * entries live in commands.c. */
#pragma once

#include "cli.h"

int cmd_kernel_import(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_pull(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kernel_ops(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
