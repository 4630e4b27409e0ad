"""An honest plugin in Python (review 152): what ordinary standard-library
code does with locks, journals, threads and processes, in a folder it was
granted to write (or its own /tmp). Each attempt says what happened, so a
test can check the outcome under plugbox and, as a control, without it."""

import json
import os
import subprocess
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def square(x):
    return x * x


# A writer killed inside its transaction, as a stop or a crash ends a plugin: its journal stays.
CRASH = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=" + sys.argv[2])
db.execute("CREATE TABLE IF NOT EXISTS t (x)")
db.execute("INSERT INTO t VALUES (1)")
db.execute("PRAGMA cache_size=1")
db.execute("BEGIN")
db.executemany("INSERT INTO t VALUES (?)", [(os.urandom(512),) for _ in range(400)])
os._exit(9)
"""


def sqlite(folder, mode):
    import sqlite3
    mode, _, vfs = mode.partition("@")
    path = os.path.join(folder, f"r152-{mode}-{vfs}.db")
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    for _ in range(2):  # twice: a journal a first transaction left is met by the second
        db = sqlite3.connect(f"file:{path}?vfs={vfs}" if vfs else path, uri=bool(vfs))
        got = db.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
        db.execute("CREATE TABLE IF NOT EXISTS t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        count = db.execute("SELECT count(*) FROM t").fetchone()[0]
        db.close()
    return f"sqlite: {got}, {count} rows"


def crashed(folder, mode):
    import sqlite3
    mode, _, vfs = mode.partition("@")
    path = os.path.join(folder, f"r152-crash-{mode}-{vfs}.db")
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    code = subprocess.run([sys.executable, "-c", CRASH, path, mode]).returncode
    left = [s for s in ("-journal", "-wal") if os.path.exists(path + s)]
    db = sqlite3.connect(f"file:{path}?vfs={vfs}" if vfs else path, uri=bool(vfs))
    count = db.execute("SELECT count(*) FROM t").fetchone()[0]
    db.close()
    return f"crashed ({code}, left {' '.join(left) or 'nothing'}): {count} rows"


def attempt(what):
    kind, _, folder = (what or "").partition(":")
    folder = folder or "/tmp"
    try:
        if kind.startswith("sqlite-"):
            return sqlite(folder, kind.removeprefix("sqlite-"))
        if kind.startswith("crash-"):
            return crashed(folder, kind.removeprefix("crash-"))
        if kind == "flock":
            import fcntl
            with open(os.path.join(folder, "r152.lock"), "w") as file:
                fcntl.flock(file, fcntl.LOCK_EX)
                fcntl.flock(file, fcntl.LOCK_UN)
            return "flock: held"
        if kind == "lockf":
            import fcntl
            with open(os.path.join(folder, "r152.lockf"), "w") as file:
                fcntl.lockf(file, fcntl.LOCK_EX)
                fcntl.lockf(file, fcntl.LOCK_UN)
            return "lockf: held"
        if kind.startswith("dbm."):  # dbm.gnu, dbm.ndbm, dbm.dumb
            import importlib
            module = importlib.import_module(kind)
            path = os.path.join(folder, "r152-" + kind)
            with module.open(path, "c") as db:
                db[b"k"] = b"v"
            with module.open(path, "r") as db:
                return f"{kind}: {db[b'k'].decode()}"
        if kind == "shelve":
            import shelve
            with shelve.open(os.path.join(folder, "r152-shelf")) as shelf:
                shelf["k"] = [1, 2]
            with shelve.open(os.path.join(folder, "r152-shelf")) as shelf:
                return f"shelve: {shelf['k']}"
        if kind == "pool":
            import multiprocessing
            with multiprocessing.Pool(2) as pool:
                return f"pool: {sum(pool.map(square, range(10)))}"
        if kind == "queue":
            import multiprocessing
            queue = multiprocessing.Queue()
            queue.put(7)
            return f"queue: {queue.get(timeout=10)}"
        if kind in ("threads", "small-threads"):  # many threads, each alive at once
            import threading
            # small: stacks of 256 KiB, not the 8 MiB RLIMIT_STACK gives (0: the default again)
            threading.stack_size(256 * 1024 if kind == "small-threads" else 0)
            gate = threading.Event()
            threads = [threading.Thread(target=gate.wait) for _ in range(int(folder) if folder.isdigit() else 500)]
            started = 0
            try:
                for thread in threads:
                    thread.start()
                    started += 1
            finally:
                gate.set()
                for thread in threads[:started]:
                    thread.join()
            return f"threads: {started}"
        if kind == "rotating":
            import logging
            import logging.handlers
            handler = logging.handlers.RotatingFileHandler(
                os.path.join(folder, "r152.log"), maxBytes=200, backupCount=2)
            log = logging.getLogger("r152")
            log.addHandler(handler)
            for n in range(20):
                log.warning("line %d of an honest log", n)
            handler.close()
            return f"rotating: {sorted(n for n in os.listdir(folder) if n.startswith('r152.log'))}"
        if kind == "tempfile":
            import tempfile
            with tempfile.TemporaryDirectory() as place, tempfile.NamedTemporaryFile() as file:
                file.write(b"x")
                file.flush()
                return f"tempfile: {os.path.exists(place) and os.path.getsize(file.name)}"
        if kind == "subprocess":
            out = subprocess.run([sys.executable, "-c", "print(6*7)"], capture_output=True, text=True)
            return f"subprocess: {out.stdout.strip()}"
        return "unknown attempt " + repr(what)
    except Exception as error:  # The outcome is the answer: what stopped the attempt.
        return f"failed: {type(error).__name__}: {error}"


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


if __name__ == "__main__":
    for line in sys.stdin:
        message = json.loads(line)
        if "id" in message and "method" in message:
            answer(message["id"], message["method"], message.get("params") or {})
