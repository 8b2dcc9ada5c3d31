#include "fuzz_scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];

static void scratch_remove(void)
{
        if (!scratch[0])
                return;
        DIR *d = opendir(scratch);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        rmdir(scratch);
        scratch[0] = '\0';
}

const char *fuzz_scratch_dir(void)
{
        if (scratch[0])
                return scratch;
        struct stat st;
        const char *base = getenv("TMPDIR");
        if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
                base = "/dev/shm";
        if (!base || !*base)
                base = "/tmp";
        snprintf(scratch, sizeof(scratch), "%s/banger-fuzz-XXXXXX", base);
        if (!mkdtemp(scratch)) {
                scratch[0] = '\0';
                return NULL;
        }
        atexit(scratch_remove);
        return scratch;
}

int fuzz_scratch_path(const char *name, char *buf, size_t size)
{
        const char *d = fuzz_scratch_dir();
        if (!d)
                return 0;
        int n = snprintf(buf, size, "%s/%s", d, name);
        return n > 0 && (size_t)n < size;
}

int fuzz_scratch_write(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        const char *p = data;
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int r = k < 0 ? -errno : -EIO;
                        close(fd);
                        return r;
                }
                p += k;
                len -= (size_t)k;
        }
        return close(fd) < 0 ? -errno : 0;
}
