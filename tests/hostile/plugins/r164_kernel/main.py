"""Review 164: a Python plugin that takes kernel objects each counted per user or per machine, not
per plugin, until one more is refused, and holds them: `<kind>:<most>`. Each answer says how many
it got and what stopped it, so a test can tell a neighbour's loss from the plugin's own."""

import ctypes
import errno
import json
import os
import select
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
libc = ctypes.CDLL(None, use_errno=True)
held = []


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def why():
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def forked(take, most, per):
    """`take(n)` in children of `per` each, which hold what they took: how many in all, and why the
    last stopped."""
    made = 0
    while made < most:
        r, w = os.pipe()
        try:
            child = os.fork()
        except OSError as error:
            return f"{made}, then fork {errno.errorcode.get(error.errno)}"
        if child == 0:
            got, stopped = take(min(per, most - made))
            os.write(w, f"{got} {stopped}\n".encode())
            import signal
            signal.pause()
        os.close(w)
        got, stopped = os.read(r, 64).decode().split()
        os.close(r)
        made += int(got)
        if stopped != "None":
            return f"{made}, then {stopped}"
    return f"{made}"


def attempt(what):
    kind, _, arg = (what or "").partition(":")
    most = int(arg or "0")
    made = 0
    if kind == "inotify":  # inotify instances: fs.inotify.max_user_instances, per user
        while made < most:
            fd = libc.inotify_init1(0)
            if fd < 0:
                return f"inotify: {made}, then {why()}"
            held.append(fd)
            made += 1
        return f"inotify: {made}"
    if kind == "epoll":  # epoll watches: fs.epoll.max_user_watches, per user (forks: 2,000 ** 2 each)
        def watches(n):
            targets = [os.eventfd(0) for _ in range(2000)]
            made = 0
            while made < n:
                ep = select.epoll()
                held.append(ep)
                for fd in targets:
                    try:
                        ep.register(fd, select.EPOLLIN)
                    except OSError as error:
                        return made, errno.errorcode.get(error.errno)
                    made += 1
                    if made >= n:
                        break
            return made, None
        return f"epoll: {forked(watches, most, 4_000_000)}"
    if kind == "ptys":  # pseudo-terminals: kernel.pty.max, per machine
        while made < most:
            try:
                held.append(os.openpty())
            except OSError as error:
                return f"ptys: {made}, then {errno.errorcode.get(error.errno)}"
            made += 1
        return f"ptys: {made}"
    if kind == "mqueue":  # POSIX message queues: RLIMIT_MSGQUEUE's bytes, per user
        libc.mq_open.restype = ctypes.c_int
        while made < most:
            name = f"/r164-{os.getpid()}-{made}".encode()
            fd = libc.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, None)
            if fd < 0:
                return f"mqueue: {made}, then {why()}"
            libc.mq_unlink(name)
            held.append(fd)
            made += 1
        return f"mqueue: {made}"
    if kind == "userns":  # a user namespace of its own (tasks there count apart, in some kernels)
        if libc.unshare(0x10000000) != 0:
            return f"userns: {why()}"
        return "userns: made"
    if kind == "keys":  # a key in the session keyring: kernel.keys.maxkeys, per user
        libc.syscall.restype = ctypes.c_long
        while made < most:
            key = libc.syscall(248, b"user", f"r164-{made}".encode(), b"x", 1, -3)
            if key < 0:
                return f"keys: {made}, then {why()}"
            made += 1
        return f"keys: {made}"
    if kind == "sigpending":  # queued real-time signals to itself: RLIMIT_SIGPENDING, per user
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
        sigval = ctypes.c_void_p(0)
        while made < most:
            if libc.sigqueue(os.getpid(), signal.SIGRTMIN, sigval) != 0:
                return f"sigpending: {made}, then {why()}"
            made += 1
        return f"sigpending: {made}"
    if kind == "aio":  # Linux native AIO contexts' events: fs.aio-max-nr, per machine
        libc.syscall.restype = ctypes.c_long
        while made < most:
            context = ctypes.c_ulong(0)
            if libc.syscall(206 if os.uname().machine == "x86_64" else 0, 1024,
                            ctypes.byref(context)) != 0:
                return f"aio: {made} events, then {why()}"
            held.append(context)
            made += 1024
        return f"aio: {made} events"
    if kind == "files":  # open files, in processes it forks: fs.file-max, per machine
        def files(n):
            made = 0
            while made < n:
                try:
                    held.append(os.eventfd(0))
                except OSError as error:
                    return made, errno.errorcode.get(error.errno)
                made += 1
            return made, None
        return f"files: {forked(files, most, 4000)}"
    return "unknown attempt " + repr(what)


def answer(msg_id, method, params):
    if method == "$/initialize":
        if params.get("nonce") != NONCE:
            return send({"id": msg_id, "error": {"code": -32011, "message": "Nonce mismatch"}})
        return send({"id": msg_id, "result": {"protocolVersion": 1, "nonce": NONCE,
                    "contracts": [{"name": "probe", "version": 1, "methods": ["attempt"]}]}})
    if method == "$/ping":
        return send({"id": msg_id, "result": {}})
    if method == "probe.attempt":
        try:
            result = attempt(params[0] if params else None)
        except Exception as error:  # the outcome is the answer
            result = f"denied: {type(error).__name__}: {error}"
        return send({"id": msg_id, "result": result})
    send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})


for line in sys.stdin:
    message = json.loads(line)
    if "id" in message and "method" in message:
        answer(message["id"], message["method"], message.get("params") or {})
