/* banger: walks the command table, parses flags from it and runs the command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "log/log.h"
#include "util/version.h"

void cli_print_help(const struct cli_cmd *cmd, const char *path_words)
{
        printf("%s - %s\n\nUsage: %s", path_words, cmd->summary, path_words);
        if (cmd->n_subs)
                printf(" COMMAND");
        if (cmd->n_flags)
                printf(" [OPTIONS]");
        if (cmd->args && !cmd->n_subs)
                printf(" %s", cmd->args);
        printf("\n");
        if (cmd->description)
                printf("\n%s\n", cmd->description);
        if (cmd->n_subs) {
                printf("\nCommands:\n");
                for (size_t i = 0; i < cmd->n_subs; i++)
                        printf("  %-14s %s\n", cmd->subs[i].name, cmd->subs[i].summary);
                printf("\nRun '%s COMMAND --help' for more about a command.\n", path_words);
        }
        if (cmd->n_flags) {
                printf("\nOptions:\n");
                for (size_t i = 0; i < cmd->n_flags; i++) {
                        const struct cli_flag *f = &cmd->flags[i];
                        char left[64];
                        if (f->short_name)
                                snprintf(left, sizeof(left), "-%c, --%s%s%s", f->short_name,
                                         f->name, f->arg ? " " : "", f->arg ? f->arg : "");
                        else
                                snprintf(left, sizeof(left), "    --%s%s%s", f->name,
                                         f->arg ? " " : "", f->arg ? f->arg : "");
                        printf("  %-26s %s\n", left, f->help);
                }
                printf("  %-26s %s\n", "-h, --help", "show this help");
        }
}

static int usage_error(const char *path_words, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *path_words, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cli_verror(fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nSee '%s --help'.\n", path_words);
        return CLI_EXIT_USAGE;
}

static int find_flag(const struct cli_cmd *cmd, const char *name, size_t len, char short_name)
{
        for (size_t i = 0; i < cmd->n_flags; i++) {
                const struct cli_flag *f = &cmd->flags[i];
                if (short_name ? f->short_name == short_name
                               : strlen(f->name) == len && strncmp(f->name, name, len) == 0)
                        return (int)i;
        }
        return -1;
}

/* Parses argv (after the command words) against cmd's flag table. Flags and
 * positionals may mix; "--" ends flags. Returns -1 when help was shown, 0 ok,
 * or an exit code > 0. */
static int parse_flags(const struct cli_cmd *cmd, const char *path_words, int argc, char **argv,
                       struct cli_args *a)
{
        a->pos = calloc((size_t)argc + 1, sizeof(char *));
        if (!a->pos)
                return CLI_EXIT_FAILURE;
        a->dashdash_at = -1;
        bool only_pos = false;
        for (int i = 0; i < argc; i++) {
                char *s = argv[i];
                if (only_pos || s[0] != '-' || s[1] == '\0') {
                        a->pos[a->n_pos++] = s;
                        continue;
                }
                if (strcmp(s, "--") == 0) {
                        only_pos = true;
                        a->dashdash_at = a->n_pos;
                        continue;
                }
                if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
                        cli_print_help(cmd, path_words);
                        return -1;
                }
                int idx;
                const char *inline_val = NULL;
                if (s[1] == '-') {
                        const char *name = s + 2;
                        const char *eq = strchr(name, '=');
                        size_t len = eq ? (size_t)(eq - name) : strlen(name);
                        idx = find_flag(cmd, name, len, 0);
                        if (eq)
                                inline_val = eq + 1;
                } else {
                        /* Booleans may be grouped: -it is -i -t. */
                        for (const char *c = s + 1; s[2] != '\0' && *c; c++) {
                                int b = find_flag(cmd, NULL, 0, *c);
                                if (b < 0 || cmd->flags[b].arg)
                                        return usage_error(path_words, "unknown option '%s'", s);
                                a->set[b] = true;
                        }
                        if (s[2] != '\0')
                                continue;
                        idx = find_flag(cmd, NULL, 0, s[1]);
                }
                if (idx < 0) {
                        /* --quiet, --verbose, --color: any command takes them. */
                        int used = cli_output_option(argc - i, argv + i);
                        if (used < 0)
                                return -used;
                        if (used > 0) {
                                i += used - 1;
                                continue;
                        }
                        return usage_error(path_words, "unknown option '%s' for '%s'", s,
                                           path_words);
                }
                const struct cli_flag *f = &cmd->flags[idx];
                if (f->arg) {
                        if (inline_val)
                                a->value[idx] = inline_val;
                        else if (i + 1 < argc)
                                a->value[idx] = argv[++i];
                        else
                                return usage_error(path_words, "option --%s needs a value (%s)",
                                                   f->name, f->arg);
                        if (!a->values[idx] &&
                            !(a->values[idx] = calloc((size_t)argc, sizeof(char *))))
                                return CLI_EXIT_FAILURE;
                        a->values[idx][a->n_values[idx]++] = a->value[idx];
                } else if (inline_val) {
                        return usage_error(path_words, "option --%s takes no value", f->name);
                }
                a->set[idx] = true;
        }
        int max = cmd->max_args;
        if (a->n_pos < cmd->min_args)
                return usage_error(path_words, "'%s' needs %s", path_words,
                                   cmd->args ? cmd->args : "more arguments");
        if (max >= 0 && a->n_pos > max) {
                if (max == 0)
                        return usage_error(path_words, "'%s' takes no arguments (got '%s')",
                                           path_words, a->pos[0]);
                return usage_error(path_words, "too many arguments for '%s'", path_words);
        }
        return 0;
}

