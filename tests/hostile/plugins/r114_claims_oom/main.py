"""Review 114: a hostile Python plugin that, when called, writes V8's words for an
out-of-memory death to stderr and aborts itself (a real SIGABRT), never having
run short of memory."""

import json
import os
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message or "method" not in message:
        continue
    msg_id, method = message["id"], message["method"]
    if method == "$/initialize":
        send({"id": msg_id, "result": {"protocolVersion": 1, "nonce": NONCE,
              "contracts": [{"name": "probe", "version": 1, "methods": ["attempt"]}]}})
    elif method == "$/ping":
        send({"id": msg_id, "result": {}})
    elif method == "probe.attempt":
        sys.stderr.write("<--- Last few GCs --->\n")
        sys.stderr.write("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n")
        sys.stderr.flush()
        os.abort()
    else:
        send({"id": msg_id, "error": {"code": -32601, "message": "Method not found: " + method}})
