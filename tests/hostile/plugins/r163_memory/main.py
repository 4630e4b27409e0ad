"""Review 163: a hostile Python plugin granted net, so that plugbox's egress relay runs in its
sandbox beside it. On request it holds 4 MiB more of memory of one kind, each of which the kernel
charges to its memory cgroup and no per-process cap counts, and answers how much it holds:
anonymous shared memory, a memfd, files in its /tmp and /dev/shm (tmpfs), the private memory of
child processes (each under its own RLIMIT_DATA); or it connects through its relay, or says which
memory cgroup it is in and tries to leave it. Its answer is what happened."""

import ctypes
import json
import mmap
import os
import signal
import socket
import sys
import time

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
BLOCK = 4 * 1024 * 1024
HELD = []  # kept for the plugin's life
CHILDREN = []
TOTAL = {"mib": 0}


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def fill(fd):
    chunk = b"x" * (1 << 20)
    for _ in range(BLOCK >> 20):
        os.write(fd, chunk)


def child_holds():
    """A child process that holds 4 MiB of its own (touched) until it is killed."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            block = bytearray(BLOCK)
            for i in range(0, BLOCK, 4096):
                block[i] = 1
            os.write(write, b"k")
            while True:
                time.sleep(60)
        finally:
            os._exit(1)
    os.close(write)
    got = os.read(read, 1)
    os.close(read)
    CHILDREN.append(pid)
    if got != b"k":
        os._exit(3)  # it died before it held its memory: the plugin ends, without an answer


def killed_child():
    """A child the kernel killed since (its status), or None."""
    for pid in CHILDREN:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
    return None


def hold(kind):
    if kind == "shared":
        block = mmap.mmap(-1, BLOCK)
        block.write(b"x" * BLOCK)
        HELD.append(block)
    elif kind == "memfd":
        fd = os.memfd_create("r163")
        fill(fd)
        HELD.append(fd)
    elif kind in ("tmp", "shm"):
        folder = "/tmp" if kind == "tmp" else "/dev/shm"
        path = f"{folder}/r163-{len(HELD)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fill(fd)
        finally:
            os.close(fd)
        HELD.append(path)
    elif kind == "forks":
        child_holds()
    else:
        return f"unknown kind {kind}"
    TOTAL["mib"] += 4
    status = killed_child()
    if status is not None:
        os._exit(3)  # a child of its own was killed: it ends, without an answer
    return f"holds {TOTAL['mib']} MiB"


def connect(target):
    host, port = target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            more = conn.recv(65536)
            if not more:
                break
            data += more
        return f"connected: {data.split(b' ', 2)[1].decode()} {len(data)} bytes"


def flood(spec):
    """Opens connections through its relay to a target that reads nothing, and sends into each
    until the kernel takes no more: what the relay then holds is the plugin's doing."""
    target, count = spec.split()
    host, port = target.rsplit(":", 1)
    opened, sent = 0, 0
    try:
        while opened < int(count):
            conn = socket.create_connection((host, int(port)), timeout=5)
            conn.setblocking(False)
            HELD.append(conn)
            opened += 1
            try:
                for _ in range(64):
                    sent += conn.send(b"x" * 65536)
            except BlockingIOError:
                pass
    except OSError as error:
        return f"flooded {opened} connections, {sent >> 20} MiB, then {error}"
    for _ in range(4):  # again, once the relay has taken what it would
        time.sleep(0.25)
        for conn in HELD:
            if not isinstance(conn, socket.socket):
                continue
            try:
                for _ in range(64):
                    sent += conn.send(b"x" * 65536)
            except (BlockingIOError, OSError):
                pass
    return f"flooded {opened} connections, {sent >> 20} MiB"


def write_file(spec):
    """Writes MiB of data to a file (a write grant's folder): page cache, charged to its writer."""
    path, mib = spec.split()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(int(mib)):
            os.write(fd, b"x" * (1 << 20))
    finally:
        os.close(fd)
    return f"wrote {mib} MiB"


def unflood():
    """Closes every connection flood() opened."""
    conns = [conn for conn in HELD if isinstance(conn, socket.socket)]
    for conn in conns:
        conn.close()
        HELD.remove(conn)
    return f"closed {len(conns)} connections"


def download(target):
    """Reads a whole answer through its relay, keeping none of it: bytes read."""
    host, port = target.rsplit(":", 1)
    total = 0
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        while True:
            more = conn.recv(1 << 20)
            if not more:
                break
            total += len(more)
    return f"downloaded {total >> 20} MiB"


def escape():
    """Its memory cgroup as /proc says, and every way out it tries: the result of each."""
    out = {}
    with open("/proc/self/cgroup") as file:
        out["cgroup"] = [line for line in file.read().splitlines() if ":memory:" in line]
    out["fds"] = sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                        if os.path.exists(f"/proc/self/fd/{fd}"))
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs("/tmp/r163-cgroup", exist_ok=True)
    for fstype, options in (("cgroup", b"memory"), ("cgroup2", None)):
        done = libc.mount(fstype.encode(), b"/tmp/r163-cgroup", fstype.encode(), 0, options)
        out[f"mount {fstype}"] = "mounted" if done == 0 else f"errno {ctypes.get_errno()}"
    for path in ("/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/cgroup.procs"):
        try:
            with open(path, "w") as file:
                file.write(str(os.getpid()))
            out[path] = "written"
        except OSError as error:
            out[path] = f"errno {error.errno}"
    pid = os.fork()
    if pid == 0:
        with open("/proc/self/cgroup") as file:
            line = [x for x in file.read().splitlines() if ":memory:" in x][0]
        with open("/tmp/r163-child", "w") as file:
            file.write(line)
        os._exit(0)
    os.waitpid(pid, 0)
    with open("/tmp/r163-child") as file:
        out["child cgroup"] = file.read()
    return "escape: " + json.dumps(out, sort_keys=True)


def attempt(what):
    kind, _, arg = (what or "").partition(" ")
    try:
        if kind == "hold":
            return hold(arg)
        if kind == "connect":
            return connect(arg)
        if kind == "file":
            return write_file(arg)
        if kind == "unflood":
            return unflood()
        if kind == "download":
            return download(arg)
        if kind == "flood":
            return flood(arg)
        if kind == "escape":
            return escape()
        return f"unknown attempt {what!r}"
    except Exception as error:  # The outcome is the answer: what stopped the attempt.
        return f"denied: {type(error).__name__}: {error}"


if os.environ.get("R163_SLOW"):  # held before its handshake, so a start can be aborted meanwhile
    time.sleep(60)
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
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
        send({"id": msg_id, "result": attempt(params[0] if params else None)})
    else:
        send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})
