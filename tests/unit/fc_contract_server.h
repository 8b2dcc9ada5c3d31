/* A contract test server for Firecracker's API: serves HTTP/1.1 on a unix
 * socket and checks every request against the real API specification
 * (shared/ref/firecracker-v1.16-api.yaml, Swagger 2.0, loaded with libyaml):
 * path and method exist, body present when required, every field of the
 * body has the declared type, enum value, minimum/maximum, required fields
 * present, no unknown fields (unless additionalProperties: true), $refs
 * resolved. On top, Firecracker's documented behaviour: after InstanceStart
 * (or a snapshot load) only actions, PATCHes and snapshot creation; no
 * SendCtrlAltDel, PATCH or snapshot creation before it; PATCH /vm
 * Paused/Resumed is what GET / reports as the state; InstanceStart needs a
 * boot source; logger and metrics only once; path ids equal body ids;
 * referenced files exist; PUT /vsock binds the hybrid-vsock uds and answers
 * "CONNECT <port>\n" like Firecracker.
 *
 * Snapshots: PUT /snapshot/create only while paused, writing a state file
 * (JSON: the drives, interfaces, machine and vsock as configured) and a
 * memory file (mem_size_mib MiB, sparse, with a marker); PUT /snapshot/load
 * only on a fresh process (logger and metrics allowed before), reading
 * those back: memory at least as large as the snapshot's, network_overrides
 * and vsock_override applied to devices that exist, the recorded drives
 * opened, the vsock uds bound; the guest is then paused unless resume_vm.
 * A load that fails that way is fatal like Firecracker's: the process
 * answers 400 and exits 1. PATCH /drives/{id} after start re-points an
 * existing drive to a file that exists.
 *
 * Answers like Firecracker: 204 No Content, 200 with JSON for GETs, 400 with
 * {"fault_message": "..."}. Every call is recorded, one line each:
 *   METHOD PATH STATUS BODY      (BODY compact JSON, or "-")
 * Used by test_fc_contract (the server's own tests) and by the fake
 * `firecracker` (test_fc_fake_firecracker.c) that the driver tests launch. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct fc_contract;

/* The spec path from $BANGER_SHARED_DIR/ref/firecracker-v1.16-api.yaml;
 * -ENOENT when the variable is unset or the file is missing. */
int fc_contract_spec_path(char *buf, size_t len);

/* Loads the YAML spec; on failure returns -errno with a message in errbuf. */
int fc_contract_load(const char *yaml_path, struct fc_contract **ret, char *errbuf, size_t errlen);
struct fc_contract *fc_contract_free(struct fc_contract *c);

enum fc_vsock_mode {
        FC_VSOCK_OK,      /* "CONNECT n\n" -> "OK 1073741824\n", connection kept */
        FC_VSOCK_CLOSE,   /* guest not listening: closed without an answer */
        FC_VSOCK_GARBAGE, /* answers something that is not "OK n" */
};

struct fc_contract_opts {
        const char *instance_id;  /* for GET / */
        const char *record_path;  /* append the call log here; NULL = keep none */
        const char *fail_call;    /* "PUT /drives/rootfs": answer it 400 */
        const char *fail_message; /* fault_message for fail_call */
        enum fc_vsock_mode vsock_mode;
        int exit_code;         /* fc_contract_serve returns it after SendCtrlAltDel */
        bool skip_file_checks; /* do not require referenced files to exist */
        const char *root;      /* the jail's chroot: paths in requests are below it (NULL = /) */
        const char *version;   /* vmm_version GET / reports (NULL = "1.16.1") */
};

struct fc_contract_state;

/* A fresh "Firecracker process" (not started) for contract c (borrowed). */
int fc_contract_state_new(const struct fc_contract *c, const struct fc_contract_opts *opts,
                          struct fc_contract_state **ret);
struct fc_contract_state *fc_contract_state_free(struct fc_contract_state *st);

/* Handles one request; returns the HTTP status and writes the answer body
 * ("" for 204) to resp. */
int fc_contract_handle(struct fc_contract_state *st, const char *method, const char *target,
                       const char *body, size_t body_len, char *resp, size_t resp_len);

bool fc_contract_started(const struct fc_contract_state *st);
bool fc_contract_paused(const struct fc_contract_state *st);
/* The fault message of a failed snapshot load (after which the process
 * exits), or NULL. */
const char *fc_contract_fatal(const struct fc_contract_state *st);
/* Number of calls answered / answered with 400. */
unsigned fc_contract_calls(const struct fc_contract_state *st);
unsigned fc_contract_rejected(const struct fc_contract_state *st);

/* Serves api_sock (created here, 0600) until SendCtrlAltDel has been
 * answered (returns opts->exit_code), a snapshot load failed (returns 1) or
 * stop_fd (if >= 0) becomes readable (returns -ECANCELED). */
int fc_contract_serve(struct fc_contract_state *st, const char *api_sock, int stop_fd);
