/* Private helpers shared by the files of lib/rpc. */
#pragma once

#include <nng/nng.h>

/* nng error -> positive errno. */
int rpc_nng_errno(int nng_rv);
/* Packs a protobuf message into a new nng message body. */
int rpc_pack_msg(const ProtobufCMessage *m, nng_msg **ret);

struct rpc_server;
/* How often the listener guard had to open the server's listener again. */
unsigned rpc_server_listener_restarts(const struct rpc_server *s);
