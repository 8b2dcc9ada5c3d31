/* The table of banger vm … (cmd_table.h). */
#include "cmd_extra.h"
#include "cmd_table.h"

#include "util/macro.h"

const struct cli_flag cli_vm_list_flags[] = {
    CLI_FLAGS_LIST,
    {"state", 0, "STATE", "only VMs in this state (running, stopped, error, ...)"},
    {"image", 0, "IMAGE", "only VMs of this image"},
    {"label", 0, "KEY[=VALUE]", "only VMs with this label (repeatable: all must match)"},
};
CLI_TABLE_LENGTH(cli_vm_list_flags, CLI_N_VM_LIST_FLAGS);

static const struct cli_flag vm_create_flags[] = {
    {"name", 0, "NAME", "VM name: 1-63 of a-z, 0-9 and '-' (default: generated)"},
    CLI_FLAG_IMAGE_OR_REF(""),
    CLI_FLAG_KERNEL_FROM_IMAGE(""),
    {"vcpu", 0, "N", "virtual CPUs, 1-32 (default: config vm.vcpu)"},
    {"mem", 0, "MIB", "memory in MiB, 128-262144 (default: config vm.memory_mib)"},
    {"disk", 0, "SIZE", "work disk size like 8G (default: config vm.work_disk_size)"},
    {"workspace", 0, "PATH", "write this git work tree into the work disk before boot"},
    {"guest-path", 0, "PATH", "where the workspace goes, below /root (default: /root/repo)"},
    CLI_FLAGS_TEMPLATE_OR_COLD,
    {"no-start", 0, NULL, "make the VM and its disks but do not boot it (vm start boots it)"},
    {"init", 0, "image|agent",
     "what runs as the guest's init: the image's own (default) or banger's agent, for "
     "images with no init and no sshd"},
    {"label", 0, "KEY=VALUE", "keep this label with the VM (repeatable; vm list --label filters)"},
    CLI_FLAG_JSON("print the VM as JSON when it is running"),
};

static const struct cli_flag vm_ping_flags[] = {
    {"timeout", 0, "SECONDS", "retry until the agent answers, at most this long (default 5)"},
    CLI_FLAG_JSON("print {vm, ok, rtt_ms, attempts, ...} as JSON"),
};

#define MULTI_VM_NOTE                                                                              \
        "Takes several VMs (vm stop a b c; vm delete $(banger vm list -q --state stopped)):\n"     \
        "each is acted on even when another fails, each failure is one line naming its\n"          \
        "VM, and the exit code is non-zero when any failed (docs/exit-codes.md)."

static const struct cli_flag vm_delete_flags[] = {
    {"force", 'f', NULL, "kill the VM first if it is running"},
    CLI_FLAG_JSON("print {id, name} of each deleted VM as JSON"),
};

static const struct cli_flag vm_run_flags[] = {
    {"rm", 0, NULL, "delete the VM afterwards (also when the command fails or on Ctrl-C)"},
    {"name", 0, "NAME", "VM name (default: generated)"},
    CLI_FLAG_IMAGE_OR_REF(", built on first use"),
    CLI_FLAG_KERNEL_FROM_IMAGE("; pulled on first use"),
    CLI_FLAG_VCPU,
    CLI_FLAG_MEM,
    CLI_FLAGS_TEMPLATE_OR_COLD,
    {"label", 0, "KEY=VALUE", "keep this label with the VM (repeatable)"},
    CLI_FLAGS_EXEC,
};

static const struct cli_flag vm_exec_flags[] = {
    {"auto-prepare", 0, NULL, "sync the workspace from the host first (or the current directory)"},
    CLI_FLAGS_EXEC,
};

static const struct cli_flag vm_cp_flags[] = {
    {"ssh", 0, NULL, "copy over SSH (tar through ssh) instead of the guest agent"},
    {"quiet", 'q', NULL, "no progress output"},
};

static const struct cli_flag ws_prepare_flags[] = {
    {"branch", 0, "BRANCH", "check out BRANCH in the guest (made at HEAD when new)"},
    {"from", 0, "REF", "copy the tree of commit REF instead of the work tree"},
    {"guest-path", 0, "PATH", "where in the guest, below /root (default: /root/repo)"},
    CLI_FLAG_JSON("print the workspace as JSON"),
};

