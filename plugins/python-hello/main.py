"""The hello plugin in Python: the same `greeter` contract as plugins/hello
(plugins/hello/contract.ts), spoken over plugbox's wire protocol with the
standard library only. PROTOCOL.md, "Writing a plugin in another language",
walks through it."""

import json
import sys

PROTOCOL_VERSION = 1
CONTRACT = "greeter"
VERSION = 1

# The host puts the nonce last on the command line: --plugbox-nonce=<32 hex>.
NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
max_line_bytes = 16 * 1024 * 1024


def string_arg(params, method):
    """The contract's input for both methods: a tuple of one string."""
    issues = []
    if not isinstance(params, list):
        issues.append({"path": [], "message": "Expected an array of arguments", "code": "invalid_type"})
    elif len(params) != 1:
        issues.append({"path": [], "message": f"Expected 1 argument, got {len(params)}", "code": "too_big"})
    elif not isinstance(params[0], str):
        issues.append({"path": [0], "message": "Invalid input: expected string", "code": "invalid_type"})
    if issues:
        raise RpcError(-32602, f"Invalid params for {method}", {"issues": issues})
    return params[0]


def say_hello(params, method):
    return f"hello, {string_arg(params, method)}"


def read_greeting(params, method):
    path = string_arg(params, method)
    log("info", "reading", {"path": path})
    with open(path, encoding="utf-8") as file:
        return file.readline().rstrip("\n")


METHODS = {"sayHello": say_hello, "readGreeting": read_greeting}
STRING = {"type": "string"}
ONE_STRING = {"type": "array", "prefixItems": [STRING], "items": False, "minItems": 1, "maxItems": 1}


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def send(message):
    # One JSON object per line; json.dumps escapes every line feed inside strings.
    line = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=True, separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(level, msg, fields=None):
    # stderr is for logs; structured lines keep their level and fields in the host.
    entry = {"level": level, "msg": msg, **({"fields": fields} if fields else {})}
    sys.stderr.write(json.dumps(entry) + "\n")
    sys.stderr.flush()


def initialize(params):
    global max_line_bytes
    if params.get("protocolVersion") != PROTOCOL_VERSION:
        raise RpcError(-32010, f"Unsupported protocol version: host speaks {params.get('protocolVersion')}, plugin speaks {PROTOCOL_VERSION}", {"supported": [PROTOCOL_VERSION]})
    if params.get("nonce") != NONCE:
        raise RpcError(-32011, f"Nonce mismatch: host sent {params.get('nonce')!r}, command line has {NONCE!r}")
    max_line_bytes = int(params.get("maxLineBytes", max_line_bytes))
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "nonce": NONCE,
        "contracts": [{"name": CONTRACT, "version": VERSION, "methods": list(METHODS)}],
    }


def describe():
    schema = "https://json-schema.org/draft/2020-12/schema"
    methods = [
        {"name": name, "input": {"$schema": schema, **ONE_STRING}, "output": {"$schema": schema, **STRING}}
        for name in METHODS
    ]
    return {"contracts": [{"name": CONTRACT, "version": VERSION, "methods": methods}]}


def answer(method, params, initialized):
    if method == "$/initialize":
        return initialize(params if isinstance(params, dict) else {})
    if not initialized:
        raise RpcError(-32003, "Not initialized")
    if method == "$/ping":
        return {}
    if method == "$/describe":
        return describe()
    contract, _, name = method.partition(".")
    if contract != CONTRACT or name not in METHODS:
        raise RpcError(-32601, f"Method not found: {method}")
    try:
        return METHODS[name](params, method)
    except RpcError:
        raise
    except Exception as error:  # The implementation threw: an application error, named.
        raise RpcError(-32000, str(error), {"name": type(error).__name__})


def handle(message, initialized):
    """Answers one request; returns whether the handshake has now succeeded."""
    method, msg_id = message.get("method"), message.get("id")
    if not isinstance(method, str):
        return initialized  # A response or junk: this plugin sends no requests of its own.
    if "id" not in message:
        return initialized  # A notification ($/cancel): calls here finish before the next is read.
    try:
        result = answer(method, message.get("params"), initialized)
        send({"id": msg_id, "result": result})
        return initialized or method == "$/initialize"
    except RpcError as error:
        reply = {"code": error.code, "message": error.message}
        if error.data is not None:
            reply["data"] = error.data
        send({"id": msg_id, "error": reply})
        return initialized


def main():
    initialized = False
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline(max_line_bytes + 1)
        if not line:
            return  # stdin closed: the host is stopping this plugin.
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stdin.readline(1024 * 1024)  # Skip the rest of an over-long line.
            continue
        try:
            message = json.loads(line)
        except ValueError:
            log("warn", "ignored a line that is not JSON")
            continue
        if isinstance(message, dict):
            initialized = handle(message, initialized)


if __name__ == "__main__":
    main()
