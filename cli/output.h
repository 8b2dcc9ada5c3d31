/* How much the CLI says and whether it colours: the global options every
 * command takes (--quiet, --verbose, --color=auto|always|never) and the
 * NO_COLOR convention (https://no-color.org). Process-wide settings of one
 * CLI run, set once while the command line is parsed. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

enum cli_color_mode {
        CLI_COLOR_AUTO, /* when the stream is a terminal and NO_COLOR is unset or empty */
        CLI_COLOR_ALWAYS,
        CLI_COLOR_NEVER,
};

/* If argv[0] is a global option, applies it and returns how many words it
 * took (1 or 2); 0 when it is not one; < 0 (an exit code, negated) after
 * printing what is wrong with its value. */
int cli_output_option(int argc, char **argv);

bool cli_quiet(void);
bool cli_verbose(void);
/* Whether to colour what goes to f. NO_COLOR (set and not empty) wins over
 * everything but --color=always. */
bool cli_color(FILE *f);

/* ANSI SGR for a VM or template state ("running" green, "error" red, ...),
 * "" when the state has no colour. Reset with CLI_SGR_RESET. */
const char *cli_state_sgr(const char *state);
#define CLI_SGR_RESET "\033[0m"
