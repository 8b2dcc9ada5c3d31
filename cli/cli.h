/* The `banger` command line: a tree of commands described by tables, from
 * which parsing, --help and (later) completion and docs/cli.md are made. */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "paths/paths.h"
#include "rpc/rpc.h"
#include "term.h"

#define CLI_MAX_FLAGS 16

struct cli_flag {
        const char *name; /* long name without dashes, "json" */
        char short_name;  /* 0 = none */
        const char *arg;  /* NULL for booleans, else metavar "SECONDS" */
        const char *help;
};

struct cli;

/* What a command's positional arguments complete to in the shell. */
enum cli_complete {
        CLI_COMPLETE_NONE,
        CLI_COMPLETE_FILE,
        CLI_COMPLETE_KERNEL, /* live kernel names from the running services */
        CLI_COMPLETE_VM,     /* live VM names */
        CLI_COMPLETE_IMAGE,  /* live image names */
        CLI_COMPLETE_TEMPLATE, /* live template names */
        CLI_COMPLETE_KERNEL_CATALOG, /* names `kernel pull` can fetch (kernel catalog) */
};

struct cli_cmd {
        const char *name;
        const char *args;        /* usage tail after flags, e.g. "[NAME]" */
        const char *summary;     /* one line */
        const char *description; /* paragraphs for --help, may be NULL */
        const struct cli_flag *flags;
        size_t n_flags;
        const struct cli_cmd *subs;
        size_t n_subs;
        int (*run)(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
        int min_args, max_args; /* positional arguments accepted (max -1 = any) */
        enum cli_complete complete;
};

/* Parsed flags of the command being run. */
struct cli_args {
        bool set[CLI_MAX_FLAGS];
        const char *value[CLI_MAX_FLAGS];   /* the last one given */
        const char **values[CLI_MAX_FLAGS]; /* every one given, in order (repeatable flags) */
        size_t n_values[CLI_MAX_FLAGS];
        char **pos;
        int n_pos;
        int dashdash_at; /* index in pos where words after "--" start, -1 if none */
};

struct cli {
        struct bg_paths paths;
        bool paths_ready;
        const char *path_words; /* "banger daemon start" for messages */
        struct cli_args args;
        const struct cli_cmd *cmd;
};

/* Exit codes besides those of rpc_code_to_exit. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

const struct cli_cmd *cli_root(void);

/* Flag lookup for the running command. */
bool cli_flag(const struct cli *cli, const char *name);
const char *cli_flag_value(const struct cli *cli, const char *name);
/* Every value a repeatable flag was given (--label a=1 --label b=2), in
 * order; *ret_n = 0 and NULL when none. */
const char *const *cli_flag_values(const struct cli *cli, const char *name, size_t *ret_n);

int cli_paths(struct cli *cli);
/* Prints "banger: MESSAGE" to stderr, without a newline. */
void cli_verror(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Prints "banger: MESSAGE" to stderr and returns the exit code for code. */
int cli_fail(enum rpc_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail_status(const struct rpc_status *st);

/* One call through a fresh gateway connection; method is the full
 * "/banger.v1.Service/Method". 0, or < 0 with st filled. */
int cli_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *od, ProtobufCMessage **out, uint32_t deadline_ms,
             unsigned flags, struct rpc_status *st);

/* Prints o as indented JSON and a newline on stdout, and frees it. */
void cli_print_json(json_t *o);

/* Connects to the gateway (fails at once when it is not running). */
int cli_gateway(struct cli *cli, struct rpc_client **ret, struct rpc_status *st);

void cli_print_help(const struct cli_cmd *cmd, const char *path_words);

/* Shell completion backend: `banger __complete WORD… PARTIAL` prints the
 * candidates for PARTIAL, one per line ("__files__" = complete file names). */
int cli_complete_main(int argc, char **argv);
/* `banger __docs`: the whole command tree as Markdown (docs/cli.md). */
int cli_docs_main(void);

/* commands */
/* Parses a size like 8G, 512M, 4GiB or plain bytes; fails naming --flag. */
int cli_parse_size(const char *flag, const char *s, uint64_t *ret);

int cmd_image_build(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_ssh(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_ssh_config(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_pull(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_image_cache_prune(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_run(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_exec(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_cp(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_workspace_prepare(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_workspace_export(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_workspace_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_restart(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_set(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_logs(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_stats(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_ports(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_health(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_prune(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_create(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_start(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_stop(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_kill(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_forward(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_pause(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_vm_resume(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_template_create(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_template_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_template_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_template_delete(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_completion(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_version(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_daemon_start(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_daemon_stop(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_config_check(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_config_keys(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_daemon_status(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
