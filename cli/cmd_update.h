/* `banger update` (cmd_update.c); its command table entry lives in
 * commands.c. */
#pragma once

#include "cli.h"

int cmd_update(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
