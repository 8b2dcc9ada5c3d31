#include "identity.h"

#include <errno.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ext4/ext4.h"
#include "util/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ssh_key, ssh_key_free)

int identity_host_key_new(const char *vm_name, struct vm_host_key *ret, struct bg_error *err)
{
        _cleanup_(ssh_key_freep) ssh_key key = NULL;
        _cleanup_(ssh_key_freep) ssh_key pub = NULL;
        char *b64 = NULL, *priv = NULL;

        if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
                return bg_error_set(err, EIO, "generate an ed25519 host key (libssh)");
        /* NULL passphrase: the key protects the guest's sshd, which must read
         * it unattended; it only ever lives on the VM's own work disk. */
        if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK)
                return bg_error_set(err, EIO, "export the host key (libssh)");
        if (ssh_pki_export_privkey_to_pubkey(key, &pub) != SSH_OK ||
            ssh_pki_export_pubkey_base64(pub, &b64) != SSH_OK) {
                ssh_string_free_char(priv);
                return bg_error_set(err, EIO, "export the host public key (libssh)");
        }
        memset(ret, 0, sizeof(*ret));
        ret->private_openssh = strdup(priv);
        ssh_string_free_char(priv);
        snprintf(ret->public_line, sizeof(ret->public_line), "ssh-ed25519 %s banger-host-%s", b64,
                 vm_name);
        ssh_string_free_char(b64);
        if (!ret->private_openssh)
                return bg_error_set(err, ENOMEM, "out of memory");
        return 0;
}

void identity_host_key_done(struct vm_host_key *k)
{
        if (!k)
                return;
        if (k->private_openssh) {
                explicit_bzero(k->private_openssh, strlen(k->private_openssh));
                free(k->private_openssh);
        }
        k->private_openssh = NULL;
}

int identity_write_work_disk(const char *work_img, const char *authorized_keys,
                             const struct vm_host_key *k, struct bg_error *err)
{
        struct ext4_fs *fs = NULL;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct ext4_meta dir700 = {
            .mode = S_IFDIR | 0700, .atime = now, .mtime = now, .ctime = now};
        struct ext4_meta file600 = {
            .mode = S_IFREG | 0600, .atime = now, .mtime = now, .ctime = now};
        struct ext4_meta file644 = {
            .mode = S_IFREG | 0644, .atime = now, .mtime = now, .ctime = now};
        char pubfile[IDENTITY_PUBKEY_MAX + 2];
        int r;

        r = ext4_open(work_img, &fs, err);
        if (r < 0)
                return r;
        if ((r = ext4_mkdir(fs, "/.ssh", &dir700, err)) < 0 ||
            (r = ext4_write_file(fs, "/.ssh/authorized_keys", &file600, authorized_keys,
                                 strlen(authorized_keys), err)) < 0 ||
            (r = ext4_mkdir(fs, "/.banger", &dir700, err)) < 0 ||
            (r = ext4_write_file(fs, "/.banger/ssh_host_ed25519_key", &file600, k->private_openssh,
                                 strlen(k->private_openssh), err)) < 0)
                goto fail;
        snprintf(pubfile, sizeof(pubfile), "%s\n", k->public_line);
        r = ext4_write_file(fs, "/.banger/ssh_host_ed25519_key.pub", &file644, pubfile,
                            strlen(pubfile), err);
        if (r < 0)
                goto fail;
        return ext4_close(fs, err);
fail:
        ext4_free(fs);
        return bg_error_prefix(err, "write VM identity to %s", work_img);
}
