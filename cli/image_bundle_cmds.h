/* The `banger image` commands of cmd_image_bundle.c as entries of
 * commands_image.c's cli_image_cmds table (included there only, so that the command
 * tree stays one table while these commands live in their own files). */
#pragma once

#include "cmd_image_bundle.h"

static const struct cli_flag image_promote_flags[] = {
    {"json", 0, NULL, "print the image as JSON when it is made"},
};

static const struct cli_flag image_register_flags[] = {
    {"rootfs", 0, "FILE", "the ext4 file system to copy in (required)"},
    {"kernel", 0, "KERNEL", "a kernel here that goes with the image (kept with it, exported)"},
    {"json", 0, NULL, "print the image as JSON when it is registered"},
};

static const struct cli_flag image_export_flags[] = {
    {"output", 'o', "FILE", "where to write the bundle (FILE.tar.zst; required)"},
    {"force", 0, NULL, "replace FILE when it exists"},
    {"json", 0, NULL, "print {name, file, size, sha256} as JSON"},
};

static const struct cli_flag image_import_flags[] = {
    {"name", 0, "NAME", "image name (default: the name in the bundle)"},
    {"json", 0, NULL, "print the image as JSON when it is imported"},
};

static const struct cli_flag image_catalog_flags[] = {
    {"catalog-url", 0, "URL", "an http(s):// catalog instead of config image.catalog_url"},
    {"json", 0, NULL, "print the entries as JSON: [{name, url, sha256, size, description}]"},
};

#define CLI_IMAGE_BUNDLE_CMDS                                                                      \
        {.name = "promote",                                                                        \
         .args = "VM NAME",                                                                        \
         .summary = "Make a stopped VM's root disk an image",                                      \
         .description =                                                                            \
             "Copies the root disk of VM (stopped, or made with vm create --no-start) into a\n"    \
             "new image NAME: a reflink where the file system can, else a sparse copy (a\n"        \
             "QEMU qcow2 overlay is flattened with qemu-img). The VM keeps its disk and\n"         \
             "works as before. A running VM is refused: stop it first. The guest agent and\n"      \
             "units are refreshed and the ssh host keys removed, as for a pull; the VM's\n"        \
             "kernel is kept with the image. Progress is shown; Ctrl-C cancels.",                  \
         .flags = image_promote_flags,                                                             \
         .n_flags = ELEMENTSOF(image_promote_flags),                                               \
         .run = cmd_image_promote,                                                                 \
         .min_args = 2,                                                                            \
         .max_args = 2,                                                                            \
         .complete = CLI_COMPLETE_VM},                                                             \
            {.name = "register",                                                                   \
             .args = "NAME",                                                                       \
             .summary = "Make an existing ext4 file an image",                                     \
             .description =                                                                        \
                 "Reads FILE (--rootfs, as you: banger's services never open it) and streams\n"    \
                 "it into imagesvc, holes skipped; imagesvc checks it is an ext4 file system\n"    \
                 "no larger than config image.max_unpacked_size, installs the guest agent\n"       \
                 "and units, removes the ssh host keys and publishes it as NAME. The file\n"       \
                 "is copied: later changes to FILE do not reach the image.",                       \
             .flags = image_register_flags,                                                        \
             .n_flags = ELEMENTSOF(image_register_flags),                                          \
             .run = cmd_image_register,                                                            \
             .min_args = 1,                                                                        \
             .max_args = 1},                                                                       \
            {.name = "export",                                                                     \
             .args = "NAME",                                                                       \
             .summary = "Write an image as a bundle (tar + zstd with a manifest)",                 \
             .description =                                                                        \
                 "Writes NAME to -o FILE.tar.zst: a zstd-compressed tar holding\n"                 \
                 "manifest.json (name, format version, files with sizes and sha256, the\n"         \
                 "image's kernel if any) and rootfs.ext4. The bundle is made by imagesvc and\n"    \
                 "fetched by this command (checked against its sha256), so FILE is yours.\n"       \
                 "docs/images.md describes the format. banger image import reads it back.",        \
             .flags = image_export_flags,                                                          \
             .n_flags = ELEMENTSOF(image_export_flags),                                            \
             .run = cmd_image_export,                                                              \
             .min_args = 1,                                                                        \
             .max_args = 1,                                                                        \
             .complete = CLI_COMPLETE_IMAGE},                                                      \
            {.name = "import",                                                                     \
             .args = "FILE",                                                                       \
             .summary = "Make an image from a bundle written by image export",                     \
             .description =                                                                        \
                 "Streams FILE into imagesvc, which checks every entry against the manifest:\n"    \
                 "regular files only, no paths outside the bundle, no extra or missing files,\n"   \
                 "each size and sha256 as declared, the sizes within config\n"                     \
                 "image.max_unpacked_size before anything is unpacked. A failure or Ctrl-C\n"      \
                 "leaves no file and no image behind.",                                            \
             .flags = image_import_flags,                                                          \
             .n_flags = ELEMENTSOF(image_import_flags),                                            \
             .run = cmd_image_import,                                                              \
             .min_args = 1,                                                                        \
             .max_args = 1},                                                                       \
            {.name = "catalog",                                                                    \
             .args = "[list]",                                                                     \
             .summary = "List the images of the image catalog",                                    \
             .description =                                                                        \
                 "The catalog (config image.catalog_url, or --catalog-url) is a JSON list of\n"    \
                 "bundles: [{\"name\", \"url\", \"sha256\", \"size\", \"description\"}] (or\n"      \
                 "{\"images\": [...]}). banger image pull --catalog NAME downloads an entry,\n"    \
                 "checks its sha256 and imports it.",                                              \
             .flags = image_catalog_flags,                                                         \
             .n_flags = ELEMENTSOF(image_catalog_flags),                                           \
             .run = cmd_image_catalog,                                                             \
             .max_args = 1}
