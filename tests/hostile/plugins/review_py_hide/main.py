"""A hostile plugin in Python against the health check's starvation excuse
(starvation.ts): asked to "hide", it stops answering and burns CPU in short
lived children it never waits for (SIGCHLD ignored, so the kernel reaps them
and their CPU time is added to no process's cutime). Summed over the live
process tree, the plugin hardly ran, yet a child of it is always runnable: a
busy loop that reads as a plugin starved of CPU. "burn" is the same loop in
the plugin's own process (its control). "threads N" starts N idle threads,
each a file the host's shell reads for a verdict, and then stops answering."""

import json
import os
import signal
import sys
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
    if what.startswith("threads "):
        threading.stack_size(32 * 1024)
        for _ in range(int(what.split()[1])):
            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        time.sleep(3600)
    if what == "hide":
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped unwaited
        while True:
            if os.fork() == 0:
                spin(10)
                os._exit(0)
            time.sleep(0.01)  # about one child at a time: the parent itself sleeps
    spin(10**9)


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
