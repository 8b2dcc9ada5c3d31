/* Commands with files of their own: `banger ops` (cmd_ops_list.c) and
 * `banger vm ping` (cmd_ping.c). */
#pragma once

#include <stddef.h>

struct cli;
struct cli_cmd;

int cmd_ops_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
/* The owner's ssh private key (config ssh.key_path, or banger's own) into
 * buf; < 0 with the error printed. cmd_ssh.c. */
int cli_ssh_key_path(struct cli *cli, char *buf, size_t len);
int cmd_vm_ping(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
