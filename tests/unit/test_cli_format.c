/* cli/format.c and cli/output.c: how lists print (-q, column lists,
 * {{.Field}} templates, 'table' templates, unknown fields), the list
 * filters, and the global --color/--quiet/--verbose options with NO_COLOR. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"
#include "output.h"

static const struct cli_field fields[] = {
    {"name", "NAME", false},
    {"state", "STATE", false},
    {"vcpu", "VCPU", true},
    {"work_disk", "WORK DISK", false},
};
#define NF (sizeof(fields) / sizeof(fields[0]))

static const char *row1[] = {"web", "running", "2", "8.0 GiB"};
static const char *row2[] = {"db-primary", "stopped", "16", NULL};
static const char *row3[] = {"evil\033]0;x\007", "error", "1", ""};

/* What f prints for the three rows above. The caller frees. */
static char *render(const struct cli_format *f)
{
        const char *const *rows[] = {row1, row2, row3};
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        assert_non_null(m);
        cli_format_print(f, fields, NF, rows, 3, m);
        fclose(m);
        return buf;
}

static char *parse_render(const char *spec, bool names)
{
        struct cli_format f;
        struct bg_error err = {0};
        assert_int_equal(cli_format_parse(spec, names, fields, NF, "name,state,vcpu", &f, &err), 0);
        char *out = render(&f);
        cli_format_done(&f);
        return out;
}

static void test_default_table(void **state)
{
        char *out = parse_render(NULL, false);
        /* Widths from the data, two spaces between columns, numbers right-
         * aligned, the last column unpadded, a guest's escapes shown. */
        assert_string_equal(out, "NAME              STATE    VCPU\n"
                                 "web               running     2\n"
                                 "db-primary        stopped    16\n"
                                 "evil\\x1b]0;x\\x07  error       1\n");
        free(out);
}

static void test_names_only(void **state)
{
        char *out = parse_render(NULL, true);
        assert_string_equal(out, "web\ndb-primary\nevil\\x1b]0;x\\x07\n");
        free(out);
        struct cli_format f;
        struct bg_error err = {0};
        assert_int_equal(cli_format_parse("name", true, fields, NF, "name", &f, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "-q and --format"));
}

static void test_columns(void **state)
{
        char *out = parse_render("state, NAME,work_disk", false);
        assert_string_equal(out, "STATE    NAME              WORK DISK\n"
                                 "running  web               8.0 GiB\n"
                                 "stopped  db-primary        -\n"
                                 "error    evil\\x1b]0;x\\x07  -\n");
        free(out);
}

static void test_template(void **state)
{
        char *out = parse_render("{{.Name}}\\t{{ .WorkDisk }} ({{.vcpu}} cpu)", false);
        assert_string_equal(out, "web\t8.0 GiB (2 cpu)\n"
                                 "db-primary\t- (16 cpu)\n"
                                 "evil\\x1b]0;x\\x07\t- (1 cpu)\n");
        free(out);
        out = parse_render("table {{.Vcpu}}\\t{{.Name}}", false);
        assert_string_equal(out, "VCPU  NAME\n"
                                 "   2  web\n"
                                 "  16  db-primary\n"
                                 "   1  evil\\x1b]0;x\\x07\n");
        free(out);
        out = parse_render("table", false);
        assert_non_null(strstr(out, "NAME "));
        free(out);
}

static void test_bad_formats(void **state)
{
        struct cli_format f;
        struct bg_error err = {0};
        assert_int_equal(cli_format_parse("{{.Nmae}}", false, fields, NF, "name", &f, &err),
                         -EINVAL);
        assert_string_equal(err.msg, "--format: unknown field 'Nmae'; valid fields: name, state, "
                                     "vcpu, work_disk");
        assert_int_equal(cli_format_parse("name,ip", false, fields, NF, "name", &f, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "unknown field 'ip'"));
        assert_int_equal(cli_format_parse("{{.Name", false, fields, NF, "name", &f, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "without '}}'"));
        assert_int_equal(cli_format_parse("{{json .}}", false, fields, NF, "name", &f, &err),
                         -EINVAL);
        assert_non_null(strstr(err.msg, "is not a field"));
        assert_int_equal(cli_format_parse("{{.Name | upper}}", false, fields, NF, "name", &f, &err),
                         -EINVAL);
        assert_int_equal(cli_format_parse(",,", false, fields, NF, "name", &f, &err), -EINVAL);
        assert_int_equal(cli_format_parse("table x", false, fields, NF, "name", &f, &err), -EINVAL);
}

static void test_filters(void **state)
{
        struct cli_filter f = {.state = "running"};
        struct bg_error err = {0};
        const char *want[] = {"team=infra", "env"};
        assert_int_equal(cli_filter_labels(&f, want, 2, &err), 0);
        const char *k[] = {"env", "team"}, *v[] = {"prod", "infra"};
        assert_true(cli_filter_match(&f, "running", "golden", k, v, 2));
        assert_false(cli_filter_match(&f, "stopped", "golden", k, v, 2));
        const char *v2[] = {"prod", "web"};
        assert_false(cli_filter_match(&f, "running", "golden", k, v2, 2));        /* team differs */
        assert_false(cli_filter_match(&f, "running", "golden", k + 1, v + 1, 1)); /* no env */
        cli_filter_done(&f);
        struct cli_filter g = {.image = "golden"};
        assert_true(cli_filter_match(&g, "error", "golden", NULL, NULL, 0));
        assert_false(cli_filter_match(&g, "error", "alpine", NULL, NULL, 0));
        const char *bad[] = {"=x"};
        assert_int_equal(cli_filter_labels(&g, bad, 1, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "KEY=VALUE"));
        cli_filter_done(&g);
}

static int opt(const char *a, const char *b)
{
        char *argv[] = {(char *)a, (char *)b, NULL};
        return cli_output_option(b ? 2 : 1, argv);
}

static void test_color_and_globals(void **state)
{
        FILE *m = tmpfile(); /* not a terminal */
        assert_non_null(m);
        unsetenv("NO_COLOR");
        assert_false(cli_color(m));
        assert_int_equal(opt("--color=always", NULL), 1);
        assert_true(cli_color(m));
        setenv("NO_COLOR", "1", 1);
        assert_true(cli_color(m)); /* always is always */
        assert_int_equal(opt("--color", "auto"), 2);
        assert_false(cli_color(m));
        setenv("NO_COLOR", "", 1);  /* empty: as if unset */
        assert_false(cli_color(m)); /* still not a terminal */
        assert_int_equal(opt("--no-color", NULL), 1);
        assert_false(cli_color(m));
        assert_int_equal(opt("--color=sometimes", NULL), -2);
        assert_int_equal(opt("--color", NULL), -2);
        fclose(m);

        assert_false(cli_quiet());
        assert_int_equal(opt("--quiet", NULL), 1);
        assert_true(cli_quiet());
        assert_int_equal(opt("--verbose", NULL), 1);
        assert_true(cli_verbose());
        assert_false(cli_quiet());
        assert_int_equal(opt("--json", NULL), 0);
        assert_int_equal(opt("vm", NULL), 0);

        assert_string_equal(cli_state_sgr("running"), "\033[32m");
        assert_string_equal(cli_state_sgr("error"), "\033[31m");
        assert_string_equal(cli_state_sgr("created"), "");
}

int main(void)
{
        unsetenv("NO_COLOR");
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_default_table),     cmocka_unit_test(test_names_only),
            cmocka_unit_test(test_columns),           cmocka_unit_test(test_template),
            cmocka_unit_test(test_bad_formats),       cmocka_unit_test(test_filters),
            cmocka_unit_test(test_color_and_globals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
