/* The command tree. Every user-visible command, flag and help text is here, so
 * --help, completion and docs come from one place. */
#include "cli.h"
#include "cmd_kernel.h"
#include "cmd_net.h"
#include "cmd_extra.h"
#include "cmd_sysinstall.h"
#include "cmd_update.h"

#include "util/macro.h"

static const struct cli_flag json_flag[] = {
    {"json", 0, NULL, "print JSON instead of a table"},
};

/* Every list: names only, a --format, or JSON (format.h). */
#define LIST_QUIET_HELP "print only the names, one per line"
#define LIST_FORMAT_HELP                                                                           \
        "columns like name,state,ip, or a template like '{{.Name}} {{.State}}' "                   \
        "('table {{.Name}}\\t{{.IP}}' for a table of those)"

static const struct cli_flag list_flags[] = {
    {"quiet", 'q', NULL, LIST_QUIET_HELP},
    {"format", 0, "FORMAT", LIST_FORMAT_HELP},
    {"json", 0, NULL, "print JSON instead of a table"},
};

static const struct cli_flag vm_list_flags[] = {
    {"quiet", 'q', NULL, LIST_QUIET_HELP},
    {"format", 0, "FORMAT", LIST_FORMAT_HELP},
    {"json", 0, NULL, "print JSON instead of a table"},
    {"state", 0, "STATE", "only VMs in this state (running, stopped, error, ...)"},
    {"image", 0, "IMAGE", "only VMs of this image"},
    {"label", 0, "KEY[=VALUE]", "only VMs with this label (repeatable: all must match)"},
};

static const struct cli_flag template_list_flags[] = {
    {"quiet", 'q', NULL, LIST_QUIET_HELP},
    {"format", 0, "FORMAT", LIST_FORMAT_HELP},
    {"json", 0, NULL, "print JSON instead of a table"},
    {"state", 0, "STATE", "only templates in this state (building, ready, error)"},
    {"image", 0, "IMAGE", "only templates of this image"},
};

#define VM_LIST_DESCRIPTION                                                                        \
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

static const struct cli_flag daemon_start_flags[] = {
    {"timeout", 0, "SECONDS", "how long to wait for every service to be healthy (default 20)"},
    {"json", 0, NULL, "print the result as JSON"},
};

static const struct cli_flag daemon_stop_flags[] = {
    {"timeout", 0, "SECONDS",
     "how long to wait for each process after SIGTERM before SIGKILL (default 10)"},
};

static const struct cli_cmd daemon_cmds[] = {
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
     .flags = daemon_start_flags,
     .n_flags = ELEMENTSOF(daemon_start_flags),
     .run = cmd_daemon_start},
    {.name = "stop",
     .summary = "Stop the gateway and the services (idempotent)",
     .description = "Sends SIGTERM to each process recorded in the runtime directory (gateway\n"
                    "first), waits, and sends SIGKILL after the timeout. Running VMs are not\n"
                    "stopped. Stopping when nothing runs succeeds.",
     .flags = daemon_stop_flags,
     .n_flags = ELEMENTSOF(daemon_stop_flags),
     .run = cmd_daemon_stop},
    {.name = "status",
     .summary = "Show each banger process: pid, running, healthy",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_daemon_status},
};

static const struct cli_flag config_keys_flags[] = {
    {"json", 0, NULL, "print JSON"},
    {"markdown", 0, NULL, "print a Markdown table (docs/configuration.md is made from it)"},
};

static const struct cli_cmd config_cmds[] = {
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
     .flags = config_keys_flags,
     .n_flags = ELEMENTSOF(config_keys_flags),
     .run = cmd_config_keys},
};

static const struct cli_flag kernel_import_flags[] = {
    {"name", 0, "NAME", "name to keep it under (default: the kernel release it reports)"},
    {"initrd", 0, "FILE", "an initrd to keep with the kernel"},
    {"modules", 0, "DIR",
     "its /lib/modules/<release> tree (becomes modules.ext4 and feeds "
     "the initramfs)"},
    {"json", 0, NULL, "print the imported kernel as JSON"},
};

static const struct cli_flag kernel_pull_flags[] = {
    {"catalog", 0, "URL",
     "a JSON catalog (http(s)://, file:// or a local path) instead of "
     "the Debian one"},
    {"json", 0, NULL, "print the pulled kernel as JSON"},
};

static const struct cli_flag kernel_catalog_flags[] = {
    {"refresh", 0, NULL, "read the mirror again instead of the answer kept for 10 minutes"},
    {"json", 0, NULL, "print {origin, fetched_unix_ms, entries: [...]} as JSON"},
};

