/* The tables of banger daemon, config, net and system (cmd_table.h). */
#include "cmd_net.h"
#include "cmd_sysinstall.h"
#include "cmd_table.h"

#include "util/macro.h"

static const struct cli_flag daemon_start_flags[] = {
    {"timeout", 0, "SECONDS", "how long to wait for every service to be healthy (default 20)"},
    CLI_FLAG_JSON("print the result as JSON"),
};

static const struct cli_flag daemon_stop_flags[] = {
    {"timeout", 0, "SECONDS",
     "how long to wait for each process after SIGTERM before SIGKILL (default 10)"},
};

const struct cli_cmd cli_daemon_cmds[] = {
    {.name = "start",
     .summary = "Start the gateway and the four services in the background",
     .description =
         "Spawns banger-netsvc, banger-imagesvc, banger-vmsvc, banger-workspacesvc and\n"
         "banger-gateway (user/dev mode), each in its own session with a pidfile in the\n"
         "runtime directory and its log in STATE/logs/NAME.log, then waits until the\n"
         "gateway reports every service healthy. Processes that are already running are\n"
         "left alone. banger never restarts a service behind your back: if one dies,\n"
         "`banger status` shows it DOWN and `banger daemon start` starts it again.\n"
         "banger-netsvc needs root (CAP_NET_ADMIN), so run this as root or with sudo.",
     CLI_FLAGS(daemon_start_flags),
     .run = cmd_daemon_start},
    {.name = "stop",
     .summary = "Stop the gateway and the services (idempotent)",
     .description = "Sends SIGTERM to each process recorded in the runtime directory (gateway\n"
                    "first), waits, and sends SIGKILL after the timeout. Running VMs are not\n"
                    "stopped. Stopping when nothing runs succeeds.",
     CLI_FLAGS(daemon_stop_flags),
     .run = cmd_daemon_stop},
    {.name = "status",
     .summary = "Show each banger process: pid, running, healthy",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_daemon_status},
};
CLI_TABLE_LENGTH(cli_daemon_cmds, CLI_N_DAEMON_CMDS);

static const struct cli_flag config_keys_flags[] = {
    CLI_FLAG_JSON("print JSON"),
    {"markdown", 0, NULL, "print a Markdown table (docs/configuration.md is made from it)"},
};

const struct cli_cmd cli_config_cmds[] = {
    {.name = "check",
     .args = "[FILE]",
     .summary = "Validate a config file (default: the one banger uses)",
     .description = "Reads FILE (default CONFIG_DIR/config.toml) exactly as the services do\n"
                    "and reports the first problem with its file, line and key.",
     .run = cmd_config_check,
     .max_args = 1,
     .complete = CLI_COMPLETE_FILE},
    {.name = "keys",
     .summary = "List every configuration key with its type and default",
     CLI_FLAGS(config_keys_flags),
     .run = cmd_config_keys},
};
CLI_TABLE_LENGTH(cli_config_cmds, CLI_N_CONFIG_CMDS);

static const struct cli_flag net_teardown_flags[] = {
    {"force", 'f', NULL, "do not ask for confirmation (required when stdin is not a terminal)"},
    {"purge", 0, NULL, "also forget every lease (addresses are still not reused early)"},
};

const struct cli_cmd cli_net_cmds[] = {
    {.name = "status",
     .summary = "Show the bridge, NAT rules, DNS, resolver routing, tap pool and leases",
     .description =
         "Asks banger-netsvc what is set up: the bridge and its subnet, the uplink the\n"
         "guests are masqueraded out of, whether `table inet banger` holds the expected\n"
         "rules, where the .vm DNS server listens, how .vm names reach it on this host\n"
         "(or what to configure), the warm tap pool and the number of leases. Exits 5\n"
         "when the network is not set up (see the problem line).",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_net_status},
    {.name = "leases",
     .summary = "List the address leases: VM name, IP, MAC",
     .description = "One lease per VM name, kept until the VM is deleted; a VM's address and\n"
                    "MAC never change while it exists, and a released address is not given\n"
                    "to another VM while never-used addresses remain.",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_net_leases},
    {.name = "teardown",
     .summary = "Remove the bridge, taps, NAT rules, DNS and resolver routing",
     .description = "Removes everything banger-netsvc set up on this host: every bg tap, the\n"
                    "nftables table inet banger, the systemd-resolved routing of ~vm, the DNS\n"
                    "listeners and the bridge. Leases are kept unless --purge. Running VMs lose\n"
                    "their network. Asks for confirmation on a terminal; needs --force otherwise.\n"
                    "The network comes back with the next start of banger-netsvc.",
     CLI_FLAGS(net_teardown_flags),
     .run = cmd_net_teardown},
};
CLI_TABLE_LENGTH(cli_net_cmds, CLI_N_NET_CMDS);

