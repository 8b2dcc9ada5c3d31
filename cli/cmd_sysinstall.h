/* `banger system ...` (cmd_system.c) and `banger doctor` (cmd_doctor.c). */
#pragma once

#include "cli.h"

int cmd_system_install(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_uninstall(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_restart(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_doctor(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