static const struct cli_flag kernel_ops_flags[] = {
    {"all", 0, NULL, "include operations that finished (kept for 10 minutes)"},
    {"json", 0, NULL, "print JSON instead of a table"},
};

static const struct cli_cmd kernel_cmds[] = {
    {.name = "import",
     .args = "PATH",
     .summary = "Import a kernel from an ELF vmlinux or a bzImage on this host",
     .description = "Keeps the bzImage (QEMU microvm boots it), extracts the ELF vmlinux from it\n"
                    "(Firecracker boots that; gzip, xz, lz4 and zstd payloads), and builds the\n"
                    "banger initramfs (the guest agent as /init plus the virtio, vsock and ext4\n"
                    "modules in dependency order) and, with --modules, modules.ext4 (the whole\n"
                    "module tree as a read-only disk). Everything lands in STATE/kernels/NAME/\n"
                    "at once or not at all. Progress is shown while it runs; Ctrl-C cancels.\n"
                    "Importing a name that exists fails with exit code 4: delete it first.",
     .flags = kernel_import_flags,
     .n_flags = ELEMENTSOF(kernel_import_flags),
     .run = cmd_kernel_import,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_FILE},
    {.name = "pull",
     .args = "NAME",
     .summary = "Download, verify and import a kernel from a catalog",
     .description =
         "NAME is from `banger kernel catalog`: debian-FLAVOUR (debian-cloud-amd64,\n"
         "debian-amd64, ...: the newest kernel of Debian's linux-image-FLAVOUR) or\n"
         "debian-RELEASE (that exact linux-image-RELEASE), from the mirror in config\n"
         "kernel.debian_mirror (default: this host's apt sources), verified the way apt\n"
         "does it (InRelease signature with gpgv and debian-archive-keyring, then the\n"
         "Packages index sha256, then the .deb sha256), unpacked and imported with its\n"
         "modules. --catalog URL reads a JSON\n"
         "list of {\"name\", \"url\", \"sha256\", \"version\", \"kind\": \"bzimage\"|\"deb\"}\n"
         "entries instead. A file that fails a check is refused with a message naming\n"
         "the check. Downloads are cached by sha256 in CACHE/kernels/, so pulling\n"
         "again downloads nothing new; pulling a name that exists replaces it\n"
         "atomically when the kernel changed. Concurrent pulls of one name share one\n"
         "operation. Ctrl-C cancels and removes partial files.",
     .flags = kernel_pull_flags,
     .n_flags = ELEMENTSOF(kernel_pull_flags),
     .run = cmd_kernel_pull,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_KERNEL_CATALOG},
    {.name = "catalog",
     .summary = "List the kernels `banger kernel pull` can fetch from Debian",
     .description =
         "Reads the Debian mirror's signed Packages index (the suite and mirror `kernel\n"
         "pull` uses) and lists every bootable linux-image-* package as a pull name:\n"
         "debian-FLAVOUR (cloud-amd64, amd64, rt-amd64, ...) pulls the newest kernel of\n"
         "that flavour, debian-RELEASE exactly that kernel. Debug (-dbg) and unsigned\n"
         "packages are left out. Columns NAME, RELEASE, VERSION (the package's), SIZE\n"
         "(of the .deb), PULLS. The answer is kept for 10 minutes; --refresh reads the\n"
         "mirror again. `banger kernel pull <TAB>` completes these names.",
     .flags = kernel_catalog_flags,
     .n_flags = ELEMENTSOF(kernel_catalog_flags),
     .run = cmd_kernel_catalog},
    {.name = "list",
     .summary = "List the kernels banger has",
     .description =
         "Columns NAME, VERSION, FORMAT, SIZE, MODULES, CREATED. --format fields: name,\n"
         "version, format, compression, size, modules, created, sha256, source, dir.\n"
         "-q prints names only.",
     .flags = list_flags,
     .n_flags = ELEMENTSOF(list_flags),
     .run = cmd_kernel_list},
    {.name = "show",
     .args = "NAME",
     .summary = "Show a kernel: version, checksums, artifacts, initramfs modules",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_kernel_show,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_KERNEL},
    {.name = "delete",
     .args = "NAME",
     .summary = "Delete a kernel and its artifacts",
     .description = "Fails with exit code 3 when there is no such kernel, and with 5 while an\n"
                    "import or pull of it is running.",
     .run = cmd_kernel_delete,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_KERNEL},
    {.name = "ops",
     .summary = "List running kernel imports and pulls",
     .flags = kernel_ops_flags,
     .n_flags = ELEMENTSOF(kernel_ops_flags),
     .run = cmd_kernel_ops},
};

