/* Runs the toml-test 1.0.0 cases against the toml_decoder program.
 *
 * usage: toml_test_runner DECODER [SUBSTRING]
 * Reads ${BANGER_SHARED_DIR}/ref/toml-test/tests/files-toml-1.0.0; every
 * valid/X.toml must decode (exit 0) to JSON structurally equal to valid/X.json,
 * every invalid/X.toml must be rejected (a non-zero exit, not a crash, and a
 * message on stderr). Prints one line per failure and "N passed, M failed";
 * fails when the suite (the shared/ data beside the checkout) is not there. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/macro.h"

extern char **environ;

struct result {
        int status;
        char *out, *errout;
        size_t out_len, err_len;
};

/* All of the file behind fd (rewound first). */
static char *read_fd(int fd, size_t *ret_len)
{
        char *b = NULL;
        if (lseek(fd, 0, SEEK_SET) < 0 ||
            read_fd_capped(fd, "output", 64u << 20, &b, ret_len, NULL) < 0)
                return NULL;
        return b;
}

struct job {
        pid_t pid; /* 0 = free slot */
        int out, err;
        const char *rel;
};

/* Start the decoder on dir/rel with stdout and stderr going to memfds. */
static int job_start(struct job *j, const char *decoder, const char *dir, const char *rel)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = memfd_create("stdout", MFD_CLOEXEC);
        _cleanup_close_ int errfd = memfd_create("stderr", MFD_CLOEXEC);
        if (in < 0 || out < 0 || errfd < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in, 0);
        posix_spawn_file_actions_adddup2(&fa, out, 1);
        posix_spawn_file_actions_adddup2(&fa, errfd, 2);
        char *argv[] = {(char *)decoder, NULL};
        int r = posix_spawn(&j->pid, decoder, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                j->pid = 0;
                return -r;
        }
        j->out = TAKE_FD(out);
        j->err = TAKE_FD(errfd);
        j->rel = rel;
        return 0;
}

/* Collect the outputs of a finished job and free its slot. */
static int job_finish(struct job *j, int status, struct result *res)
{
        res->status = status;
        res->out = read_fd(j->out, &res->out_len);
        res->errout = read_fd(j->err, &res->err_len);
        close(j->out);
        close(j->err);
        j->pid = 0;
        if (!res->out || !res->errout)
                return -EIO;
        return 0;
}

static bool is_leaf(json_t *j)
{
        return json_is_object(j) && json_object_size(j) == 2 &&
               json_is_string(json_object_get(j, "type")) &&
               json_is_string(json_object_get(j, "value"));
}

static bool parse_float(const char *s, double *out)
{
        const char *t = s;
        bool neg = false;
        if (*t == '+' || *t == '-')
                neg = *t++ == '-';
        if (streq(t, "inf")) {
                *out = neg ? -INFINITY : INFINITY;
                return true;
        }
        if (streq(t, "nan")) {
                *out = NAN;
                return true;
        }
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        return *s && *end == '\0';
}

/* Upper-case T/Z, ' ' -> 'T', and drop trailing zeros of a fraction. */
static void norm_datetime(const char *in, char *out, size_t size)
{
        size_t o = 0;
        for (size_t i = 0; in[i] && o + 1 < size; i++) {
                char c = in[i];
                if (c == 't' || c == ' ')
                        c = 'T';
                else if (c == 'z')
                        c = 'Z';
                out[o++] = c;
        }
        out[o] = '\0';
        char *dot = strchr(out, '.');
        if (!dot)
                return;
        char *end = dot + 1;
        while (*end >= '0' && *end <= '9')
                end++;
        char *last = end;
        while (last > dot + 1 && last[-1] == '0')
                last--;
        if (last == dot + 1)
                last = dot;
        memmove(last, end, strlen(end) + 1);
}

/* jansson's loader refuses NUL in object keys (toml-test has a "\u0000"
 * key), so both texts get each \u0000 escape replaced by \uFFFF, a
 * noncharacter that the suite does not use, before loading. */
static void mask_nul_escapes(char *s, size_t n)
{
        for (size_t i = 0; i + 1 < n; i++) {
                if (s[i] != '\\')
                        continue;
                if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) {
                        memcpy(s + i + 2, "FFFF", 4);
                        i += 5;
                        continue;
                }
                i++; /* skip the escaped character */
        }
}

