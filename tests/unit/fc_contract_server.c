#include "fc_contract_server.h"

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

#include "util/macro.h"

#define SPEC_NAME "firecracker-v1.16-api.yaml"
#define MAX_CONNS 32
#define MAX_REQ (64 * 1024)
#define FAULT_MAX 512
/* The first key of the fake's snapshot state file, and the first bytes of
 * its memory file: what a load checks it was given. */
#define SNAP_MARKER "fake_firecracker_snapshot"
#define MEM_MARKER "fake-firecracker-memory\n"

struct fc_contract {
        json_t *doc;   /* the whole spec as JSON (every scalar a string) */
        json_t *paths; /* doc.paths */
        json_t *defs;  /* doc.definitions */
};

struct fc_contract_state {
        const struct fc_contract *c;
        struct fc_contract_opts o;
        bool started, logger, metrics, boot_source, shutdown_requested;
        bool paused;           /* PATCH /vm Paused, until Resumed */
        bool configured;       /* a boot resource was PUT: no snapshot load any more */
        bool loaded;           /* started by PUT /snapshot/load */
        char fatal[FAULT_MAX]; /* a failed load: Firecracker exits after answering */
        unsigned root_drives;
        json_t *drives;  /* drive_id -> body */
        json_t *ifaces;  /* iface_id -> body */
        json_t *machine; /* machine-config body, or NULL */
        json_t *vsock;   /* PUT /vsock body (uds_path as given), or NULL */
        int vsock_fd;    /* listening hybrid-vsock uds, -1 */
        char vsock_path[108];
        unsigned calls, rejected;
};

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

static int faultf(char *fault, const char *fmt, ...) _printf_(2, 3);
static int faultf(char *fault, const char *fmt, ...)
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

static int validate(const struct fc_contract *c, json_t *schema, json_t *v, const char *where,
                    int depth, char *fault)
{
        if (depth > 32)
                return faultf(fault, "%s: schema too deep", where);
        schema = resolve(c, schema);
        if (!schema)
                return faultf(fault, "%s: unresolvable $ref in the specification", where);
        const char *type = json_string_value(json_object_get(schema, "type"));
        json_t *props = json_object_get(schema, "properties");
        if (!type && props)
                type = "object";

        if (type && streq(type, "object")) {
                if (!json_is_object(v))
                        return faultf(fault, "%s: invalid type: %s, expected an object", where,
                                      json_kind(v));
                size_t i;
                json_t *req;
                json_array_foreach(json_object_get(schema, "required"), i, req)
                {
                        const char *k = json_string_value(req);
                        if (k && !json_object_get(v, k))
                                return faultf(fault, "%s: missing field `%s`", where, k);
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
                                return faultf(fault, "%s: unknown field `%s`", where, k);
                        }
                        if (validate(c, ps, fv, sub, depth + 1, fault) < 0)
                                return -1;
                }
                return 0;
        }
        if (type && streq(type, "array")) {
                if (!json_is_array(v))
                        return faultf(fault, "%s: invalid type: %s, expected an array", where,
                                      json_kind(v));
                json_t *items = json_object_get(schema, "items");
                size_t i;
                json_t *iv;
                json_array_foreach(v, i, iv)
                {
                        char sub[256];
                        snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
                        if (items && validate(c, items, iv, sub, depth + 1, fault) < 0)
                                return -1;
                }
                return 0;
        }
        if (type && streq(type, "string") && !json_is_string(v))
                return faultf(fault, "%s: invalid type: %s, expected a string", where,
                              json_kind(v));
        if (type && streq(type, "boolean") && !json_is_boolean(v))
                return faultf(fault, "%s: invalid type: %s, expected a boolean", where,
                              json_kind(v));
        if (type && streq(type, "number") && !json_is_number(v))
                return faultf(fault, "%s: invalid type: %s, expected a number", where,
                              json_kind(v));
        if (type && streq(type, "integer")) {
                if (!json_is_integer(v))
                        return faultf(fault, "%s: invalid type: %s, expected an integer", where,
                                      json_kind(v));
                json_int_t x = json_integer_value(v);
                /* Every integer of Firecracker's API is unsigned. */
                if (x < 0)
                        return faultf(fault,
                                      "%s: invalid value: %lld, expected an unsigned integer",
                                      where, (long long)x);
                const char *mn = json_string_value(json_object_get(schema, "minimum"));
                const char *mx = json_string_value(json_object_get(schema, "maximum"));
                if (mn && x < atoll(mn))
                        return faultf(fault, "%s: %lld is below the minimum %s", where,
                                      (long long)x, mn);
                if (mx && x > atoll(mx))
                        return faultf(fault, "%s: %lld is above the maximum %s", where,
                                      (long long)x, mx);
        }
        json_t *en = json_object_get(schema, "enum");
        if (json_is_array(en)) {
                if (!json_is_string(v))
                        return faultf(fault,
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
                return faultf(fault, "%s: unknown variant `%s`", where, json_string_value(v));
        }
        return 0;
}