static const struct cli_flag net_teardown_flags[] = {
    {"force", 'f', NULL, "do not ask for confirmation (required when stdin is not a terminal)"},
    {"purge", 0, NULL, "also forget every lease (addresses are still not reused early)"},
};

static const struct cli_cmd net_cmds[] = {
    {.name = "status",
     .summary = "Show the bridge, NAT rules, DNS, resolver routing, tap pool and leases",
     .description =
         "Asks banger-netsvc what is set up: the bridge and its subnet, the uplink the\n"
         "guests are masqueraded out of, whether `table inet banger` holds the expected\n"
         "rules, where the .vm DNS server listens, how .vm names reach it on this host\n"
         "(or what to configure), the warm tap pool and the number of leases. Exits 5\n"
         "when the network is not set up (see the problem line).",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_net_status},
    {.name = "leases",
     .summary = "List the address leases: VM name, IP, MAC",
     .description = "One lease per VM name, kept until the VM is deleted; a VM's address and\n"
                    "MAC never change while it exists, and a released address is not given\n"
                    "to another VM while never-used addresses remain.",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_net_leases},
    {.name = "teardown",
     .summary = "Remove the bridge, taps, NAT rules, DNS and resolver routing",
     .description = "Removes everything banger-netsvc set up on this host: every bg tap, the\n"
                    "nftables table inet banger, the systemd-resolved routing of ~vm, the DNS\n"
                    "listeners and the bridge. Leases are kept unless --purge. Running VMs lose\n"
                    "their network. Asks for confirmation on a terminal; needs --force otherwise.\n"
                    "The network comes back with the next start of banger-netsvc.",
     .flags = net_teardown_flags,
     .n_flags = ELEMENTSOF(net_teardown_flags),
     .run = cmd_net_teardown},
};

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
    {"json", 0, NULL, "print JSON"},
    {"root", 0, "DIR", "read the install under DIR"},
};

static const struct cli_cmd system_cmds[] = {
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
     .flags = system_install_flags,
     .n_flags = ELEMENTSOF(system_install_flags),
     .run = cmd_system_install},
    {.name = "uninstall",
     .summary = "Remove what `system install` installed",
     .description = "Stops the units (and the VMs of banger-vmsvc), asks banger-netsvc to remove\n"
                    "the bridge, taps, nftables table and resolver routing, disables the units\n"
                    "and removes exactly the files /etc/banger/install.toml lists. VM disks,\n"
                    "images and the configuration stay unless --purge.",
     .flags = system_uninstall_flags,
     .n_flags = ELEMENTSOF(system_uninstall_flags),
     .run = cmd_system_uninstall},
    {.name = "status",
     .summary = "Show the installed version, owner and the state of each unit",
     .description = "Exits 0 when every unit is active, 3 when banger is not installed,\n"
                    "7 otherwise.",
     .flags = system_status_flags,
     .n_flags = ELEMENTSOF(system_status_flags),
     .run = cmd_system_status},
    {.name = "restart",
     .summary = "Restart the five services; running VMs keep running",
     .description = "systemctl restart of every banger unit, then waits until the gateway\n"
                    "reports each service up. banger-vmsvc's unit uses KillMode=process,\n"
                    "so VMs survive and the new vmsvc adopts them.",
     .run = cmd_system_restart},
};

static const struct cli_flag vm_create_flags[] = {
    {"name", 0, "NAME", "VM name: 1-63 of a-z, 0-9 and '-' (default: generated)"},
    {"image", 0, "IMAGE",
     "image name, or a registry reference pulled on first use (default: config "
     "vm.default_image)"},
    {"kernel", 0, "KERNEL", "kernel (default: config vm.default_kernel)"},
    {"vcpu", 0, "N", "virtual CPUs, 1-32 (default: config vm.vcpu)"},
    {"mem", 0, "MIB", "memory in MiB, 128-262144 (default: config vm.memory_mib)"},
    {"disk", 0, "SIZE", "work disk size like 8G (default: config vm.work_disk_size)"},
    {"workspace", 0, "PATH", "write this git work tree into the work disk before boot"},
    {"guest-path", 0, "PATH", "where the workspace goes, below /root (default: /root/repo)"},
    {"template", 0, "TEMPLATE",
     "resume this snapshot template instead of booting (default: config vm.template)"},
    {"cold", 0, NULL, "boot from the image even when a template could be used"},
    {"no-start", 0, NULL, "make the VM and its disks but do not boot it (vm start boots it)"},
    {"label", 0, "KEY=VALUE", "keep this label with the VM (repeatable; vm list --label filters)"},
    {"json", 0, NULL, "print the VM as JSON when it is running"},
};

