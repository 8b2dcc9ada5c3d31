/* Commands with files of their own: `banger ops` (cmd_ops_list.c) and
 * `banger vm ping` (cmd_ping.c). */
#pragma once

struct cli;
struct cli_cmd;

int cmd_ops_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_ping(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