/* ---- routing ------------------------------------------------------------ */

/* Matches target against a path template ("/drives/{drive_id}"); the first
 * parameter value is copied to param. */
static bool path_match(const char *tmpl, const char *target, char *param, size_t plen)
{
        const char *t = tmpl, *p = target;
        while (*t && *p) {
                if (*t == '{') {
                        const char *te = strchr(t, '}');
                        size_t n = strcspn(p, "/");
                        if (!te || n == 0)
                                return false;
                        snprintf(param, plen, "%.*s", (int)n, p);
                        t = te + 1;
                        p += n;
                        continue;
                }
                if (*t != *p)
                        return false;
                t++;
                p++;
        }
        return !*t && !*p;
}

static json_t *body_schema(json_t *op, bool *required)
{
        size_t i;
        json_t *par;
        json_array_foreach(json_object_get(op, "parameters"), i, par)
        {
                const char *in = json_string_value(json_object_get(par, "in"));
                if (in && streq(in, "body")) {
                        const char *req = json_string_value(json_object_get(par, "required"));
                        *required = req && streq(req, "true");
                        return json_object_get(par, "schema");
                }
        }
        *required = false;
        return NULL;
}

static bool mac_ok(const char *m)
{
        if (strlen(m) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
                        return false;
        return true;
}

/* path as the host sees it when Firecracker runs in a chroot. */
static const char *rooted(const struct fc_contract_state *st, const char *path, char *buf,
                          size_t len)
{
        if (!st->o.root || !path)
                return path;
        snprintf(buf, len, "%s%s", st->o.root, path);
        return buf;
}

static int file_check(const struct fc_contract_state *st, const char *what, const char *path,
                      int mode, char *fault)
{
        char rb[4200];
        if (st->o.skip_file_checks || access(rooted(st, path, rb, sizeof(rb)), mode) == 0)
                return 0;
        return faultf(fault, "%s: cannot open '%s': %s", what, path, strerror(errno));
}

static int bind_vsock(struct fc_contract_state *st, const char *path, char *fault)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char rb[4200];
        path = rooted(st, path, rb, sizeof(rb));
        if (strlen(path) >= sizeof(sa.sun_path))
                return faultf(fault, "Cannot create backend for vsock device: path too long");
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return faultf(fault, "Cannot create backend for vsock device: %s", strerror(errno));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
                int e = errno;
                close(fd);
                return faultf(fault,
                              "Cannot create backend for vsock device: Error binding to the "
                              "host-side Unix socket: %s",
                              strerror(e));
        }
        if (st->vsock_fd >= 0) {
                close(st->vsock_fd);
                unlink(st->vsock_path);
        }
        st->vsock_fd = fd;
        snprintf(st->vsock_path, sizeof(st->vsock_path), "%s", path);
        return 0;
}

static json_int_t mem_mib(const struct fc_contract_state *st)
{
        json_int_t m =
            st->machine ? json_integer_value(json_object_get(st->machine, "mem_size_mib")) : 0;
        return m > 0 ? m : 128;
}

/* PUT /snapshot/create on a paused guest: the "device state" is what was
 * configured (a JSON file starting with SNAP_MARKER), the "memory" a sparse
 * file of mem_size_mib MiB starting with MEM_MARKER. Like Firecracker, the
 * state file is created or truncated, the memory file resized in place. */
