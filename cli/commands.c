/* The command tree. Every user-visible command, flag and help text is in
 * these tables (this file, the root; one file per verb group beside it, see
 * cmd_table.h), so --help, completion and docs come from one place. */
#include "cmd_extra.h"
#include "cmd_sysinstall.h"
#include "cmd_groups.h"
#include "cmd_table.h"
#include "cmd_update.h"

#include "util/macro.h"

const struct cli_flag cli_json_flag[] = {
    CLI_FLAG_JSON_TABLE,
};

static const struct cli_flag ops_flags[] = {
    {"all", 'a', NULL, "finished operations too"},
    CLI_FLAG_JSON("print JSON"),
};

static const struct cli_flag ssh_config_flags[] = {
    {"install", 0, NULL, "add an Include of banger's ssh config to ~/.ssh/config (idempotent)"},
    {"uninstall", 0, NULL, "remove that Include again"},
};

static const struct cli_flag doctor_flags[] = {
    CLI_FLAG_JSON("print JSON: rows of {id, status, message, hint} and a summary"),
    {"root", 0, "DIR", "check the system install staged under DIR (install.toml, units)"},
};

static const struct cli_flag update_flags[] = {
    {"check", 0, NULL, "only say whether a newer release is available"},
    {"version", 0, "V", "install release V (also an older one) instead of the newest"},
    {"timeout", 0, "SECONDS", "how long the new services get to come up healthy (default 30)"},
    CLI_FLAG_JSON("print the result as JSON"),
};

