/* How list commands print their rows: a table (the default columns, or the
 * ones `--format name,state,ip` names), names only (-q), or a Go-template-
 * like line per row (`--format '{{.Name}} {{.State}}'`, and `--format
 * 'table {{.Name}}\t{{.IP}}'` for a table of those fields with headers).
 * A list describes its fields once; each row is one string per field, raw
 * (what the services sent): everything printed goes through cli_safe, so a
 * guest's escape sequence is shown, never obeyed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/error.h"

struct cli_field {
        const char *name;   /* "name", "work_disk": for column lists and {{.Name}} */
        const char *header; /* "NAME" */
        bool right;         /* right-aligned (numbers, sizes) */
};

#define CLI_FORMAT_MAX_COLS 32

struct cli_tmpl_part {
        char *text; /* literal text, or NULL for a field */
        size_t field;
};

struct cli_format {
        enum { CLI_FORMAT_TABLE, CLI_FORMAT_NAMES, CLI_FORMAT_TEMPLATE } kind;
        size_t cols[CLI_FORMAT_MAX_COLS]; /* TABLE: field indexes, in order */
        size_t n_cols;
        struct cli_tmpl_part *parts; /* TEMPLATE: literal text and fields, in order */
        size_t n_parts;
        int state_col; /* field whose cells are coloured by state; -1 = none */
        bool color;
};

/* Works out the format from -q (names) and --format SPEC (NULL: the
 * default_cols, a column list like "name,state,ip"). A field name matches
 * case-insensitively and without '_' ({{.WorkDisk}} is work_disk). An
 * unknown field fails with -EINVAL and err naming it and every valid one. */
int cli_format_parse(const char *spec, bool names_only, const struct cli_field *fields,
                     size_t n_fields, const char *default_cols, struct cli_format *ret,
                     struct bg_error *err);
void cli_format_done(struct cli_format *f);

/* The rows, each n_fields strings (NULL = "-"), printed as f says. */
void cli_format_print(const struct cli_format *f, const struct cli_field *fields, size_t n_fields,
                      const char *const *const *rows, size_t n_rows, FILE *out);

/* `--label k=v`, `--state`, `--image`: what a list keeps. */
struct cli_filter {
        const char *state, *image;
        char **keys, **values; /* --label KEY=VALUE (all must match); VALUE may be empty */
        size_t n_labels;
};
/* Splits the --label arguments; fails naming the bad one. */
int cli_filter_labels(struct cli_filter *f, const char *const *labels, size_t n,
                      struct bg_error *err);
void cli_filter_done(struct cli_filter *f);
/* Whether a row with this state, image and labels is kept. */
bool cli_filter_match(const struct cli_filter *f, const char *state, const char *image,
                      const char *const *keys, const char *const *values, size_t n);

struct cli;
/* -q/--quiet and --format of the running list command (and their clash
 * with --json) into ret; 0, or an exit code after printing the error. */
int cli_list_format(struct cli *cli, const struct cli_field *fields, size_t n_fields,
                    const char *default_cols, struct cli_format *ret);
