/* The SSH files banger maintains in CONFIG/ssh so that plain `ssh NAME.vm`
 * (after `banger ssh-config --install`) and `banger vm ssh NAME` reach a VM
 * with the owner's key and the VM's pinned host key:
 *
 *   config       Host *.vm (User root, the key, banger's known_hosts,
 *                StrictHostKeyChecking yes) and one block per VM with an
 *                address (HostName IP, HostKeyAlias NAME.vm)
 *   known_hosts  "NAME.vm <type> <key>" per VM with a pinned key
 *
 * Both are rewritten whole (temp file + rename, 0600) from the VM records
 * whenever one changes, so a reader never sees half a file. */
#pragma once

#include <stddef.h>

#include "util/error.h"
#include "vm_store.h"

#define SSH_FILES_CONFIG "config"
#define SSH_FILES_KNOWN_HOSTS "known_hosts"

/* Write ssh_dir/config and ssh_dir/known_hosts for the n VMs. key_path is
 * the owner's private key. */
int ssh_files_write(const char *ssh_dir, const char *key_path, const struct vm_record *vms,
                    size_t n, struct bg_error *err);