static const struct cli_flag vm_ping_flags[] = {
    {"timeout", 0, "SECONDS", "retry until the agent answers, at most this long (default 5)"},
    {"json", 0, NULL, "print {vm, ok, rtt_ms, attempts, ...} as JSON"},
};

static const struct cli_flag ops_flags[] = {
    {"all", 'a', NULL, "finished operations too"},
    {"json", 0, NULL, "print JSON"},
};

#define MULTI_VM_NOTE                                                                              \
        "Takes several VMs (vm stop a b c; vm delete $(banger vm list -q --state stopped)):\n"     \
        "each is acted on even when another fails, each failure is one line naming its\n"          \
        "VM, and the exit code is non-zero when any failed (docs/exit-codes.md)."

static const struct cli_flag vm_delete_flags[] = {
    {"force", 'f', NULL, "kill the VM first if it is running"},
    {"json", 0, NULL, "print {id, name} of each deleted VM as JSON"},
};

static const struct cli_flag vm_run_flags[] = {
    {"rm", 0, NULL, "delete the VM afterwards (also when the command fails or on Ctrl-C)"},
    {"name", 0, "NAME", "VM name (default: generated)"},
    {"image", 0, "IMAGE",
     "image name, or a registry reference pulled on first use (default: config "
     "vm.default_image, built on first use)"},
    {"kernel", 0, "KERNEL", "kernel (default: config vm.default_kernel; pulled on first use)"},
    {"vcpu", 0, "N", "virtual CPUs, 1-32"},
    {"mem", 0, "MIB", "memory in MiB, 128-262144"},
    {"template", 0, "TEMPLATE",
     "resume this snapshot template instead of booting (default: config vm.template)"},
    {"cold", 0, NULL, "boot from the image even when a template could be used"},
    {"label", 0, "KEY=VALUE", "keep this label with the VM (repeatable)"},
    {"env", 'e', "KEY=VAL", "set an environment variable for CMD (repeatable)"},
    {"workdir", 'w', "DIR", "run CMD in DIR (absolute) instead of the default"},
    {"interactive", 'i', NULL, "pass stdin on to CMD"},
    {"tty", 't', NULL, "run CMD on a terminal (window size follows yours); with -i, raw input"},
    {"timeout", 0, "DUR", "stop CMD after DUR (30s, 5m, 2h): SIGTERM, SIGKILL 2 s later; exit 124"},
    {"ssh", 0, NULL, "run CMD over SSH instead of the guest agent"},
};

static const struct cli_flag vm_exec_flags[] = {
    {"auto-prepare", 0, NULL, "sync the workspace from the host first (or the current directory)"},
    {"env", 'e', "KEY=VAL", "set an environment variable for CMD (repeatable)"},
    {"workdir", 'w', "DIR", "run CMD in DIR (absolute) instead of the default"},
    {"interactive", 'i', NULL, "pass stdin on to CMD"},
    {"tty", 't', NULL, "run CMD on a terminal (window size follows yours); with -i, raw input"},
    {"timeout", 0, "DUR", "stop CMD after DUR (30s, 5m, 2h): SIGTERM, SIGKILL 2 s later; exit 124"},
    {"ssh", 0, NULL, "run CMD over SSH instead of the guest agent"},
};

static const struct cli_flag vm_cp_flags[] = {
    {"ssh", 0, NULL, "copy over SSH (tar through ssh) instead of the guest agent"},
    {"quiet", 'q', NULL, "no progress output"},
};

static const struct cli_flag ws_prepare_flags[] = {
    {"branch", 0, "BRANCH", "check out BRANCH in the guest (made at HEAD when new)"},
    {"from", 0, "REF", "copy the tree of commit REF instead of the work tree"},
    {"guest-path", 0, "PATH", "where in the guest, below /root (default: /root/repo)"},
    {"json", 0, NULL, "print the workspace as JSON"},
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
     .flags = ws_prepare_flags,
     .n_flags = ELEMENTSOF(ws_prepare_flags),
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
     .flags = ws_export_flags,
     .n_flags = ELEMENTSOF(ws_export_flags),
     .run = cmd_vm_workspace_export,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "list",
     .args = "[VM]",
     .summary = "List prepared workspaces",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_workspace_list,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
};

static const struct cli_flag vm_set_flags[] = {
    {"vcpu", 0, "N", "virtual CPUs, 1-32"},
    {"mem", 0, "MIB", "memory in MiB, 128-262144"},
    {"disk", 0, "SIZE", "grow the work disk to SIZE (like 16G); it never shrinks"},
    {"json", 0, NULL, "print the VM as JSON"},
};

static const struct cli_flag vm_logs_flags[] = {
    {"follow", 'f', NULL, "keep printing as the console writes"},
};

