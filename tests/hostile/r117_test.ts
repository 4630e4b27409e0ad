// Review 117: attacks on reviews 115 and 116's fixes. Each test failed on the code it was written
// against (289ec28).
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshCache } from "../_helpers.ts";
import { probeRefusal, realPython, tempFolder, withPython } from "./_python_shim.ts";

// What the shim runs: a connect to the host's socket, and a key added to the session keyring (the
// host's: bubblewrap makes no new one). Each says what it could on stderr.
const REACH = `import ctypes, socket, sys
try:
  socket.socket(socket.AF_UNIX).connect(sys.argv[1]); print("CONNECTED", file=sys.stderr)
except OSError: pass
libc = ctypes.CDLL(None, use_errno=True)
add_key = {"x86_64": 248, "aarch64": 217}[__import__("platform").machine()]
if libc.syscall(add_key, b"user", b"plugbox-r117", b"x", 1, -3) > 0: print("KEYRING", file=sys.stderr)
`;

// Review 115's probe (a shim's code, which a plugin may have written: review 113) ran without the
// plugin's seccomp filter, all of / mounted read-only. A socket on a read-only mount still
// connects, and its peer is the host's uid (0 on a root host, which the system bus, systemd's own
// socket and a container daemon obey: a command run as root, outside every sandbox); and the
// session keyring was the host's, to read and add to. The shim says what it could, and fails.
Deno.test("r117: a Python probe can reach no host Unix socket and no session keyring", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r117-probe-");
  using listener = Deno.listen({ transport: "unix", path: join(dir.path, "host.sock") });
  const python = await realPython();
  const shim = `#!/bin/sh
echo PROBED >&2
"${python}" -I -S -c '${REACH}' "${listener.addr.path}"
exit 1
`;
  await withPython(dir.path, shim, async () => {
    const error = await probeRefusal(cache.path);
    assert.match(error.message, /PROBED/);
    assert.doesNotMatch(error.message, /CONNECTED|KEYRING/);
  });
});