static bool leaf_equal(json_t *want, json_t *got, char *why, size_t why_size)
{
        const char *wt = json_string_value(json_object_get(want, "type"));
        const char *gt = json_string_value(json_object_get(got, "type"));
        json_t *wv = json_object_get(want, "value"), *gv = json_object_get(got, "value");
        const char *ws = json_string_value(wv), *gs = json_string_value(gv);
        if (!streq(wt, gt)) {
                snprintf(why, why_size, "type %s, want %s", gt, wt);
                return false;
        }
        bool ok;
        if (streq(wt, "integer")) {
                ok = strtoll(ws, NULL, 10) == strtoll(gs, NULL, 10);
        } else if (streq(wt, "float")) {
                double a, b;
                ok = parse_float(ws, &a) && parse_float(gs, &b) &&
                     ((isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b)));
        } else if (streq(wt, "datetime") || streq(wt, "datetime-local") ||
                   streq(wt, "date-local") || streq(wt, "time-local")) {
                char a[128], b[128];
                norm_datetime(ws, a, sizeof(a));
                norm_datetime(gs, b, sizeof(b));
                ok = streq(a, b);
        } else {
                ok = json_string_length(wv) == json_string_length(gv) &&
                     memcmp(ws, gs, json_string_length(wv)) == 0;
        }
        if (!ok)
                snprintf(why, why_size, "%s value '%s', want '%s'", wt, gs, ws);
        return ok;
}

static bool json_equal_tagged(json_t *want, json_t *got, const char *path, char *why,
                              size_t why_size)
{
        char sub[512];
        if (is_leaf(want)) {
                if (!is_leaf(got)) {
                        snprintf(why, why_size, "%s: want a %s value", path,
                                 json_string_value(json_object_get(want, "type")));
                        return false;
                }
                char w[256];
                if (!leaf_equal(want, got, w, sizeof(w))) {
                        snprintf(why, why_size, "%s: %s", path, w);
                        return false;
                }
                return true;
        }
        if (json_is_object(want)) {
                if (!json_is_object(got) || is_leaf(got)) {
                        snprintf(why, why_size, "%s: want a table", path);
                        return false;
                }
                if (json_object_size(want) != json_object_size(got)) {
                        snprintf(why, why_size, "%s: %zu keys, want %zu", path,
                                 json_object_size(got), json_object_size(want));
                        return false;
                }
                const char *k;
                json_t *wv;
                json_object_foreach(want, k, wv)
                {
                        json_t *gv = json_object_get(got, k);
                        snprintf(sub, sizeof(sub), "%s.%s", path, k);
                        if (!gv) {
                                snprintf(why, why_size, "%s: missing", sub);
                                return false;
                        }
                        if (!json_equal_tagged(wv, gv, sub, why, why_size))
                                return false;
                }
                return true;
        }
        if (json_is_array(want)) {
                if (!json_is_array(got) || json_array_size(want) != json_array_size(got)) {
                        snprintf(why, why_size, "%s: want an array of %zu", path,
                                 json_array_size(want));
                        return false;
                }
                for (size_t i = 0; i < json_array_size(want); i++) {
                        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                        if (!json_equal_tagged(json_array_get(want, i), json_array_get(got, i), sub,
                                               why, why_size))
                                return false;
                }
                return true;
        }
        snprintf(why, why_size, "%s: unexpected JSON in the expected file", path);
        return false;
}

/* Compare the decoder's output with the .json beside the .toml at path. */
static bool compare_output(const char *toml_path, struct result *res, char *why, size_t why_size)
{
        char path[4096];
        json_error_t jerr;
        _cleanup_free_ char *wtext = NULL;
        size_t wlen = 0;

        snprintf(path, sizeof(path), "%.*s.json", (int)(strlen(toml_path) - 5), toml_path);
        _cleanup_close_ int wfd = open(path, O_RDONLY | O_CLOEXEC);
        if (wfd < 0 || !(wtext = read_fd(wfd, &wlen))) {
                snprintf(why, why_size, "cannot read %s", path);
                return false;
        }
        mask_nul_escapes(wtext, wlen);
        mask_nul_escapes(res->out, res->out_len);
        json_t *want = json_loadb(wtext, wlen, JSON_ALLOW_NUL, &jerr);
        json_t *got = want ? json_loadb(res->out, res->out_len, JSON_ALLOW_NUL, &jerr) : NULL;
        bool ok = false;
        if (!want || !got)
                snprintf(why, why_size, "bad JSON (%s): %s", want ? "decoder" : "expected",
                         jerr.text);
        else
                ok = json_equal_tagged(want, got, "$", why, why_size);
        json_decref(want);
        json_decref(got);
        return ok;
}

