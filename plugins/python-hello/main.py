"""The hello plugin in Python: the same `greeter` contract as plugins/hello
(plugins/hello/contract.ts), and `greetings` (./contract.ts), which calls a
host capability and streams its results with credit, spoken over plugbox's
wire protocol with the standard library only. PROTOCOL.md, "Writing a plugin
in another language" and "Capabilities, streams and progress", walks
through it."""

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
GREETINGS = "greetings"
SERVED = [
    {"name": CONTRACT, "version": VERSION, "methods": list(METHODS)},
    {"name": GREETINGS, "version": 1, "methods": ["greetAll"]},
]
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
        "contracts": SERVED,
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


credit = {}  # stream request id -> [items, bytes] of credit the host granted
cancelled = set()  # ids of the host's requests it cancelled
replies = {}  # id of a request to the host -> the host's answer
deferred = []  # requests that arrived while a handler waited
next_request_id = 0


def next_message():
    """Reads one message while a handler waits (for credit or an answer); None at EOF."""
    while True:
        line = sys.stdin.buffer.readline(max_line_bytes + 1)
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            return message


def wait_once():
    """Takes one message from the host: credit, a cancel, an answer; requests wait their turn."""
    message = next_message()
    if message is None:
        raise EOFError("stdin closed")
    method, params = message.get("method"), message.get("params") or {}
    if method == "$/credit":
        granted = credit.get(params.get("id"))
        if granted is not None:
            granted[0] += params.get("items", 0)
            granted[1] += params.get("bytes", 0)
    elif method == "$/cancel":
        cancelled.add(params.get("id"))
    elif method is None:
        replies[message.get("id")] = message
    else:
        deferred.append(message)


def call_host(method, args, call):
    """A capability call: a request to the host, carrying the id of the call that makes it."""
    global next_request_id
    next_request_id += 1
    request_id = next_request_id
    send({"id": request_id, "method": method, "params": {"args": args, "call": call}})
    while request_id not in replies:
        wait_once()
    reply = replies.pop(request_id)
    if "error" in reply:
        raise RpcError(-32000, f"the host says: {reply['error'].get('message')}", {"name": "HostError"})
    return reply.get("result")


def stream(call, items):
    """Sends each item as $/item while the credit lasts, waiting for more (PROTOCOL.md, 10.2)."""
    credit[call] = [0, 0]
    try:
        for item in items:
            while not (credit[call][0] >= 1 and credit[call][1] > 0) and call not in cancelled:
                wait_once()
            if call in cancelled:
                raise RpcError(-32800, "Request cancelled")
            params = {"id": call, "value": item}
            line = json.dumps({"jsonrpc": "2.0", "method": "$/item", "params": params}, ensure_ascii=True, separators=(",", ":"))
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            credit[call][0] -= 1
            credit[call][1] -= len(line.encode())
        return None
    finally:
        del credit[call]
        cancelled.discard(call)


def greet_all(params, call):
    """greetings.greetAll: a greeting per name, streamed, each name's title asked of the host."""
    names = params[0] if isinstance(params, list) and len(params) == 1 else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        issue = {"path": [0], "message": "Expected an array of strings", "code": "invalid_type"}
        raise RpcError(-32602, "Invalid params for greetings.greetAll", {"issues": [issue]})
    return stream(call, (f"hello, {call_host('greetings.title', [name], call)}" for name in names))


def handle(message, initialized):
    """Answers one request; returns whether the handshake has now succeeded."""
    method, msg_id = message.get("method"), message.get("id")
    if not isinstance(method, str):
        return initialized  # A response no handler waits for, or junk.
    if "id" not in message:
        return initialized  # A notification ($/cancel): calls here finish before the next is read.
    try:
        if initialized and method == f"{GREETINGS}.greetAll":
            result = greet_all(message.get("params"), msg_id)
        else:
            result = answer(method, message.get("params"), initialized)
        send({"id": msg_id, "result": result})
        initialized = initialized or method == "$/initialize"
    except RpcError as error:
        reply = {"code": error.code, "message": error.message}
        if error.data is not None:
            reply["data"] = error.data
        send({"id": msg_id, "error": reply})
    while deferred:  # Calls that came in while this one waited for the host.
        initialized = handle(deferred.pop(0), initialized)
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
    try:
        main()
    except EOFError:
        pass  # stdin closed while a handler waited for the host.