static const struct cli_flag vm_forward_flags[] = {
    {"address", 0, "ADDR", "IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 = every one)"},
};

static const struct cli_flag vm_prune_flags[] = {
    {"force", 'f', NULL, "do not ask"},
};

static const struct cli_cmd vm_cmds[] = {
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
     .flags = vm_run_flags,
     .n_flags = ELEMENTSOF(vm_run_flags),
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
         "list of images. --no-start makes the VM without booting it.",
     .flags = vm_create_flags,
     .n_flags = ELEMENTSOF(vm_create_flags),
     .run = cmd_vm_create},
    {.name = "start",
     .args = "VM…",
     .summary = "Boot a stopped VM (its work disk keeps its data)",
     .description = MULTI_VM_NOTE,
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_start,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "stop",
     .args = "VM…",
     .summary = "Stop a VM: the guest syncs and powers off, killed after 10 s",
     .description = MULTI_VM_NOTE,
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
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
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_pause,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "resume",
     .args = "VM…",
     .summary = "Start a paused VM's vCPUs again",
     .description = MULTI_VM_NOTE,
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_resume,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "kill",
     .args = "VM…",
     .summary = "Kill a VM's VMM process at once",
     .description = MULTI_VM_NOTE,
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_kill,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "delete",
     .args = "VM…",
     .summary = "Delete a VM: its disks, address and record",
     .description = MULTI_VM_NOTE,
     .flags = vm_delete_flags,
     .n_flags = ELEMENTSOF(vm_delete_flags),
     .run = cmd_vm_delete,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "restart",
     .args = "VM…",
     .summary = "Stop a VM (if it runs) and boot it again",
     .description = MULTI_VM_NOTE,
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_restart,
     .min_args = 1,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "set",
     .args = "VM",
     .summary = "Change a stopped VM's vCPUs, memory or work disk size",
     .flags = vm_set_flags,
     .n_flags = ELEMENTSOF(vm_set_flags),
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
     .flags = vm_exec_flags,
     .n_flags = ELEMENTSOF(vm_exec_flags),
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
     .flags = vm_cp_flags,
     .n_flags = ELEMENTSOF(vm_cp_flags),
     .run = cmd_vm_cp,
     .min_args = 2,
     .max_args = 2,
     .complete = CLI_COMPLETE_FILE},
    {.name = "workspace",
     .summary = "Copy git work trees into VMs and export the changes back",
     .subs = vm_workspace_cmds,
     .n_subs = ELEMENTSOF(vm_workspace_cmds)},
    {.name = "logs",
     .args = "VM",
     .summary = "Print a VM's console log",
     .description = "The console is the guest's: printed to a terminal, control characters and\n"
                    "escape sequences in it are shown escaped (\\x1b[2J, not a cleared screen);\n"
                    "into a pipe or a file it is written byte for byte. Only the newest\n"
                    "vm.console_log_max (config) of it is kept; older output is dropped.",
     .flags = vm_logs_flags,
     .n_flags = ELEMENTSOF(vm_logs_flags),
     .run = cmd_vm_logs,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "stats",
     .args = "VM",
     .summary = "VMM CPU and memory on the host, and the guest's CPUs, memory, load and disks",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_stats,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "ports",
     .args = "VM",
     .summary = "Listening ports in the guest, with a URL for those that answer HTTP(S)",
     .description = "Asks the guest agent, which gets vm.agent_probe_timeout (config) to answer;\n"
                    "one probe of a VM runs at a time, and another is refused as busy.",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
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
         "  banger vm forward web 8080:80 5432",
     .flags = vm_forward_flags,
     .n_flags = ELEMENTSOF(vm_forward_flags),
     .run = cmd_vm_forward,
     .min_args = 2,
     .max_args = -1,
     .complete = CLI_COMPLETE_VM},
    {.name = "health",
     .args = "VM",
     .summary = "Ask the guest agent: hostname, kernel, uptime",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
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
     .flags = vm_ping_flags,
     .n_flags = ELEMENTSOF(vm_ping_flags),
     .run = cmd_vm_ping,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
    {.name = "prune",
     .summary = "Delete every VM that is not running (asks first unless --force)",
     .description = "Deletes every VM in state stopped, created (never started) or error, with\n"
                    "its disks and lease. Running, starting and stopping VMs are left alone.\n"
                    "Prints the names it deleted.",
     .flags = vm_prune_flags,
     .n_flags = ELEMENTSOF(vm_prune_flags),
     .run = cmd_vm_prune},
    {.name = "list",
     .summary = "List VMs (also: banger vm ps, banger ps)",
     .description = VM_LIST_DESCRIPTION,
     .flags = vm_list_flags,
     .n_flags = ELEMENTSOF(vm_list_flags),
     .run = cmd_vm_list},
    {.name = "ps",
     .summary = "List VMs (same as banger vm list)",
     .description = VM_LIST_DESCRIPTION,
     .flags = vm_list_flags,
     .n_flags = ELEMENTSOF(vm_list_flags),
     .run = cmd_vm_list},
    {.name = "show",
     .args = "VM",
     .summary = "Show one VM (by name or id prefix)",
     .description =
         "\"root disk\" (root_disk in --json) says how its root disk was made: reflink\n"
         "(Firecracker on a file system with FICLONE, e.g. XFS or btrfs: it shares the\n"
         "image's blocks until written), sparse-copy (Firecracker elsewhere: the image's\n"
         "data is copied, its holes are kept) or qcow2-overlay (QEMU).",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_vm_show,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_VM},
};

