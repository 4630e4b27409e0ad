"""A hostile plugin in Python against the CPU budget: it renames its own
process (the name the kernel shows in /proc/<pid>/stat) to one holding a
newline, which the host's process reader cannot parse, then burns CPU past
its total. "rename" is optional, so the same plugin is its own control.
Against the health check's starvation excuse (starvation.ts): "hide" stops
answering and burns CPU in short-lived children it never waits for (SIGCHLD
ignored, so the kernel reaps them and their CPU time is added to no process's
cutime): summed over the live tree it hardly ran, yet a child is always
runnable. "hang" after "threads N" keeps the threads and never answers."""

import json
import signal
import sys
import os
import threading
import time

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def spin(ms):
    start = time.process_time()
    while (time.process_time() - start) * 1000 < ms:
        pass


def attempt(what):
    words = (what or "").split()
    if "exit" in words:  # the plugin ends by itself
        os._exit(3)
    if "fork-alloc" in words:  # children, each holding up to the per-process memory limit
        count, mib = int(words[-2]), int(words[-1])
        pids = []
        for _ in range(count):
            pid = os.fork()
            if pid == 0:  # never back into the loop below: it shares the protocol's pipes
                try:
                    held = bytearray(mib * 1024 * 1024)  # zeroed: every page touched
                    time.sleep(3600 + len(held) * 0)
                finally:
                    os._exit(0)
            pids.append(pid)
        return f"forked {len(pids)} children of {mib} MiB each"
    if "threads" in words:  # many idle threads: every one a file the watchdog's shell reads
        threading.stack_size(32 * 1024)
        count = int(words[-1])
        for _ in range(count):
            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        if "hang" in words:  # each thread a file the health check's shell reads for a verdict
            time.sleep(3600)
        return f"started {count} threads"
    if "hide" in words:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped unwaited
        while True:
            if os.fork() == 0:
                spin(10)
                os._exit(0)
            time.sleep(0.01)  # about one child at a time: the parent itself sleeps
    if "rename" in words:
        # Under the OS layer /proc is read-only now (review 115): the rename is refused, and the
        # burn goes on. A name with a newline is the watchdog's to read elsewhere (its own test).
        try:
            with open("/proc/self/comm", "w") as comm:
                comm.write("x\ny")
        except OSError:
            pass
        time.sleep(0.5)  # let the watchdog look at the new name
    if "burn" in words:
        ms = int(words[-1])
        spin(ms)
        return f"burned {ms} ms of CPU"
    return "renamed"


for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message or "method" not in message:
        continue
    method, msg_id = message["method"], message["id"]
    if method == "$/initialize":
        send({"id": msg_id, "result": {"protocolVersion": 1, "nonce": NONCE,
              "contracts": [{"name": "probe", "version": 1, "methods": ["attempt"]}]}})
    elif method == "$/ping":
        send({"id": msg_id, "result": {}})
    elif method == "probe.attempt":
        send({"id": msg_id, "result": attempt((message.get("params") or [None])[0])})
    else:
        send({"id": msg_id, "error": {"code": -32601, "message": "Method not found"}})
