/* The fake Firecracker's contract: Firecracker's own Swagger document
 * (YAML, read into JSON) and the check of a request body against its
 * schemas. */
#include "fc_contract_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#define SPEC_NAME "firecracker-v1.16-api.yaml"

int fc_contract_spec_path(char *buf, size_t len)
{
        const char *dir = getenv("BANGER_SHARED_DIR");
        if (!dir || !*dir)
                return -ENOENT;
        if (snprintf(buf, len, "%s/ref/" SPEC_NAME, dir) >= (int)len)
                return -ENAMETOOLONG;
        return access(buf, R_OK) == 0 ? 0 : -errno;
}

/* ---- YAML -> JSON ------------------------------------------------------ */

static json_t *yaml_node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
        if (!n || depth > 64)
                return NULL;
        switch (n->type) {
        case YAML_SCALAR_NODE:
                return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
        case YAML_SEQUENCE_NODE: {
                json_t *a = json_array();
                for (yaml_node_item_t *i = n->data.sequence.items.start;
                     a && i < n->data.sequence.items.top; i++) {
                        json_t *v =
                            yaml_node_to_json(doc, yaml_document_get_node(doc, *i), depth + 1);
                        if (!v || json_array_append_new(a, v) < 0) {
                                json_decref(a);
                                return NULL;
                        }
                }
                return a;
        }
        case YAML_MAPPING_NODE: {
                json_t *o = json_object();
                for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                     o && p < n->data.mapping.pairs.top; p++) {
                        yaml_node_t *k = yaml_document_get_node(doc, p->key);
                        if (!k || k->type != YAML_SCALAR_NODE) {
                                json_decref(o);
                                return NULL;
                        }
                        json_t *v = yaml_node_to_json(doc, yaml_document_get_node(doc, p->value),
                                                      depth + 1);
                        if (!v || json_object_setn_new(o, (const char *)k->data.scalar.value,
                                                       k->data.scalar.length, v) < 0) {
                                json_decref(v);
                                json_decref(o);
                                return NULL;
                        }
                }
                return o;
        }
        default:
                return NULL;
        }
}

int fc_contract_load(const char *yaml_path, struct fc_contract **ret, char *errbuf, size_t errlen)
{
        _cleanup_fclose_ FILE *f = fopen(yaml_path, "re");
        if (!f) {
                int r = -errno;
                snprintf(errbuf, errlen, "open %s: %s", yaml_path, strerror(-r));
                return r;
        }
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!yaml_parser_initialize(&parser)) {
                snprintf(errbuf, errlen, "libyaml: cannot initialise");
                return -ENOMEM;
        }
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &doc)) {
                snprintf(errbuf, errlen, "%s:%zu: %s", yaml_path, parser.problem_mark.line + 1,
                         parser.problem ? parser.problem : "YAML error");
                yaml_parser_delete(&parser);
                return -EBADMSG;
        }
        json_t *j = yaml_node_to_json(&doc, yaml_document_get_root_node(&doc), 0);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        if (!j || !json_is_object(json_object_get(j, "paths")) ||
            !json_is_object(json_object_get(j, "definitions"))) {
                json_decref(j);
                snprintf(errbuf, errlen, "%s: not a Swagger document with paths and definitions",
                         yaml_path);
                return -EBADMSG;
        }
        struct fc_contract *c = calloc(1, sizeof(*c));
        if (!c) {
                json_decref(j);
                return -ENOMEM;
        }
        c->doc = j;
        c->paths = json_object_get(j, "paths");
        c->defs = json_object_get(j, "definitions");
        *ret = c;
        return 0;
}

struct fc_contract *fc_contract_free(struct fc_contract *c)
{
        if (c) {
                json_decref(c->doc);
                free(c);
        }
        return NULL;
}

/* ---- schema validation ------------------------------------------------- */

int fc_contract_faultf(char *fault, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fault, FAULT_MAX, fmt, ap);
        va_end(ap);
        return -1;
}

static json_t *resolve(const struct fc_contract *c, json_t *schema)
{
        for (int i = 0; i < 16 && schema; i++) {
                const char *ref = json_string_value(json_object_get(schema, "$ref"));
                if (!ref)
                        return schema;
                static const char pfx[] = "#/definitions/";
                if (strncmp(ref, pfx, sizeof(pfx) - 1) != 0)
                        return NULL;
                schema = json_object_get(c->defs, ref + sizeof(pfx) - 1);
        }
        return NULL;
}

