/* workspacesvc's host side: guest path rules, the repository walk (what git
 * would copy, parents first), and what goes onto a work disk (file_sync,
 * git identity, an offline workspace) in a real ext4 image; lib/ssh's shell
 * quoting checked against /bin/sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ext4/ext4.h"
#include "ssh/ssh.h"
#include "util/run.h"
#include "ws_disk.h"
#include "ws_exec.h"
#include "ws_repo.h"
#include "test_tmpdir.h"

static char tmp[64];

static void sh(const char *fmt, ...)
{
        char cmd[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
        (void)state;
        snprintf(tmp, sizeof(tmp), "/tmp/bg-ws-XXXXXX");
        assert_non_null(mkdtemp(tmp));
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return test_tmpdir_remove(tmp);
}

static void test_guest_rel(void **state)
{
        (void)state;
        char out[256];
        struct {
                const char *in, *want; /* want NULL = refused */
        } m[] = {
            {"~/a/b", "a/b"},         {"/root/a//b/", "a/b"}, {"/root/./a", "a"},
            {"~/.config/x", ".config/x"},
            {"/root", NULL},          {"/root/", NULL},       {"~/", NULL},
            {"/etc/passwd", NULL},    {"~bob/x", NULL},       {"/root/../etc", NULL},
            {"/root/a/../../x", NULL}, {"relative", NULL},    {"", NULL},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                struct bg_error err = {0};
                int r = ws_guest_rel(m[i].in, out, sizeof(out), &err);
                if (m[i].want) {
                        assert_int_equal(r, 0);
                        assert_string_equal(out, m[i].want);
                } else {
                        assert_true(r < 0);
                        assert_non_null(strstr(err.msg, "guest path"));
                }
        }
}

struct seen {
        char names[64][128];
        int n;
};

static int record(void *ud, const struct ws_entry *e, struct bg_error *err)
{
        (void)err;
        struct seen *s = ud;
        if (strncmp(e->rel, ".git/", 5) == 0)
                return 0;
        assert_true(s->n < 64);
        snprintf(s->names[s->n++], 128, "%s%s", e->rel,
                 S_ISDIR(e->st->st_mode) ? "/" : S_ISLNK(e->st->st_mode) ? "@" : "");
        return 0;
}

static int index_of(const struct seen *s, const char *name)
{
        for (int i = 0; i < s->n; i++)
                if (strcmp(s->names[i], name) == 0)
                        return i;
        return -1;
}

static void make_repo(const char *repo)
{
        sh("git init -q %s && cd %s && mkdir -p src/deep build && echo a > src/deep/a.c && "
           "echo t > top.txt && echo gone > gone.txt && printf 'build/\\n*.log\\n' > .gitignore && "
           "ln -s src/deep/a.c link && echo o > build/out.o && echo l > x.log && "
           "git add -A && git -c user.name=t -c user.email=t@t commit -qm i && rm gone.txt && "
           "echo u > untracked.txt",
           repo, repo);
}

