/* The tables of banger image, kernel and template: what VMs are made of
 * (cmd_table.h). */
#include "cmd_kernel.h"
#include "cmd_table.h"

#include "util/macro.h"

static const struct cli_flag list_flags[] = {
    CLI_FLAGS_LIST,
};

static const struct cli_flag template_list_flags[] = {
    CLI_FLAGS_LIST,
    {"state", 0, "STATE", "only templates in this state (building, ready, error)"},
    {"image", 0, "IMAGE", "only templates of this image"},
};

static const struct cli_flag kernel_import_flags[] = {
    {"name", 0, "NAME", "name to keep it under (default: the kernel release it reports)"},
    {"initrd", 0, "FILE", "an initrd to keep with the kernel"},
    {"modules", 0, "DIR",
     "its /lib/modules/<release> tree (becomes modules.ext4 and feeds "
     "the initramfs)"},
    CLI_FLAG_JSON("print the imported kernel as JSON"),
};

static const struct cli_flag kernel_pull_flags[] = {
    {"catalog", 0, "URL",
     "a JSON catalog (http(s)://, file:// or a local path) instead of "
     "the Debian one"},
    CLI_FLAG_JSON("print the pulled kernel as JSON"),
};

static const struct cli_flag kernel_catalog_flags[] = {
    {"refresh", 0, NULL, "read the mirror again instead of the answer kept for 10 minutes"},
    CLI_FLAG_JSON("print {origin, fetched_unix_ms, entries: [...]} as JSON"),
};

static const struct cli_flag kernel_ops_flags[] = {
    {"all", 0, NULL, "include operations that finished (kept for 10 minutes)"},
    CLI_FLAG_JSON_TABLE,
};

const struct cli_cmd cli_kernel_cmds[] = {
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
     CLI_FLAGS(kernel_import_flags),
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
     CLI_FLAGS(kernel_pull_flags),
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
     CLI_FLAGS(kernel_catalog_flags),
     .run = cmd_kernel_catalog},
    {.name = "list",
     .summary = "List the kernels banger has",
     .description =
         "Columns NAME, VERSION, FORMAT, SIZE, MODULES, CREATED. --format fields: name,\n"
         "version, format, compression, size, modules, created, sha256, source, dir.\n"
         "-q prints names only.",
     CLI_FLAGS(list_flags),
     .run = cmd_kernel_list},
    {.name = "show",
     .args = "NAME",
     .summary = "Show a kernel: version, checksums, artifacts, initramfs modules",
     CLI_FLAGS(cli_json_flag),
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
     CLI_FLAGS(kernel_ops_flags),
     .run = cmd_kernel_ops},
};
CLI_TABLE_LENGTH(cli_kernel_cmds, CLI_N_KERNEL_CMDS);

static const struct cli_flag image_build_flags[] = {
    {"suite", 0, "SUITE", "Debian suite (default bookworm)"},
    {"packages", 0, "LIST",
     "comma-separated packages (default: systemd-sysv, openssh-server, "
     "git, ca-certificates, curl, iproute2, procps, less, udev, rsync)"},
    {"mirror", 0, "URL",
     "Debian mirror (default: config kernel.debian_mirror, else this "
     "host's apt sources)"},
    CLI_FLAG_JSON("print the image as JSON when it is built"),
};

static const struct cli_flag image_pull_flags[] = {
    {"name", 0, "NAME", "image name (default: repository-tag, e.g. debian-bookworm)"},
    {"platform", 0, "PLATFORM", "os/arch[/variant] of a multi-arch image (default linux/amd64)"},
    {"size", 0, "SIZE", "root disk size, e.g. 4G (default: content + 256 MiB)"},
    {"catalog", 0, NULL, "REF is an entry of the image catalog (banger image catalog)"},
    {"catalog-url", 0, "URL", "with --catalog: an http(s):// catalog instead of config"},
    CLI_FLAG_JSON("print the image as JSON when it is pulled"),
};

static const struct cli_flag image_prune_flags[] = {
    {"dry-run", 0, NULL, "only say how many blobs and bytes would be removed"},
    CLI_FLAG_JSON("print {blobs, bytes, dry_run} as JSON"),
};

static const struct cli_cmd image_cache_cmds[] = {
    {.name = "prune",
     .summary = "Remove the cached registry blobs",
     .description = "Removes the layers and configs kept in CACHE_DIR/oci from earlier pulls\n"
                    "(pulled images do not need them; a later pull downloads them again).\n"
                    "Refused while a pull is running.",
     CLI_FLAGS(image_prune_flags),
     .run = cmd_image_cache_prune},
};

#include "image_bundle_cmds.h"

const struct cli_cmd cli_image_cmds[] = {
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
         "Progress is shown per layer; Ctrl-C cancels and removes partial files.\n"
         "With --catalog, REF names an entry of the image catalog (config\n"
         "image.catalog_url): its bundle is downloaded, checked against the catalog's\n"
         "sha256 and imported as banger image import does (under --name or REF).",
     CLI_FLAGS(image_pull_flags),
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
     CLI_FLAGS(image_build_flags),
     .run = cmd_image_build,
     .max_args = 1},
    {.name = "list",
     .summary = "List images",
     .description = "Columns NAME, SIZE, INIT, SSHD, REF. --format fields: name, size (on disk),\n"
                    "capacity, init, sshd, ref, digest, created, rootfs. -q prints names only.",
     CLI_FLAGS(list_flags),
     .run = cmd_image_list},
    {.name = "show",
     .args = "NAME",
     .summary = "Show an image: size, whether it has an init and sshd, its files",
     CLI_FLAGS(cli_json_flag),
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
    {.name = "cache", .summary = "Manage the registry blob cache", CLI_SUBS(image_cache_cmds)},
    CLI_IMAGE_BUNDLE_CMDS,
};
CLI_TABLE_LENGTH(cli_image_cmds, CLI_N_IMAGE_CMDS);

static const struct cli_flag template_create_flags[] = {
    CLI_FLAG_IMAGE_OR_REF(""),
    CLI_FLAG_KERNEL_DEFAULT,
    {"vcpu", 0, "N", "virtual CPUs of its clones, 1-32 (default: config vm.vcpu)"},
    {"mem", 0, "MIB", "memory of its clones in MiB (default: config vm.memory_mib)"},
    {"from", 0, "VM", "make it from this stopped VM's disks (and its image, kernel, size)"},
    CLI_FLAG_JSON("print the template as JSON when it is ready"),
};

const struct cli_cmd cli_template_cmds[] = {
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
     CLI_FLAGS(template_create_flags),
     .run = cmd_template_create,
     .min_args = 1,
     .max_args = 1},
    {.name = "list",
     .summary = "List templates: state, what they are made of, size, clones",
     .description = "Columns NAME, STATE, IMAGE, VCPU, MEM, RAM FILE, CLONES. --format fields:\n"
                    "name, id, state, image, kernel, vcpu, mem, ram_file, disk, clones, vmm,\n"
                    "auto, source_vm. -q prints names only; --state and --image filter.",
     CLI_FLAGS(template_list_flags),
     .run = cmd_template_list},
    {.name = "show",
     .args = "TEMPLATE",
     .summary = "Show one template",
     CLI_FLAGS(cli_json_flag),
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
CLI_TABLE_LENGTH(cli_template_cmds, CLI_N_TEMPLATE_CMDS);
