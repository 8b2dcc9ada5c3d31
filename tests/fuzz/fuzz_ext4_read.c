/* Fuzz target "ext4_read": lib/ext4 over images a guest wrote. A VM's work
 * disk is the guest's to write; workspacesvc (services/workspacesvc/
 * ws_disk.c) and vmsvc (identity.c) open it with ext4_open before the next
 * boot, read /root/.gitconfig, and add files, directories and symlinks, then
 * write the metadata back with ext4_close. This harness does the same on a
 * corrupted image, and also walks it with the read side (ext4_readdir,
 * ext4_lookup, ext4_read_file, ext4_readlink, ext4_usage).
 *
 * Input: one flags byte (bit 0: write as workspacesvc does, then
 * ext4_close; bit 1: walk and read everything), then records
 * [u32 LE offset][u16 LE length][bytes] patched into a zero-filled sparse
 * image of FUZZ_IMAGE bytes (tests/fuzz/gen_oci_seeds.py turns mkfs.ext4
 * images into this form: only their non-zero runs are stored).
 *
 * Checks beyond "no crash": a failure is -errno with a message; a listed
 * name is one path component; what ext4_read_file returns has the size
 * ext4_lookup gave and never more than EXT4_READ_FILE_MAX. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext4.h"
#include "check.h"
#include "fuzz.h"
#include "fuzz_scratch.h"

#define FUZZ_IMAGE (64ull << 20)
#define WALK_MAX_ENTRIES 2000
#define WALK_MAX_DEPTH 64

static void check_failure(int r, const struct bg_error *err)
{
        CHECK(r < 0);
        CHECK(r == -ENOMEM || err->msg[0]);
}

struct walk {
        struct ext4_fs *fs;
        unsigned entries;
        int depth;
        char path[WALK_MAX_DEPTH * 260 + 16];
};

static int walk_entry(void *ud, const char *name, const struct ext4_stat *st)
{
        struct walk *w = ud;
        CHECK(name && !strchr(name, '/'));
        if (++w->entries > WALK_MAX_ENTRIES)
                return -E2BIG;
        /* A corrupted directory may hold "", "." or ".." names: not walked. */
        if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return 0;
        size_t len = strlen(w->path);
        if ((size_t)snprintf(w->path + len, sizeof(w->path) - len, "/%s", name) >=
            sizeof(w->path) - len) {
                w->path[len] = '\0';
                return 0;
        }
        struct bg_error err = {0};
        int r = 0;
        if (S_ISDIR(st->mode) && w->depth < WALK_MAX_DEPTH) {
                w->depth++;
                r = ext4_readdir(w->fs, w->path, walk_entry, w, &err);
                w->depth--;
                if (r < 0 && r != -E2BIG)
                        check_failure(r, &err);
        } else if (S_ISREG(st->mode)) {
                void *buf = NULL;
                size_t got = 0;
                r = ext4_read_file(w->fs, w->path, &buf, &got, &err);
                if (r < 0)
                        check_failure(r, &err);
                else {
                        CHECK(got <= EXT4_READ_FILE_MAX && got == st->size);
                        free(buf);
                }
        } else if (S_ISLNK(st->mode)) {
                char *target = NULL;
                r = ext4_readlink(w->fs, w->path, &target, &err);
                if (r < 0)
                        check_failure(r, &err);
                else
                        free(target);
        }
        w->path[len] = '\0';
        return r == -E2BIG ? r : 0;
}

/* What workspacesvc and vmsvc write onto a work disk. */
static void write_like_workspacesvc(struct ext4_fs *fs)
{
        static char chunk[10000];
        struct ext4_meta dir = {.mode = S_IFDIR | 0700, .mtime = {1700000000, 0}};
        struct ext4_meta file = {.mode = S_IFREG | 0600, .mtime = {1700000000, 0}};
        struct ext4_meta link = {.mode = S_IFLNK | 0777};
        struct bg_error err = {0};
        memset(chunk, 'a', 4096);
        (void)ext4_mkdir(fs, "/.ssh", &dir, &err);
        (void)ext4_write_file(fs, "/.ssh/authorized_keys", &file, "ssh-ed25519 AAAA k\n", 19, &err);
        (void)ext4_mkdir(fs, "/.banger", &dir, &err);
        (void)ext4_write_file(fs, "/.banger/ssh_host_ed25519_key", &file, chunk, 400, &err);
        (void)ext4_mkdir_p(fs, "/repo/sub", &dir, &err);
        (void)ext4_mkdir(fs, "/repo", &dir, &err);
        struct ext4_file *f = NULL;
        if (ext4_file_create(fs, "/repo/sub/stream", &file, &f, &err) >= 0) {
                int r = 0;
                for (int i = 0; r >= 0 && i < 3; i++)
                        r = ext4_file_write(f, chunk, sizeof(chunk), &err);
                (void)ext4_file_close(f, &err);
        }
        (void)ext4_symlink(fs, "/repo/link", "sub/stream", &link, &err);
        (void)ext4_symlink(fs, "/repo/slow", "/very/long/target/that/does/not/fit/in/the/inode/x",
                           &link, &err);
        (void)ext4_write_file(fs, "/.gitconfig", &file, "[user]\n\tname = x\n", 17, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        char img[512];
        if (!fuzz_scratch_path("work.ext4", img, sizeof(img)))
                abort();
        int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK(ftruncate(fd, (off_t)FUZZ_IMAGE) == 0);
        const uint8_t *p = data + 1, *end = data + size;
        while (end - p >= 6) {
                uint32_t off = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 24;
                size_t len = (size_t)p[4] | (size_t)p[5] << 8;
                p += 6;
                if (len > (size_t)(end - p))
                        len = (size_t)(end - p);
                if ((uint64_t)off + len <= FUZZ_IMAGE)
                        CHECK(pwrite(fd, p, len, off) == (ssize_t)len);
                p += len;
        }
        close(fd);

        struct ext4_fs *fs = NULL;
        struct bg_error err = {0};
        int r = ext4_open(img, &fs, &err);
        if (r < 0) {
                check_failure(r, &err);
                if (getenv("BANGER_FUZZ_VERBOSE"))
                        fprintf(stderr, "ext4_read: %s\n", err.msg);
                unlink(img);
                return 0;
        }
        struct ext4_usage u;
        ext4_usage(fs, &u);
        /* As workspacesvc reads the owner's git identity block. */
        void *git = NULL;
        size_t git_len = 0;
        r = ext4_read_file(fs, "/.gitconfig", &git, &git_len, &err);
        if (r < 0)
                check_failure(r, &err);
        else {
                CHECK(git_len <= EXT4_READ_FILE_MAX && ((char *)git)[git_len] == '\0');
                free(git);
        }
        if (data[0] & 2) {
                struct walk w = {.fs = fs};
                struct bg_error werr = {0};
                r = ext4_readdir(fs, "/", walk_entry, &w, &werr);
                if (r < 0 && r != -E2BIG)
                        check_failure(r, &werr);
                if (getenv("BANGER_FUZZ_VERBOSE"))
                        fprintf(stderr, "ext4_read: walked %u entries\n", w.entries);
        }
        if (data[0] & 1) {
                write_like_workspacesvc(fs);
                struct bg_error cerr = {0};
                r = ext4_close(fs, &cerr);
                if (r < 0)
                        check_failure(r, &cerr);
        } else
                ext4_free(fs);
        unlink(img);
        return 0;
}
