#include "toml_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static json_t *tagged(const char *type, const char *value, size_t len)
{
        json_t *o = json_object();
        if (!o)
                return NULL;
        if (json_object_set_new(o, "type", json_string(type)) < 0 ||
            json_object_set_new(o, "value", json_stringn(value, len)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *toml_to_tagged_json(const struct toml_value *v)
{
        char tmp[64];
        switch (v->type) {
        case TOML_TABLE: {
                json_t *o = json_object();
                if (!o)
                        return NULL;
                for (size_t i = 0; i < v->u.table.n; i++) {
                        const struct toml_keyval *kv = &v->u.table.items[i];
                        json_t *c = toml_to_tagged_json(kv->value);
                        if (!c || json_object_setn_new(o, kv->key, kv->key_len, c) < 0) {
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        case TOML_ARRAY: {
                json_t *a = json_array();
                if (!a)
                        return NULL;
                for (size_t i = 0; i < v->u.array.n; i++) {
                        json_t *c = toml_to_tagged_json(v->u.array.items[i]);
                        if (!c || json_array_append_new(a, c) < 0) {
                                json_decref(a);
                                return NULL;
                        }
                }
                return a;
        }
        case TOML_STRING:
                return tagged("string", v->u.str.ptr, v->u.str.len);
        case TOML_INTEGER:
                snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.integer);
                return tagged("integer", tmp, strlen(tmp));
        case TOML_FLOAT:
                if (isnan(v->u.fp))
                        snprintf(tmp, sizeof(tmp), "nan");
                else if (isinf(v->u.fp))
                        snprintf(tmp, sizeof(tmp), "%sinf", v->u.fp < 0 ? "-" : "");
                else
                        snprintf(tmp, sizeof(tmp), "%.17g", v->u.fp);
                return tagged("float", tmp, strlen(tmp));
        case TOML_BOOL:
                return tagged("bool", v->u.boolean ? "true" : "false", v->u.boolean ? 4 : 5);
        case TOML_DATETIME:
                return tagged("datetime", v->u.datetime.text, strlen(v->u.datetime.text));
        case TOML_DATETIME_LOCAL:
                return tagged("datetime-local", v->u.datetime.text, strlen(v->u.datetime.text));
        case TOML_DATE_LOCAL:
                return tagged("date-local", v->u.datetime.text, strlen(v->u.datetime.text));
        case TOML_TIME_LOCAL:
                return tagged("time-local", v->u.datetime.text, strlen(v->u.datetime.text));
        default:
                return NULL;
        }
}
