#include "output.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "term.h"
#include "log/log.h"

/* One CLI run parses one command line: these are its settings. */
static bool quiet, verbose;
static enum cli_color_mode color_mode = CLI_COLOR_AUTO;

int cli_output_option(int argc, char **argv)
{
        const char *a = argv[0];
        if (strcmp(a, "--quiet") == 0) {
                quiet = true;
                verbose = false;
                return 1;
        }
        if (strcmp(a, "--verbose") == 0) {
                verbose = true;
                quiet = false;
                log_setup("cli", LOG_LEVEL_DEBUG, 2);
                return 1;
        }
        if (strcmp(a, "--no-color") == 0) {
                color_mode = CLI_COLOR_NEVER;
                return 1;
        }
        const char *v = NULL;
        int used = 0;
        if (strncmp(a, "--color=", 8) == 0) {
                v = a + 8;
                used = 1;
        } else if (strcmp(a, "--color") == 0) {
                if (argc < 2) {
                        fprintf(stderr, "banger: --color needs a value: auto, always or never\n");
                        return -CLI_EXIT_USAGE;
                }
                v = argv[1];
                used = 2;
        } else {
                return 0;
        }
        if (strcmp(v, "auto") == 0)
                color_mode = CLI_COLOR_AUTO;
        else if (strcmp(v, "always") == 0)
                color_mode = CLI_COLOR_ALWAYS;
        else if (strcmp(v, "never") == 0)
                color_mode = CLI_COLOR_NEVER;
        else {
                fprintf(stderr, "banger: --color '%s': use auto, always or never\n", cli_safe(v));
                return -CLI_EXIT_USAGE;
        }
        return used;
}

bool cli_quiet(void)
{
        return quiet;
}

bool cli_verbose(void)
{
        return verbose;
}

bool cli_color(FILE *f)
{
        if (color_mode == CLI_COLOR_ALWAYS)
                return true;
        if (color_mode == CLI_COLOR_NEVER)
                return false;
        const char *nc = getenv("NO_COLOR");
        if (nc && nc[0])
                return false;
        const char *term = getenv("TERM");
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return isatty(fileno(f));
}

const char *cli_state_sgr(const char *state)
{
        static const struct {
                const char *state, *sgr;
        } colors[] = {
            {"running", "\033[32m"},  {"ready", "\033[32m"},    {"error", "\033[31m"},
            {"failed", "\033[31m"},   {"paused", "\033[33m"},   {"starting", "\033[36m"},
            {"stopping", "\033[36m"}, {"building", "\033[36m"}, {"stopped", "\033[2m"},
        };
        for (size_t i = 0; state && i < sizeof(colors) / sizeof(colors[0]); i++)
                if (strcmp(state, colors[i].state) == 0)
                        return colors[i].sgr;
        return "";
}