static const struct cli_flag ws_export_flags[] = {
    {"output", 'o', "FILE", "write the patch to FILE (default: standard output)"},
    {"guest-path", 0, "PATH", "which workspace (default: the VM's newest)"},
};

static const struct cli_cmd vm_workspace_cmds[] = {
    {.name = "prepare",
     .args = "VM [PATH]",
     .summary = "Copy a git work tree (default: the current directory) into a running VM",
     .description =
         "Copies what git would (tracked files and untracked ones that are not ignored,\n"
         "uncommitted changes included) plus .git, as a tar stream over ssh, to\n"
         "/root/repo (or --guest-path) in the VM, and records the host path, guest\n"
         "path and HEAD; `banger vm exec` then runs commands there. Runs `mise trust`\n"
         "when the guest has mise. Files in the guest that the host no longer has are\n"
         "left alone. For a new VM, `banger vm run PATH` writes the same files straight\n"
         "into its work disk before boot instead.",
     CLI_FLAGS(ws_prepare_flags),
     .run = cmd_vm_workspace_prepare,
     .min_args = 1,
     .max_args = 2,
     .complete = CLI_COMPLETE_VM},
    {.name = "export",
     .args = "VM",
     .summary = "Print everything changed in the VM's workspace as a binary git patch",
     .description =
         "Tracked, new and deleted files, against the commit the workspace was prepared\n"
         "from, as `git diff --binary`; `git apply` applies it to a clean checkout of\n"
         "that commit on the host. Uses a private index: what is staged in the guest\n"
         "stays as it is. A patch over workspace.export_max (config) fails, and so\n"
         "does an interrupted export: -o FILE is written under a temporary name and\n"
         "renamed at the end, so neither is left half-written.\n\n"
         "  banger vm workspace export dev -o changes.patch && git apply changes.patch",
     CLI_FLAGS(ws_export_flags),
     .run = cmd_vm_workspace_export,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "list",
     .args = "[VM]",
     .summary = "List prepared workspaces",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_workspace_list,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
};

static const struct cli_flag vm_set_flags[] = {
    CLI_FLAG_VCPU,
    CLI_FLAG_MEM,
    {"disk", 0, "SIZE", "grow the work disk to SIZE (like 16G); it never shrinks"},
    CLI_FLAG_JSON("print the VM as JSON"),
};

static const struct cli_flag vm_logs_flags[] = {
    {"follow", 'f', NULL, "keep printing as the console writes"},
};

static const struct cli_flag vm_forward_flags[] = {
    {"address", 0, "ADDR", "IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 = every one)"},
    {"detach", 'd', NULL, "hand the ports to banger-vmsvc and return: they last until the VM "
                          "stops or vm unforward"},
};

static const struct cli_flag vm_unforward_flags[] = {
    {"all", 0, NULL, "every detached forward of the VM"},
};

static const struct cli_flag vm_ports_flags[] = {
    CLI_FLAG_JSON_TABLE,
    {"open", 0, NULL, "print the URL of each forwarded port (and how to forward the others)"},
};

static const struct cli_flag vm_prune_flags[] = {
    {"force", 'f', NULL, "do not ask"},
};

const struct cli_cmd cli_vm_cmds[] = {
    {.name = "run",
     .args = "[PATH] [-- CMD [ARG…]]",
     .summary = "Run a command in a new VM, with your git workspace copied in",
     .description = "Makes sure the kernel and image exist (pulling and building them on first\n"
                    "use, with progress), creates and boots a VM (or resumes it from a\n"
                    "snapshot template, see `banger template --help`), and when PATH is a git\n"
                    "repository writes its files (what git tracks or would add) and .git into the\n"
                    "new VM's work disk at /root/repo before it boots. Then runs CMD\n"
                    "there through the guest agent (SSH when the agent cannot, or with --ssh;\n"
                    "the VM's host key is pinned: no trust on first use), or an interactive\n"
                    "shell over ssh without CMD, and exits with CMD's exit code (128+N when\n"
                    "signal N killed it, 124 after --timeout). With --rm the VM is deleted\n"
                    "afterwards, also when CMD fails or you press Ctrl-C. banger's own failures\n"
                    "exit 125, so they never look like CMD's (docs/exit-codes.md).\n\n"
                    "  banger vm run --rm ./repo -- make test\n"
                    "  banger vm run --rm -e CI=1 --timeout 10m ./repo -- make test",
     CLI_FLAGS(vm_run_flags),
     .run = cmd_vm_run,
     .max_args = -1,
     .complete = CLI_COMPLETE_FILE},
    {.name = "create",
     .summary = "Create a VM and boot it",
     .description =
         "Reserves the VM, leases its address and a tap from netsvc, makes its disks\n"
         "(a copy-on-write root disk over the image and a fresh ext4 work disk, mounted\n"
         "at /root, holding your ssh key and the VM's own sshd host key), boots it and\n"
         "waits for the guest agent. Progress is shown per stage; Ctrl-C cancels. A VM\n"
         "that fails to boot is left in state error with the reason and no leftovers.\n"
         "With --workspace PATH the git work tree at PATH (tracked files, untracked ones\n"
         "git does not ignore, and .git) is written into the new work disk before boot,\n"
         "with no network copy; `banger vm exec` then runs commands in it.\n\n"
         "With config vm.template = \"auto\" (the default) a VM whose image, kernel, vcpu\n"
         "and memory have a snapshot template is resumed from it instead of booted, in\n"
         "well under a second; the first VM of a kind boots cold and the template is made\n"
         "in the background. --template NAME uses that template, --cold always boots.\n\n"
         "--image takes an image name (banger image list) or a registry reference\n"
         "(NAME:TAG, REGISTRY/REPO..., ...@sha256:...), pulled on first use as\n"
         "`banger image pull` would name it; a missing default image is built and a\n"
         "missing kernel pulled, with progress. An unknown image name fails with the\n"
         "list of images. --no-start makes the VM without booting it.\n\n"
         "--init agent boots images that have no init and no sshd (busybox, alpine):\n"
         "banger's guest agent is PID 1 instead of the image's init. It sets up the\n"
         "network, hostname and work disk, runs what `banger vm exec`/`vm cp` ask\n"
         "through the agent and reaps orphans; vm stop, kill, delete, stats and ports\n"
         "work as for any VM. Such a VM has no sshd (vm ssh, exec --ssh and workspace\n"
         "prepare say so) and always boots cold (no template).",
     CLI_FLAGS(vm_create_flags),
     .run = cmd_vm_create},
    {.name = "start",
     .args = "VM…",
     .summary = "Boot a stopped VM (its work disk keeps its data)",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_start,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "stop",
     .args = "VM…",
     .summary = "Stop a VM: the guest syncs and powers off, killed after vm.stop_timeout",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_stop,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "pause",
     .args = "VM…",
     .summary = "Stop a running VM's vCPUs; it keeps its memory, disks and address",
     .description =
         "The guest stops where it is (its clock too) until `banger vm resume`.\n"
         "A paused VM stays paused across service restarts; `vm stop` resumes it\n"
         "first so it can shut down cleanly; exec and ssh wait for a resume.\n\n" MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_pause,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "resume",
     .args = "VM…",
     .summary = "Start a paused VM's vCPUs again",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_resume,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "kill",
     .args = "VM…",
     .summary = "Kill a VM's VMM process at once",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_kill,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "delete",
     .args = "VM…",
     .summary = "Delete a VM: its disks, address and record",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(vm_delete_flags),
     .run = cmd_vm_delete,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "restart",
     .args = "VM…",
     .summary = "Stop a VM (if it runs) and boot it again",
     .description = MULTI_VM_NOTE,
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_restart,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "set",
     .args = "VM",
     .summary = "Change a stopped VM's vCPUs, memory or work disk size",
     CLI_FLAGS(vm_set_flags),
     .run = cmd_vm_set,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "ssh",
     .args = "VM [-- CMD [ARG…]]",
     .summary = "Open a shell in a running VM, or run CMD there, over ssh",
     .description =
         "Runs the system ssh with the config banger maintains (CONFIG_DIR/ssh/config:\n"
         "User root, your banger key, the VM's pinned host key, no trust on first use).\n"
         "Without CMD you get an interactive shell; ssh's exit code is banger's.\n"
         "`banger ssh-config --install` makes plain `ssh NAME.vm` work too.",
     .run = cmd_vm_ssh,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "exec",
     .args = "VM -- CMD [ARG…]",
     .summary = "Run CMD in the VM's workspace, streaming its output",
     .description = "Runs CMD through the guest agent (or, when the agent cannot or with --ssh,\n"
                    "over SSH with the VM's pinned host key) in the VM's newest workspace (else\n"
                    "/root; -w picks another directory), through `mise exec --` when the guest\n"
                    "has mise. stdout and stderr stream as they come; stdin goes to CMD with -i;\n"
                    "-t gives CMD a terminal whose size follows yours. Ctrl-C is sent on to CMD\n"
                    "(three times gives up). The exit code is CMD's, 128+N when signal N killed\n"
                    "it, 124 after --timeout; banger's own failures exit 125\n"
                    "(docs/exit-codes.md). Warns when the host repository's HEAD has moved since\n"
                    "the workspace was prepared; --auto-prepare syncs it first.\n\n"
                    "  banger vm exec dev -e DEBUG=1 -w /tmp -- env\n"
                    "  banger vm exec -it dev -- bash",
     CLI_FLAGS(vm_exec_flags),
     .run = cmd_vm_exec,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "cp",
     .args = "SRC DST",
     .summary = "Copy files and directories between the host and a VM",
     .description = "One of SRC and DST is VM:PATH (PATH absolute, or relative to /root), the\n"
                    "other a host path. Copies a file or a whole directory, keeping modes and\n"
                    "modification times, through the guest agent (over SSH with --ssh or when the\n"
                    "agent cannot). Like cp: when DST is an existing directory, SRC goes into it\n"
                    "under its own name, else it is written as DST. From the VM, what the guest\n"
                    "sends is checked: nothing is written outside DST, no symlink in it is\n"
                    "followed, absolute names and '..' are refused, and the copy stops at\n"
                    "64 GiB. Progress on a terminal, a line per 10 s otherwise (docs/cp.md).\n\n"
                    "  banger vm cp ./data dev:/root/data\n"
                    "  banger vm cp dev:/var/log/syslog .",
     CLI_FLAGS(vm_cp_flags),
     .run = cmd_vm_cp,
     .min_args = 2,
     .max_args = 2,
     .complete = CLI_COMPLETE_FILE},
    {.name = "workspace",
     .summary = "Copy git work trees into VMs and export the changes back",
     CLI_SUBS(vm_workspace_cmds)},
    {.name = "logs",
     .args = "VM",
     .summary = "Print a VM's console log",
     .description = "The console is the guest's: printed to a terminal, control characters and\n"
                    "escape sequences in it are shown escaped (\\x1b[2J, not a cleared screen);\n"
                    "into a pipe or a file it is written byte for byte. Only the newest\n"
                    "vm.console_log_max (config) of it is kept; older output is dropped.",
     CLI_FLAGS(vm_logs_flags),
     .run = cmd_vm_logs,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "stats",
     .args = "VM",
     .summary = "VMM CPU and memory on the host, and the guest's CPUs, memory, load and disks",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_stats,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "ports",
     .args = "VM",
     .summary = "Listening ports in the guest, with a URL for those that answer HTTP(S)",
     .description = "Asks the guest agent, which gets vm.agent_probe_timeout (config) to answer;\n"
                    "one probe of a VM runs at a time, and another is refused as busy.\n"
                    "--open prints http://ADDR:HOSTPORT/ for each detached forward (vm forward\n"
                    "--detach), and for a listening guest TCP port without one the command that\n"
                    "forwards it.",
     CLI_FLAGS(vm_ports_flags),
     .run = cmd_vm_ports,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "forward",
     .args = "VM [HOSTPORT:]GUESTPORT…",
     .summary = "Make TCP ports of a running VM reachable on this host, until Ctrl-C",
     .description =
         "Listens on 127.0.0.1 (or --address) at HOSTPORT (default: the same as\n"
         "GUESTPORT; 0 picks a free one) and relays each connection to GUESTPORT at the\n"
         "VM's address. Prints one line per port, HOST:PORT -> GUESTIP:PORT, then runs\n"
         "in the foreground until Ctrl-C (exit 0), or until the VM stops (exit 5) or is\n"
         "deleted (exit 3). At most 32 ports and 256 connections at once; a port in use\n"
         "fails before anything listens.\n\n"
         "With -d/--detach banger-vmsvc (running as you, never root) listens instead and\n"
         "the command returns: the forwards are kept across restarts of banger's\n"
         "services, listed by vm show and vm ports --open, and removed when the VM stops\n"
         "or is deleted, or by vm unforward. Caps: vm.max_forwards per VM,\n"
         "vm.forward_max_conns connections at once per VM, and vm.forward_idle_timeout\n"
         "per connection (config).\n\n"
         "  banger vm forward web 8080:80 5432\n"
         "  banger vm forward -d web 8080:80",
     CLI_FLAGS(vm_forward_flags),
     .run = cmd_vm_forward,
     .min_args = 2,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "unforward",
     .args = "VM [HOSTPORT…]",
     .summary = "Remove detached port forwards of a VM (vm forward --detach)",
     .description = "Stops listening on each HOSTPORT (as vm show lists them), or on all of the\n"
                    "VM's with --all. A port the VM does not forward fails naming it, and none\n"
                    "is removed.\n\n"
                    "  banger vm unforward web 8080",
     CLI_FLAGS(vm_unforward_flags),
     .run = cmd_vm_unforward,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "health",
     .args = "VM",
     .summary = "Ask the guest agent: hostname, kernel, uptime",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_health,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "ping",
     .args = "VM",
     .summary = "One round trip to the guest agent, for scripts: the time, or a failure",
     .description = "Asks the VM's guest agent for its health (CLI, gateway, vmsvc, vsock and\n"
                    "back) and prints the round-trip time. Until the agent answers it retries\n"
                    "for up to --timeout seconds (default 5), so `banger vm ping --timeout 60 VM`\n"
                    "waits for a VM that is still booting. Exits 0 when the agent answered,\n"
                    "3 for an unknown VM, 8 when it did not answer in time.",
     CLI_FLAGS(vm_ping_flags),
     .run = cmd_vm_ping,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "prune",
     .summary = "Delete every VM that is not running (asks first unless --force)",
     .description = "Deletes every VM in state stopped, created (never started) or error, with\n"
                    "its disks and lease. Running, starting and stopping VMs are left alone.\n"
                    "Prints the names it deleted.",
     CLI_FLAGS(vm_prune_flags),
     .run = cmd_vm_prune},
    {.name = "list",
     .summary = "List VMs (also: banger vm ps, banger ps)",
     .description = CLI_VM_LIST_DESCRIPTION,
     CLI_FLAGS(cli_vm_list_flags),
     .run = cmd_vm_list},
    {.name = "ps",
     .summary = "List VMs (same as banger vm list)",
     .description = CLI_VM_LIST_DESCRIPTION,
     CLI_FLAGS(cli_vm_list_flags),
     .run = cmd_vm_list},
    {.name = "show",
     .args = "VM",
     .summary = "Show one VM (by name or id prefix)",
     .description =
         "\"root disk\" (root_disk in --json) says how its root disk was made: reflink\n"
         "(Firecracker on a file system with FICLONE, e.g. XFS or btrfs: it shares the\n"
         "image's blocks until written), sparse-copy (Firecracker elsewhere: the image's\n"
         "data is copied, its holes are kept) or qcow2-overlay (QEMU).",
     CLI_FLAGS(cli_json_flag),
     .run = cmd_vm_show,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
};
CLI_TABLE_LENGTH(cli_vm_cmds, CLI_N_VM_CMDS);
