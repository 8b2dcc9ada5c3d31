#include "ssh_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"

/* "ssh-ed25519 AAAA… comment" -> the first two fields; false when the line
 * does not look like a public key. */
static bool key_fields(const char *line, char *buf, size_t len)
{
        const char *sp = strchr(line, ' ');
        if (!sp || sp == line)
                return false;
        const char *end = strchr(sp + 1, ' ');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n >= len)
                return false;
        memcpy(buf, line, n);
        buf[n] = '\0';
        size_t tlen = (size_t)(sp - line);
        bool type_ok = (strncmp(line, "ssh-", 4) == 0 || strncmp(line, "ecdsa-", 6) == 0 ||
                        strncmp(line, "sk-", 3) == 0) &&
                       strspn(buf, "abcdefghijklmnopqrstuvwxyz0123456789-@.") == tlen;
        const char *b64 = buf + tlen + 1;
        size_t blen = strlen(b64);
        return type_ok && blen > 0 &&
               strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
                   blen;
}

static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
                        struct bg_error *err)
{
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return bg_error_set(err, ENAMETOOLONG, "%s/%s: path too long", dir, name);
        return write_file_atomic(path, data, len, 0600, err);
}

int ssh_files_write(const char *ssh_dir, const char *key_path, const struct vm_record *vms,
                    size_t n, struct bg_error *err)
{
        _cleanup_free_ char *cfg = NULL, *kh = NULL;
        size_t cfg_len = 0, kh_len = 0;
        FILE *c = open_memstream(&cfg, &cfg_len);
        FILE *k = open_memstream(&kh, &kh_len);
        if (!c || !k) {
                if (c)
                        fclose(c);
                if (k)
                        fclose(k);
                return bg_error_set(err, ENOMEM, "out of memory");
        }
        fprintf(c, "# Written by banger (banger-vmsvc) from its VM records; changes are lost.\n"
                   "# `banger ssh-config --install` includes it from ~/.ssh/config.\n");
        fprintf(k, "# Written by banger: the pinned host key of each VM.\n");
        for (size_t i = 0; i < n; i++) {
                const struct vm_record *v = &vms[i];
                char key[256];
                if (v->ip[0])
                        fprintf(c, "\nHost %s.vm\n    HostName %s\n    HostKeyAlias %s.vm\n",
                                v->name, v->ip, v->name);
                if (v->host_key[0] && key_fields(v->host_key, key, sizeof(key)))
                        fprintf(k, "%s.vm %s\n", v->name, key);
        }
        /* The defaults last: ssh takes the first value it meets per option. */
        fprintf(c,
                "\nHost *.vm\n"
                "    User root\n"
                "    IdentityFile \"%s\"\n"
                "    IdentitiesOnly yes\n"
                "    UserKnownHostsFile \"%s/" SSH_FILES_KNOWN_HOSTS "\"\n"
                "    StrictHostKeyChecking yes\n"
                "    UpdateHostKeys no\n"
                "    LogLevel ERROR\n",
                key_path, ssh_dir);
        bool bad = ferror(c) || ferror(k);
        bad |= fclose(c) != 0;
        bad |= fclose(k) != 0;
        if (bad)
                return bg_error_set(err, ENOMEM, "out of memory");
        int r = write_atomic(ssh_dir, SSH_FILES_KNOWN_HOSTS, kh, kh_len, err);
        if (r >= 0)
                r = write_atomic(ssh_dir, SSH_FILES_CONFIG, cfg, cfg_len, err);
        return r;
}