static const struct cli_cmd root_cmds[] = {
    {.name = "vm", .summary = "Create, start, stop and delete VMs", CLI_SUBS(cli_vm_cmds)},
    {.name = "ps",
     .summary = "List VMs (same as banger vm list)",
     .description = CLI_VM_LIST_DESCRIPTION,
     CLI_FLAGS(cli_vm_list_flags),
     .run = cmd_vm_list},
    {.name = "image",
     .summary = "Pull, build, list, show and delete root images",
     CLI_SUBS(cli_image_cmds)},
    {.name = "template",
     .summary = "Snapshot templates: VMs resumed instead of booted",
     CLI_SUBS(cli_template_cmds)},
    {.name = "ssh-config",
     .summary = "Show banger's ssh config for VMs, or include it from ~/.ssh/config",
     .description = "banger-vmsvc keeps CONFIG_DIR/ssh/config and known_hosts up to date: a Host\n"
                    "NAME.vm block per VM (its address and pinned host key) and Host *.vm\n"
                    "defaults (User root, your banger key, StrictHostKeyChecking yes). Without\n"
                    "options this prints it. --install puts one marked `Include` line at the top\n"
                    "of ~/.ssh/config so `ssh NAME.vm` works; --uninstall removes it. Both are\n"
                    "idempotent and leave the rest of the file alone.",
     CLI_FLAGS(ssh_config_flags),
     .run = cmd_ssh_config},
    {.name = "status",
     .summary = "Show the health of the gateway and every service",
     .description = "Asks the gateway for the health of each service (UP/DOWN with the\n"
                    "round-trip latency). Exits 0 when everything is UP, 7 otherwise.",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_status},
    {.name = "ops",
     .summary = "List the long operations of every service (creates, pulls, builds, execs)",
     .description = "Asks each service for its operations (ListOperations): VM creates, starts\n"
                    "and restarts, template builds, image pulls and builds, kernel imports and\n"
                    "pulls, workspace prepares and execs, with stage, byte progress, state and\n"
                    "age. Running ones only unless --all (finished ones are kept 10 minutes).\n"
                    "A service that does not answer is reported on stderr and the exit code\n"
                    "says so; the others are still listed.",
     CLI_FLAGS(ops_flags),
     .run = cmd_ops_list},
    {.name = "daemon",
     .summary = "Start, stop or inspect banger's processes (user/dev mode)",
     CLI_SUBS(cli_daemon_cmds)},
    {.name = "kernel",
     .summary = "Import, pull, list, show and delete the kernels VMs boot",
     CLI_SUBS(cli_kernel_cmds)},
    {.name = "net",
     .summary = "Inspect or tear down banger's guest network (bridge, NAT, DNS, taps)",
     CLI_SUBS(cli_net_cmds)},
    {.name = "config",
     .summary = "Check the configuration file and list its keys",
     CLI_SUBS(cli_config_cmds)},
    {.name = "completion",
     .args = "bash|zsh|fish",
     .summary = "Print a shell completion script",
     .description =
         "Completes commands, options and live names (VMs, images, kernels) from the running\n"
         "services, also as option values (--image, --kernel); host paths for --workspace,\n"
         "--output and other FILE/DIR options. Load it with:\n"
         "  bash:  source <(banger completion bash)   (or save it to\n"
         "         /etc/bash_completion.d/banger)\n"
         "  zsh:   source <(banger completion zsh)\n"
         "  fish:  banger completion fish | source",
     .run = cmd_completion,
     .min_args = 1,
     .max_args = 1},
    {.name = "system",
     .summary = "Install, remove or inspect banger's systemd services (system mode)",
     CLI_SUBS(cli_system_cmds)},
    {.name = "doctor",
     .summary = "Check this host and banger's services; say how to fix what is wrong",
     .description = "Prints one row per check: PASS, WARN or FAIL, with a fix for each problem\n"
                    "(KVM, the VMMs and their versions, required tools, nftables, subnet\n"
                    "conflicts, the DNS port, resolver routing, free disk, each service's health\n"
                    "and version, and in system mode socket ownership and unit drift).\n"
                    "docs/troubleshooting.md explains every row id. Exits 5 when a row FAILs.",
     CLI_FLAGS(doctor_flags),
     .run = cmd_doctor},
    {.name = "update",
     .summary = "Replace banger's binaries with a signed release and restart the services",
     .description = "Reads the release manifest at config update.manifest_url and its signature\n"
                    "(MANIFEST_URL.sig: ed25519, checked against the key built into banger, or\n"
                    "config update.public_key when a root-owned config sets it) over HTTPS\n"
                    "(config update.ca_file names the CAs of a private server). Nothing is used\n"
                    "before the signature checks out. Without --version it installs the newest\n"
                    "release when it is newer than this one. Refuses while any service has an\n"
                    "operation running (`banger ops`). Downloads banger, banger-gateway,\n"
                    "banger-vmsvc, banger-imagesvc, banger-netsvc, banger-workspacesvc (and\n"
                    "banger-agent when it is installed beside them) next to the installed ones,\n"
                    "checks each against the signed sha256 and size (one bad file: nothing is\n"
                    "replaced), stops the services, swaps every binary (each rename atomic),\n"
                    "starts the services from the new binaries and waits until every one is up;\n"
                    "running VMs are kept. When they do not come up healthy within --timeout,\n"
                    "the old binaries are put back and started again (exit 7).\n"
                    "In system mode it runs as root only (sudo banger update; --check works for\n"
                    "anyone) and needs systemd: the binaries are swapped in the bindir and\n"
                    "libexecdir install.toml records (every directory from / on must be root's\n"
                    "alone, reached without symlinks), install.toml gets the new version, and\n"
                    "the units are restarted as `banger system restart` does; a release that\n"
                    "does not come up is rolled back the same way.",
     CLI_FLAGS(update_flags),
     .run = cmd_update},
    {.name = "version",
     .summary = "Print version, commit and build time",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_version},
};

static const struct cli_cmd root = {
    .name = "banger",
    .args = "COMMAND",
    .summary = "disposable microVM sandboxes for developers",
    .description =
        "banger turns this host into disposable microVM sandboxes: it boots VMs from\n"
        "OCI-derived images on Firecracker or QEMU microvm, copies your git workspace\n"
        "in and runs commands over SSH.\n\n"
        "Global options (before or after the command words):\n"
        "  -h, --help     show help for banger or for a command\n"
        "  --version      print the version\n"
        "  --quiet        print no progress and no confirmations (results and errors still)\n"
        "  --verbose      say more: each call to the services, its status and duration\n"
        "  --color WHEN   colour: auto (on a terminal, unless NO_COLOR is set), always, never\n\n"
        "Exit codes: 0 ok, 1 internal error, 2 usage or invalid argument, 3 not found,\n"
        "4 already exists, 5 failed precondition, 6 permission denied, 7 unavailable\n"
        "(a service or the gateway is down), 8 deadline exceeded, 9 resource exhausted,\n"
        "10 unimplemented, 11 aborted, 130 cancelled. See docs/exit-codes.md.",
    CLI_SUBS(root_cmds),
};

const struct cli_cmd *cli_root(void)
{
        return &root;
}