static const struct cli_flag image_build_flags[] = {
    {"suite", 0, "SUITE", "Debian suite (default bookworm)"},
    {"packages", 0, "LIST",
     "comma-separated packages (default: systemd-sysv, openssh-server, "
     "git, ca-certificates, curl, iproute2, procps, less, udev, rsync)"},
    {"mirror", 0, "URL",
     "Debian mirror (default: config kernel.debian_mirror, else this "
     "host's apt sources)"},
    {"json", 0, NULL, "print the image as JSON when it is built"},
};

static const struct cli_flag image_pull_flags[] = {
    {"name", 0, "NAME", "image name (default: repository-tag, e.g. debian-bookworm)"},
    {"platform", 0, "PLATFORM", "os/arch[/variant] of a multi-arch image (default linux/amd64)"},
    {"size", 0, "SIZE", "root disk size, e.g. 4G (default: content + 256 MiB)"},
    {"json", 0, NULL, "print the image as JSON when it is pulled"},
};

static const struct cli_flag image_prune_flags[] = {
    {"dry-run", 0, NULL, "only say how many blobs and bytes would be removed"},
    {"json", 0, NULL, "print {blobs, bytes, dry_run} as JSON"},
};

static const struct cli_cmd image_cache_cmds[] = {
    {.name = "prune",
     .summary = "Remove the cached registry blobs",
     .description = "Removes the layers and configs kept in CACHE_DIR/oci from earlier pulls\n"
                    "(pulled images do not need them; a later pull downloads them again).\n"
                    "Refused while a pull is running.",
     .flags = image_prune_flags,
     .n_flags = ELEMENTSOF(image_prune_flags),
     .run = cmd_image_cache_prune},
};

static const struct cli_cmd image_cmds[] = {
    {.name = "pull",
     .args = "REF",
     .summary = "Pull an OCI/Docker image from its registry into an ext4 root image",
     .description =
         "REF is a Docker-style reference: debian:bookworm (docker.io/library/debian),\n"
         "ghcr.io/org/app:1.2, localhost:5000/repo@sha256:<hex>. Layers download in\n"
         "parallel (config image.pull_concurrency) into a blob cache, each verified\n"
         "against its digest; cached blobs are not fetched again. The layers are then\n"
         "flattened straight into ext4 (whiteouts applied; owners, modes, links,\n"
         "devices and xattrs kept), banger's guest agent and units are installed and\n"
         "the image's ssh host keys removed. Credentials come from\n"
         "~/.docker/config.json (or $DOCKER_CONFIG) and go only to their registry;\n"
         "plain HTTP only for loopback registries and config image.insecure_registries.\n"
         "Pulling a name again is a no-op while the registry has the same digest.\n"
         "An image larger than config image.max_unpacked_size (default 64G), or a\n"
         "layer that inflates beyond config image.max_layer_ratio (default 100) times\n"
         "its compressed size, is refused (exit 9), naming the layer and the limit,\n"
         "and leaves nothing behind, not even the blobs the pull fetched.\n"
         "Progress is shown per layer; Ctrl-C cancels and removes partial files.",
     .flags = image_pull_flags,
     .n_flags = ELEMENTSOF(image_pull_flags),
     .run = cmd_image_pull,
     .min_args = 1,
     .max_args = 1},
    {.name = "build",
     .args = "[NAME]",
     .summary = "Build a Debian image with mmdebstrap (the default image vm create uses)",
     .description = "Runs mmdebstrap and streams its tar straight into an ext4 image (no unpacked\n"
                    "tree, no mount), installs banger's guest agent, its units and the sshd\n"
                    "drop-in, and removes the shared ssh host keys (each VM gets its own).\n"
                    "NAME defaults to config vm.default_image (\"golden\"). Progress is shown;\n"
                    "Ctrl-C cancels and removes the partial image.",
     .flags = image_build_flags,
     .n_flags = ELEMENTSOF(image_build_flags),
     .run = cmd_image_build,
     .max_args = 1},
    {.name = "list",
     .summary = "List images",
     .description = "Columns NAME, SIZE, INIT, SSHD, REF. --format fields: name, size (on disk),\n"
                    "capacity, init, sshd, ref, digest, created, rootfs. -q prints names only.",
     .flags = list_flags,
     .n_flags = ELEMENTSOF(list_flags),
     .run = cmd_image_list},
    {.name = "show",
     .args = "NAME",
     .summary = "Show an image: size, whether it has an init and sshd, its files",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_image_show,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_IMAGE},
    {.name = "delete",
     .args = "NAME",
     .summary = "Delete an image",
     .run = cmd_image_delete,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_IMAGE},
    {.name = "cache",
     .summary = "Manage the registry blob cache",
     .subs = image_cache_cmds,
     .n_subs = ELEMENTSOF(image_cache_cmds)},
};