static const char *json_kind(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        default:
                return "null";
        }
}

int fc_contract_validate(const struct fc_contract *c, json_t *schema, json_t *v, const char *where,
                         int depth, char *fault)
{
        if (depth > 32)
                return fc_contract_faultf(fault, "%s: schema too deep", where);
        schema = resolve(c, schema);
        if (!schema)
                return fc_contract_faultf(fault, "%s: unresolvable $ref in the specification",
                                          where);
        const char *type = json_string_value(json_object_get(schema, "type"));
        json_t *props = json_object_get(schema, "properties");
        if (!type && props)
                type = "object";

        if (type && streq(type, "object")) {
                if (!json_is_object(v))
                        return fc_contract_faultf(fault, "%s: invalid type: %s, expected an object",
                                                  where, json_kind(v));
                size_t i;
                json_t *req;
                json_array_foreach(json_object_get(schema, "required"), i, req)
                {
                        const char *k = json_string_value(req);
                        if (k && !json_object_get(v, k))
                                return fc_contract_faultf(fault, "%s: missing field `%s`", where,
                                                          k);
                }
                const char *addl =
                    json_string_value(json_object_get(schema, "additionalProperties"));
                bool open = addl && streq(addl, "true");
                const char *k;
                json_t *fv;
                json_object_foreach(v, k, fv)
                {
                        json_t *ps = json_object_get(props, k);
                        char sub[256];
                        snprintf(sub, sizeof(sub), "%s.%s", where, k);
                        if (!ps) {
                                if (open)
                                        continue;
                                return fc_contract_faultf(fault, "%s: unknown field `%s`", where,
                                                          k);
                        }
                        if (fc_contract_validate(c, ps, fv, sub, depth + 1, fault) < 0)
                                return -1;
                }
                return 0;
        }
        if (type && streq(type, "array")) {
                if (!json_is_array(v))
                        return fc_contract_faultf(fault, "%s: invalid type: %s, expected an array",
                                                  where, json_kind(v));
                json_t *items = json_object_get(schema, "items");
                size_t i;
                json_t *iv;
                json_array_foreach(v, i, iv)
                {
                        char sub[256];
                        snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
                        if (items && fc_contract_validate(c, items, iv, sub, depth + 1, fault) < 0)
                                return -1;
                }
                return 0;
        }
        if (type && streq(type, "string") && !json_is_string(v))
                return fc_contract_faultf(fault, "%s: invalid type: %s, expected a string", where,
                                          json_kind(v));
        if (type && streq(type, "boolean") && !json_is_boolean(v))
                return fc_contract_faultf(fault, "%s: invalid type: %s, expected a boolean", where,
                                          json_kind(v));
        if (type && streq(type, "number") && !json_is_number(v))
                return fc_contract_faultf(fault, "%s: invalid type: %s, expected a number", where,
                                          json_kind(v));
        if (type && streq(type, "integer")) {
                if (!json_is_integer(v))
                        return fc_contract_faultf(fault,
                                                  "%s: invalid type: %s, expected an integer",
                                                  where, json_kind(v));
                json_int_t x = json_integer_value(v);
                /* Every integer of Firecracker's API is unsigned. */
                if (x < 0)
                        return fc_contract_faultf(
                            fault, "%s: invalid value: %lld, expected an unsigned integer", where,
                            (long long)x);
                const char *mn = json_string_value(json_object_get(schema, "minimum"));
                const char *mx = json_string_value(json_object_get(schema, "maximum"));
                if (mn && x < atoll(mn))
                        return fc_contract_faultf(fault, "%s: %lld is below the minimum %s", where,
                                                  (long long)x, mn);
                if (mx && x > atoll(mx))
                        return fc_contract_faultf(fault, "%s: %lld is above the maximum %s", where,
                                                  (long long)x, mx);
        }
        json_t *en = json_object_get(schema, "enum");
        if (json_is_array(en)) {
                if (!json_is_string(v))
                        return fc_contract_faultf(fault,
                                                  "%s: invalid type: %s, expected one of the enum "
                                                  "strings",
                                                  where, json_kind(v));
                size_t i;
                json_t *ev;
                json_array_foreach(en, i, ev)
                {
                        if (json_is_string(ev) &&
                            streq(json_string_value(ev), json_string_value(v)))
                                return 0;
                }
                return fc_contract_faultf(fault, "%s: unknown variant `%s`", where,
                                          json_string_value(v));
        }
        return 0;
}
