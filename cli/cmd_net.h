/* `banger net …` (NetService through the gateway): inspection and teardown
 * of banger's guest network. The command table entries live in commands.c. */
#pragma once

#include "cli.h"

int cmd_net_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_net_leases(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_net_teardown(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