static int snapshot_create(struct fc_contract_state *st, json_t *body, char *fault)
{
        if (!st->paused)
                return faultf(fault, "Cannot save the microVM state: Operation not allowed: "
                                     "save/restore unavailable while running");
        char rb[4200], rb2[4200];
        const char *sp =
            rooted(st, json_string_value(json_object_get(body, "snapshot_path")), rb, sizeof(rb));
        const char *mp =
            rooted(st, json_string_value(json_object_get(body, "mem_file_path")), rb2, sizeof(rb2));
        json_t *state = json_pack(
            "{s:s, s:O, s:O, s:O, s:O}", SNAP_MARKER, st->o.version ? st->o.version : "1.16.1",
            "drives", st->drives, "ifaces", st->ifaces, "machine",
            st->machine ? st->machine : json_null(), "vsock", st->vsock ? st->vsock : json_null());
        _cleanup_free_ char *text = state ? json_dumps(state, JSON_COMPACT) : NULL;
        json_decref(state);
        if (!text)
                return faultf(fault, "Cannot save the microVM state: out of memory");
        _cleanup_close_ int fd = open(sp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return faultf(fault, "Cannot perform open on the snapshot backing file: %s",
                              strerror(errno));
        size_t n = strlen(text);
        if (write(fd, text, n) != (ssize_t)n)
                return faultf(fault, "Cannot perform write on the snapshot backing file: %s",
                              strerror(errno));
        _cleanup_close_ int mfd = open(mp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (mfd < 0)
                return faultf(fault, "Cannot perform open on the memory backing file: %s",
                              strerror(errno));
        if (ftruncate(mfd, (off_t)mem_mib(st) << 20) < 0 ||
            pwrite(mfd, MEM_MARKER, strlen(MEM_MARKER), 0) != (ssize_t)strlen(MEM_MARKER))
                return faultf(fault, "Cannot perform write on the memory backing file: %s",
                              strerror(errno));
        return 0;
}

/* A failed load leaves Firecracker "too dirty to recover": it answers and
 * exits (fc_contract_serve returns 1). */
static int load_failed(struct fc_contract_state *st, char *fault, const char *fmt, ...)
    _printf_(3, 4);
static int load_failed(struct fc_contract_state *st, char *fault, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fault, FAULT_MAX, fmt, ap);
        va_end(ap);
        snprintf(st->fatal, sizeof(st->fatal), "%s", fault);
        return -1;
}

/* PUT /snapshot/load on a fresh process: reads the state and memory files
 * the fake's snapshot_create wrote, applies the overrides, opens the
 * recorded drives and binds the vsock uds, and leaves the guest paused
 * unless resume_vm. */
static int snapshot_load(struct fc_contract_state *st, json_t *body, char *fault)
{
        if (st->configured)
                return faultf(fault, "Loading a microVM snapshot not allowed after configuring "
                                     "boot-specific resources.");
        json_t *backend = json_object_get(body, "mem_backend");
        const char *mem_file = json_string_value(json_object_get(body, "mem_file_path"));
        if (backend && mem_file)
                return faultf(fault, "too many fields: either `mem_backend` or `mem_file_path` "
                                     "exclusively is required");
        if (!backend && !mem_file)
                return faultf(fault,
                              "missing field: either `mem_backend` or `mem_file_path` is required");
        if (backend) {
                if (!streq(json_string_value(json_object_get(backend, "backend_type")), "File"))
                        return load_failed(st, fault,
                                           "Failed to restore from snapshot: the fake Firecracker "
                                           "serves no UFFD");
                mem_file = json_string_value(json_object_get(backend, "backend_path"));
        }
        char rb[4200];
        const char *sp =
            rooted(st, json_string_value(json_object_get(body, "snapshot_path")), rb, sizeof(rb));
        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *snap = NULL;
        {
                _cleanup_close_ int fd = open(sp, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Failed to open "
                                           "snapshot file: %s",
                                           strerror(errno));
                snap = json_loadfd(fd, JSON_DISABLE_EOF_CHECK, &jerr);
        }
        if (!json_is_object(snap) || !json_is_string(json_object_get(snap, SNAP_MARKER)))
                return load_failed(st, fault,
                                   "Load snapshot error: Failed to restore from snapshot: Failed "
                                   "to get snapshot state from file: Failed to load snapshot "
                                   "state from file: not a snapshot");
        json_t *machine = json_object_get(snap, "machine");
        json_int_t mib = json_integer_value(json_object_get(machine, "mem_size_mib"));
        if (mib <= 0)
                mib = 128;
        char mb[4200];
        mem_file = rooted(st, mem_file, mb, sizeof(mb));
        {
                _cleanup_close_ int mfd = open(mem_file, O_RDONLY | O_CLOEXEC);
                struct stat sb;
                char head[sizeof(MEM_MARKER)] = "";
                if (mfd < 0 || fstat(mfd, &sb) < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to load guest memory: Error creating guest "
                                           "memory from file: %s",
                                           strerror(errno));
                if (sb.st_size < (off_t)mib << 20)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to load guest memory: Error creating guest "
                                           "memory from file: Failed to restore guest memory: "
                                           "offset too large");
                if (pread(mfd, head, strlen(MEM_MARKER), 0) != (ssize_t)strlen(MEM_MARKER) ||
                    !streq(head, MEM_MARKER))
                        return load_failed(st, fault,
                                           "Load snapshot error: the fake's memory file %s holds "
                                           "no guest memory",
                                           mem_file);
        }
        json_t *ifaces = json_object_get(snap, "ifaces");
        size_t i;
        json_t *ov;
        json_array_foreach(json_object_get(body, "network_overrides"), i, ov)
        {
                json_t *nic =
                    json_object_get(ifaces, json_string_value(json_object_get(ov, "iface_id")));
                if (!nic)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Unknown "
                                           "Network Device.");
                json_object_set(nic, "host_dev_name", json_object_get(ov, "host_dev_name"));
        }
        json_t *vsock = json_object_get(snap, "vsock");
        json_t *vov = json_object_get(body, "vsock_override");
        if (vov) {
                if (!json_is_object(vsock))
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to get snapshot state from file: Unknown Vsock "
                                           "Device.");
                json_object_set(vsock, "uds_path", json_object_get(vov, "uds_path"));
        }
        /* Firecracker opens the recorded drives while it builds the VM. */
        char why[FAULT_MAX];
        const char *id;
        json_t *d;
        json_object_foreach(json_object_get(snap, "drives"), id, d)
        {
                bool ro = json_is_true(json_object_get(d, "is_read_only"));
                if (file_check(st, "Drive", json_string_value(json_object_get(d, "path_on_host")),
                               ro ? R_OK : R_OK | W_OK, why) < 0)
                        return load_failed(st, fault,
                                           "Load snapshot error: Failed to restore from snapshot: "
                                           "Failed to build microVM from snapshot: %.300s",
                                           why);
        }
        if (json_is_object(vsock) &&
            bind_vsock(st, json_string_value(json_object_get(vsock, "uds_path")), why) < 0)
                return load_failed(st, fault,
                                   "Load snapshot error: Failed to restore from snapshot: Failed "
                                   "to build microVM from snapshot: %.300s",
                                   why);
        json_decref(st->drives);
        st->drives = json_incref(json_object_get(snap, "drives"));
        json_decref(st->ifaces);
        st->ifaces = json_incref(ifaces);
        json_decref(st->machine);
        st->machine = json_is_object(machine) ? json_incref(machine) : NULL;
        json_decref(st->vsock);
        st->vsock = json_is_object(vsock) ? json_incref(vsock) : NULL;
        st->started = true;
        st->loaded = true;
        st->paused = !json_is_true(json_object_get(body, "resume_vm"));
        return 0;
}