static bool check_result(const char *dir, const char *rel, struct result *res, char *why,
                         size_t why_size)
{
        char path[4096];
        bool valid = strncmp(rel, "valid/", 6) == 0;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (!WIFEXITED(res->status)) {
                snprintf(why, why_size, "decoder killed by signal %d", WTERMSIG(res->status));
                return false;
        }
        if (!valid) {
                if (WEXITSTATUS(res->status) == 0)
                        snprintf(why, why_size, "accepted invalid input");
                else if (WEXITSTATUS(res->status) != 1)
                        snprintf(why, why_size, "decoder failed with status %d: %s",
                                 WEXITSTATUS(res->status), res->errout);
                else if (res->err_len == 0)
                        snprintf(why, why_size, "rejected without a message");
                else
                        return true;
                return false;
        }
        if (WEXITSTATUS(res->status) != 0) {
                snprintf(why, why_size, "rejected: %.*s", (int)strcspn(res->errout, "\n"),
                         res->errout);
                return false;
        }
        return compare_output(path, res, why, why_size);
}

static void free_cases(char ***cases)
{
        for (char **c = *cases; c && *c; c++)
                free(*c);
        free(*cases);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: %s DECODER [SUBSTRING]\n", argv[0]);
                return 2;
        }
        const char *shared = getenv("BANGER_SHARED_DIR");
        char dir[2048], list[4096];
        if (!shared || !*shared) {
                printf("FAIL: set-up: BANGER_SHARED_DIR is not set (run through ctest)\n");
                return 1;
        }
        snprintf(dir, sizeof(dir), "%s/ref/toml-test/tests", shared);
        snprintf(list, sizeof(list), "%s/files-toml-1.0.0", dir);
        _cleanup_fclose_ FILE *f = fopen(list, "re");
        if (!f) {
                printf("FAIL: set-up: the toml-test suite is not there: %s: %s\n", list,
                       strerror(errno));
                return 1;
        }

        _cleanup_(free_cases) char **cases = NULL;
        size_t n = 0;
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = '\0';
                size_t l = strlen(line);
                if (l < 5 || !streq(line + l - 5, ".toml"))
                        continue;
                if (argc > 2 && !strstr(line, argv[2]))
                        continue;
                char **nc = realloc(cases, (n + 2) * sizeof(char *));
                if (!nc)
                        return 2;
                cases = nc;
                cases[n + 1] = NULL;
                if (!(cases[n] = strdup(line)))
                        return 2;
                n++;
        }

        /* Run up to one decoder per CPU (at most 8) at a time. */
        struct job jobs[8] = {};
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        size_t max = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (size_t)ncpu;
        size_t next = 0, active = 0;
        unsigned passed = 0, failed = 0;
        while (next < n || active > 0) {
                for (size_t i = 0; i < max && next < n; i++) {
                        if (jobs[i].pid != 0)
                                continue;
                        int r = job_start(&jobs[i], argv[1], dir, cases[next]);
                        if (r < 0) {
                                failed++;
                                printf("FAIL %s: cannot run decoder: %s\n", cases[next],
                                       strerror(-r));
                        } else {
                                active++;
                        }
                        next++;
                }
                if (active == 0)
                        continue;
                int status;
                pid_t pid = waitpid(-1, &status, 0);
                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "waitpid: %s\n", strerror(errno));
                        return 2;
                }
                for (size_t i = 0; i < max; i++) {
                        if (jobs[i].pid != pid)
                                continue;
                        struct result res = {};
                        char why[1024] = "";
                        const char *rel = jobs[i].rel;
                        active--;
                        if (job_finish(&jobs[i], status, &res) < 0)
                                snprintf(why, sizeof(why), "cannot read the decoder's output");
                        if (why[0] == '\0' && check_result(dir, rel, &res, why, sizeof(why))) {
                                passed++;
                        } else {
                                failed++;
                                printf("FAIL %s: %s\n", rel, why);
                        }
                        free(res.out);
                        free(res.errout);
                }
        }
        printf("%u passed, %u failed\n", passed, failed);
        return failed == 0 && passed > 0 ? 0 : 1;
}
