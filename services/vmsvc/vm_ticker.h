/* A background thread of banger-vmsvc that looks at every VM on a fixed
 * interval: it lists the VMs' records (under env->mu) and hands them to a
 * callback. The log watch (log_watch.c) and the idle watch (idle.c) are the
 * two users; each keeps only what it does with one VM. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vm_env.h"

struct vm_ticker;

/* Called on the ticker's thread with the VMs of one look (borrowed for the
 * call). */
typedef void (*vm_ticker_fn)(void *data, const struct vm_record *vms, size_t n);

/* Starts the thread: every interval_ms it calls fn(data, ...). name ("log
 * watch") is used in messages. env and data are borrowed and must outlive the
 * ticker. */
int vm_ticker_start(struct vm_env *env, const char *name, uint64_t interval_ms, vm_ticker_fn fn,
                    void *data, struct vm_ticker **ret, struct bg_error *err);
/* Stops the thread (waits for a running look) and frees; accepts NULL. */
void vm_ticker_stop(struct vm_ticker *t);