/* PATCH /drives/{id} (post-boot): a new backing file for a drive that
 * exists, opened like the old one (read-only or read-write). */
static int patch_drive(struct fc_contract_state *st, const char *id, json_t *body, char *fault)
{
        json_t *d = json_object_get(st->drives, id);
        if (!d)
                return faultf(fault,
                              "Unable to patch the block device: Invalid block device ID: "
                              "%s",
                              id);
        const char *p = json_string_value(json_object_get(body, "path_on_host"));
        if (!p)
                return 0;
        bool ro = json_is_true(json_object_get(d, "is_read_only"));
        if (file_check(st, "Drive", p, ro ? R_OK : R_OK | W_OK, fault) < 0)
                return -1;
        json_object_set_new(d, "path_on_host", json_string(p));
        return 0;
}

/* Firecracker's behaviour beyond the schema, for a valid body. */
static int semantics(struct fc_contract_state *st, const char *method, const char *tmpl,
                     const char *param, json_t *body, char *fault)
{
        bool is_put = streq(method, "PUT"), is_patch = streq(method, "PATCH");
        /* Post-boot calls (rpc_interface.rs, RuntimeApiController): actions,
         * every PATCH, snapshots; no more configuration. */
        bool after_ok = streq(tmpl, "/actions") || is_patch || streq(tmpl, "/snapshot/create");
        if (st->started && !after_ok)
                return faultf(fault, "The requested operation is not supported after starting "
                                     "the microVM.");
        if (!st->started &&
            (is_patch || streq(tmpl, "/snapshot/create") ||
             (streq(tmpl, "/actions") &&
              streq(json_string_value(json_object_get(body, "action_type")), "SendCtrlAltDel"))))
                return faultf(fault, "The requested operation is not supported before starting "
                                     "the microVM.");

        /* Ids in the path must equal the ids in the body. */
        static const char *const idkeys[] = {"drive_id", "iface_id", "id"};
        if (param[0])
                for (size_t i = 0; i < ELEMENTSOF(idkeys); i++) {
                        const char *b = json_string_value(json_object_get(body, idkeys[i]));
                        if (b && !streq(b, param))
                                return faultf(fault,
                                              "The id from the path does not match the id from "
                                              "the body!");
                }
        if (is_patch && streq(tmpl, "/vm"))
                st->paused = streq(json_string_value(json_object_get(body, "state")), "Paused");
        if (is_patch && streq(tmpl, "/drives/{drive_id}"))
                return patch_drive(st, param, body, fault);
        if (is_patch && streq(tmpl, "/network-interfaces/{iface_id}") &&
            !json_object_get(st->ifaces, param))
                return faultf(fault,
                              "Unable to update the net device: Invalid network interface "
                              "ID: %s",
                              param);
        if (!is_put)
                return 0;
        if (streq(tmpl, "/snapshot/create"))
                return snapshot_create(st, body, fault);
        if (streq(tmpl, "/snapshot/load"))
                return snapshot_load(st, body, fault);
        /* What makes this a boot rather than a snapshot load. */
        if (!streq(tmpl, "/logger") && !streq(tmpl, "/metrics") && !streq(tmpl, "/actions") &&
            strncmp(tmpl, "/mmds", 5) != 0)
                st->configured = true;

        if (streq(tmpl, "/logger")) {
                if (st->logger)
                        return faultf(fault, "Logger can only be configured once.");
                char rb[4200];
                const char *lp = json_string_value(json_object_get(body, "log_path"));
                lp = rooted(st, lp, rb, sizeof(rb));
                if (lp && !st->o.skip_file_checks) {
                        int fd =
                            open(lp, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0640);
                        if (fd < 0)
                                return faultf(fault, "Cannot initialize logger: %s",
                                              strerror(errno));
                        close(fd);
                }
                st->logger = true;
        } else if (streq(tmpl, "/metrics")) {
                if (st->metrics)
                        return faultf(fault, "Reinitialization of metrics not allowed.");
                char rb[4200];
                const char *mp = json_string_value(json_object_get(body, "metrics_path"));
                mp = rooted(st, mp, rb, sizeof(rb));
                if (!st->o.skip_file_checks) {
                        int fd =
                            open(mp, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0640);
                        if (fd < 0)
                                return faultf(fault, "Cannot initialize metrics: %s",
                                              strerror(errno));
                        close(fd);
                }
                st->metrics = true;
        } else if (streq(tmpl, "/machine-config")) {
                json_int_t vcpu = json_integer_value(json_object_get(body, "vcpu_count"));
                json_int_t mem = json_integer_value(json_object_get(body, "mem_size_mib"));
                if (json_is_true(json_object_get(body, "smt")) && vcpu > 1 && vcpu % 2)
                        return faultf(fault, "The number of vCPUs must be 1 or an even number "
                                             "when SMT is enabled.");
                if (mem == 0)
                        return faultf(fault, "The memory size (MiB) is either 0, or not a "
                                             "multiple of the configured page size.");
                json_decref(st->machine);
                st->machine = json_deep_copy(body);
        } else if (streq(tmpl, "/boot-source")) {
                if (file_check(st, "Kernel image",
                               json_string_value(json_object_get(body, "kernel_image_path")), R_OK,
                               fault) < 0)
                        return -1;
                const char *ird = json_string_value(json_object_get(body, "initrd_path"));
                if (ird && file_check(st, "Initrd image", ird, R_OK, fault) < 0)
                        return -1;
                st->boot_source = true;
        } else if (streq(tmpl, "/drives/{drive_id}")) {
                const char *p = json_string_value(json_object_get(body, "path_on_host"));
                bool ro = json_is_true(json_object_get(body, "is_read_only"));
                bool root = json_is_true(json_object_get(body, "is_root_device"));
                if (!p && !json_object_get(body, "socket"))
                        return faultf(fault, "Unable to create the block device: no "
                                             "path_on_host");
                if (p && file_check(st, "Drive", p, ro ? R_OK : R_OK | W_OK, fault) < 0)
                        return -1;
                json_t *old = json_object_get(st->drives, param);
                bool was_root = old && json_is_true(json_object_get(old, "is_root_device"));
                if (root && !was_root && st->root_drives > 0)
                        return faultf(fault, "A root block device already exists!");
                st->root_drives += (unsigned)root - (unsigned)was_root;
                json_object_set_new(st->drives, param, json_deep_copy(body));
        } else if (streq(tmpl, "/network-interfaces/{iface_id}")) {
                const char *mac = json_string_value(json_object_get(body, "guest_mac"));
                if (mac && !mac_ok(mac))
                        return faultf(fault, "Invalid MAC address: %s", mac);
                const char *dev = json_string_value(json_object_get(body, "host_dev_name"));
                const char *k;
                json_t *o;
                json_object_foreach(st->ifaces, k, o)
                {
                        if (!streq(k, param) &&
                            streq(json_string_value(json_object_get(o, "host_dev_name")), dev))
                                return faultf(fault, "The host device name %s is already in use.",
                                              dev);
                }
                json_object_set_new(st->ifaces, param, json_deep_copy(body));
        } else if (streq(tmpl, "/vsock")) {
                if (bind_vsock(st, json_string_value(json_object_get(body, "uds_path")), fault) < 0)
                        return -1;
                json_decref(st->vsock);
                st->vsock = json_deep_copy(body);
        } else if (streq(tmpl, "/actions")) {
                const char *a = json_string_value(json_object_get(body, "action_type"));
                if (streq(a, "InstanceStart")) {
                        if (st->started)
                                return faultf(fault, "The microVM is already running.");
                        if (!st->boot_source)
                                return faultf(fault, "Cannot start microvm without kernel "
                                                     "configuration.");
                        st->started = true;
                } else if (streq(a, "FlushMetrics")) {
                        if (!st->metrics)
                                return faultf(fault, "The metrics system is not initialized.");
                } else if (streq(a, "SendCtrlAltDel")) {
                        st->shutdown_requested = true;
                }
        } else if (!streq(tmpl, "/metrics")) {
                /* Resources banger never configures: accepted when valid. */
        }
        return 0;
}

