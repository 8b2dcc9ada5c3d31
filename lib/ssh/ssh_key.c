#include "ssh_key.h"

#include <errno.h>
#include <libssh/libssh.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bg_ssh_key_path(const char *configured, const char *config_dir, char *buf, size_t len,
                    struct bg_error *err)
{
        int n;
        if (!configured || !configured[0]) {
                n = snprintf(buf, len, "%s/ssh/id_ed25519", config_dir);
        } else if (configured[0] == '~' && configured[1] == '/') {
                const char *home = getenv("HOME");
                if (!home || home[0] != '/') {
                        struct passwd *pw = getpwuid(geteuid());
                        home = pw ? pw->pw_dir : NULL;
                }
                if (!home || home[0] != '/')
                        return bg_error_set(err, ENOENT,
                                            "ssh.key_path %s: no home directory to expand ~ in",
                                            configured);
                n = snprintf(buf, len, "%s/%s", home, configured + 2);
        } else {
                n = snprintf(buf, len, "%s", configured);
        }
        if (n < 0 || (size_t)n >= len)
                return bg_error_set(err, ENAMETOOLONG, "ssh key path is too long");
        return 0;
}

int bg_ssh_key_check(const char *path, char **ret_publine, struct bg_error *err)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return bg_error_errno(err, -errno,
                                      "ssh.key_path %s: cannot use it (make the key, or set "
                                      "ssh.key_path = \"\" for banger's own)",
                                      path);
        if (!S_ISREG(st.st_mode))
                return bg_error_set(err, EINVAL, "ssh.key_path %s is not a regular file", path);
        if (st.st_uid != geteuid())
                return bg_error_set(err, EPERM,
                                    "ssh.key_path %s belongs to uid %u, not to you (uid %u); ssh "
                                    "refuses such keys too",
                                    path, (unsigned)st.st_uid, (unsigned)geteuid());
        if (st.st_mode & 077)
                return bg_error_set(err, EPERM,
                                    "ssh.key_path %s is open to others (mode %04o); ssh refuses "
                                    "such keys: chmod 600 %s",
                                    path, (unsigned)(st.st_mode & 07777), path);
        ssh_key key = NULL;
        if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK || !key)
                return bg_error_set(err, EINVAL,
                                    "ssh.key_path %s is not a private key banger can load (an "
                                    "OpenSSH or PEM private key without a passphrase; is it the "
                                    ".pub file, or passphrase-protected?)",
                                    path);
        if (!ssh_key_is_private(key)) {
                ssh_key_free(key);
                return bg_error_set(err, EINVAL, "ssh.key_path %s is not a private key", path);
        }
        int r = 0;
        if (ret_publine) {
                char *b64 = NULL;
                const char *type = ssh_key_type_to_char(ssh_key_type(key));
                if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || !type)
                        r = bg_error_set(err, EINVAL,
                                         "ssh.key_path %s: cannot derive its public key", path);
                else if (asprintf(ret_publine, "%s %s banger-owner\n", type, b64) < 0)
                        r = bg_error_set(err, ENOMEM, "out of memory");
                ssh_string_free_char(b64);
        }
        ssh_key_free(key);
        return r;
}
