#include "vm_labels.h"

#include <stdlib.h>
#include <string.h>

#include "util/labels.h"

/* The most the service can be configured to take (config.c): the caps
 * themselves are the service's. */
#define MAX_VALUE_ANY 4096

int cli_vm_labels_from_flags(struct cli *cli, Banger__V1__CreateVmRequest *req)
{
        size_t n = 0;
        const char *const *kv = cli_flag_values(cli, "label", &n);
        if (!n)
                return 0;
        req->labels = calloc(n, sizeof(*req->labels));
        if (!req->labels)
                return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
        struct bg_error err = {0};
        for (size_t i = 0; i < n; i++) {
                Banger__V1__CreateVmRequest__LabelsEntry *le = calloc(1, sizeof(*le));
                if (!le)
                        return cli_fail(RPC_RESOURCE_EXHAUSTED, "out of memory");
                banger__v1__create_vm_request__labels_entry__init(le);
                req->labels[req->n_labels++] = le;
                if (bg_label_split(kv[i], &le->key, &le->value, &err) < 0)
                        return cli_fail(RPC_INVALID_ARGUMENT, "--label: %s", err.msg);
                if (bg_label_check(le->key, le->value, MAX_VALUE_ANY, &err) < 0)
                        return cli_fail(rpc_code_from_errno(err.code), "--label: %s", err.msg);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(req->labels[k]->key, le->key) == 0)
                                return cli_fail(RPC_INVALID_ARGUMENT, "--label: %s is given twice",
                                                le->key);
        }
        return 0;
}

void cli_vm_labels_free(Banger__V1__CreateVmRequest *req)
{
        for (size_t i = 0; i < req->n_labels; i++) {
                Banger__V1__CreateVmRequest__LabelsEntry *le = req->labels[i];
                if (le->key != protobuf_c_empty_string)
                        free(le->key);
                if (le->value != protobuf_c_empty_string)
                        free(le->value);
                free(le);
        }
        free(req->labels);
        req->labels = NULL;
        req->n_labels = 0;
}

json_t *cli_vm_labels_json(const Banger__V1__Vm *vm)
{
        json_t *o = json_object();
        for (size_t i = 0; o && i < vm->n_labels; i++)
                json_object_set_new(o, cli_utf8(vm->labels[i]->key),
                                    json_string(cli_utf8(vm->labels[i]->value)));
        return o;
}

char *cli_vm_labels_join(const Banger__V1__Vm *vm)
{
        size_t len = 1;
        for (size_t i = 0; i < vm->n_labels; i++)
                len += strlen(vm->labels[i]->key) + strlen(vm->labels[i]->value) + 2;
        char *s = malloc(len), *p = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < vm->n_labels; i++)
                p += sprintf(p, "%s%s=%s", i ? "," : "", vm->labels[i]->key, vm->labels[i]->value);
        *p = '\0';
        return s;
}
