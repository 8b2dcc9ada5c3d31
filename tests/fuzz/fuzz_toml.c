/* Fuzz target "toml": the TOML 1.0 reader (lib/config/toml.c) over any
 * bytes, as a config file under the owner's or an admin's control is read.
 * Checks beyond "no crash": a failure sets -EINVAL/-ENOMEM with a
 * "LINE:COL: ..." message and no tree; a success yields a table whose every
 * node has a known type, exact string lengths and a position inside the
 * input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml.h"
#include "fuzz.h"

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz_toml: check failed: %s (%s:%d)\n", #cond,    \
                                __FILE__, __LINE__);                                       \
                        abort();                                                           \
                }                                                                          \
        } while (0)

static unsigned max_line;

static void walk(const struct toml_value *v, int depth)
{
        CHECK(v);
        CHECK(v->type >= 0 && v->type < _TOML_TYPE_MAX);
        CHECK(toml_type_to_string(v->type));
        CHECK(v->line >= 1 && v->line <= max_line);
        CHECK(depth < 100000);
        switch (v->type) {
        case TOML_TABLE:
                for (size_t i = 0; i < v->u.table.n; i++) {
                        const struct toml_keyval *kv = &v->u.table.items[i];
                        CHECK(kv->key && kv->key[kv->key_len] == '\0');
                        CHECK(kv->line >= 1 && kv->line <= max_line);
                        /* toml_table_find stops at a NUL; keys without one must be found */
                        if (strlen(kv->key) == kv->key_len)
                                CHECK(toml_table_find(v, kv->key) == kv);
                        walk(kv->value, depth + 1);
                }
                break;
        case TOML_ARRAY:
                for (size_t i = 0; i < v->u.array.n; i++)
                        walk(v->u.array.items[i], depth + 1);
                break;
        case TOML_STRING:
                CHECK(v->u.str.ptr && v->u.str.ptr[v->u.str.len] == '\0');
                break;
        case TOML_DATETIME:
        case TOML_DATETIME_LOCAL:
        case TOML_DATE_LOCAL:
        case TOML_TIME_LOCAL: {
                const struct toml_datetime *dt = &v->u.datetime.dt;
                CHECK(v->u.datetime.text);
                CHECK(dt->month >= 0 && dt->month <= 12 && dt->day >= 0 && dt->day <= 31);
                CHECK(dt->hour >= 0 && dt->hour <= 23 && dt->minute >= 0 && dt->minute <= 59);
                CHECK(dt->second >= 0 && dt->second <= 60 && dt->nanosecond < 1000000000u);
                break;
        }
        default:
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct toml_value *root = NULL;
        struct bg_error err = {};
        int r = toml_parse((const char *)data, size, &root, &err);
        if (r < 0) {
                CHECK(r == -EINVAL || r == -ENOMEM);
                CHECK(!root);
                CHECK(err.msg[0] != '\0');
                return 0;
        }
        max_line = 1;
        for (size_t i = 0; i < size; i++)
                if (data[i] == '\n')
                        max_line++;
        CHECK(root && root->type == TOML_TABLE);
        walk(root, 0);
        toml_free(root);
        return 0;
}
