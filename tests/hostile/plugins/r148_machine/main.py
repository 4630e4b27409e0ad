"""Review 148: a hostile Python plugin, granted nothing, that uses up what no
grant names. `threads N` makes threads (each a task, as a process is) until
it has N or the kernel refuses one, and answers how many it made; its
threads wait on one event and end once the count is sent. `core` raises its
core-dump limit to the hard one, has a child touch 16 MiB and abort in
/tmp, and answers the limits it had and the core file the kernel wrote."""

import json
import os
import resource
import sys
import threading

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def threads(target):
    # The smallest stack Python allows: 9,000 threads hold 288 MiB, within the memory cap.
    threading.stack_size(32768)
    done = threading.Event()
    made, why = 0, "none"
    try:
        while made < target:
            threading.Thread(target=done.wait, daemon=True).start()
            made += 1
    except RuntimeError as error:
        why = str(error)
    done.set()
    return f"made {made} ({why})"


def limit(value):
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def core():
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (OSError, ValueError):
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    os.chdir("/tmp")
    child = os.fork()
    if child == 0:
        held = bytearray(os.urandom(1 << 20)) * 16
        os.abort()
    os.waitpid(child, 0)
    size = os.stat("/tmp/core").st_size if os.path.exists("/tmp/core") else 0
    return f"core limit {limit(soft)} {limit(hard)}; core file {size} bytes"


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
        kind, *rest = params[0].split()
        send({"id": msg_id, "result": threads(int(rest[0])) if kind == "threads" else core()})
    else:
        send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})