static const struct cli_flag system_install_flags[] = {
    {"owner", 0, "USER", "user the services run as and who may use banger (default: $SUDO_USER)"},
    {"root", 0, "DIR", "install into DIR (a staging tree) and do not touch systemd"},
    {"prefix", 0, "DIR", "where binaries go: DIR/bin, DIR/libexec/banger (default /usr/local)"},
};

static const struct cli_flag system_uninstall_flags[] = {
    {"purge", 0, NULL, "also delete /var/lib/banger, /var/cache/banger and /etc/banger"},
    {"root", 0, "DIR", "uninstall from DIR (a staging tree) and do not touch systemd"},
};

static const struct cli_flag system_status_flags[] = {
    CLI_FLAG_JSON("print JSON"),
    {"root", 0, "DIR", "read the install under DIR"},
};

const struct cli_cmd cli_system_cmds[] = {
    {.name = "install",
     .summary = "Install banger as systemd services (system mode)",
     .description = "Copies banger to PREFIX/bin and its services to PREFIX/libexec/banger,\n"
                    "writes the five systemd units to /etc/systemd/system (banger-netsvc as root\n"
                    "with CAP_NET_ADMIN only; the others as the owner), the directories\n"
                    "/var/lib/banger, /var/cache/banger, /run/banger and /etc/banger/ssh owned\n"
                    "by the owner, /var/lib/banger-netsvc (netsvc's) owned by root, and\n"
                    "/etc/banger/install.toml listing every file written; then runs systemctl\n"
                    "daemon-reload, enable and restart and waits (up to 20 s) until every\n"
                    "service answers. Needs root and systemd as PID 1, unless --root DIR stages\n"
                    "the files into DIR without touching systemd. Running it again (an upgrade)\n"
                    "replaces the files and restarts the services on the new binaries; running\n"
                    "VMs keep running. After an upgrade from a banger that kept netsvc's files in\n"
                    "/var/lib/banger and /run/banger, it removes what netsvc left there once\n"
                    "netsvc has moved its database.",
     CLI_FLAGS(system_install_flags),
     .run = cmd_system_install},
    {.name = "uninstall",
     .summary = "Remove what `system install` installed",
     .description = "Stops the units (and the VMs of banger-vmsvc), asks banger-netsvc to remove\n"
                    "the bridge, taps, nftables table and resolver routing, disables the units\n"
                    "and removes exactly the files /etc/banger/install.toml lists. VM disks,\n"
                    "images and the configuration stay unless --purge.",
     CLI_FLAGS(system_uninstall_flags),
     .run = cmd_system_uninstall},
    {.name = "status",
     .summary = "Show the installed version, owner and the state of each unit",
     .description = "Exits 0 when every unit is active, 3 when banger is not installed,\n"
                    "7 otherwise.",
     CLI_FLAGS(system_status_flags),
     .run = cmd_system_status},
    {.name = "restart",
     .summary = "Restart the five services; running VMs keep running",
     .description = "systemctl restart of every banger unit, then waits until the gateway\n"
                    "reports each service up. banger-vmsvc's unit uses KillMode=process,\n"
                    "so VMs survive and the new vmsvc adopts them.",
     .run = cmd_system_restart},
};
CLI_TABLE_LENGTH(cli_system_cmds, CLI_N_SYSTEM_CMDS);