static const struct cli_flag ssh_config_flags[] = {
    {"install", 0, NULL, "add an Include of banger's ssh config to ~/.ssh/config (idempotent)"},
    {"uninstall", 0, NULL, "remove that Include again"},
};

static const struct cli_flag doctor_flags[] = {
    {"json", 0, NULL, "print JSON: rows of {id, status, message, hint} and a summary"},
    {"root", 0, "DIR", "check the system install staged under DIR (install.toml, units)"},
};

static const struct cli_flag template_create_flags[] = {
    {"image", 0, "IMAGE",
     "image name, or a registry reference pulled on first use (default: config "
     "vm.default_image)"},
    {"kernel", 0, "KERNEL", "kernel (default: config vm.default_kernel)"},
    {"vcpu", 0, "N", "virtual CPUs of its clones, 1-32 (default: config vm.vcpu)"},
    {"mem", 0, "MIB", "memory of its clones in MiB (default: config vm.memory_mib)"},
    {"from", 0, "VM", "make it from this stopped VM's disks (and its image, kernel, size)"},
    {"json", 0, NULL, "print the template as JSON when it is ready"},
};

static const struct cli_cmd template_cmds[] = {
    {.name = "create",
     .args = "NAME",
     .summary = "Boot a VM once and save it as a snapshot template",
     .description =
         "Boots a VM of the image and kernel (or, with --from VM, of a stopped VM's disks:\n"
         "its installed packages and files), waits until its agent answers and sshd\n"
         "listens, and saves it: its RAM in a file, its device state, its disks frozen,\n"
         "all under STATE/templates/<id>/. `banger vm create|run --template NAME` then\n"
         "resumes clones of it instead of booting: each maps the RAM file copy-on-write\n"
         "and gets its own disks (an overlay over the template's root, a copy of its\n"
         "work disk with your file_sync entries and workspace), hostname, address, MAC,\n"
         "clock, RNG state, SSH host key and machine-id before it is reported ready.\n"
         "Progress is shown per stage; Ctrl-C cancels.",
     .flags = template_create_flags,
     .n_flags = ELEMENTSOF(template_create_flags),
     .run = cmd_template_create,
     .min_args = 1,
     .max_args = 1},
    {.name = "list",
     .summary = "List templates: state, what they are made of, size, clones",
     .description = "Columns NAME, STATE, IMAGE, VCPU, MEM, RAM FILE, CLONES. --format fields:\n"
                    "name, id, state, image, kernel, vcpu, mem, ram_file, disk, clones, vmm,\n"
                    "auto, source_vm. -q prints names only; --state and --image filter.",
     .flags = template_list_flags,
     .n_flags = ELEMENTSOF(template_list_flags),
     .run = cmd_template_list},
    {.name = "show",
     .args = "TEMPLATE",
     .summary = "Show one template",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_template_show,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_TEMPLATE},
    {.name = "delete",
     .args = "TEMPLATE",
     .summary = "Delete a template (refused while VMs cloned from it exist)",
     .description = "A clone's root disk reads through its template's frozen one, for as long\n"
                    "as the clone exists: delete the clones first (the error names them).",
     .run = cmd_template_delete,
     .min_args = 1,
     .max_args = 1,
     .complete = CLI_COMPLETE_TEMPLATE},
};

static const struct cli_flag update_flags[] = {
    {"check", 0, NULL, "only say whether a newer release is available"},
    {"version", 0, "V", "install release V (also an older one) instead of the newest"},
    {"timeout", 0, "SECONDS", "how long the new services get to come up healthy (default 30)"},
    {"json", 0, NULL, "print the result as JSON"},
};