bool cli_flag(const struct cli *cli, const char *name)
{
        for (size_t i = 0; i < cli->cmd->n_flags; i++)
                if (strcmp(cli->cmd->flags[i].name, name) == 0)
                        return cli->args.set[i];
        return false;
}

const char *const *cli_flag_values(const struct cli *cli, const char *name, size_t *ret_n)
{
        *ret_n = 0;
        for (size_t i = 0; i < cli->cmd->n_flags; i++)
                if (strcmp(cli->cmd->flags[i].name, name) == 0 && cli->args.set[i]) {
                        *ret_n = cli->args.n_values[i];
                        return cli->args.values[i];
                }
        return NULL;
}

const char *cli_flag_value(const struct cli *cli, const char *name)
{
        for (size_t i = 0; i < cli->cmd->n_flags; i++)
                if (strcmp(cli->cmd->flags[i].name, name) == 0)
                        return cli->args.set[i] ? cli->args.value[i] : NULL;
        return NULL;
}

int main(int argc, char **argv)
{
        struct cli cli = {0};
        const struct cli_cmd *cmd = cli_root();
        char words[256] = "banger";
        int i = 1;

        log_setup("cli", LOG_LEVEL_WARN, 2);
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
                printf("banger %s (commit %s, built %s)\n", BANGER_VERSION, BANGER_COMMIT,
                       BANGER_BUILD_TIME);
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "__complete") == 0)
                return cli_complete_main(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "__docs") == 0)
                return cli_docs_main();
        /* Walk down the tree: each word that names a subcommand descends. */
        while (cmd->n_subs) {
                if (i >= argc) {
                        cli_print_help(cmd, words);
                        return cmd == cli_root() ? CLI_EXIT_OK : CLI_EXIT_USAGE;
                }
                const char *w = argv[i];
                int used = cli_output_option(argc - i, argv + i);
                if (used < 0)
                        return -used;
                if (used > 0) {
                        i += used;
                        continue;
                }
                if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0 || strcmp(w, "help") == 0) {
                        cli_print_help(cmd, words);
                        return CLI_EXIT_OK;
                }
                const struct cli_cmd *next = NULL;
                for (size_t k = 0; k < cmd->n_subs; k++)
                        if (strcmp(cmd->subs[k].name, w) == 0)
                                next = &cmd->subs[k];
                if (!next)
                        return usage_error(words, "unknown command '%s'", w);
                size_t len = strlen(words);
                snprintf(words + len, sizeof(words) - len, " %s", w);
                cmd = next;
                i++;
        }
        cli.cmd = cmd;
        cli.path_words = words;
        int r = parse_flags(cmd, words, argc - i, argv + i, &cli.args);
        if (r == 0)
                r = cmd->run(&cli, cmd, cli.args.n_pos, cli.args.pos);
        else if (r < 0)
                r = CLI_EXIT_OK;
        free(cli.args.pos);
        for (size_t k = 0; k < CLI_MAX_FLAGS; k++)
                free(cli.args.values[k]);
        return r;
}