static void record(const struct fc_contract_state *st, const char *method, const char *target,
                   int status, json_t *body)
{
        if (!st->o.record_path)
                return;
        _cleanup_free_ char *b = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        int fd = open(st->o.record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        dprintf(fd, "%s %s %d %s\n", method, target, status, b ? b : "-");
        close(fd);
}

static int answer_get(struct fc_contract_state *st, const char *tmpl, char *resp, size_t len,
                      char *fault)
{
        json_t *j = NULL;
        if (streq(tmpl, "/"))
                j = json_pack("{s:s, s:s, s:s, s:s}", "app_name", "Firecracker", "id",
                              st->o.instance_id ? st->o.instance_id : "anonymous-instance", "state",
                              !st->started ? "Not started"
                              : st->paused ? "Paused"
                                           : "Running",
                              "vmm_version", st->o.version ? st->o.version : "1.16.1");
        else if (streq(tmpl, "/version"))
                j = json_pack("{s:s}", "firecracker_version",
                              st->o.version ? st->o.version : "1.16.1");
        else if (streq(tmpl, "/machine-config"))
                j = st->machine ? json_deep_copy(st->machine)
                                : json_pack("{s:i, s:i, s:b}", "vcpu_count", 1, "mem_size_mib", 128,
                                            "smt", 0);
        if (!j)
                return faultf(fault, "The requested resource is not configured.");
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        snprintf(resp, len, "%s", s ? s : "{}");
        return 0;
}

int fc_contract_handle(struct fc_contract_state *st, const char *method, const char *target,
                       const char *body, size_t body_len, char *resp, size_t resp_len)
{
        char fault[FAULT_MAX] = "";
        char lower[16], param[256] = "";
        json_t *jbody = NULL;
        int status = 400;
        const char *tmpl = NULL;
        json_t *op = NULL;

        size_t ml = strlen(method);
        for (size_t i = 0; i <= ml && i < sizeof(lower); i++)
                lower[i] = (char)tolower((unsigned char)method[i]);
        lower[sizeof(lower) - 1] = '\0';

        json_t *pv;
        const char *pk;
        json_object_foreach(st->c->paths, pk, pv)
        {
                char prm[256] = "";
                if (path_match(pk, target, prm, sizeof(prm))) {
                        tmpl = pk;
                        snprintf(param, sizeof(param), "%s", prm);
                        op = json_object_get(pv, lower);
                        break;
                }
        }
        if (!tmpl || !op) {
                faultf(fault, "Invalid request method and/or path: %s %s.", method, target);
                goto out;
        }
        if (streq(method, "GET")) {
                if (answer_get(st, tmpl, resp, resp_len, fault) == 0)
                        status = 200;
                goto out;
        }
        bool required;
        json_t *schema = body_schema(op, &required);
        if (body_len == 0) {
                if (required || schema) {
                        faultf(fault, "Empty request body for %s %s.", method, target);
                        goto out;
                }
        } else {
                json_error_t jerr;
                jbody = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
                if (!jbody) {
                        faultf(fault,
                               "An error occurred when deserializing the json body of a "
                               "request: %s",
                               jerr.text);
                        goto out;
                }
                if (!schema) {
                        faultf(fault, "%s %s takes no body.", method, target);
                        goto out;
                }
                if (validate(st->c, schema, jbody, "body", 0, fault) < 0)
                        goto out;
        }
        /* An injected failure refuses a valid call and changes nothing. */
        if (st->o.fail_call) {
                char call[600];
                snprintf(call, sizeof(call), "%s %s", method, target);
                if (streq(call, st->o.fail_call)) {
                        faultf(fault, "%s",
                               st->o.fail_message ? st->o.fail_message : "injected failure");
                        goto out;
                }
        }
        if (semantics(st, method, tmpl, param, jbody, fault) < 0)
                goto out;
        status = 204;
out:
        st->calls++;
        if (status == 400) {
                st->rejected++;
                json_t *e = json_pack("{s:s}", "fault_message", fault);
                _cleanup_free_ char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
                json_decref(e);
                snprintf(resp, resp_len, "%s", s ? s : "{}");
        } else if (status == 204) {
                resp[0] = '\0';
        }
        record(st, method, target, status, jbody);
        json_decref(jbody);
        return status;
}

int fc_contract_state_new(const struct fc_contract *c, const struct fc_contract_opts *opts,
                          struct fc_contract_state **ret)
{
        struct fc_contract_state *st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->c = c;
        if (opts)
                st->o = *opts;
        st->vsock_fd = -1;
        st->drives = json_object();
        st->ifaces = json_object();
        if (!st->drives || !st->ifaces) {
                fc_contract_state_free(st);
                return -ENOMEM;
        }
        *ret = st;
        return 0;
}

struct fc_contract_state *fc_contract_state_free(struct fc_contract_state *st)
{
        if (st) {
                if (st->vsock_fd >= 0)
                        close(st->vsock_fd);
                json_decref(st->drives);
                json_decref(st->ifaces);
                json_decref(st->machine);
                json_decref(st->vsock);
                free(st);
        }
        return NULL;
}

bool fc_contract_started(const struct fc_contract_state *st)
{
        return st->started;
}

bool fc_contract_paused(const struct fc_contract_state *st)
{
        return st->paused;
}

const char *fc_contract_fatal(const struct fc_contract_state *st)
{
        return st->fatal[0] ? st->fatal : NULL;
}

unsigned fc_contract_calls(const struct fc_contract_state *st)
{
        return st->calls;
}

unsigned fc_contract_rejected(const struct fc_contract_state *st)
{
        return st->rejected;
}

/* ---- HTTP over the unix socket ------------------------------------------ */

enum conn_kind { CONN_API, CONN_VSOCK };

struct conn {
        int fd;
        enum conn_kind kind;
        char *buf;
        size_t len;
        bool continued; /* 100 Continue sent for the current request */
        bool done;      /* vsock: handshake answered, just drain */
};

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

static void send_response(int fd, int status, const char *body)
{
        const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Bad Request";
        char head[256];
        int n;
        if (status == 204)
                n = snprintf(head, sizeof(head),
                             "HTTP/1.1 204 %s\r\nServer: Firecracker API\r\nConnection: "
                             "keep-alive\r\n\r\n",
                             reason);
        else
                n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d %s\r\nServer: Firecracker API\r\nConnection: "
                             "keep-alive\r\nContent-Type: application/json\r\nContent-Length: "
                             "%zu\r\n\r\n",
                             status, reason, strlen(body));
        write_all(fd, head, (size_t)n);
        if (status != 204)
                write_all(fd, body, strlen(body));
}