static const struct cli_cmd root_cmds[] = {
    {.name = "vm",
     .summary = "Create, start, stop and delete VMs",
     .subs = vm_cmds,
     .n_subs = ELEMENTSOF(vm_cmds)},
    {.name = "ps",
     .summary = "List VMs (same as banger vm list)",
     .description = VM_LIST_DESCRIPTION,
     .flags = vm_list_flags,
     .n_flags = ELEMENTSOF(vm_list_flags),
     .run = cmd_vm_list},
    {.name = "image",
     .summary = "Pull, build, list, show and delete root images",
     .subs = image_cmds,
     .n_subs = ELEMENTSOF(image_cmds)},
    {.name = "template",
     .summary = "Snapshot templates: VMs resumed instead of booted",
     .subs = template_cmds,
     .n_subs = ELEMENTSOF(template_cmds)},
    {.name = "ssh-config",
     .summary = "Show banger's ssh config for VMs, or include it from ~/.ssh/config",
     .description = "banger-vmsvc keeps CONFIG_DIR/ssh/config and known_hosts up to date: a Host\n"
                    "NAME.vm block per VM (its address and pinned host key) and Host *.vm\n"
                    "defaults (User root, your banger key, StrictHostKeyChecking yes). Without\n"
                    "options this prints it. --install puts one marked `Include` line at the top\n"
                    "of ~/.ssh/config so `ssh NAME.vm` works; --uninstall removes it. Both are\n"
                    "idempotent and leave the rest of the file alone.",
     .flags = ssh_config_flags,
     .n_flags = ELEMENTSOF(ssh_config_flags),
     .run = cmd_ssh_config},
    {.name = "status",
     .summary = "Show the health of the gateway and every service",
     .description = "Asks the gateway for the health of each service (UP/DOWN with the\n"
                    "round-trip latency). Exits 0 when everything is UP, 7 otherwise.",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
     .run = cmd_status},
    {.name = "ops",
     .summary = "List the long operations of every service (creates, pulls, builds, execs)",
     .description = "Asks each service for its operations (ListOperations): VM creates, starts\n"
                    "and restarts, template builds, image pulls and builds, kernel imports and\n"
                    "pulls, workspace prepares and execs, with stage, byte progress, state and\n"
                    "age. Running ones only unless --all (finished ones are kept 10 minutes).\n"
                    "A service that does not answer is reported on stderr and the exit code\n"
                    "says so; the others are still listed.",
     .flags = ops_flags,
     .n_flags = ELEMENTSOF(ops_flags),
     .run = cmd_ops_list},
    {.name = "daemon",
     .summary = "Start, stop or inspect banger's processes (user/dev mode)",
     .subs = daemon_cmds,
     .n_subs = ELEMENTSOF(daemon_cmds)},
    {.name = "kernel",
     .summary = "Import, pull, list, show and delete the kernels VMs boot",
     .subs = kernel_cmds,
     .n_subs = ELEMENTSOF(kernel_cmds)},
    {.name = "net",
     .summary = "Inspect or tear down banger's guest network (bridge, NAT, DNS, taps)",
     .subs = net_cmds,
     .n_subs = ELEMENTSOF(net_cmds)},
    {.name = "config",
     .summary = "Check the configuration file and list its keys",
     .subs = config_cmds,
     .n_subs = ELEMENTSOF(config_cmds)},
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
     .subs = system_cmds,
     .n_subs = ELEMENTSOF(system_cmds)},
    {.name = "doctor",
     .summary = "Check this host and banger's services; say how to fix what is wrong",
     .description = "Prints one row per check: PASS, WARN or FAIL, with a fix for each problem\n"
                    "(KVM, the VMMs and their versions, required tools, nftables, subnet\n"
                    "conflicts, the DNS port, resolver routing, free disk, each service's health\n"
                    "and version, and in system mode socket ownership and unit drift).\n"
                    "docs/troubleshooting.md explains every row id. Exits 5 when a row FAILs.",
     .flags = doctor_flags,
     .n_flags = ELEMENTSOF(doctor_flags),
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
                    "the old binaries are put back and started again (exit 7). In system mode\n"
                    "the installation belongs to `banger system install`: run the new release's.",
     .flags = update_flags,
     .n_flags = ELEMENTSOF(update_flags),
     .run = cmd_update},
    {.name = "version",
     .summary = "Print version, commit and build time",
     .flags = json_flag,
     .n_flags = ELEMENTSOF(json_flag),
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
    .subs = root_cmds,
    .n_subs = ELEMENTSOF(root_cmds),
};

const struct cli_cmd *cli_root(void)
{
        return &root;
}
