/* toml-test decoder: TOML on stdin, tagged JSON on stdout (exit 0), or the
 * parse error on stderr (exit 1). Exit 2 on I/O or memory failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toml_json.h"
#include "util/macro.h"

static int read_all(int fd, char **ret, size_t *ret_len)
{
        size_t cap = 4096, n = 0;
        _cleanup_free_ char *b = malloc(cap);
        if (!b)
                return -ENOMEM;
        for (;;) {
                if (n == cap) {
                        char *nb = realloc(b, cap * 2);
                        if (!nb)
                                return -ENOMEM;
                        b = nb;
                        cap *= 2;
                }
                ssize_t k = read(fd, b + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        *ret = TAKE_PTR(b);
        *ret_len = n;
        return 0;
}

int main(void)
{
        _cleanup_free_ char *in = NULL;
        size_t len = 0;
        struct bg_error err = {};
        _cleanup_(toml_freep) struct toml_value *root = NULL;

        int r = read_all(STDIN_FILENO, &in, &len);
        if (r < 0) {
                fprintf(stderr, "toml_decoder: read stdin: %s\n", strerror(-r));
                return 2;
        }
        r = toml_parse(in, len, &root, &err);
        if (r < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return r == -ENOMEM ? 2 : 1;
        }
        json_t *j = toml_to_tagged_json(root);
        if (!j) {
                fprintf(stderr, "toml_decoder: out of memory\n");
                return 2;
        }
        r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        json_decref(j);
        if (r < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
                fprintf(stderr, "toml_decoder: write stdout failed\n");
                return 2;
        }
        return 0;
}
