/* Replay driver for the fuzz harnesses in a build without libFuzzer: runs
 * LLVMFuzzerTestOneInput once over every file of each directory given.
 *
 *   fuzz_replay_NAME CORPUS_DIR [REGRESS_DIR...]
 *
 * The first directory (the seed corpus) must exist and hold at least one
 * file: a target whose seeds went missing fails instead of passing on
 * nothing. The others (crash regressions) may be absent. Each input is
 * copied into a buffer of exactly its size, so an over-read is caught by
 * ASan in the sanitizer build. The file's name is printed before it runs, so
 * a crash names its input. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

extern int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int read_all(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EINVAL;
        }
        size_t len = (size_t)st.st_size;
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EIO;
                        free(buf);
                        close(fd);
                        return r;
                }
                got += (size_t)n;
        }
        close(fd);
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

static int filter_visible(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

/* Runs the harness over dir's files; returns how many, or -1 on an error. */
static int replay_dir(const char *dir, int required)
{
        struct dirent **names = NULL;
        int n = scandir(dir, &names, filter_visible, alphasort);
        if (n < 0) {
                if (errno == ENOENT && !required)
                        return 0;
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -1;
        }
        int count = 0, bad = 0;
        for (int i = 0; i < n; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                uint8_t *buf = NULL;
                size_t len = 0;
                int r = read_all(path, &buf, &len);
                if (r < 0) {
                        fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
                        bad = 1;
                } else {
                        printf("replay: %s (%zu bytes)\n", path, len);
                        fflush(stdout);
                        LLVMFuzzerTestOneInput(buf, len);
                        free(buf);
                        count++;
                }
                free(names[i]);
        }
        free(names);
        if (bad)
                return -1;
        if (required && count == 0) {
                fprintf(stderr, "replay: %s: no inputs (a target needs seeds)\n", dir);
                return -1;
        }
        return count;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR [REGRESS_DIR...]\n", argv[0]);
                return 2;
        }
        if (LLVMFuzzerInitialize) {
                int init_argc = argc; /* the harness may rewrite its copy */
                char **init_argv = argv;
                LLVMFuzzerInitialize(&init_argc, &init_argv);
        }
        int total = 0;
        for (int i = 1; i < argc; i++) {
                int n = replay_dir(argv[i], i == 1);
                if (n < 0)
                        return 1;
                total += n;
        }
        printf("replay: %d inputs ran clean\n", total);
        return 0;
}