static const char *header_value(const char *headers, const char *name, char *out, size_t len)
{
        size_t nl = strlen(name);
        for (const char *l = headers; l && *l;) {
                const char *e = strstr(l, "\r\n");
                size_t ll = e ? (size_t)(e - l) : strlen(l);
                if (ll > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
                        const char *v = l + nl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        snprintf(out, len, "%.*s", (int)(ll - (size_t)(v - l)), v);
                        return out;
                }
                l = e ? e + 2 : NULL;
        }
        return NULL;
}

/* Processes complete requests in c->buf. Returns false when the connection
 * must close. */
static bool api_process(struct fc_contract_state *st, struct conn *c)
{
        for (;;) {
                char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
                if (!end)
                        return c->len < MAX_REQ;
                size_t hlen = (size_t)(end - c->buf) + 4;
                *end = '\0';
                char method[16], target[512], version[16];
                if (sscanf(c->buf, "%15s %511s %15s", method, target, version) != 3 ||
                    strncmp(version, "HTTP/1.", 7) != 0) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Malformed HTTP request line.\"}");
                        return false;
                }
                const char *hdrs = strstr(c->buf, "\r\n");
                hdrs = hdrs ? hdrs + 2 : "";
                char val[128];
                size_t clen = 0;
                if (header_value(hdrs, "Transfer-Encoding", val, sizeof(val))) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Transfer-Encoding is not "
                                      "supported.\"}");
                        return false;
                }
                if (header_value(hdrs, "Content-Length", val, sizeof(val)))
                        clen = strtoul(val, NULL, 10);
                if (clen > MAX_REQ) {
                        send_response(c->fd, 400,
                                      "{\"fault_message\":\"Request payload too large.\"}");
                        return false;
                }
                bool close_after = (header_value(hdrs, "Connection", val, sizeof(val)) &&
                                    strcasecmp(val, "close") == 0) ||
                                   streq(version, "HTTP/1.0");
                if (c->len < hlen + clen) {
                        *end = '\r'; /* not complete yet: restore and wait */
                        if (!c->continued && header_value(hdrs, "Expect", val, sizeof(val)) &&
                            strcasecmp(val, "100-continue") == 0) {
                                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                                write_all(c->fd, cont, sizeof(cont) - 1);
                                c->continued = true;
                        }
                        return true;
                }
                char resp[8192];
                int status =
                    fc_contract_handle(st, method, target, c->buf + hlen, clen, resp, sizeof(resp));
                send_response(c->fd, status, resp);
                memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
                c->len -= hlen + clen;
                c->continued = false;
                if (close_after || st->shutdown_requested || st->fatal[0])
                        return false;
        }
}

