"""Review 82: a hostile Python plugin that runs the Python statement it is
sent (its last expression's value is the answer), so one plugin carries
each attack on the OS layer from inside."""

import json
import sys

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def attempt(code):
    scope = {}
    try:
        exec(code or "result = None", scope)
        return str(scope.get("result"))
    except Exception as error:  # The outcome is the answer: what stopped the attempt.
        return f"denied: {type(error).__name__}: {error}"


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
