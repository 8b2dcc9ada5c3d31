/* The tables of the verb groups, for the root of the tree (commands.c)
 * only: the files that define them do not include this, and check their
 * lengths against cmd_table.h's numbers instead (CLI_TABLE_LENGTH). */
#pragma once

#include "cmd_table.h"

extern const struct cli_flag cli_vm_list_flags[CLI_N_VM_LIST_FLAGS]; /* commands_vm.c */
extern const struct cli_cmd cli_vm_cmds[CLI_N_VM_CMDS];              /* commands_vm.c */
extern const struct cli_cmd cli_image_cmds[CLI_N_IMAGE_CMDS];        /* commands_image.c */
extern const struct cli_cmd cli_kernel_cmds[CLI_N_KERNEL_CMDS];      /* commands_image.c */
extern const struct cli_cmd cli_template_cmds[CLI_N_TEMPLATE_CMDS];  /* commands_image.c */
extern const struct cli_cmd cli_daemon_cmds[CLI_N_DAEMON_CMDS];      /* commands_host.c */
extern const struct cli_cmd cli_config_cmds[CLI_N_CONFIG_CMDS];      /* commands_host.c */
extern const struct cli_cmd cli_net_cmds[CLI_N_NET_CMDS];            /* commands_host.c */
extern const struct cli_cmd cli_system_cmds[CLI_N_SYSTEM_CMDS];      /* commands_host.c */
