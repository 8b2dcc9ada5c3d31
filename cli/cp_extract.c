#include "cp_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "term.h"
#include "util/macro.h"

int cp_entry_name(const char *name, const char *base, const char *newbase, char *out, size_t len,
                  struct bg_error *err)
{
        const char *p = name;
        if (p[0] == '/')
                return bg_error_set(err, EPERM, "the VM sent an absolute name '%s'",
                                    cli_safe(name));
        while (p[0] == '.' && p[1] == '/')
                p += 2;
        while (*p == '/')
                p++;
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                n--;
        if (n == 0)
                return bg_error_set(err, EPERM, "the VM sent an entry without a name");
        /* Every component: not empty (a//b), not '.', not '..'. */
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && p[j] != '/')
                        j++;
                size_t cl = j - i;
                if (cl == 0 || (cl == 1 && p[i] == '.') ||
                    (cl == 2 && p[i] == '.' && p[i + 1] == '.'))
                        return bg_error_set(
                            err, EPERM, "the VM sent a name with '%.*s' in it: '%s'",
                            cl == 0 ? 2 : (int)cl, cl == 0 ? "//" : p + i, cli_safe(name));
                i = j + 1;
        }
        size_t bl = strlen(base);
        if (n < bl || strncmp(p, base, bl) != 0 || (n > bl && p[bl] != '/'))
                return bg_error_set(err, EPERM, "the VM sent '%s', which is not under '%s'",
                                    cli_safe(name), cli_safe(base));
        int w = snprintf(out, len, "%s%.*s", newbase, (int)(n - bl), p + bl);
        if (w < 0 || (size_t)w >= len)
                return bg_error_set(err, ENAMETOOLONG, "the VM sent a name that is too long");
        return 0;
}

static int arch_fail(struct archive *a, struct bg_error *err, const char *what)
{
        int e = archive_errno(a);
        return bg_error_set(err, e > 0 ? e : EIO, "%s: %s", what,
                            cli_safe(archive_error_string(a) ? archive_error_string(a) : "error"));
}

static int extract(struct archive *in, struct archive *out, const char *base, const char *newbase,
                   uint64_t max_bytes, uint64_t max_entries, struct cp_extract_stats *st,
                   struct bg_error *err)
{
        bool seen = false;
        for (;;) {
                struct archive_entry *e;
                int r = archive_read_next_header(in, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return arch_fail(in, err, "read the VM's tar stream");
                if (++st->entries > max_entries)
                        return bg_error_set(err, EFBIG, "the VM sent more than %llu entries",
                                            (unsigned long long)max_entries);
                const char *name = archive_entry_pathname(e);
                if (!name)
                        return bg_error_set(err, EPERM, "the VM sent an entry without a name");
                char rel[4096];
                if ((r = cp_entry_name(name, base, newbase, rel, sizeof(rel), err)) < 0)
                        return r;
                if (archive_entry_hardlink(e))
                        return bg_error_set(err, EPERM, "the VM sent a hard link '%s'; refused",
                                            cli_safe(name));
                mode_t type = archive_entry_filetype(e);
                if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
                        return bg_error_set(err, EPERM,
                                            "the VM sent '%s', which is not a file, directory "
                                            "or symlink; refused",
                                            cli_safe(name));
                int64_t size = archive_entry_size(e);
                if (size < 0 || (uint64_t)size > max_bytes - st->bytes)
                        return bg_error_set(err, EFBIG, "the copy exceeds %llu bytes",
                                            (unsigned long long)max_bytes);
                archive_entry_set_pathname(e, rel);
                archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
                /* Owner: ours (no ARCHIVE_EXTRACT_OWNER). */
                r = archive_write_header(out, e);
                if (r < ARCHIVE_WARN)
                        return arch_fail(out, err, rel);
                seen |= strncmp(rel, newbase, strlen(newbase)) == 0;
                if (type == AE_IFREG) {
                        const void *buf;
                        size_t n;
                        int64_t off;
                        for (;;) {
                                r = archive_read_data_block(in, &buf, &n, &off);
                                if (r == ARCHIVE_EOF)
                                        break;
                                if (r < ARCHIVE_WARN)
                                        return arch_fail(in, err, "read the VM's tar stream");
                                if (n > max_bytes - st->bytes)
                                        return bg_error_set(err, EFBIG,
                                                            "the copy exceeds %llu bytes",
                                                            (unsigned long long)max_bytes);
                                if (archive_write_data_block(out, buf, n, off) < ARCHIVE_WARN)
                                        return arch_fail(out, err, rel);
                                st->bytes += n;
                        }
                }
                if (archive_write_finish_entry(out) < ARCHIVE_WARN)
                        return arch_fail(out, err, rel);
        }
        if (!seen)
                return bg_error_set(err, ENOENT, "the VM sent nothing named '%s'", cli_safe(base));
        return 0;
}

int cp_extract_fd(int fd, const char *dir, const char *base, const char *newbase,
                  uint64_t max_bytes, uint64_t max_entries, struct cp_extract_stats *stats,
                  struct bg_error *err)
{
        *stats = (struct cp_extract_stats){0};
        if (!base[0] || strchr(base, '/') || streq(base, "..") || streq(base, ".") || !newbase[0] ||
            strchr(newbase, '/') || streq(newbase, "..") || streq(newbase, "."))
                return bg_error_set(err, EINVAL, "bad copy name");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return bg_error_errno(err, -errno, "open %s", dir);
        int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (here < 0) {
                int e = errno;
                close(dfd);
                return bg_error_errno(err, -e, "open the current directory");
        }
        /* libarchive writes relative to the working directory: entering dir
         * by descriptor means no symlink on its path matters afterwards. */
        if (fchdir(dfd) < 0) {
                int e = errno;
                close(dfd);
                close(here);
                return bg_error_errno(err, -e, "enter %s", dir);
        }
        close(dfd);
        struct archive *in = archive_read_new();
        struct archive *out = archive_write_disk_new();
        int r;
        if (!in || !out) {
                r = bg_error_set(err, ENOMEM, "out of memory");
                goto done;
        }
        archive_read_support_format_tar(in);
        archive_read_support_format_gnutar(in);
        archive_write_disk_set_options(
            out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                     ARCHIVE_EXTRACT_UNLINK);
        if (archive_read_open_fd(in, fd, 64 * 1024) != ARCHIVE_OK) {
                r = arch_fail(in, err, "read the VM's tar stream");
                goto done;
        }
        r = extract(in, out, base, newbase, max_bytes, max_entries, stats, err);
        /* Directory modes and times are set when the writer closes. */
        if (archive_write_close(out) != ARCHIVE_OK && r == 0)
                r = arch_fail(out, err, "finish the copy");
done:
        if (in)
                archive_read_free(in);
        if (out)
                archive_write_free(out);
        if (fchdir(here) < 0 && r == 0)
                r = bg_error_errno(err, -errno, "return to the working directory");
        close(here);
        return r;
}
