/* `banger image promote|register|export|import|catalog` (cmd_image_bundle.c). */
#pragma once

struct cli;
struct cli_cmd;

int cmd_image_promote(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_register(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_export(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_import(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_catalog(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
