#!/usr/bin/env python3
"""A ttrpc client with no banger and no containerd code: speaks the framing
(10-byte header: BE length, BE stream id, type 1/2, flags) and encodes the
protobuf by hand, so the shim is checked against the wire format itself.

  ttrpc_call.py SOCKET METHOD [field=value ...]
      calls containerd.task.v2.Task/METHOD; fields are the request's by
      number: 1=c1 (string), 4:int=1 (varint). Prints "code=N" and
      "message=..." and, when OK, the response's fields as "N=value"
      (varints as numbers, nested messages as hex); 3:mount=TYPE|SOURCE|OPT,OPT
      is a containerd.types.Mount (repeat it for more).
      N:spec=JSON puts an Any{type_url OCI Process, value JSON} in field N;
      --dump (before SOCKET) prints nested messages as dotted paths
      (1.2.3=value), bytes that decode as protobuf being taken as messages.
  ttrpc_call.py --events-sink SOCKET OUT
      a containerd events service: answers every
      containerd.services.events.ttrpc.v1.Events/Forward with OK and appends
      "namespace topic type_url field=value..." per event to OUT.
  ttrpc_call.py --decode-delete FILE
      decodes a packed DeleteResponse (the shim's `delete` output).
  ttrpc_call.py --raw SOCKET HEX [N]
      sends raw bytes (then N zero bytes), prints each response's stream
      id and code until the connection closes ("closed") or 5 s pass ("timeout").
"""
import socket
import struct
import sys


def varint(n):
    if n < 0:
        n += 1 << 64
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def parse(buf):
    """Returns [(num, wiretype, value)]."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError("connection closed")
        b += k
    return b


def recv_frame(s):
    hdr = recv_exact(s, 10)
    length, stream, typ, _flags = struct.unpack(">IIBB", hdr)
    return stream, typ, recv_exact(s, length)


def decode_response(payload):
    code, msg, body = 0, "", b""
    for num, _wt, v in parse(payload):
        if num == 1:
            for n2, _w2, v2 in parse(v):
                if n2 == 1:
                    code = v2
                elif n2 == 2:
                    msg = v2.decode()
        elif num == 2:
            body = v
    return code, msg, body


def show_fields(body):
    for num, wt, v in parse(body):
        if wt == 0:
            print("%d=%d" % (num, v))
        else:
            try:
                t = v.decode()
                if t.isprintable():
                    print("%d=%s" % (num, t))
                    continue
            except UnicodeDecodeError:
                pass
            print("%d=hex:%s" % (num, v.hex()))


def printable(v):
    try:
        t = v.decode()
    except UnicodeDecodeError:
        return None
    return t if t.isprintable() else None


def as_message(v):
    try:
        fields = parse(v)
    except (ValueError, IndexError):
        return None
    return fields if fields and all(n > 0 for n, _w, _v in fields) else None


def dump(body, prefix=""):
    for num, wt, v in parse(body):
        key = "%s%d" % (prefix, num)
        if wt == 0:
            print("%s=%d" % (key, v))
            continue
        t = printable(v) if wt == 2 else None
        if t is not None:
            print("%s=%s" % (key, t))
            continue
        m = as_message(v) if wt == 2 else None
        if m is not None:
            dump(v, key + ".")
        else:
            print("%s=hex:%s" % (key, v.hex()))


def events_sink(path, out):
    import os
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    ok = field_bytes(1, b"")  # Response{status: {code 0}}
    while True:
        c, _ = srv.accept()
        c.settimeout(10)
        try:
            while True:
                stream, typ, p = recv_frame(c)
                svc = meth = ""
                payload = b""
                for num, _wt, v in parse(p):
                    if num == 1:
                        svc = v.decode()
                    elif num == 2:
                        meth = v.decode()
                    elif num == 3:
                        payload = v
                ns = topic = turl = ""
                evf = []
                for num, _wt, v in parse(payload):
                    if num != 1:
                        continue
                    for n2, _w2, v2 in parse(v):
                        if n2 == 2:
                            ns = v2.decode()
                        elif n2 == 3:
                            topic = v2.decode()
                        elif n2 == 4:
                            for n3, _w3, v3 in parse(v2):
                                if n3 == 1:
                                    turl = v3.decode()
                                elif n3 == 2:
                                    for n4, w4, v4 in parse(v3):
                                        if w4 == 0:
                                            evf.append("%d=%d" % (n4, v4))
                                        elif printable(v4) is not None:
                                            evf.append("%d=%s" % (n4, printable(v4)))
                with open(out, "a") as f:
                    f.write("%s %s %s %s %s\n" % (svc + "/" + meth, ns, topic, turl, " ".join(evf)))
                c.sendall(struct.pack(">IIBB", len(ok), stream, 2, 0) + ok)
        except (EOFError, socket.timeout, OSError):
            c.close()


def main():
    if sys.argv[1] == "--events-sink":
        events_sink(sys.argv[2], sys.argv[3])
        return 0
    do_dump = False
    if sys.argv[1] == "--dump":
        do_dump = True
        del sys.argv[1]
    if sys.argv[1] == "--decode-delete":
        show_fields(open(sys.argv[2], "rb").read())
        return 0
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    if sys.argv[1] == "--raw":
        s.connect(sys.argv[2])
        s.sendall(bytes.fromhex(sys.argv[3]))
        if len(sys.argv) > 4:  # that many zero bytes follow
            s.sendall(bytes(int(sys.argv[4])))
        s.settimeout(5)
        try:
            while True:
                stream, typ, p = recv_frame(s)
                code, msg, _ = decode_response(p)
                print("stream=%d type=%d code=%d message=%s" % (stream, typ, code, msg))
        except EOFError:
            print("closed")
        except socket.timeout:
            print("timeout")
        return 0
    sock, method = sys.argv[1], sys.argv[2]
    body = b""
    for a in sys.argv[3:]:
        k, v = a.split("=", 1)
        if k.endswith(":int"):
            body += field_varint(int(k[:-4]), int(v))
        elif k.endswith(":spec"):
            anyv = (field_bytes(1, b"types.containerd.io/opencontainers/runtime-spec/1/Process") +
                    field_bytes(2, v.encode()))
            body += field_bytes(int(k[:-5]), anyv)
        elif k.endswith(":mount"):
            typ, src, opts = v.split("|", 2)
            m = field_bytes(1, typ.encode()) + field_bytes(2, src.encode())
            for o in filter(None, opts.split(",")):
                m += field_bytes(4, o.encode())
            body += field_bytes(int(k[:-6]), m)
        else:
            body += field_bytes(int(k), v.encode())
    req = (field_bytes(1, b"containerd.task.v2.Task") + field_bytes(2, method.encode()) +
           field_bytes(3, body))
    s.connect(sock)
    s.sendall(struct.pack(">IIBB", len(req), 1, 1, 0) + req)
    stream, typ, p = recv_frame(s)
    if stream != 1 or typ != 2:
        print("bad frame: stream %d type %d" % (stream, typ))
        return 1
    code, msg, body = decode_response(p)
    print("code=%d" % code)
    print("message=%s" % msg)
    if code == 0:
        if do_dump:
            dump(body)
        else:
            show_fields(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
