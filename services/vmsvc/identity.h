/* A VM's identity on its work disk (mounted at /root in the guest):
 *   /.ssh/authorized_keys                 the owner's public key (0700/0600, root)
 *   /.banger/ssh_host_ed25519_key{,.pub}  a per-VM sshd host key made here
 * vmsvc keeps the public half so clients pin it: no trust on first use. The
 * guest agent points sshd at /root/.banger/ssh_host_ed25519_key at boot. */
#pragma once

#include <stddef.h>
#include "util/error.h"

#define IDENTITY_PUBKEY_MAX 256

struct vm_host_key {
        char *private_openssh; /* "-----BEGIN OPENSSH PRIVATE KEY-----…" (malloc'ed) */
        char public_line[IDENTITY_PUBKEY_MAX]; /* "ssh-ed25519 AAAA… banger-host-NAME" */
};

/* A fresh ed25519 host key for VM name. */
int identity_host_key_new(const char *vm_name, struct vm_host_key *ret, struct bg_error *err);
void identity_host_key_done(struct vm_host_key *k);

/* Writes the identity files into the ext4 work disk image at work_img.
 * authorized_keys is the file's whole content (one or more key lines). */
int identity_write_work_disk(const char *work_img, const char *authorized_keys,
                             const struct vm_host_key *k, struct bg_error *err);
