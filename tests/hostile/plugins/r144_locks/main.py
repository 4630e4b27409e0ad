"""A hostile plugin in Python (review 144): it passes bits to another plugin,
of another name and sandbox, through what the kernel keeps per file, not per
sandbox, on a file both see (its own interpreter): a lock one holds and the
other tests (flock, a record lock, an open-file-description lock seen in
/proc/locks), an inotify watch that sees the other open it, a lease, a
folder notice. Also its own SQLite, the cost of refusing lock queries. Each
attempt says what happened, so a test can check the outcome under plugbox
and, as a control, without it."""

import fcntl
import json
import os
import signal
import struct
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
held = []
signal.signal(signal.SIGIO, signal.SIG_IGN)  # a lease's break or a notice: counted, not fatal


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def shared_file():
    return os.path.realpath(sys.executable)


def attempt(what):
    kind, _, arg = (what or "").partition(":")
    path = arg or shared_file()
    try:
        if kind == "path":
            return "path: " + path
        if kind == "sqlite":  # its own database in its own /tmp, in the journal mode asked for
            import sqlite3
            mode, _, locking = arg.partition("+")
            db = sqlite3.connect(f"/tmp/r144-{mode}-{locking or 'normal'}.db")
            if locking:  # WAL without shared memory: no other process's locks asked about
                db.execute(f"PRAGMA locking_mode={locking}")
            mode = db.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
            db.execute("CREATE TABLE IF NOT EXISTS t (x)")
            db.execute("INSERT INTO t VALUES (1)")
            db.commit()
            count = db.execute("SELECT count(*) FROM t").fetchone()[0]
            db.close()
            return f"sqlite: {mode}, {count} row"
        if kind == "quiet-file":  # a file of the interpreter's that nothing else holds open
            return os.path.join(os.path.dirname(os.__file__), "this.py")
        if kind == "proc-locks":
            with open("/proc/locks") as file:
                return "proc-locks: " + " | ".join(file.read().splitlines()[:20])
        if kind == "inotify-watch":
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            ifd = libc.inotify_init1(os.O_NONBLOCK)
            if ifd < 0 or libc.inotify_add_watch(ifd, path.encode(), 0x20 | 0x1) < 0:
                return f"inotify: errno {ctypes.get_errno()}"
            held.append(("inotify", ifd))
            return "inotify: watching"
        if kind == "inotify-count":
            ifd = next(fd for tag, fd in (h for h in held if isinstance(h, tuple)))
            try:
                data = os.read(ifd, 65536)
                return f"inotify: events {len(data) // 16}"
            except BlockingIOError:
                return "inotify: events 0"
        if kind == "open":
            os.close(os.open(path, os.O_RDONLY))
            return "opened"
        if kind == "dnotify":  # a notice of every read in the folder holding the file
            folder = os.open(os.path.dirname(path), os.O_RDONLY)
            fcntl.fcntl(folder, fcntl.F_NOTIFY, fcntl.DN_ACCESS | fcntl.DN_MULTISHOT)
            held.append(folder)
            return "dnotify: watching"
        fd = os.open(path, os.O_RDONLY)
        if kind == "flock-hold":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(fd)
            return "flock: held"
        if kind == "flock-test":
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return "flock: free"
            except BlockingIOError:
                return "flock: busy"
            finally:
                os.close(fd)
        if kind == "posix-hold":  # a read lock on one byte: a read-only descriptor may take it
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 0)
            held.append(fd)
            return "posix: held"
        if kind == "ofd-hold":
            fcntl.fcntl(fd, 37, struct.pack("hhqqi", fcntl.F_RDLCK, os.SEEK_SET, 0, 1, 0))
            held.append(fd)
            return "ofd: held"
        if kind == "lease-hold":  # a write lease: its break tells it of another's open
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
            held.append(fd)
            return "lease: held"
        if kind == "posix-test":  # F_GETLK: who would block a write lock there (no write needed)
            query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
            found = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))
            os.close(fd)
            return "posix: free" if found[0] == fcntl.F_UNLCK else "posix: busy"
        os.close(fd)
        return "unknown attempt " + repr(what)
    except Exception as error:  # The outcome is the answer: what stopped the attempt.
        return f"denied: {type(error).__name__}: {error}"


def answer(msg_id, method, params):
    if method == "$/initialize":
        if params.get("nonce") != NONCE:
            return send({"id": msg_id, "error": {"code": -32011, "message": "Nonce mismatch"}})
        return send({"id": msg_id, "result": {"protocolVersion": 1, "nonce": NONCE,
                    "contracts": [{"name": "probe", "version": 1, "methods": ["attempt"]}]}})
    if method == "$/ping":
        return send({"id": msg_id, "result": {}})
    if method == "probe.attempt":
        return send({"id": msg_id, "result": attempt(params[0] if params else None)})
    send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})


for line in sys.stdin:
    message = json.loads(line)
    if "id" in message and "method" in message:
        answer(message["id"], message["method"], message.get("params") or {})
