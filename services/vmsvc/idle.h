/* config vm.auto_stop_after: a background thread of banger-vmsvc polls the
 * guest agent of every running VM (its Stats) and stops a VM whose guest has
 * been idle for that long: under IDLE_BUSY of its CPU time busy between any
 * two looks (the guest's own accounting; the load average is no use here:
 * under TCG an idle guest shows ~0.4). A VM whose agent cannot be asked
 * counts as busy: it is never stopped blind. */
#pragma once

#include <stdint.h>

#include "util/error.h"

#define IDLE_BUSY 0.10

struct vm_env;
struct idle_watch;

/* Watches the running VMs of env (borrowed: it must outlive the watch).
 * Nothing is started when auto_stop_s is 0 (*ret stays NULL). */
int idle_watch_start(struct vm_env *env, uint64_t auto_stop_s, struct idle_watch **ret,
                     struct bg_error *err);
/* Stops and frees the thread; NULL is fine. */
void idle_watch_stop(struct idle_watch *w);
/* How often a VM is looked at for a given auto_stop_after (2..30 s). */
uint64_t idle_tick_ms(uint64_t auto_stop_s);