static bool vsock_process(struct fc_contract_state *st, struct conn *c)
{
        if (c->done) {
                c->len = 0;
                return true;
        }
        char *nl = memchr(c->buf, '\n', c->len);
        if (!nl)
                return c->len < 64;
        unsigned port;
        bool ok = sscanf(c->buf, "CONNECT %u", &port) == 1;
        switch (st->o.vsock_mode) {
        case FC_VSOCK_OK:
                if (!ok)
                        return false;
                write_all(c->fd, "OK 1073741824\n", 14);
                c->done = true;
                c->len = 0;
                return true;
        case FC_VSOCK_GARBAGE:
                write_all(c->fd, "HELLO there\n", 12);
                return false;
        case FC_VSOCK_CLOSE:
        default:
                return false;
        }
}

int fc_contract_serve(struct fc_contract_state *st, const char *api_sock, int stop_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(api_sock) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", api_sock);
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return -errno;
        mode_t old = umask(0077);
        int br = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (br < 0 || listen(lfd, 16) < 0)
                return -errno;

        struct conn conns[MAX_CONNS] = {0};
        size_t n = 0;
        int ret = 0;
        for (;;) {
                struct pollfd p[MAX_CONNS + 3];
                size_t np = 0;
                p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
                p[np++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
                p[np++] = (struct pollfd){.fd = st->vsock_fd, .events = POLLIN};
                for (size_t i = 0; i < n; i++)
                        p[np++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
                if (poll(p, np, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        ret = -errno;
                        break;
                }
                if (p[1].revents) {
                        ret = -ECANCELED;
                        break;
                }
                for (size_t i = 0; i < 2; i++) {
                        int lis = i == 0 ? lfd : st->vsock_fd;
                        if (!(p[i == 0 ? 0 : 2].revents & POLLIN))
                                continue;
                        int fd = accept4(lis, NULL, NULL, SOCK_CLOEXEC);
                        if (fd < 0)
                                continue;
                        if (n == MAX_CONNS) {
                                close(fd);
                                continue;
                        }
                        conns[n++] =
                            (struct conn){.fd = fd, .kind = i == 0 ? CONN_API : CONN_VSOCK};
                }
                for (size_t i = 0; i < np - 3 && i < n; i++) {
                        struct conn *c = &conns[i];
                        if (!p[i + 3].revents || p[i + 3].fd != c->fd)
                                continue;
                        bool keep = true;
                        char *nb = realloc(c->buf, c->len + 4096 + 1);
                        if (!nb)
                                keep = false;
                        else {
                                c->buf = nb;
                                ssize_t r = recv(c->fd, c->buf + c->len, 4096, 0);
                                if (r <= 0)
                                        keep = false;
                                else {
                                        c->len += (size_t)r;
                                        c->buf[c->len] = '\0';
                                        keep = c->kind == CONN_API ? api_process(st, c)
                                                                   : vsock_process(st, c);
                                }
                        }
                        if (!keep) {
                                close(c->fd);
                                free(c->buf);
                                c->fd = -1;
                                c->buf = NULL;
                        }
                }
                /* Compact closed connections. */
                size_t w = 0;
                for (size_t i = 0; i < n; i++)
                        if (conns[i].fd >= 0)
                                conns[w++] = conns[i];
                n = w;
                if (st->shutdown_requested) {
                        ret = st->o.exit_code;
                        break;
                }
                if (st->fatal[0]) {
                        ret = 1; /* GenericError */
                        break;
                }
        }
        for (size_t i = 0; i < n; i++) {
                close(conns[i].fd);
                free(conns[i].buf);
        }
        return ret;
}