static void test_walk(void **state)
{
        (void)state;
        char repo[128];
        snprintf(repo, sizeof(repo), "%s/repo", tmp);
        make_repo(repo);
        struct ws_repo r;
        struct bg_error err = {0};
        char sub[160];
        snprintf(sub, sizeof(sub), "%s/src", repo); /* any path inside the work tree */
        assert_int_equal(ws_repo_open(sub, &r, &err), 0);
        assert_string_equal(r.top, repo);
        assert_int_equal(strlen(r.head), 40);
        assert_true(r.dirty);
        struct seen s = {0};
        struct ws_walk_stats st;
        assert_int_equal(ws_repo_walk(&r, record, &s, NULL, &st, &err), 0);
        /* what git tracks or would add; not what it ignores; not what is gone */
        assert_true(index_of(&s, "top.txt") >= 0);
        assert_true(index_of(&s, "untracked.txt") >= 0);
        assert_true(index_of(&s, ".gitignore") >= 0);
        assert_true(index_of(&s, "link@") >= 0);
        assert_int_equal(index_of(&s, "build/"), -1);
        assert_int_equal(index_of(&s, "build/out.o"), -1);
        assert_int_equal(index_of(&s, "x.log"), -1);
        assert_int_equal(index_of(&s, "gone.txt"), -1);
        /* parents first, each once */
        int d1 = index_of(&s, "src/"), d2 = index_of(&s, "src/deep/"), f = index_of(&s, "src/deep/a.c");
        assert_true(d1 >= 0 && d1 < d2 && d2 < f);
        assert_true(index_of(&s, ".git/") >= 0);
        assert_true(st.skipped >= 1); /* gone.txt */
        ws_repo_free(&r);

        /* not a work tree; a linked worktree (.git is a file) */
        assert_int_equal(ws_repo_open(tmp, &r, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not inside a git work tree"));
        char wt[160];
        snprintf(wt, sizeof(wt), "%s/wt", tmp);
        sh("git -C %s worktree add -q %s 2>/dev/null", repo, wt);
        assert_int_equal(ws_repo_open(wt, &r, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "linked worktree"));
        char id[64];
        assert_int_equal(ws_repo_open(repo, &r, &err), 0);
        assert_int_equal(ws_repo_resolve(&r, "HEAD", id, &err), 0);
        assert_string_equal(id, r.head);
        assert_int_equal(ws_repo_resolve(&r, "no-such-ref", id, &err), -ENOENT);
        assert_int_equal(ws_repo_resolve(&r, "--output=/tmp/x", id, &err), -EINVAL);
        ws_repo_free(&r);
}

struct gitseen {
        int loose, pack, idx;
};

static int record_git(void *ud, const struct ws_entry *e, struct bg_error *err)
{
        (void)err;
        struct gitseen *g = ud;
        if (strncmp(e->rel, ".git/objects/", 13) == 0 && strlen(e->rel) > 15 && e->rel[15] == '/')
                g->loose++;
        if (strstr(e->rel, ".git/objects/pack/pack-") && strstr(e->rel, ".pack"))
                g->pack++;
        if (strstr(e->rel, ".git/objects/pack/pack-") && strstr(e->rel, ".idx"))
                g->idx++;
        return 0;
}

/* tmp/NAME: a repository whose 600 files are loose objects (added; with
 * commit, also committed). */
static void many_loose(char *repo, size_t len, const char *name, bool commit)
{
        snprintf(repo, len, "%s/%s", tmp, name);
        sh("git init -q %s && cd %s && for i in $(seq 600); do echo $i > f$i; done && git add -A%s",
           repo, repo, commit ? " && git -c user.name=t -c user.email=t@t commit -qm many" : "");
}

static void test_pack_loose(void **state)
{
        (void)state;
        char repo[128];
        many_loose(repo, sizeof(repo), "many", true);
        struct ws_repo r;
        struct bg_error err = {0};
        assert_int_equal(ws_repo_open(repo, &r, &err), 0);
        struct gitseen g = {0};
        assert_int_equal(ws_repo_walk(&r, record_git, &g, NULL, NULL, &err), 0);
        assert_true(g.loose >= 600);
        assert_int_equal(g.pack, 0);
        assert_int_equal(ws_repo_pack_loose(&r, 10000, &err), 0); /* too few: not packed */
        assert_int_equal(ws_repo_pack_loose(&r, 512, &err), 1);
        memset(&g, 0, sizeof(g));
        assert_int_equal(ws_repo_walk(&r, record_git, &g, NULL, NULL, &err), 0);
        assert_int_equal(g.loose, 0);
        assert_int_equal(g.pack, 1);
        assert_int_equal(g.idx, 1);
        /* the pack holds every object, and the repository is as it was */
        sh("git verify-pack %s/%s.idx && [ $(git verify-pack -v %s/%s.idx | grep -c ' blob ') -ge 600 ] "
           "&& [ $(find %s/.git/objects -path '*/pack/*' -type f | wc -l) -eq 0 ]",
           r.pack_dir, r.pack_name, r.pack_dir, r.pack_name, repo);
        char dir[64];
        snprintf(dir, sizeof(dir), "%s", r.pack_dir);
        ws_repo_free(&r);
        assert_int_equal(access(dir, F_OK), -1); /* temp dir gone */
}

/* A repository workspacesvc may only read (system mode: ProtectHome=
 * read-only): git pack-objects must still work, its temp file elsewhere. As
 * root the repository is bind-mounted read-only in a mount namespace of a
 * child; otherwise its pack directory is made unwritable. */
static void test_pack_loose_readonly_repo(void **state)
{
        (void)state;
        char repo[128];
        many_loose(repo, sizeof(repo), "ro", true);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char pack[160];
                snprintf(pack, sizeof(pack), "%s/.git/objects/pack", repo);
                if (geteuid() == 0) {
                        if (unshare(CLONE_NEWNS) < 0 ||
                            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                            mount(repo, repo, NULL, MS_BIND, NULL) < 0 ||
                            mount(NULL, repo, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                                _exit(3);
                } else if (chmod(pack, 0555) < 0) {
                        _exit(3);
                }
                struct ws_repo r;
                struct bg_error err = {0};
                if (ws_repo_open(repo, &r, &err) < 0)
                        _exit(4);
                int rc = ws_repo_pack_loose(&r, 512, &err);
                if (rc != 1) {
                        fprintf(stderr, "pack_loose: %d %s\n", rc, err.msg);
                        _exit(5);
                }
                char cmd[512];
                snprintf(cmd, sizeof(cmd), "git verify-pack %s/%s.idx", r.pack_dir, r.pack_name);
                if (system(cmd) != 0)
                        _exit(6);
                ws_repo_free(&r);
                chmod(pack, 0755);
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* git pack-objects failing (a corrupt loose object) leaves no temp
 * directory and no pack for the walk to send: the objects go as they are. */
static void test_pack_loose_failure_cleans_up(void **state)
{
        (void)state;
        char repo[128];
        many_loose(repo, sizeof(repo), "bad", false);
        sh("mkdir -p %s/.git/objects/ff && echo garbage > %s/.git/objects/ff/%s", repo, repo,
           "00000000000000000000000000000000000000");
        sh("ls -d /tmp/banger-pack-* 2>/dev/null | sort > %s/before || true", tmp);
        struct ws_repo r;
        struct bg_error err = {0};
        assert_int_equal(ws_repo_open(repo, &r, &err), 0);
        assert_true(ws_repo_pack_loose(&r, 512, &err) < 0);
        assert_non_null(strstr(err.msg, "git pack-objects"));
        assert_string_equal(r.pack_dir, "");
        sh("ls -d /tmp/banger-pack-* 2>/dev/null | sort | cmp -s - %s/before", tmp);
        struct gitseen g = {0};
        assert_int_equal(ws_repo_walk(&r, record_git, &g, NULL, NULL, &err), 0);
        assert_true(g.loose >= 600);
        assert_int_equal(g.pack, 0);
        ws_repo_free(&r);
}

static char *read_img(struct ext4_fs *fs, const char *p, uint32_t *mode)
{
        void *data = NULL;
        size_t len = 0;
        struct ext4_stat st;
        if (ext4_lookup(fs, p, &st, NULL) < 0)
                return NULL;
        if (mode)
                *mode = st.mode;
        if (!S_ISREG(st.mode) || ext4_read_file(fs, p, &data, &len, NULL) < 0)
                return NULL;
        return data;
}

static bool warned(const struct ws_warnings *w, const char *needle)
{
        for (size_t i = 0; i < w->n; i++)
                if (strstr(w->items[i], needle))
                        return true;
        return false;
}

static void test_work_disk(void **state)
{
        (void)state;
        char img[128], home[128], repo[128];
        snprintf(img, sizeof(img), "%s/work.ext4", tmp);
        snprintf(home, sizeof(home), "%s/home", tmp);
        snprintf(repo, sizeof(repo), "%s/repo2", tmp);
        make_repo(repo);
        sh("mkdir -p %s/tool/nested && echo cred > %s/cred && chmod 0644 %s/cred && "
           "echo deep > %s/tool/nested/d && ln -s /etc/passwd %s/tool/nested/ln && "
           "ln -s cred %s/cred-link && ln -s tool %s/tool-link && "
           "HOME=%s git config --global user.name 'Ada Host' && "
           "HOME=%s git config --global user.email ada@host",
           home, home, home, home, home, home, home, home, home);
        /* A work disk whose guest made ~/.evil a symlink out of the tree. */
        struct ext4_fs *fs = NULL;
        struct ext4_create_opts co = {.journal = true};
        assert_int_equal(ext4_create(img, 64 << 20, &co, &fs, NULL), 0);
        struct ext4_meta lm = {.mode = S_IFLNK | 0777};
        assert_int_equal(ext4_symlink(fs, "/.evil", "/etc", &lm, NULL), 0);
        assert_int_equal(ext4_close(fs, NULL), 0);

        struct bg_file_sync items[7] = {
            {.host = "~/cred-link", .guest = "~/.linked"}, /* the entry itself: followed */
            {.host = "~/tool-link", .guest = "~/linkdir"},
            {.host = "~/cred", .guest = "~/.cred"},
            {.host = "~/cred", .guest = "/root/.config/app/cred", .mode = 0640, .has_mode = true},
            {.host = "~/tool", .guest = "~/tooldir"},
            {.host = "~/nope", .guest = "~/nope"},
            {.host = "~/cred", .guest = "~/.evil/passwd"},
        };
        struct bg_file_sync_list list = {.items = items, .n = 7};
        struct ws_repo r;
        struct bg_error err = {0};
        assert_int_equal(ws_repo_open(repo, &r, &err), 0);
        struct ws_disk_job job = {.work_disk = img, .sync = &list, .home = home, .repo = &r,
                                  .guest_path = "/root/src/proj"};
        struct ws_warnings w = {0};
        struct ws_walk_stats st = {0};
        assert_int_equal(ws_write_work_disk(&job, &w, &st, &err), 0);
        assert_true(st.files >= 5);
        assert_true(warned(&w, "does not exist on the host"));
        assert_true(warned(&w, "is a symlink inside a synced directory"));
        assert_true(warned(&w, ".evil"));

        assert_int_equal(ext4_open(img, &fs, NULL), 0);
        uint32_t mode = 0;
        char *c = read_img(fs, "/.cred", &mode);
        assert_non_null(c);
        assert_string_equal(c, "cred\n");
        assert_int_equal(mode & 07777, 0600);
        free(c);
        c = read_img(fs, "/.config/app/cred", &mode);
        assert_non_null(c);
        assert_int_equal(mode & 07777, 0640);
        free(c);
        c = read_img(fs, "/tooldir/nested/d", NULL);
        assert_non_null(c);
        free(c);
        c = read_img(fs, "/.linked", &mode);
        assert_non_null(c);
        assert_string_equal(c, "cred\n");
        assert_int_equal(mode & 07777, 0600);
        free(c);
        c = read_img(fs, "/linkdir/nested/d", NULL);
        assert_non_null(c);
        free(c);
        assert_int_equal(ext4_lookup(fs, "/linkdir/nested/ln", NULL, NULL), -ENOENT);
        assert_int_equal(ext4_lookup(fs, "/tooldir/nested/ln", NULL, NULL), -ENOENT);
        assert_int_equal(ext4_lookup(fs, "/nope", NULL, NULL), -ENOENT);
        c = read_img(fs, "/src/proj/src/deep/a.c", NULL);
        assert_non_null(c);
        assert_string_equal(c, "a\n");
        free(c);
        assert_int_equal(ext4_lookup(fs, "/src/proj/build", NULL, NULL), -ENOENT);
        assert_int_equal(ext4_lookup(fs, "/src/proj/.git/HEAD", NULL, NULL), 0);
        char *g = read_img(fs, "/.gitconfig", NULL);
        assert_non_null(g);
        assert_non_null(strstr(g, "name = \"Ada Host\""));
        assert_non_null(strstr(g, "email = \"ada@host\""));
        free(g);
        /* the guest adds its own settings; the next start keeps them and
         * rewrites only banger's block */
        assert_int_equal(ext4_read_file(fs, "/.gitconfig", (void **)&g, &(size_t){0}, NULL), 0);
        char buf[2048];
        snprintf(buf, sizeof(buf), "[core]\n\teditor = vi\n%s", g);
        free(g);
        struct ext4_meta fm = {.mode = S_IFREG | 0644};
        assert_int_equal(ext4_write_file(fs, "/.gitconfig", &fm, buf, strlen(buf), NULL), 0);
        assert_int_equal(ext4_close(fs, NULL), 0);
        ws_warnings_free(&w);

        sh("HOME=%s git config --global user.name 'Ada Renamed'", home);
        job.repo = NULL;
        assert_int_equal(ws_write_work_disk(&job, &w, &st, &err), 0);
        ws_warnings_free(&w);
        assert_int_equal(ext4_open(img, &fs, NULL), 0);
        g = read_img(fs, "/.gitconfig", NULL);
        assert_non_null(g);
        assert_non_null(strstr(g, "editor = vi"));
        assert_non_null(strstr(g, "Ada Renamed"));
        assert_null(strstr(g, "Ada Host"));
        const char *first = strstr(g, "[user]");
        assert_non_null(first);
        assert_null(strstr(first + 1, "[user]")); /* one block, not two */
        free(g);
        assert_int_equal(ext4_close(fs, NULL), 0);
        ws_repo_free(&r);

        /* a guest's .gitconfig claiming more than is read into memory (a
         * sparse file) is left alone with a warning; the disk is written */
        assert_int_equal(ext4_open(img, &fs, NULL), 0);
        struct ext4_file *big = NULL;
        struct ext4_meta bm = {.mode = S_IFREG | 0644};
        assert_int_equal(ext4_file_create(fs, "/.gitconfig", &bm, &big, NULL), 0);
        static char zeros[1 << 20];
        for (unsigned i = 0; i <= EXT4_READ_FILE_MAX / sizeof(zeros); i++)
                assert_int_equal(ext4_file_write(big, zeros, sizeof(zeros), NULL), 0);
        assert_int_equal(ext4_file_close(big, NULL), 0);
        assert_int_equal(ext4_close(fs, NULL), 0);
        assert_int_equal(ws_write_work_disk(&job, &w, &st, &err), 0);
        bool warned = false;
        for (size_t i = 0; i < w.n; i++)
                warned |= strstr(w.items[i], ".gitconfig") && strstr(w.items[i], "left alone");
        assert_true(warned);
        ws_warnings_free(&w);

        /* an image that is not ext4 is an error, not a crash */
        char bad[128];
        snprintf(bad, sizeof(bad), "%s/bad.ext4", tmp);
        sh("head -c 1048576 /dev/zero > %s", bad);
        job.work_disk = bad;
        assert_true(ws_write_work_disk(&job, &w, &st, &err) < 0);
        ws_warnings_free(&w);
}

/* ExecInput's checks, before any command is looked up. */
static void test_exec_input_checks(void **state)
{
        (void)state;
        struct ws_exec_registry *x = NULL;
        struct bg_error err = {0};
        struct ws_runner rn = {0};
        assert_int_equal(ws_exec_registry_new(&x, &rn, &err), 0);
        Banger__V1__ExecInputRequest q = BANGER__V1__EXEC_INPUT_REQUEST__INIT;
        q.operation_id = "nosuch";
        assert_int_equal(ws_exec_input(x, &q, &err), -ENOENT);
        q.rows = 10; /* without cols */
        assert_int_equal(ws_exec_input(x, &q, &err), -EINVAL);
        q.rows = 0;
        q.signal = 32; /* not a signal the agent forwards */
        assert_int_equal(ws_exec_input(x, &q, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "signal"));
        q.signal = 0;
        static uint8_t big[256 * 1024 + 1];
        q.data.data = big;
        q.data.len = sizeof(big);
        assert_int_equal(ws_exec_input(x, &q, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "a call"));
        q.data.len = 0;
        q.operation_id = "";
        assert_int_equal(ws_exec_input(x, &q, &err), -ENOENT);
        ws_exec_registry_free(x);
}

static void test_shell_quote(void **state)
{
        (void)state;
        char *words[] = {"plain", "two words", "it's", "$HOME", "`x`", "a\"b", "", "\\n"};
        char line[1024], cmd[1400];
        assert_int_equal(bg_shell_join(8, words, line, sizeof(line)), 0);
        snprintf(cmd, sizeof(cmd), "printf '<%%s>' %s", line);
        const char *const argv[] = {"sh", "-c", cmd, NULL};
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(bg_run_capture(argv, NULL, &out, &len, 4096, NULL), 0);
        assert_string_equal(out, "<plain><two words><it's><$HOME><`x`><a\"b><><\\n>");
        free(out);
        char small[4];
        assert_int_equal(bg_shell_quote("abcdef", small, sizeof(small)), -E2BIG);
        char wc[4096];
        char *cmdv[] = {"make", "test"};
        assert_int_equal(bg_ssh_workspace_command("/root/my repo", 2, cmdv, wc, sizeof(wc)), 0);
        assert_non_null(strstr(wc, "cd '/root/my repo'"));
        assert_non_null(strstr(wc, "exec mise exec -- 'make' 'test'"));
        assert_non_null(strstr(wc, "else exec 'make' 'test'"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_guest_rel),
            cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pack_loose, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pack_loose_readonly_repo, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pack_loose_failure_cleans_up, setup, teardown),
            cmocka_unit_test_setup_teardown(test_work_disk, setup, teardown),
            cmocka_unit_test(test_shell_quote),
            cmocka_unit_test(test_exec_input_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
