/* The command tree's tables, one file per verb group: commands.c (the root
 * and the top-level verbs), commands_vm.c (banger vm …), commands_image.c
 * (image, kernel, template) and commands_host.c (daemon, config, net,
 * system). Flags that several commands take are defined once here, so one
 * --help text serves them all.
 *
 * The length of each table another file uses is a number here (CLI_N_…):
 * adding a command to a group means raising it too. The file that defines
 * the table checks it (CLI_TABLE_LENGTH) and commands.c declares the table
 * with it (cmd_groups.h), so a mismatch does not compile. */
#pragma once

#include "cli.h"
#include "util/macro.h"

/* A command's flags, a group's commands: the array and its length. */
#define CLI_FLAGS(array) .flags = (array), .n_flags = ELEMENTSOF(array)
#define CLI_SUBS(array) .subs = (array), .n_subs = ELEMENTSOF(array)

/* ---- flags several commands share ---- */

/* clang-format off */
#define CLI_FLAG_JSON(help) {"json", 0, NULL, help}
#define CLI_FLAG_JSON_TABLE CLI_FLAG_JSON("print JSON instead of a table")

/* Every list: names only, a --format, or JSON (format.h). */
#define CLI_FLAGS_LIST                                                                             \
        {"quiet", 'q', NULL, "print only the names, one per line"},                                \
        {"format", 0, "FORMAT",                                                                    \
         "columns like name,state,ip, or a template like '{{.Name}} {{.State}}' "                  \
         "('table {{.Name}}\\t{{.IP}}' for a table of those)"},                                    \
        CLI_FLAG_JSON_TABLE

/* What a new VM or template is made of. */
#define CLI_FLAG_IMAGE_OR_REF(dflt)                                                                \
        {"image", 0, "IMAGE",                                                                      \
         "image name, or a registry reference pulled on first use (default: config "               \
         "vm.default_image" dflt ")"}
#define CLI_FLAG_KERNEL_DEFAULT {"kernel", 0, "KERNEL", "kernel (default: config vm.default_kernel)"}
/* A VM's kernel: the image's recorded one (image register --kernel, bundles)
 * comes before the config's default. */
#define CLI_FLAG_KERNEL_FROM_IMAGE(more)                                                           \
        {"kernel", 0, "KERNEL",                                                                    \
         "kernel (default: the one the image records, else config vm.default_kernel" more ")"}
#define CLI_FLAG_VCPU {"vcpu", 0, "N", "virtual CPUs, 1-32"}
#define CLI_FLAG_MEM {"mem", 0, "MIB", "memory in MiB, 128-262144"}
#define CLI_FLAGS_TEMPLATE_OR_COLD                                                                 \
        {"template", 0, "TEMPLATE",                                                                \
         "resume this snapshot template instead of booting (default: config vm.template)"},        \
        {"cold", 0, NULL, "boot from the image even when a template could be used"}

/* How a command runs in a VM (vm run, vm exec). */
#define CLI_FLAGS_EXEC                                                                             \
        {"env", 'e', "KEY=VAL", "set an environment variable for CMD (repeatable)"},               \
        {"workdir", 'w', "DIR", "run CMD in DIR (absolute) instead of the default"},               \
        {"interactive", 'i', NULL, "pass stdin on to CMD"},                                        \
        {"tty", 't', NULL, "run CMD on a terminal (window size follows yours); with -i, raw input"}, \
        {"timeout", 0, "DUR",                                                                      \
         "stop CMD after DUR (30s, 5m, 2h): SIGTERM, SIGKILL 2 s later; exit 124"},                \
        {"ssh", 0, NULL, "run CMD over SSH instead of the guest agent"}
/* clang-format on */

/* `--json` alone (commands.c). */
extern const struct cli_flag cli_json_flag[1];

/* banger vm list, vm ps and banger ps: cli_vm_list_flags (commands_vm.c). */
#define CLI_VM_LIST_DESCRIPTION                                                                    \
        "Columns NAME, STATE, IP, VCPU, MEM, VMM, WORKSPACE (the host repository of the\n"         \
        "VM's newest workspace, or -) and ID. --format picks others: a column list like\n"         \
        "name,state,labels, or a template where {{.Field}} is replaced (\\t and \\n work):\n"      \
        "  banger vm list --format '{{.Name}}\\t{{.IP}}'\n"                                        \
        "Fields: name, id, full_id, state, ip, vcpu, mem, disk, image, kernel, vmm,\n"             \
        "accel, template, workspace, labels, created, pid, mac, error. -q prints names\n"          \
        "only, for scripts: banger vm delete $(banger vm list -q --state stopped).\n"              \
        "Filters combine (all must match): --state, --image, and --label KEY=VALUE or\n"           \
        "--label KEY (any value), repeatable. Colour only on a terminal, never with\n"             \
        "NO_COLOR set."

/* ---- the lengths of the tables commands.c uses (cmd_groups.h) ---- */

#define CLI_N_VM_LIST_FLAGS 6 /* commands_vm.c */
#define CLI_N_VM_CMDS 25      /* commands_vm.c */
#define CLI_N_IMAGE_CMDS 11    /* commands_image.c */
#define CLI_N_KERNEL_CMDS 7   /* commands_image.c */
#define CLI_N_TEMPLATE_CMDS 4 /* commands_image.c */
#define CLI_N_DAEMON_CMDS 3   /* commands_host.c */
#define CLI_N_CONFIG_CMDS 2   /* commands_host.c */
#define CLI_N_NET_CMDS 3      /* commands_host.c */
#define CLI_N_SYSTEM_CMDS 4   /* commands_host.c */

/* After the definition of array: it has n entries. */
#define CLI_TABLE_LENGTH(array, n)                                                                 \
        _Static_assert(ELEMENTSOF(array) == (n), #array ": raise or lower " #n " in cmd_table.h")
