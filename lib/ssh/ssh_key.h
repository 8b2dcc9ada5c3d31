/* The owner's ssh key: banger's own CONFIG/ssh/id_ed25519 (made by vmsvc on
 * first use), or an existing key named by config ssh.key_path. vmsvc puts
 * its public half in every VM's authorized_keys and names it in the ssh
 * config; the CLI (vm run, vm exec, vm ssh) and workspacesvc log in with it. */
#pragma once

#include <stddef.h>

#include "util/error.h"

/* The private key's path: configured ("" = banger's own under config_dir;
 * "~/x" = x in the user's home: $HOME when absolute, else the password
 * database). */
int bg_ssh_key_path(const char *configured, const char *config_dir, char *buf, size_t len,
                    struct bg_error *err);

/* Checks a configured key the way ssh would before using it, with a message
 * naming ssh.key_path and the fix: it exists and is a regular file, belongs
 * to this user, is not readable or writable by group or others, and is a
 * private key libssh can load without a passphrase. On success
 * *ret_publine (may be NULL; caller frees) is its public key as an
 * authorized_keys line "TYPE BASE64 banger-owner\n". */
int bg_ssh_key_check(const char *path, char **ret_publine, struct bg_error *err);
