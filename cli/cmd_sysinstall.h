/* `banger system ...` (cmd_system.c) and `banger doctor` (cmd_doctor.c). */
#pragma once

#include <stdbool.h>

#include "cli.h"

int cmd_system_install(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_uninstall(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_system_restart(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
/* Whether systemd runs as PID 1 here (sd_booted's test). */
bool cli_systemd_is_pid1(void);
/* systemctl reset-failed, then restart of the five banger units in start
 * order (running VMs stay: KillMode=process on banger-vmsvc). systemctl's
 * exit status, or -errno. */
int cli_system_restart_units(void);
int cmd_doctor(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
