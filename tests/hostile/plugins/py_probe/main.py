"""A hostile plugin in Python: serves the `probe` contract (probe.ts) and,
on request, tries to read, list, write, connect, run, allocate, or outlive
its host, or says what ids and capabilities it holds. Each attempt says what happened, so a test can check the outcome
under plugbox and, as a control, without it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

NONCE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--plugbox-nonce=")), None)
refuse_to_die = False
held_tasks = []
held_memory = []


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    sys.stdout.flush()


def attempt(what):
    global refuse_to_die
    kind, _, arg = (what or "").partition(":")
    try:
        if kind == "read":
            with open(arg, encoding="utf-8", errors="replace") as file:
                return "read: " + file.read(200)
        if kind == "list":
            return "listed: " + ",".join(sorted(os.listdir(arg))[:50])
        if kind == "write":
            with open(arg, "w", encoding="utf-8") as file:
                file.write("written by py_probe\n")
            return "wrote " + arg
        if kind == "connect":
            host, port = arg.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=3) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return "connected: " + conn.recv(200).decode(errors="replace")
        if kind in ("http", "tunnel"):  # through the proxy the environment names, as HTTP clients do
            proxy = urllib.parse.urlsplit(os.environ.get("http_proxy", "http://127.0.0.1:3128"))
            with socket.create_connection((proxy.hostname, proxy.port), timeout=3) as conn:
                if kind == "http":  # a plain http request in absolute form
                    conn.sendall(f"GET {arg} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    return "fetched: " + conn.recv(200).decode(errors="replace").split("\r\n\r\n")[-1]
                conn.sendall(f"CONNECT {arg} HTTP/1.1\r\nHost: {arg}\r\n\r\n".encode())
                return "proxy said: " + conn.recv(200).decode(errors="replace").split("\r\n")[0]
        if kind == "run":
            return "ran: " + subprocess.run([arg], capture_output=True, timeout=5).stdout.decode()
        if kind == "alloc":
            held, mib = [], 0
            try:
                while mib < int(arg):
                    held.append(bytearray(16 * 1024 * 1024))
                    mib += 16
                return f"allocated {mib} MiB"
            except MemoryError:
                return f"stopped at {mib} MiB"
        if kind == "shared":  # shared memory no per-process cap counts (RLIMIT_DATA), held until it ends
            import mmap
            mib = 0
            while mib < int(arg):
                block = mmap.mmap(-1, 4 * 1024 * 1024)
                block.write(b"x" * (4 * 1024 * 1024))
                held_memory.append(block)
                mib += 4
            return f"holds {mib} MiB shared"
        if kind == "env":
            return "env: " + json.dumps(dict(os.environ), sort_keys=True)
        if kind == "status":  # its ids, capabilities and no-new-privileges, as the kernel says
            with open("/proc/self/status", encoding="utf-8") as file:
                fields = dict(line.split(":\t", 1) for line in file.read().splitlines())
            keep = ("Uid", "Gid", "NoNewPrivs", "CapEff", "CapBnd")
            return "status: " + json.dumps({k: fields[k].split()[0] for k in keep if k in fields})
        if kind == "mountopts":  # the options of the mount at arg
            with open("/proc/self/mountinfo", encoding="utf-8") as file:
                for line in file.read().splitlines():
                    parts = line.split(" ")
                    if parts[4] == arg:
                        return "mountopts: " + parts[5]
            return "mountopts: not mounted"
        if kind == "raise-limits":  # lifts its memory and CPU-time limits as far as the kernel lets it
            import resource
            for limit in (resource.RLIMIT_DATA, resource.RLIMIT_CPU):
                hard = resource.getrlimit(limit)[1]
                resource.setrlimit(limit, (hard, hard))
            data, cpu = (resource.getrlimit(limit) for limit in (resource.RLIMIT_DATA, resource.RLIMIT_CPU))
            return "limits: " + json.dumps({"data": data, "cpu": cpu})
        if kind == "unix-connect":  # a daemon's socket file (ssh-agent, docker) in a folder it may read
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(3)
                conn.connect(arg)
                conn.sendall(b"hello from py_probe\n")
                return "unix answered: " + conn.recv(200).decode(errors="replace")
        if kind == "procs":  # each process it sees: pid, name, seccomp mode, permitted capabilities
            seen = []
            for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    with open(f"/proc/{pid}/status", encoding="utf-8") as file:
                        fields = dict(line.split(":\t", 1) for line in file.read().splitlines() if ":\t" in line)
                except OSError as error:
                    seen.append(f"{pid} hidden (errno {error.errno})")
                    continue
                try:
                    os.close(os.open(f"/proc/{pid}/mem", os.O_RDWR))
                    mem = "open"
                except OSError as error:
                    mem = f"errno {error.errno}"
                seen.append(f"{pid} {fields['Name'].strip()} seccomp={fields['Seccomp'].strip()} prm={fields['CapPrm'].strip()} mem={mem}")
            return "procs: " + "; ".join(seen)
        if kind == "relay-memory":  # opens the egress relay's memory to write it (it may reach the proxy)
            for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as file:
                        if b"relay.js" not in file.read():
                            continue
                except OSError:
                    continue
                fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
                os.close(fd)
                return f"relay memory opened: {pid}"
            return "no relay"
        if kind == "sysv-shm":  # System V shared memory: the host's own under a shared IPC namespace
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            shmid = libc.shmget(0, 4096, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
            if shmid < 0:
                return f"shmget: errno {ctypes.get_errno()}"
            libc.shmctl(shmid, 0, None)  # IPC_RMID
            return "shmget: ok"
        if kind == "tasks":  # threads made (and held) until one more is refused, at most arg
            import threading
            threading.stack_size(32768)
            gate = threading.Event()
            made = 0
            try:
                while made < int(arg):
                    threading.Thread(target=gate.wait, daemon=True).start()
                    made += 1
            except RuntimeError:
                pass
            held_tasks.append(gate)
            return f"tasks: {made}"
        if kind == "fds":  # pipes made (and held) until one more is refused, at most arg of them
            pipes = []
            try:
                while len(pipes) < int(arg):
                    pipes.append(os.pipe())
            except OSError as error:
                held_tasks.append(pipes)
                return f"pipes: {len(pipes)}, then {type(error).__name__}"
            held_tasks.append(pipes)
            return f"pipes: {len(pipes)}"
        if kind == "read-fd":  # a descriptor it did not open: one the host inherited (review 121)
            return "read-fd: " + os.read(int(arg), 64).decode(errors="replace")
        if kind == "hostname":
            return "hostname: " + os.uname().nodename
        if kind == "refuse-to-die":
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            refuse_to_die = True
            return f"refusing to die as pid {os.getpid()}"
        if kind == "wrong-result":
            return 42
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
while refuse_to_die:  # stdin closed, and it will not go
    time.sleep(1)
