"""Review 162: review 114's hoarder (r114_hoards_sockets), asking for net so
that the egress relay runs beside it: it holds data in the kernel's buffers
of TCP or UDP sockets on its own loopback, never read, and answers how many
MiB it holds: memory that no process maps, so no RLIMIT_DATA counts it."""

import json
import socket
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
CHUNK = b"x" * 60000
HELD = []  # Kept for the plugin's life: closing a socket would free its buffers.


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def tcp_pair(server):
    writer = socket.socket()
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)
    writer.connect(server.getsockname())
    reader, _ = server.accept()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30)
    writer.setblocking(False)
    HELD.extend([writer, reader])
    held = 0
    try:
        while True:
            held += writer.send(CHUNK)
    except BlockingIOError:
        return held


def udp_queued():
    """Bytes the kernel holds in this sandbox's UDP receive queues (/proc/net/udp, rx_queue)."""
    with open("/proc/net/udp") as table:
        rows = table.read().splitlines()[1:]
    return sum(int(row.split()[4].split(":")[1], 16) for row in rows)


def udp_socket(sender):
    reader = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30)
    reader.bind(("127.0.0.1", 0))
    HELD.append(reader)
    before = udp_queued()
    for _ in range(140):
        try:
            sender.sendto(CHUNK, reader.getsockname())
        except BlockingIOError:
            break
    return udp_queued() - before


def hoard(spec):
    kind, mib = spec.split()
    target = int(mib) << 20
    held, thin = 0, 0
    if kind == "tcp":
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        HELD.append(server)
        # Stops at the target, or once new pairs hold next to nothing (the kernel refuses more).
        while held < target and thin < 8:
            more = tcp_pair(server)
            held += more
            thin = thin + 1 if more < (1 << 20) else 0
    else:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.setblocking(False)
        HELD.append(sender)
        while held < target and thin < 8:
            more = udp_socket(sender)
            held += more
            thin = thin + 1 if more < (1 << 20) else 0
    return f"held {held >> 20} MiB"


for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message or "method" not in message:
        continue
    msg_id, method, params = message["id"], message["method"], message.get("params") or {}
    if method == "$/initialize":
        send({"id": msg_id, "result": {"protocolVersion": 1, "nonce": NONCE,
              "contracts": [{"name": "probe", "version": 1, "methods": ["attempt"]}]}})
    elif method == "$/ping":
        send({"id": msg_id, "result": {}})
    elif method == "probe.attempt":
        try:
            send({"id": msg_id, "result": hoard(params[0])})
        except OSError as error:
            send({"id": msg_id, "result": f"denied: {error}"})
    else:
        send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})
