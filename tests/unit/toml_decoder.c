/* toml-test decoder: TOML on stdin, tagged JSON on stdout (exit 0), or the
 * parse error on stderr (exit 1). Exit 2 on I/O or memory failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toml_json.h"
#include "util/fileio.h"
#include "util/macro.h"

int main(void)
{
        _cleanup_free_ char *in = NULL;
        size_t len = 0;
        struct bg_error err = {};
        _cleanup_(toml_freep) struct toml_value *root = NULL;

        int r = read_fd_capped(STDIN_FILENO, "stdin", 64u << 20, &in, &len, NULL);
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
