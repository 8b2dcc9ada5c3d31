/* Filesystem helpers shared by the services. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"

static int rm_at(int dfd, const char *name, int depth, struct bg_error *err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT
                           ? 0
                           : bg_error_set(err, errno, "stat %s: %s", name, strerror(errno));
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                        return bg_error_set(err, errno, "remove %s: %s", name, strerror(errno));
                return 0;
        }
        if (depth > 64)
                return bg_error_set(err, ELOOP, "remove %s: tree too deep", name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return bg_error_set(err, errno, "open %s: %s", name, strerror(errno));
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return bg_error_set(err, errno, "open %s: %s", name, strerror(errno));
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = rm_at(dirfd(d), de->d_name, depth + 1, err);
        closedir(d);
        if (r < 0)
                return r;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return bg_error_set(err, errno, "remove %s: %s", name, strerror(errno));
        return 0;
}

int rm_rf(const char *path, struct bg_error *err)
{
        return rm_at(AT_FDCWD, path, 0, err);
}
